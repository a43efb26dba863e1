package emulator

import (
	"cmp"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/bindsync/bindsync/cloudsiem"
)

// countData is the Data of BindAccount, ModifyBindAccount and DeleteBindAccount.
type countData struct {
	Count int `json:"Count"`
}

// view is what the view parameters of one request select.
type view struct {
	region  string
	roleFor int64 // member account; 0 with all=false is the caller's own
	all     bool  // RoleType=1 without RoleFor: every account
}

func (v view) sees(b *Binding) bool {
	return b.RegionID == v.region && (v.all || b.RoleFor == v.roleFor)
}

// accessKeyEntry is one Data[] item of ListAccountAccessId.
type accessKeyEntry struct {
	SubUserID   int64  `json:"SubUserId"`
	AccessIDMd5 string `json:"AccessIdMd5"`
	AccountStr  string `json:"AccountStr"`
	Bound       int32  `json:"Bound"`
	AccessID    string `json:"AccessId"`
	AccountID   string `json:"AccountId"`
	CloudCode   string `json:"CloudCode"`
}

// dispatch runs one API action on the state. e.mu must be held. applied
// reports whether the state changed.
func (e *Emulator) dispatch(action string, p map[string]string) (result any, applied bool, aerr *apiError) {
	v, aerr := viewOf(p)
	if aerr != nil {
		return nil, false, aerr
	}
	switch action {
	case cloudsiem.ActionListBindAccount:
		if aerr := checkParams(p, "CloudCode"); aerr != nil {
			return nil, false, aerr
		}
		out := []cloudsiem.BoundAccount{}
		for _, b := range e.sorted() {
			if v.sees(b) && b.CloudCode == p["CloudCode"] {
				out = append(out, b.BoundAccount)
			}
		}
		return out, false, nil

	case cloudsiem.ActionListAccountAccessID:
		if aerr := checkParams(p, "CloudCode"); aerr != nil {
			return nil, false, aerr
		}
		if e.anyKey {
			// No registry to list: answered as for a caller without the
			// permission, so a client falls back to not checking keys.
			return nil, false, &apiError{status: http.StatusForbidden, code: "NoPermission",
				msg: "You are not authorized to do this action (the emulator runs without a key registry: AnyKey)."}
		}
		// The keys bound in this data center, gathered once: asking for
		// each key in turn made a list of 10,000 keys take seconds.
		bound := map[string]bool{}
		for _, b := range e.bindings {
			if b.RegionID == v.region {
				bound[b.AccessID] = true
			}
		}
		out := []accessKeyEntry{}
		for _, k := range e.keysOf(v.region, p["CloudCode"]) {
			entry := accessKeyEntry{AccessIDMd5: md5Hex(k.AccessID), AccessID: k.AccessID, AccountID: k.AccountID, CloudCode: k.CloudCode,
				AccountStr: k.AccountID + "|" + k.AccountName + "|" + k.AccessID}
			if bound[k.AccessID] {
				entry.Bound = 1
			}
			if e.answers.MaskAccessID {
				entry.AccessID = cloudsiem.MaskAccessID(k.AccessID)
				entry.AccountStr = k.AccountID + "|" + k.AccountName + "|" + entry.AccessID
			}
			out = append(out, entry)
		}
		return out, false, nil

	case cloudsiem.ActionBindAccount:
		if aerr := checkParams(p, "CloudCode", "AccountId", "AccessId", "AccountName"); aerr != nil {
			return nil, false, aerr
		}
		if other := e.byAccessID(v.region, p["AccessId"], 0); other != nil {
			return nil, false, alreadyBound(p["AccessId"])
		}
		if aerr := e.checkRegistered(v.region, p["CloudCode"], p["AccessId"]); aerr != nil {
			return nil, false, aerr
		}
		b := &Binding{Scope: Scope{RegionID: v.region, RoleFor: v.roleFor}, BoundAccount: cloudsiem.BoundAccount{
			BindID:      e.newID(),
			AccountID:   p["AccountId"],
			AccountName: p["AccountName"],
			AccessID:    p["AccessId"],
			CloudCode:   p["CloudCode"],
			CreateUser:  e.createUser,
			ModifyTime:  e.modifyTime(),
		}}
		e.bindings[b.BindID] = b
		return countData{Count: 1}, true, nil

	case cloudsiem.ActionModifyBindAccount:
		if aerr := checkParams(p, "BindId", "CloudCode", "AccountId"); aerr != nil {
			return nil, false, aerr
		}
		id, err := strconv.ParseInt(p["BindId"], 10, 64)
		if err != nil {
			return nil, false, &apiError{status: http.StatusBadRequest, code: "InvalidParameter", msg: "BindId must be an integer."}
		}
		b := e.bindings[id]
		if b == nil || !v.sees(b) || b.AccountID != p["AccountId"] || b.CloudCode != p["CloudCode"] || e.faults.CountZero[id] {
			return countData{Count: 0}, false, nil
		}
		if ak := p["AccessId"]; ak != "" && ak != b.AccessID {
			if e.byAccessID(v.region, ak, id) != nil {
				return nil, false, alreadyBound(ak)
			}
			if aerr := e.checkRegistered(v.region, p["CloudCode"], ak); aerr != nil {
				return nil, false, aerr
			}
		}
		if v, ok := p["AccountName"]; ok && v != "" {
			b.AccountName = v
		}
		if v, ok := p["AccessId"]; ok && v != "" {
			b.AccessID = v
		}
		b.ModifyTime = e.modifyTime()
		return countData{Count: 1}, true, nil

	case cloudsiem.ActionDeleteBindAccount:
		if aerr := checkParams(p, "CloudCode", "AccountId", "AccessId"); aerr != nil {
			return nil, false, aerr
		}
		var id int64
		if s := p["BindId"]; s != "" {
			var err error
			if id, err = strconv.ParseInt(s, 10, 64); err != nil {
				return nil, false, &apiError{status: http.StatusBadRequest, code: "InvalidParameter", msg: "BindId must be an integer."}
			}
		}
		for _, b := range e.sorted() {
			if v.sees(b) && b.CloudCode == p["CloudCode"] && b.AccountID == p["AccountId"] && b.AccessID == p["AccessId"] &&
				(id == 0 || b.BindID == id) && !e.faults.CountZero[b.BindID] {
				delete(e.bindings, b.BindID)
				return countData{Count: 1}, true, nil
			}
		}
		return countData{Count: 0}, false, nil
	}
	return nil, false, unknownAction(action)
}

