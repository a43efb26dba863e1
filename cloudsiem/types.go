package cloudsiem

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"

	"github.com/bindsync/bindsync/internal/redact"
)

// Action names and the API version, as sent in x-acs-action / x-acs-version.
const (
	ActionListBindAccount   = "ListBindAccount"
	ActionBindAccount       = "BindAccount"
	ActionModifyBindAccount = "ModifyBindAccount"
	ActionDeleteBindAccount = "DeleteBindAccount"
	// ActionListAccountAccessID lists the AccessKeys Threat Analysis knows
	// (registered in Security Center's multi-cloud assets) and whether each
	// is bound.
	ActionListAccountAccessID = "ListAccountAccessId"
	APIVersion                = "2022-06-16"
)

// Actions lists the operations bindsync calls in a fixed order (for metrics
// that are created up front).
var Actions = [...]string{ActionListBindAccount, ActionBindAccount, ActionModifyBindAccount, ActionDeleteBindAccount, ActionListAccountAccessID}

// CloudCodes are the multicloud codes the bind-account operations accept
// (the machine enum of the API metadata).
var CloudCodes = [...]string{"hcloud", "qcloud"}

// View carries the optional parameters that select whose bindings an
// operation sees. Zero values are not sent.
type View struct {
	RegionID string // data center: cn-hangzhou or ap-southeast-1
	RoleFor  int64  // member user ID when an administrator acts in a member's view
	RoleType int32  // 0 current account, 1 all accounts in the enterprise
}

func (v View) encode(f url.Values) {
	if v.RegionID != "" {
		f.Set("RegionId", v.RegionID)
	}
	if v.RoleFor != 0 {
		f.Set("RoleFor", strconv.FormatInt(v.RoleFor, 10))
	}
	if v.RoleType != 0 {
		f.Set("RoleType", strconv.FormatInt(int64(v.RoleType), 10))
	}
}

// ListBindAccountRequest lists the bindings of one cloud code. The API has no
// pagination: one call returns the whole list.
type ListBindAccountRequest struct {
	View
	CloudCode string
}

// BoundAccount is one Data[] item of ListBindAccount.
type BoundAccount struct {
	BindID          int64  `json:"BindId"`
	AccountID       string `json:"AccountId"`
	AccountName     string `json:"AccountName"`
	AccessID        string `json:"AccessId"`
	CloudCode       string `json:"CloudCode"`
	CreateUser      string `json:"CreateUser"`
	ModifyTime      string `json:"ModifyTime"` // "yyyy-MM-dd HH:mm:ss", zone not documented
	DataSourceCount int64  `json:"DataSourceCount"`
}

// BindAccountRequest binds an account that already exists in Security
// Center's multicloud assets. All four fields are required.
type BindAccountRequest struct {
	View
	CloudCode   string
	AccountID   string
	AccountName string
	AccessID    string
}

// ModifyBindAccountRequest modifies the binding BindID. AccountName and
// AccessID are optional (empty is not sent).
type ModifyBindAccountRequest struct {
	View
	BindID      int64
	CloudCode   string
	AccountID   string
	AccountName string
	AccessID    string
}

// DeleteBindAccountRequest removes a binding. BindID is optional (0 is not sent).
type DeleteBindAccountRequest struct {
	View
	BindID    int64
	CloudCode string
	AccountID string
	AccessID  string
}

func setIf(f url.Values, k, v string) {
	if v != "" {
		f.Set(k, v)
	}
}

func (r ListBindAccountRequest) form() url.Values {
	f := url.Values{}
	r.View.encode(f)
	setIf(f, "CloudCode", r.CloudCode)
	return f
}

func (r BindAccountRequest) form() url.Values {
	f := url.Values{}
	r.View.encode(f)
	setIf(f, "CloudCode", r.CloudCode)
	setIf(f, "AccountId", r.AccountID)
	setIf(f, "AccountName", r.AccountName)
	setIf(f, "AccessId", r.AccessID)
	return f
}

func (r ModifyBindAccountRequest) form() url.Values {
	f := url.Values{}
	r.View.encode(f)
	f.Set("BindId", strconv.FormatInt(r.BindID, 10))
	setIf(f, "CloudCode", r.CloudCode)
	setIf(f, "AccountId", r.AccountID)
	setIf(f, "AccountName", r.AccountName)
	setIf(f, "AccessId", r.AccessID)
	return f
}

