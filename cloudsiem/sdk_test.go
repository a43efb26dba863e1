package cloudsiem_test

// The official Alibaba Cloud SDK core (darabonba-openapi v2) is the
// reference for what an answer means. These tests put the same answer in
// front of the SDK and of bindsync's client and compare what each does with
// it: bindsync must accept every answer the SDK accepts, and is stricter only
// where a row says why.

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/alibabacloud-go/darabonba-openapi/v2/client"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/bindsync/bindsync/cloudsiem"
	"github.com/bindsync/bindsync/cloudsiem/emulator"
)

// sdkCall sends one cloud-siem RPC call the way the generated official SDK
// does (POST, form body, V3 signature) and returns its answer body.
func sdkCall(t *testing.T, endpoint, action string, body map[string]any, cred cloudsiem.Credential) (map[string]any, error) {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &client.Config{
		AccessKeyId:     dara.String(cred.AccessKeyID),
		AccessKeySecret: dara.String(cred.AccessKeySecret),
		Endpoint:        dara.String(u.Host),
		Protocol:        dara.String("HTTP"),
	}
	if cred.SecurityToken != "" {
		cfg.SecurityToken = dara.String(cred.SecurityToken)
	}
	c, err := client.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	params := &client.Params{
		Action: dara.String(action), Version: dara.String(cloudsiem.APIVersion), Protocol: dara.String("HTTP"),
		Pathname: dara.String("/"), Method: dara.String("POST"), AuthType: dara.String("AK"), Style: dara.String("RPC"),
		ReqBodyType: dara.String("formData"), BodyType: dara.String("json"),
	}
	res, err := c.CallApi(params, &client.OpenApiRequest{Body: body}, &dara.RuntimeOptions{})
	if err != nil {
		return nil, err
	}
	b, _ := res["body"].(map[string]any)
	return b, nil
}

// answerShape is one answer a server might send.
type answerShape struct {
	name   string
	status int
	header map[string]string
	body   string
	// redirectTo, when set, makes the answer a redirect to a second server
	// that answers 200 with the body.
	redirect bool
	// stricter says why bindsync refuses an answer the SDK accepts; empty
	// means both must agree.
	stricter string
	// wantClass is bindsync's failure class when it fails.
	wantClass cloudsiem.Class
	// wantLen is the list length bindsync reads on success.
	wantLen int
}

