package emulator

import (
	"cmp"
	"crypto/rand"
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

// dispatch runs one API action on the state. e.mu must be held. applied
// reports whether the state changed.
func (e *Emulator) dispatch(action string, p map[string]string) (result any, applied bool, aerr *apiError) {
	scope, aerr := scopeOf(p)
	if aerr != nil {
		return nil, false, aerr
	}
	switch action {
	case cloudsiem.ActionListBindAccount:
		if aerr := require(p, "CloudCode"); aerr != nil {
			return nil, false, aerr
		}
		if aerr := checkCloudCode(p["CloudCode"]); aerr != nil {
			return nil, false, aerr
		}
		out := []cloudsiem.BoundAccount{}
		for _, b := range e.sorted() {
			if b.Scope == scope && b.CloudCode == p["CloudCode"] {
				out = append(out, b.BoundAccount)
			}
		}
		return out, false, nil

	case cloudsiem.ActionBindAccount:
		if aerr := require(p, "CloudCode", "AccountId", "AccessId", "AccountName"); aerr != nil {
			return nil, false, aerr
		}
		if aerr := checkCloudCode(p["CloudCode"]); aerr != nil {
			return nil, false, aerr
		}
		if other := e.byAccessID(scope, p["AccessId"], 0); other != nil {
			return nil, false, alreadyBound(p["AccessId"])
		}
		b := &Binding{Scope: scope, BoundAccount: cloudsiem.BoundAccount{
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
		if aerr := require(p, "BindId", "CloudCode", "AccountId"); aerr != nil {
			return nil, false, aerr
		}
		if aerr := checkCloudCode(p["CloudCode"]); aerr != nil {
			return nil, false, aerr
		}
		id, err := strconv.ParseInt(p["BindId"], 10, 64)
		if err != nil {
			return nil, false, &apiError{status: http.StatusBadRequest, code: "InvalidParameter", msg: "BindId must be an integer."}
		}
		b := e.bindings[id]
		if b == nil || b.Scope != scope || b.AccountID != p["AccountId"] || b.CloudCode != p["CloudCode"] || e.faults.CountZero[id] {
			return countData{Count: 0}, false, nil
		}
		if ak := p["AccessId"]; ak != "" && e.byAccessID(scope, ak, id) != nil {
			return nil, false, alreadyBound(ak)
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
		if aerr := require(p, "CloudCode", "AccountId", "AccessId"); aerr != nil {
			return nil, false, aerr
		}
		if aerr := checkCloudCode(p["CloudCode"]); aerr != nil {
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
			if b.Scope == scope && b.CloudCode == p["CloudCode"] && b.AccountID == p["AccountId"] && b.AccessID == p["AccessId"] &&
				(id == 0 || b.BindID == id) && !e.faults.CountZero[b.BindID] {
				delete(e.bindings, b.BindID)
				return countData{Count: 1}, true, nil
			}
		}
		return countData{Count: 0}, false, nil
	}
	return nil, false, &apiError{status: http.StatusNotFound, code: "InvalidAction.NotFound", msg: fmt.Sprintf("Specified api %q is not found.", action)}
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

func (e *Emulator) byAccessID(scope Scope, accessID string, except int64) *Binding {
	for _, b := range e.bindings {
		if b.Scope == scope && b.AccessID == accessID && b.BindID != except {
			return b
		}
	}
	return nil
}

func scopeOf(p map[string]string) (Scope, *apiError) {
	s := Scope{RegionID: p["RegionId"]}
	switch s.RegionID {
	case "":
		s.RegionID = cloudsiem.RegionMainland
	case cloudsiem.RegionMainland, cloudsiem.RegionOverseas:
	default:
		return s, &apiError{status: http.StatusBadRequest, code: "InvalidRegionId", msg: fmt.Sprintf("The specified RegionId %q is not supported.", s.RegionID)}
	}
	if v := p["RoleFor"]; v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return s, &apiError{status: http.StatusBadRequest, code: "InvalidParameter", msg: "RoleFor must be an integer."}
		}
		s.RoleFor = n
	}
	if v := p["RoleType"]; v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 0 || n > 1 {
			return s, &apiError{status: http.StatusBadRequest, code: "InvalidParameter", msg: "RoleType must be 0 or 1."}
		}
		s.RoleType = int32(n)
	}
	return s, nil
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
