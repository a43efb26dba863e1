package emulator_test

import (
	"crypto/md5"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bindsync/bindsync/cloudsiem"
	"github.com/bindsync/bindsync/cloudsiem/emulator"
)

var cred = cloudsiem.Credential{AccessKeyID: "LTAIemu", AccessKeySecret: "emu-secret"}

// signed builds a V3-signed request by hand, so each field can be broken.
type signed struct {
	body     string
	date     time.Time
	nonce    string
	secret   string
	extra    map[string]string // sent and signed
	unsigned map[string]string // sent, not signed
	tamper   string            // body sent instead of the signed one
}

func (s signed) request() *http.Request {
	if s.secret == "" {
		s.secret = cred.AccessKeySecret
	}
	if s.nonce == "" {
		s.nonce = time.Now().Format(time.RFC3339Nano)
	}
	if s.date.IsZero() {
		s.date = time.Now()
	}
	h := map[string]string{
		"host":                  "emulator",
		"content-type":          "application/x-www-form-urlencoded",
		"x-acs-action":          "ListBindAccount",
		"x-acs-version":         "2022-06-16",
		"x-acs-date":            s.date.UTC().Format("2006-01-02T15:04:05Z"),
		"x-acs-signature-nonce": s.nonce,
		"x-acs-content-sha256":  cloudsiem.HashPayload([]byte(s.body)),
	}
	for k, v := range s.extra {
		h[k] = v
	}
	auth := cloudsiem.Sign(cloudsiem.SignInput{Method: "POST", Path: "/", Headers: h, PayloadHash: h["x-acs-content-sha256"]}, cred.AccessKeyID, s.secret)
	body := s.body
	if s.tamper != "" {
		body = s.tamper
	}
	r := httptest.NewRequest(http.MethodPost, "http://emulator/", strings.NewReader(body))
	for k, v := range h {
		if k != "host" {
			r.Header.Set(k, v)
		}
	}
	for k, v := range s.unsigned {
		r.Header.Set(k, v)
	}
	r.Header.Set("Authorization", auth)
	return r
}

func serve(e *emulator.Emulator, r *http.Request) (int, map[string]any) {
	w := httptest.NewRecorder()
	e.ServeHTTP(w, r)
	var m map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &m)
	return w.Code, m
}

func TestSignatureVerification(t *testing.T) {
	tests := []struct {
		name     string
		req      signed
		wantCode string
	}{
		{name: "valid", req: signed{body: "CloudCode=hcloud"}},
		{name: "bad secret", req: signed{body: "CloudCode=hcloud", secret: "nope"}, wantCode: "SignatureDoesNotMatch"},
		{name: "tampered body", req: signed{body: "CloudCode=hcloud", tamper: "CloudCode=qcloud"}, wantCode: "SignatureDoesNotMatch"},
		{name: "expired date", req: signed{body: "CloudCode=hcloud", date: time.Now().Add(-16 * time.Minute)}, wantCode: "InvalidTimeStamp.Expired"},
		{name: "date in the future", req: signed{body: "CloudCode=hcloud", date: time.Now().Add(16 * time.Minute)}, wantCode: "InvalidTimeStamp.Expired"},
		{name: "unsigned x-acs header", req: signed{body: "CloudCode=hcloud", unsigned: map[string]string{"x-acs-credentials-provider": "static_ak"}}, wantCode: "IncompleteSignature"},
		{name: "signed extra x-acs header", req: signed{body: "CloudCode=hcloud", extra: map[string]string{"x-acs-credentials-provider": "static_ak"}}},
		// A client may sign more than it must; the service verifies what was signed.
		{name: "signed user-agent and accept", req: signed{body: "CloudCode=hcloud", extra: map[string]string{"user-agent": "AlibabaCloud (linux) Go/1.26", "accept": "application/json"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := emulator.New(emulator.Config{Credentials: []cloudsiem.Credential{cred}})
			status, body := serve(e, tt.req.request())
			if tt.wantCode == "" {
				if status != 200 {
					t.Fatalf("status %d body %v, want 200", status, body)
				}
				return
			}
			if body["Code"] != tt.wantCode || status != 400 || body["RequestId"] == "" || body["Message"] == "" {
				t.Errorf("got %d %v, want 400 %s", status, body, tt.wantCode)
			}
		})
	}
}

func TestNonceReuse(t *testing.T) {
	e := emulator.New(emulator.Config{Credentials: []cloudsiem.Credential{cred}})
	req := signed{body: "CloudCode=hcloud", nonce: "same-nonce"}
	if status, body := serve(e, req.request()); status != 200 {
		t.Fatalf("first request: %d %v", status, body)
	}
	if status, body := serve(e, req.request()); status != 400 || body["Code"] != "SignatureNonceUsed" {
		t.Errorf("replay: %d %v, want 400 SignatureNonceUsed", status, body)
	}
}

func TestUnknownAccessKey(t *testing.T) {
	e := emulator.New(emulator.Config{Credentials: []cloudsiem.Credential{{AccessKeyID: "other", AccessKeySecret: "x"}}})
	if status, body := serve(e, signed{body: "CloudCode=hcloud"}.request()); status != 404 || body["Code"] != "InvalidAccessKeyId.NotFound" {
		t.Errorf("got %d %v", status, body)
	}
}

func TestQuotaAnswersLikeFlowControl(t *testing.T) {
	e := emulator.New(emulator.Config{Credentials: []cloudsiem.Credential{cred}, QuotaPerSecond: 2})
	var throttled int
	for range 5 {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, signed{body: "CloudCode=hcloud"}.request())
		if w.Code == 400 && strings.Contains(w.Body.String(), `"Throttling.User"`) {
			throttled++
			if w.Header().Get("x-acs-retry-after") == "" {
				t.Error("throttled answer without x-acs-retry-after")
			}
		}
	}
	if throttled != 3 {
		t.Errorf("%d of 5 throttled, want 3 (burst of 2)", throttled)
	}
}