func TestAnswersAgainstOfficialSDK(t *testing.T) {
	t.Setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
	const entry = `{"BindId":1001,"AccountId":"1","AccountName":"n","AccessId":"HPUA0000000001","CloudCode":"hcloud"}`
	const entry2 = `{"BindId":1002,"AccountId":"2","AccountName":"m","AccessId":"HPUA0000000002","CloudCode":"hcloud"}`
	shapes := []answerShape{
		{name: "plain 200", status: 200, body: `{"Data":[` + entry + `],"RequestId":"r"}`, wantLen: 1},
		{name: "numeric Code on 200", status: 200, body: `{"Code":200,"Success":true,"Message":"success","Data":[` + entry + `],"RequestId":"r"}`, wantLen: 1},
		{name: "string Code 200 on 200", status: 200, body: `{"Code":"200","Success":true,"Message":"success","Data":[` + entry + `],"RequestId":"r"}`, wantLen: 1},
		{name: "string Code OK on 200", status: 200, body: `{"Code":"OK","Data":[` + entry + `],"RequestId":"r"}`, wantLen: 1},
		{name: "no Data", status: 200, body: `{"Code":200,"Success":true,"Message":"success","RequestId":"r"}`, wantLen: 0},
		{name: "null Data", status: 200, body: `{"Data":null,"RequestId":"r"}`, wantLen: 0},
		{name: "Chinese message on 200", status: 200, body: `{"Code":200,"Message":"成功","Data":[],"RequestId":"r"}`, wantLen: 0},
		{name: "x-acs-retry-after on 200", status: 200, header: map[string]string{"x-acs-retry-after": "1000"}, body: `{"Data":[` + entry + `]}`, wantLen: 1},
		{name: "duplicated BindId", status: 200, body: `{"Data":[` + entry + `,` + entry + `]}`, wantClass: cloudsiem.ClassServer,
			stricter: "two entries with one BindId cannot both be the binding it names; planning from them could modify or delete the wrong one"},
		{name: "entry without BindId", status: 200, body: `{"Data":[{"AccountId":"1","CloudCode":"hcloud"}]}`, wantClass: cloudsiem.ClassServer,
			stricter: "an entry without BindId can be neither modified nor deleted, and a create for it would fail as already bound"},
		{name: "entry with BindId 0", status: 200, body: `{"Data":[{"BindId":0,"AccountId":"1","CloudCode":"hcloud"}]}`, wantClass: cloudsiem.ClassServer,
			stricter: "BindId 0 addresses nothing"},
		{name: "entry without AccountId", status: 200, body: `{"Data":[{"BindId":7,"CloudCode":"hcloud"}]}`, wantClass: cloudsiem.ClassServer,
			stricter: "the identity of a binding is its AccountId"},
		{name: "two good entries", status: 200, body: `{"Data":[` + entry + `,` + entry2 + `]}`, wantLen: 2},
		// The identity takes its cloud code from the request, not the answer.
		{name: "entry with another cloud code", status: 200, body: `{"Data":[{"BindId":9,"AccountId":"9","CloudCode":"HCLOUD"}]}`, wantLen: 1},
		{name: "Throttling.User 400 with retry-after", status: 400, header: map[string]string{"x-acs-retry-after": "50"}, body: `{"Code":"Throttling.User","Message":"m","RequestId":"r"}`, wantClass: cloudsiem.ClassThrottled},
		{name: "numeric Code on 400", status: 400, body: `{"Code":400,"Message":"bad","RequestId":"r"}`, wantClass: cloudsiem.ClassClient},
		{name: "InternalError 500", status: 500, body: `{"Code":"InternalError","Message":"m"}`, wantClass: cloudsiem.ClassServer},
		{name: "HTML 502 from a proxy", status: 502, body: `<html><title>Bad Gateway</title></html>`, wantClass: cloudsiem.ClassServer},
		{name: "HTML 200 from a proxy", status: 200, body: `<html>captive portal</html>`, wantClass: cloudsiem.ClassServer},
	}
	for _, code := range []int{301, 302, 303, 307, 308} {
		shapes = append(shapes, answerShape{name: "redirect " + http.StatusText(code), status: code, redirect: true,
			body: `{"Data":[` + entry + `]}`, wantClass: cloudsiem.ClassRedirect,
			stricter: "following would send the signed request (and an STS token) to another host, or turn the POST into a GET whose answer is not ours"})
	}

	for _, s := range shapes {
		t.Run(s.name, func(t *testing.T) {
			srv := serveShape(t, s)
			_, sdkErr := sdkCall(t, srv.URL, cloudsiem.ActionListBindAccount, map[string]any{"CloudCode": "hcloud"}, testCred)

			c, err := cloudsiem.New(cloudsiem.Config{Endpoint: srv.URL, Credentials: cloudsiem.StaticCredentials(testCred), Retry: cloudsiem.RetryPolicy{MaxAttempts: 1}})
			if err != nil {
				t.Fatal(err)
			}
			got, ourErr := c.ListBindAccount(t.Context(), cloudsiem.ListBindAccountRequest{CloudCode: "hcloud"})

			sdkOK, ourOK := sdkErr == nil, ourErr == nil
			switch {
			case sdkOK && !ourOK && s.stricter == "":
				t.Fatalf("the official SDK accepts this answer, bindsync refuses it: %v", ourErr)
			case sdkOK && ourOK && s.stricter != "":
				t.Fatalf("the row says bindsync is stricter (%s), but it accepted the answer", s.stricter)
			case !sdkOK && ourOK:
				t.Fatalf("the official SDK refuses this answer (%v), bindsync accepted it", sdkErr)
			case s.stricter != "" && !sdkOK:
				t.Fatalf("the row says bindsync is stricter than the SDK, but the SDK refused too: %v", sdkErr)
			}
			if ourOK && len(got) != s.wantLen {
				t.Errorf("bindsync read %d bindings, want %d", len(got), s.wantLen)
			}
			for _, b := range got {
				if b.CloudCode != "hcloud" {
					t.Errorf("a listed binding's cloud code is %q, not the one asked for", b.CloudCode)
				}
			}
			if !ourOK && cloudsiem.ClassOf(ourErr) != s.wantClass {
				t.Errorf("class = %v, want %v (%v)", cloudsiem.ClassOf(ourErr), s.wantClass, ourErr)
			}
		})
	}
}