func (r DeleteBindAccountRequest) form() url.Values {
	f := url.Values{}
	r.View.encode(f)
	if r.BindID != 0 {
		f.Set("BindId", strconv.FormatInt(r.BindID, 10))
	}
	setIf(f, "CloudCode", r.CloudCode)
	setIf(f, "AccountId", r.AccountID)
	setIf(f, "AccessId", r.AccessID)
	return f
}

// envelope is what a success body may carry besides its data. cloud-siem
// documents a success envelope ("Code": 200 as a number, "Success": true,
// "Message": "success") on many operations; as in the official SDK core, a
// 2xx answer is a success whatever its Code says, so Code is decoded only to
// tolerate it (a number or a string) and never read as a refusal.
// encoding/json matches keys case-insensitively, so "requestId" is read too.
type envelope struct {
	Code      looseString `json:"Code"`
	RequestID string      `json:"RequestId"`
}

// looseString accepts a JSON string, number, boolean or null: the envelope's
// Code is a number on some operations and a string on error answers.
type looseString string

func (l *looseString) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case nil:
		*l = ""
	case string:
		*l = looseString(x)
	default:
		*l = looseString(strings.TrimSpace(string(b)))
	}
	return nil
}

// listResponse and countResponse are the success bodies.
type listResponse struct {
	envelope
	Data []listItem `json:"Data"` // absent or null: an empty list, as the official SDK's model reads it
}

// listItem is a Data[] entry as it arrived. The has flags tell a missing
// (or null) required field from a zero value.
type listItem struct {
	BindID          int64
	AccountID       string
	AccountName     string
	AccessID        string
	CloudCode       string
	CreateUser      string
	ModifyTime      string
	DataSourceCount int64

	hasBindID, hasAccountID, hasCloudCode bool
}

// listItemJSON is a Data[] entry as encoding/json reads it, when the fast
// reader (decode.go) leaves an answer to it: pointers tell a missing field.
type listItemJSON struct {
	BindID          *int64  `json:"BindId"`
	AccountID       *string `json:"AccountId"`
	AccountName     string  `json:"AccountName"`
	AccessID        string  `json:"AccessId"`
	CloudCode       *string `json:"CloudCode"`
	CreateUser      string  `json:"CreateUser"`
	ModifyTime      string  `json:"ModifyTime"`
	DataSourceCount int64   `json:"DataSourceCount"`
}

func (it *listItem) UnmarshalJSON(b []byte) error {
	var j listItemJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*it = listItem{AccountName: j.AccountName, AccessID: j.AccessID, CreateUser: j.CreateUser, ModifyTime: j.ModifyTime, DataSourceCount: j.DataSourceCount}
	if j.BindID != nil {
		it.BindID, it.hasBindID = *j.BindID, true
	}
	if j.AccountID != nil {
		it.AccountID, it.hasAccountID = *j.AccountID, true
	}
	if j.CloudCode != nil {
		it.CloudCode, it.hasCloudCode = *j.CloudCode, true
	}
	return nil
}

type countResponse struct {
	envelope
	Data *struct {
		Count *int64 `json:"Count"`
	} `json:"Data"`
}

// MaskAccessID shows only the first and last four characters of an AccessKey
// ID, so logs and errors identify a key without spelling it out.
func MaskAccessID(id string) string { return redact.AccessID(id) }

// ListAccountAccessIDRequest lists the AccessKeys Threat Analysis knows for
// one cloud code: those registered in Security Center's multi-cloud assets
// with the Threat Analysis module.
type ListAccountAccessIDRequest struct {
	View
	CloudCode string
}

func (r ListAccountAccessIDRequest) form() url.Values {
	f := url.Values{}
	r.View.encode(f)
	setIf(f, "CloudCode", r.CloudCode)
	return f
}

// KnownAccessKey is one Data[] item of ListAccountAccessId. Whether AccessID
// comes back in clear or masked is not documented; AccessIDMd5 (the hex MD5
// of the ID) identifies it either way.
type KnownAccessKey struct {
	AccessID    string `json:"AccessId"`
	AccessIDMd5 string `json:"AccessIdMd5"`
	AccountID   string `json:"AccountId"`
	AccountStr  string `json:"AccountStr"` // "uid|name|AccessKeyId"
	Bound       int32  `json:"Bound"`      // 1: bound to Threat Analysis
	CloudCode   string `json:"CloudCode"`
	SubUserID   int64  `json:"SubUserId"`
}

type knownKeysResponse struct {
	envelope
	Data []KnownAccessKey `json:"Data"`
}