// knownAction reports whether the emulator serves an action; an unknown one
// is refused before the signature and quota checks, as the gateway does.
func knownAction(action string) bool {
	switch action {
	case cloudsiem.ActionListBindAccount, cloudsiem.ActionBindAccount, cloudsiem.ActionModifyBindAccount,
		cloudsiem.ActionDeleteBindAccount, cloudsiem.ActionListAccountAccessID:
		return true
	}
	return false
}

func unknownAction(action string) *apiError {
	return &apiError{status: http.StatusNotFound, code: "InvalidAction.NotFound", msg: fmt.Sprintf("Specified api %q is not found.", action)}
}

// checkParams requires the named parameters and a valid CloudCode.
func checkParams(p map[string]string, names ...string) *apiError {
	if aerr := require(p, names...); aerr != nil {
		return aerr
	}
	return checkCloudCode(p["CloudCode"])
}

// checkRegistered refuses a key that is not in the registry. e.mu must be held.
func (e *Emulator) checkRegistered(region, cloudCode, accessID string) *apiError {
	if e.anyKey {
		return nil
	}
	if k, ok := e.keys[keyID{region, accessID}]; ok && k.CloudCode == cloudCode {
		return nil
	}
	return &apiError{status: http.StatusBadRequest, code: "InvalidAccessId.NotRegistered",
		msg: fmt.Sprintf("access ak %q is not registered in multi-cloud assets for threat analysis.", accessID)}
}

// keysOf returns the registered keys of one data center and cloud code,
// ordered by AccessId. e.mu must be held.
func (e *Emulator) keysOf(region, cloudCode string) []Key {
	var out []Key
	for _, k := range e.keys {
		if k.RegionID == region && k.CloudCode == cloudCode {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b Key) int { return cmp.Compare(a.AccessID, b.AccessID) })
	return out
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func (e *Emulator) sorted() []*Binding {
	out := make([]*Binding, 0, len(e.bindings))
	for _, b := range e.bindings {
		out = append(out, b)
	}
	// BindIds are unique and increase with creation: a stable, cheap order.
	slices.SortFunc(out, func(a, b *Binding) int { return cmp.Compare(a.BindID, b.BindID) })
	return out
}

// byAccessID finds the binding of an AccessKey ID in a data center, in any
// account's view: a key is bound at most once per data center.
func (e *Emulator) byAccessID(region, accessID string, except int64) *Binding {
	for _, b := range e.bindings {
		if b.RegionID == region && b.AccessID == accessID && b.BindID != except {
			return b
		}
	}
	return nil
}

func viewOf(p map[string]string) (view, *apiError) {
	v := view{region: p["RegionId"]}
	switch v.region {
	case "":
		v.region = cloudsiem.RegionMainland
	case cloudsiem.RegionMainland, cloudsiem.RegionOverseas:
	default:
		return v, &apiError{status: http.StatusBadRequest, code: "InvalidRegionId", msg: fmt.Sprintf("The specified RegionId %q is not supported.", v.region)}
	}
	if s := p["RoleFor"]; s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return v, &apiError{status: http.StatusBadRequest, code: "InvalidParameter", msg: "RoleFor must be an integer."}
		}
		v.roleFor = n
	}
	if s := p["RoleType"]; s != "" {
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil || n < 0 || n > 1 {
			return v, &apiError{status: http.StatusBadRequest, code: "InvalidParameter", msg: "RoleType must be 0 or 1."}
		}
		v.all = n == 1 && v.roleFor == 0
	}
	return v, nil
}

func require(p map[string]string, names ...string) *apiError {
	for _, n := range names {
		if strings.TrimSpace(p[n]) == "" {
			return &apiError{status: http.StatusBadRequest, code: "MissingParameter",
				msg: fmt.Sprintf("The input parameter %q that is mandatory for processing this request is not supplied.", n)}
		}
	}
	return nil
}

func checkCloudCode(c string) *apiError {
	for _, ok := range cloudsiem.CloudCodes {
		if c == ok {
			return nil
		}
	}
	return &apiError{status: http.StatusBadRequest, code: "InvalidParameter", msg: fmt.Sprintf("The parameter CloudCode %q is invalid.", c)}
}

func alreadyBound(accessID string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "InvalidOperation", msg: fmt.Sprintf("access ak %q already bound.", accessID)}
}

func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%X-%X-%X-%X-%X", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