// serveShape serves one answer shape; a redirect points at a second server
// that records whether anything reached it.
func serveShape(t *testing.T, s answerShape) *httptest.Server {
	t.Helper()
	target := ""
	if s.redirect {
		other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(s.body))
		}))
		t.Cleanup(other.Close)
		target = other.URL + "/"
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range s.header {
			w.Header().Set(k, v)
		}
		if target != "" {
			w.Header().Set("Location", target)
			w.WriteHeader(s.status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(s.status)
		_, _ = w.Write([]byte(s.body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestRedirectIsNeverFollowed: a 307 to another host would re-send the
// signed mutation and the STS token there; nothing may reach it.
func TestRedirectIsNeverFollowed(t *testing.T) {
	reached := make(chan string, 4)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached <- r.Header.Get("x-acs-security-token")
		_, _ = w.Write([]byte(`{"Data":{"Count":1}}`))
	}))
	t.Cleanup(other.Close)
	for _, code := range []int{301, 302, 307, 308} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+"/", code)
		}))
		cred := cloudsiem.Credential{AccessKeyID: testCred.AccessKeyID, AccessKeySecret: testCred.AccessKeySecret, SecurityToken: "sts-token-secret"}
		// Even an HTTP client that would follow redirects is made not to.
		c, err := cloudsiem.New(cloudsiem.Config{Endpoint: srv.URL, Credentials: cloudsiem.StaticCredentials(cred), HTTPClient: &http.Client{}, Retry: cloudsiem.RetryPolicy{MaxAttempts: 3}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.ModifyBindAccount(t.Context(), cloudsiem.ModifyBindAccountRequest{BindID: 1, CloudCode: "hcloud", AccountID: "1", AccessID: "HPUA0000000001"})
		srv.Close()
		var ae *cloudsiem.APIError
		if !errors.As(err, &ae) || ae.Class != cloudsiem.ClassRedirect || ae.Attempts != 1 || !errors.Is(err, cloudsiem.ErrRedirect) {
			t.Fatalf("%d: err = %v, want one redirect-class failure", code, err)
		}
		if strings.Contains(err.Error(), other.URL) {
			t.Errorf("%d: the error echoes the Location: %v", code, err)
		}
	}
	select {
	case tok := <-reached:
		t.Fatalf("a request reached the redirect target (token %q)", tok)
	default:
	}
}

// TestEmulatorAcceptsOfficialSDK: the emulator takes what the official SDK
// sends (its headers, its signature, an STS token), and its answers read the
// same in the SDK and in bindsync, in both envelope modes.
func TestEmulatorAcceptsOfficialSDK(t *testing.T) {
	t.Setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
	sts := cloudsiem.Credential{AccessKeyID: "STS.testkey0002", AccessKeySecret: "sts-secret", SecurityToken: "sts-token"}
	for _, mode := range []emulator.Answers{{}, {Envelope: true}, {Envelope: true, OmitEmptyData: true}} {
		emu := emulator.New(emulator.Config{Credentials: []cloudsiem.Credential{testCred, sts}, Answers: mode})
		emu.Register(emulator.Key{RegionID: "cn-hangzhou", CloudCode: "hcloud", AccessID: "HPUA0000000001", AccountID: "1"})
		srv := httptest.NewServer(emu)
		for _, cred := range []cloudsiem.Credential{testCred, sts} {
			body, err := sdkCall(t, srv.URL, cloudsiem.ActionBindAccount, map[string]any{
				"CloudCode": "hcloud", "AccountId": "1", "AccountName": "n", "AccessId": "HPUA0000000001", "RegionId": "cn-hangzhou",
			}, cred)
			if cred == sts {
				// Bound already by the first credential: the SDK gets the documented refusal.
				if err == nil || !strings.Contains(err.Error(), "InvalidOperation") {
					t.Fatalf("%+v: second BindAccount: %v %v", mode, body, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%+v: the emulator refused the official SDK's BindAccount: %v", mode, err)
			}
			if data, _ := body["Data"].(map[string]any); data == nil || data["Count"] == nil {
				t.Fatalf("%+v: BindAccount answer %v", mode, body)
			}
		}
		for _, cred := range []cloudsiem.Credential{testCred, sts} {
			body, err := sdkCall(t, srv.URL, cloudsiem.ActionListBindAccount, map[string]any{"CloudCode": "hcloud"}, cred)
			if err != nil {
				t.Fatalf("%+v: SDK list: %v", mode, err)
			}
			if items, _ := body["Data"].([]any); len(items) != 1 {
				t.Fatalf("%+v: SDK read %v", mode, body)
			}
			if mode.Envelope && body["Code"] == nil {
				t.Errorf("%+v: no envelope in %v", mode, body)
			}
			c, _ := cloudsiem.New(cloudsiem.Config{Endpoint: srv.URL, Credentials: cloudsiem.StaticCredentials(cred)})
			got, err := c.ListBindAccount(t.Context(), cloudsiem.ListBindAccountRequest{CloudCode: "hcloud"})
			if err != nil || len(got) != 1 {
				t.Fatalf("%+v: bindsync read %v, %v", mode, got, err)
			}
			empty, err := c.ListBindAccount(t.Context(), cloudsiem.ListBindAccountRequest{CloudCode: "qcloud"})
			if err != nil || len(empty) != 0 {
				t.Fatalf("%+v: empty list read as %v, %v", mode, empty, err)
			}
		}
		srv.Close()
	}
}