func TestBindingSemantics(t *testing.T) {
	e := emulator.New(emulator.Config{SkipSignature: true})
	e.Seed(emulator.Binding{BoundAccount: cloudsiem.BoundAccount{BindID: 5, CloudCode: "hcloud", AccountID: "A", AccountName: "a", AccessID: "AK1", DataSourceCount: 2}})
	call := func(action, body string) (int, map[string]any) {
		r := httptest.NewRequest(http.MethodPost, "http://emulator/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("x-acs-action", action)
		r.Header.Set("x-acs-version", "2022-06-16")
		return serve(e, r)
	}
	count := func(m map[string]any) any {
		d, _ := m["Data"].(map[string]any)
		return d["Count"]
	}
	tests := []struct {
		name, action, body string
		wantStatus         int
		wantCode           string
		wantCount          float64
	}{
		{name: "bind missing AccountName", action: "BindAccount", body: "CloudCode=hcloud&AccountId=B&AccessId=AK2", wantStatus: 400, wantCode: "MissingParameter"},
		{name: "bind bad cloud code", action: "BindAccount", body: "CloudCode=aws&AccountId=B&AccessId=AK2&AccountName=b", wantStatus: 400, wantCode: "InvalidParameter"},
		{name: "bind bound AccessId", action: "BindAccount", body: "CloudCode=qcloud&AccountId=B&AccessId=AK1&AccountName=b", wantStatus: 400, wantCode: "InvalidOperation"},
		{name: "bind same AccessId in another view", action: "BindAccount", body: "CloudCode=hcloud&AccountId=B&AccessId=AK1&AccountName=b&RoleFor=9", wantStatus: 400, wantCode: "InvalidOperation"},
		{name: "bind a key that is not registered", action: "BindAccount", body: "CloudCode=hcloud&AccountId=B&AccessId=AK2&AccountName=b", wantStatus: 400, wantCode: "InvalidAccessId.NotRegistered"},
		{name: "modify to a key that is not registered", action: "ModifyBindAccount", body: "BindId=5&CloudCode=hcloud&AccountId=A&AccessId=AK3", wantStatus: 400, wantCode: "InvalidAccessId.NotRegistered"},
		{name: "modify unknown BindId", action: "ModifyBindAccount", body: "BindId=999&CloudCode=hcloud&AccountId=A&AccountName=z", wantStatus: 200, wantCount: 0},
		{name: "modify wrong AccountId", action: "ModifyBindAccount", body: "BindId=5&CloudCode=hcloud&AccountId=X&AccountName=z", wantStatus: 200, wantCount: 0},
		{name: "modify wrong CloudCode", action: "ModifyBindAccount", body: "BindId=5&CloudCode=qcloud&AccountId=A&AccountName=z", wantStatus: 200, wantCount: 0},
		{name: "modify ok", action: "ModifyBindAccount", body: "BindId=5&CloudCode=hcloud&AccountId=A&AccountName=z", wantStatus: 200, wantCount: 1},
		{name: "delete wrong AccessId", action: "DeleteBindAccount", body: "CloudCode=hcloud&AccountId=A&AccessId=nope", wantStatus: 200, wantCount: 0},
		{name: "unknown action", action: "AddBindAccount", body: "CloudCode=hcloud", wantStatus: 404, wantCode: "InvalidAction.NotFound"},
		{name: "bad region", action: "ListBindAccount", body: "CloudCode=hcloud&RegionId=us-east-1", wantStatus: 400, wantCode: "InvalidRegionId"},
	}
	for _, tt := range tests {
		status, body := call(tt.action, tt.body)
		if status != tt.wantStatus {
			t.Errorf("%s: status %d (%v), want %d", tt.name, status, body, tt.wantStatus)
			continue
		}
		if tt.wantCode != "" && body["Code"] != tt.wantCode {
			t.Errorf("%s: code %v, want %s", tt.name, body["Code"], tt.wantCode)
		}
		if tt.wantCode == "" && tt.action != "ListBindAccount" && count(body) != tt.wantCount {
			t.Errorf("%s: Count %v, want %v", tt.name, count(body), tt.wantCount)
		}
	}
	var a *emulator.Binding
	for _, b := range e.Bindings() {
		if b.BindID == 5 {
			a = &b
		}
	}
	if a == nil || a.AccountName != "z" || a.AccessID != "AK1" || a.DataSourceCount != 2 || a.CreateUser == "" {
		t.Errorf("binding 5 = %+v, want renamed only", a)
	}
}

func TestInspectionSurface(t *testing.T) {
	e := emulator.New(emulator.Config{SkipSignature: true})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/_emulator/faults", strings.NewReader(`{"unavailable": 1}`))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 204 {
		t.Fatalf("PUT faults: %v %v", resp, err)
	}
	r := httptest.NewRequest(http.MethodPost, "http://emulator/", strings.NewReader("CloudCode=hcloud"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("x-acs-action", "ListBindAccount")
	r.Header.Set("x-acs-version", "2022-06-16")
	if status, _ := serve(e, r); status != 503 {
		t.Errorf("after PUT faults: status %d, want 503", status)
	}
	resp, err := http.Get(srv.URL + "/_emulator/counts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var counts map[string]map[string]int
	if err := json.NewDecoder(resp.Body).Decode(&counts); err != nil || counts["ListBindAccount"]["ServiceUnavailable"] != 1 {
		t.Errorf("counts = %v (%v)", counts, err)
	}
}

// TestViews: one data center holds one set of bindings; the view parameters
// select from it.
func TestViews(t *testing.T) {
	e := emulator.New(emulator.Config{SkipSignature: true, AnyKey: true})
	e.Seed(
		emulator.Binding{BoundAccount: cloudsiem.BoundAccount{BindID: 1, CloudCode: "hcloud", AccountID: "own", AccessID: "AK-OWN"}},
		emulator.Binding{Scope: emulator.Scope{RoleFor: 42}, BoundAccount: cloudsiem.BoundAccount{BindID: 2, CloudCode: "hcloud", AccountID: "member", AccessID: "AK-MEMBER"}},
		emulator.Binding{Scope: emulator.Scope{RegionID: "ap-southeast-1"}, BoundAccount: cloudsiem.BoundAccount{BindID: 3, CloudCode: "hcloud", AccountID: "abroad", AccessID: "AK-ABROAD"}},
	)
	list := func(extra string) []string {
		r := httptest.NewRequest(http.MethodPost, "http://emulator/", strings.NewReader("CloudCode=hcloud"+extra))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("x-acs-action", "ListBindAccount")
		r.Header.Set("x-acs-version", "2022-06-16")
		status, body := serve(e, r)
		if status != 200 {
			t.Fatalf("list %q: %d %v", extra, status, body)
		}
		var ids []string
		for _, it := range body["Data"].([]any) {
			ids = append(ids, it.(map[string]any)["AccountId"].(string))
		}
		return ids
	}
	for extra, want := range map[string]string{
		"":                                 "own",
		"&RoleFor=42":                      "member",
		"&RoleType=1":                      "own member",
		"&RoleFor=42&RoleType=1":           "member",
		"&RegionId=ap-southeast-1":         "abroad",
		"&RoleFor=7":                       "",
		"&RegionId=cn-hangzhou":            "own",
		"&RegionId=cn-hangzhou&RoleType=0": "own",
	} {
		if got := strings.Join(list(extra), " "); got != want {
			t.Errorf("view %q lists %q, want %q", extra, got, want)
		}
	}
}

// TestAnswerShapes: the envelope and omit-empty switches, ListAccountAccessId
// with Bound and a masked AccessId, and the x-acs-request-id header.
func TestAnswerShapes(t *testing.T) {
	e := emulator.New(emulator.Config{SkipSignature: true, Keys: []emulator.Key{{CloudCode: "hcloud", AccessID: "HPUA0000000002", AccountID: "2", AccountName: "two"}}})
	e.Seed(emulator.Binding{BoundAccount: cloudsiem.BoundAccount{BindID: 1, CloudCode: "hcloud", AccountID: "1", AccountName: "one", AccessID: "HPUA0000000001"}})
	call := func(action, body string) (int, map[string]any, http.Header) {
		r := httptest.NewRequest(http.MethodPost, "http://emulator/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("x-acs-action", action)
		r.Header.Set("x-acs-version", "2022-06-16")
		w := httptest.NewRecorder()
		e.ServeHTTP(w, r)
		var m map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &m)
		return w.Code, m, w.Header()
	}
	_, plain, h := call("ListBindAccount", "CloudCode=qcloud")
	if _, has := plain["Code"]; has || plain["Data"] == nil || h.Get("x-acs-request-id") != plain["RequestId"] {
		t.Errorf("plain answer %v, request id header %q", plain, h.Get("x-acs-request-id"))
	}
	e.SetAnswers(emulator.Answers{Envelope: true, OmitEmptyData: true})
	_, env, _ := call("ListBindAccount", "CloudCode=qcloud")
	if env["Code"] != float64(200) || env["Success"] != true || env["Message"] != "success" {
		t.Errorf("envelope answer %v", env)
	}
	if _, has := env["Data"]; has {
		t.Errorf("empty Data not omitted: %v", env)
	}
	_, keys, _ := call("ListAccountAccessId", "CloudCode=hcloud")
	items, _ := keys["Data"].([]any)
	if len(items) != 2 || keys["Code"] != float64(200) {
		t.Fatalf("ListAccountAccessId = %v", keys)
	}
	first := items[0].(map[string]any)
	if first["AccessId"] != "HPUA0000000001" || first["Bound"] != float64(1) || first["AccessIdMd5"] != fmt.Sprintf("%x", md5.Sum([]byte("HPUA0000000001"))) {
		t.Errorf("first key %v", first)
	}
	if second := items[1].(map[string]any); second["Bound"] != float64(0) || second["AccountStr"] != "2|two|HPUA0000000002" {
		t.Errorf("second key %v", second)
	}
	e.SetAnswers(emulator.Answers{MaskAccessID: true})
	_, masked, _ := call("ListAccountAccessId", "CloudCode=hcloud")
	if id := masked["Data"].([]any)[0].(map[string]any)["AccessId"]; id != cloudsiem.MaskAccessID("HPUA0000000001") {
		t.Errorf("masked AccessId = %v", id)
	}
}

// TestSecurityTokenRefusalsNameIt: a missing or wrong STS token is refused
// with a message that names the header.
func TestSecurityTokenRefusalsNameIt(t *testing.T) {
	sts := cloudsiem.Credential{AccessKeyID: cred.AccessKeyID, AccessKeySecret: cred.AccessKeySecret, SecurityToken: "the-token"}
	e := emulator.New(emulator.Config{Credentials: []cloudsiem.Credential{sts}})
	for name, tc := range map[string]struct {
		extra    map[string]string
		wantCode string
	}{
		"missing": {nil, "MissingSecurityToken"},
		"wrong":   {map[string]string{"x-acs-security-token": "another"}, "InvalidSecurityToken.Expired"},
		"right":   {map[string]string{"x-acs-security-token": "the-token"}, ""},
	} {
		status, body := serve(e, signed{body: "CloudCode=hcloud", extra: tc.extra}.request())
		if tc.wantCode == "" {
			if status != 200 {
				t.Errorf("%s: %d %v", name, status, body)
			}
			continue
		}
		if status != 400 || body["Code"] != tc.wantCode || !strings.Contains(body["Message"].(string), "x-acs-security-token") {
			t.Errorf("%s: %d %v", name, status, body)
		}
	}
}

// TestUnknownActionBeforeAuthAndQuota: an action the service does not have
// is refused as such, before the signature and the quota are looked at.
func TestUnknownActionBeforeAuthAndQuota(t *testing.T) {
	e := emulator.New(emulator.Config{Credentials: []cloudsiem.Credential{cred}, QuotaPerSecond: 1})
	_, _ = serve(e, signed{body: "CloudCode=hcloud"}.request()) // uses up the quota
	r := signed{body: "CloudCode=hcloud", secret: "wrong", extra: map[string]string{"x-acs-action": "AddBindAccount"}}.request()
	if status, body := serve(e, r); status != 404 || body["Code"] != "InvalidAction.NotFound" {
		t.Errorf("got %d %v, want 404 InvalidAction.NotFound", status, body)
	}
}
