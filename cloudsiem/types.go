package cloudsiem

import (
	"net/url"
	"strconv"

	"github.com/bindsync/bindsync/internal/redact"
)

// Action names and the API version, as sent in x-acs-action / x-acs-version.
const (
	ActionListBindAccount   = "ListBindAccount"
	ActionBindAccount       = "BindAccount"
	ActionModifyBindAccount = "ModifyBindAccount"
	ActionDeleteBindAccount = "DeleteBindAccount"
	APIVersion              = "2022-06-16"
)

// Actions lists the four operations in a fixed order (for metrics that are
// created up front).
var Actions = [...]string{ActionListBindAccount, ActionBindAccount, ActionModifyBindAccount, ActionDeleteBindAccount}

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

// envelope is what every answer may carry besides its data. A 200 answer
// with a Code is an error (some gateways answer errors with 200).
// encoding/json matches keys case-insensitively, so "code" and "requestId"
// (as some gateways write them) are read too.
type envelope struct {
	Code      string `json:"Code"`
	Message   string `json:"Message"`
	RequestID string `json:"RequestId"`
	Recommend string `json:"Recommend"`
}

func (e *envelope) env() *envelope { return e }

// answer is a success body type: it embeds envelope.
type answer interface{ env() *envelope }

// listResponse and countResponse are the success bodies.
type listResponse struct {
	envelope
	Data *[]BoundAccount `json:"Data"`
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
