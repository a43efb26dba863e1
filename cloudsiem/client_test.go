package cloudsiem_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"unicode/utf8"

	"github.com/aliyun/credentials-go/credentials"
	"github.com/bindsync/bindsync/cloudsiem"
	"github.com/bindsync/bindsync/cloudsiem/emulator"
)

var testCred = cloudsiem.Credential{AccessKeyID: "LTAItestkey0001", AccessKeySecret: "test-secret-do-not-log"}

// newPair returns an emulator and a client wired to it in-process.
func newPair(t *testing.T, cfg emulator.Config, policy cloudsiem.RetryPolicy) (*emulator.Emulator, *cloudsiem.Client) {
	t.Helper()
	if cfg.Credentials == nil {
		cfg.Credentials = []cloudsiem.Credential{testCred}
	}
	emu := emulator.New(cfg)
	c, err := cloudsiem.New(cloudsiem.Config{
		Endpoint:    "http://127.0.0.1:1",
		Credentials: cloudsiem.StaticCredentials(testCred),
		HTTPClient:  &http.Client{Transport: emu.Transport()},
		Retry:       policy,
	})
	if err != nil {
		t.Fatal(err)
	}
	return emu, c
}

func TestOperationsRoundTrip(t *testing.T) {
	emu, c := newPair(t, emulator.Config{}, cloudsiem.RetryPolicy{})
	ctx := t.Context()
	view := cloudsiem.View{RegionID: "cn-hangzhou"}
	if _, err := c.BindAccount(ctx, cloudsiem.BindAccountRequest{View: view, CloudCode: "hcloud", AccountID: "0123456789", AccountName: "huawei-prod", AccessID: "HPUAEXAMPLE0000001"}); !errors.Is(err, cloudsiem.ErrClient) || cloudsiem.ClassOf(err).Retryable() {
		t.Fatalf("BindAccount of a key that is not registered: %v, want a client error that is not retried", err)
	}
	emu.Register(emulator.Key{CloudCode: "hcloud", AccessID: "HPUAEXAMPLE0000001", AccountID: "0123456789"}, emulator.Key{CloudCode: "hcloud", AccessID: "HPUAEXAMPLE0000009", AccountID: "0123456789"})

	rid, err := c.BindAccount(ctx, cloudsiem.BindAccountRequest{View: view, CloudCode: "hcloud", AccountID: "0123456789", AccountName: "huawei-prod", AccessID: "HPUAEXAMPLE0000001"})
	if err != nil || len(rid) < 16 {
		t.Fatalf("BindAccount: RequestId %q, %v", rid, err)
	}
	got, err := c.ListBindAccount(ctx, cloudsiem.ListBindAccountRequest{View: view, CloudCode: "hcloud"})
	if err != nil {
		t.Fatalf("ListBindAccount: %v", err)
	}
	if len(got) != 1 || got[0].AccountID != "0123456789" || got[0].AccessID != "HPUAEXAMPLE0000001" || got[0].BindID == 0 || got[0].CreateUser == "" || got[0].ModifyTime == "" {
		t.Fatalf("listed %+v", got)
	}
	if other, _ := c.ListBindAccount(ctx, cloudsiem.ListBindAccountRequest{View: view, CloudCode: "qcloud"}); len(other) != 0 {
		t.Errorf("qcloud list = %+v, want empty", other)
	}
	if other, _ := c.ListBindAccount(ctx, cloudsiem.ListBindAccountRequest{View: cloudsiem.View{RegionID: "cn-hangzhou", RoleFor: 42}, CloudCode: "hcloud"}); len(other) != 0 {
		t.Errorf("member view list = %+v, want empty", other)
	}

	id := got[0].BindID
	if _, err := c.ModifyBindAccount(ctx, cloudsiem.ModifyBindAccountRequest{View: view, BindID: id, CloudCode: "hcloud", AccountID: "0123456789", AccountName: "renamed", AccessID: "HPUAEXAMPLE0000009"}); err != nil {
		t.Fatalf("ModifyBindAccount: %v", err)
	}
	state := emu.Bindings()
	if len(state) != 1 || state[0].AccountName != "renamed" || state[0].AccessID != "HPUAEXAMPLE0000009" {
		t.Fatalf("after modify: %+v", state)
	}
	if _, err := c.DeleteBindAccount(ctx, cloudsiem.DeleteBindAccountRequest{View: view, BindID: id, CloudCode: "hcloud", AccountID: "0123456789", AccessID: "HPUAEXAMPLE0000009"}); err != nil {
		t.Fatalf("DeleteBindAccount: %v", err)
	}
	if state := emu.Bindings(); len(state) != 0 {
		t.Fatalf("after delete: %+v", state)
	}
}

func TestRequestShape(t *testing.T) {
	var mu sync.Mutex
	var seen *http.Request
	var body string
	emu := emulator.New(emulator.Config{Credentials: []cloudsiem.Credential{testCred}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := new(strings.Builder)
		r.Body = readAll(r, b)
		mu.Lock()
		seen, body = r.Clone(r.Context()), b.String()
		mu.Unlock()
		emu.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := cloudsiem.New(cloudsiem.Config{Endpoint: srv.URL, Credentials: cloudsiem.StaticCredentials(testCred), UserAgent: "bindsync/test"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ModifyBindAccount(t.Context(), cloudsiem.ModifyBindAccountRequest{View: cloudsiem.View{RegionID: "cn-hangzhou", RoleFor: 7, RoleType: 1}, BindID: 5, CloudCode: "qcloud", AccountID: "1", AccountName: "a b", AccessID: "AKID"})
	if !errors.Is(err, cloudsiem.ErrNotApplied) {
		t.Fatalf("modify of unknown BindId: err = %v, want ErrNotApplied", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for k, want := range map[string]string{"x-acs-action": "ModifyBindAccount", "x-acs-version": "2022-06-16", "Content-Type": "application/x-www-form-urlencoded", "User-Agent": "bindsync/test"} {
		if got := seen.Header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if seen.Method != http.MethodPost || seen.URL.Path != "/" || seen.URL.RawQuery != "" {
		t.Errorf("request line %s %s?%s, want POST / with no query", seen.Method, seen.URL.Path, seen.URL.RawQuery)
	}
	if want := "AccessId=AKID&AccountId=1&AccountName=a+b&BindId=5&CloudCode=qcloud&RegionId=cn-hangzhou&RoleFor=7&RoleType=1"; body != want {
		t.Errorf("body = %q, want %q", body, want)
	}
	if !strings.HasPrefix(seen.Header.Get("Authorization"), "ACS3-HMAC-SHA256 Credential=LTAItestkey0001,SignedHeaders=content-type;host;x-acs-action;") {
		t.Errorf("Authorization = %q", seen.Header.Get("Authorization"))
	}
}

func TestErrorClasses(t *testing.T) {
	ctx := t.Context()
	t.Run("already bound is a client error", func(t *testing.T) {
		emu, c := newPair(t, emulator.Config{}, cloudsiem.RetryPolicy{})
		emu.Seed(emulator.Binding{BoundAccount: cloudsiem.BoundAccount{CloudCode: "hcloud", AccountID: "1", AccountName: "x", AccessID: "HPUAEXAMPLE0000001"}})
		_, err := c.BindAccount(ctx, cloudsiem.BindAccountRequest{CloudCode: "hcloud", AccountID: "2", AccountName: "y", AccessID: "HPUAEXAMPLE0000001"})
		var ae *cloudsiem.APIError
		if !errors.As(err, &ae) || !errors.Is(err, cloudsiem.ErrClient) || ae.Code != "InvalidOperation" || ae.HTTPStatus != 400 || ae.RequestID == "" || ae.Recommend == "" {
			t.Fatalf("err = %#v", err)
		}
		if strings.Contains(err.Error(), "HPUAEXAMPLE0000001") {
			t.Errorf("error spells out the AccessId: %v", err)
		}
		if n := len(emu.Requests()); n != 1 {
			t.Errorf("%d requests, want 1 (client errors are not retried)", n)
		}
	})
	t.Run("wrong secret is an auth error, not retried", func(t *testing.T) {
		emu := emulator.New(emulator.Config{Credentials: []cloudsiem.Credential{testCred}})
		bad := testCred
		bad.AccessKeySecret = "wrong"
		c, _ := cloudsiem.New(cloudsiem.Config{Endpoint: "http://127.0.0.1:1", Credentials: cloudsiem.StaticCredentials(bad), HTTPClient: &http.Client{Transport: emu.Transport()}})
		_, err := c.ListBindAccount(ctx, cloudsiem.ListBindAccountRequest{CloudCode: "hcloud"})
		if !errors.Is(err, cloudsiem.ErrAuth) || cloudsiem.ClassOf(err) != cloudsiem.ClassAuth {
			t.Fatalf("err = %v, want auth", err)
		}
		if strings.Contains(err.Error(), "wrong") {
			t.Errorf("error contains the secret: %v", err)
		}
		if n := len(emu.Requests()); n != 1 {
			t.Errorf("%d requests, want 1", n)
		}
	})
	t.Run("unknown AccessKey and expired STS token are auth errors", func(t *testing.T) {
		emu := emulator.New(emulator.Config{Credentials: []cloudsiem.Credential{{AccessKeyID: "STS.key", AccessKeySecret: "s", SecurityToken: "current"}}})
		for _, cred := range []cloudsiem.Credential{{AccessKeyID: "nobody", AccessKeySecret: "s"}, {AccessKeyID: "STS.key", AccessKeySecret: "s", SecurityToken: "stale"}} {
			c, _ := cloudsiem.New(cloudsiem.Config{Endpoint: "http://127.0.0.1:1", Credentials: cloudsiem.StaticCredentials(cred), HTTPClient: &http.Client{Transport: emu.Transport()}})
			if _, err := c.ListBindAccount(ctx, cloudsiem.ListBindAccountRequest{CloudCode: "hcloud"}); !errors.Is(err, cloudsiem.ErrAuth) {
				t.Errorf("cred %v: err = %v, want auth", cred, err)
			}
		}
		good, _ := cloudsiem.New(cloudsiem.Config{Endpoint: "http://127.0.0.1:1", Credentials: cloudsiem.StaticCredentials(cloudsiem.Credential{AccessKeyID: "STS.key", AccessKeySecret: "s", SecurityToken: "current"}), HTTPClient: &http.Client{Transport: emu.Transport()}})
		if _, err := good.ListBindAccount(ctx, cloudsiem.ListBindAccountRequest{CloudCode: "hcloud"}); err != nil {
			t.Errorf("valid STS credential: %v", err)
		}
	})
	t.Run("Count 0 is ErrNotApplied", func(t *testing.T) {
		emu, c := newPair(t, emulator.Config{}, cloudsiem.RetryPolicy{})
		emu.Seed(emulator.Binding{BoundAccount: cloudsiem.BoundAccount{BindID: 77, CloudCode: "hcloud", AccountID: "1", AccountName: "x", AccessID: "HPUAEXAMPLE0000001"}})
		_, err := c.ModifyBindAccount(ctx, cloudsiem.ModifyBindAccountRequest{BindID: 77, CloudCode: "hcloud", AccountID: "other", AccountName: "z"})
		if !errors.Is(err, cloudsiem.ErrNotApplied) || !errors.Is(err, cloudsiem.ErrClient) {
			t.Fatalf("mismatched AccountId: err = %v, want ErrNotApplied", err)
		}
		if emu.Bindings()[0].AccountName != "x" {
			t.Errorf("a Count-0 modify changed state")
		}
	})
	t.Run("server errors after retries", func(t *testing.T) {
		_, c := newPair(t, emulator.Config{Faults: emulator.Faults{Unavailable: 1}}, cloudsiem.RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond})
		_, err := c.ListBindAccount(ctx, cloudsiem.ListBindAccountRequest{CloudCode: "hcloud"})
		var ae *cloudsiem.APIError
		if !errors.As(err, &ae) || ae.Class != cloudsiem.ClassServer || ae.Code != "ServiceUnavailable" || ae.Attempts != 2 {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestClassifyAnswers feeds hand-made answers through the client: the codes
// and bodies that gateways and proxies send.
func TestClassifyAnswers(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		want       cloudsiem.Class
		wantNotApp bool
	}{
		{name: "Throttling.User 400", status: 400, body: `{"Code":"Throttling.User","Message":"m","RequestId":"r"}`, want: cloudsiem.ClassThrottled},
		{name: "Rejected.Throttling 403", status: 403, body: `{"Code":"Rejected.Throttling"}`, want: cloudsiem.ClassThrottled},
		{name: "retry-after header alone", status: 400, header: map[string]string{"x-acs-retry-after": "10"}, body: `{"Code":"Whatever"}`, want: cloudsiem.ClassThrottled},
		{name: "429 without code", status: 429, body: `too many`, want: cloudsiem.ClassThrottled},
		{name: "InternalError 500", status: 500, body: `{"Code":"InternalError"}`, want: cloudsiem.ClassServer},
		{name: "HTML 502 from a proxy", status: 502, body: `<html><title>Bad Gateway</title></html>`, want: cloudsiem.ClassServer},
		{name: "lowercase keys", status: 400, body: `{"code":"SignatureDoesNotMatch","message":"m","requestId":"r"}`, want: cloudsiem.ClassAuth},
		{name: "AccessDeniedDetail", status: 400, body: `{"Code":"SomethingNew","AccessDeniedDetail":{"AuthAction":"yundun-sas:BindAccount"}}`, want: cloudsiem.ClassAuth},
		{name: "403 Forbidden", status: 403, body: `{"Code":"Forbidden.RAM"}`, want: cloudsiem.ClassAuth},
		{name: "other 400", status: 400, body: `{"Code":"MissingParameter"}`, want: cloudsiem.ClassClient},
		// The official SDK takes every 2xx as a success; without Data.Count
		// bindsync cannot tell what happened (stricter: sdk_test.go).
		{name: "200 with an error body", status: 200, body: `{"Code":"InvalidParameter","Message":"m"}`, want: cloudsiem.ClassServer},
		{name: "200 with the success envelope", status: 200, body: `{"Code":200,"Success":true,"Message":"success","Data":{"Count":1}}`},
		{name: "200 with a string Code", status: 200, body: `{"Code":"OK","Data":{"Count":1}}`},
		{name: "retry-after on a 200 is ignored", status: 200, header: map[string]string{"x-acs-retry-after": "10"}, body: `{"Data":{"Count":1}}`},
		{name: "negative retry-after on a 400", status: 400, header: map[string]string{"x-acs-retry-after": "-5"}, body: `{"Code":"Whatever"}`, want: cloudsiem.ClassClient},
		{name: "200 malformed JSON", status: 200, body: `{"Data": {"Count": `, want: cloudsiem.ClassServer},
		{name: "200 wrong field type", status: 200, body: `{"Data": {"Count": "one"}}`, want: cloudsiem.ClassServer},
		{name: "200 missing Data", status: 200, body: `{"RequestId":"r"}`, want: cloudsiem.ClassServer},
		{name: "200 Count -1", status: 200, body: `{"Data": {"Count": -1}}`, want: cloudsiem.ClassClient, wantNotApp: true},
		{name: "200 huge body", status: 200, body: `{"Data": {"Count": 1}, "Pad": "` + strings.Repeat("x", cloudsiem.MaxResponseBytes) + `"}`, want: cloudsiem.ClassServer},
		{name: "500 huge body", status: 500, body: strings.Repeat("x", cloudsiem.MaxResponseBytes+10), want: cloudsiem.ClassServer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			t.Cleanup(srv.Close)
			c, _ := cloudsiem.New(cloudsiem.Config{Endpoint: srv.URL, Credentials: cloudsiem.StaticCredentials(testCred), Retry: cloudsiem.RetryPolicy{MaxAttempts: 1}})
			_, err := c.ModifyBindAccount(t.Context(), cloudsiem.ModifyBindAccountRequest{BindID: 1, CloudCode: "hcloud", AccountID: "1"})
			if got := cloudsiem.ClassOf(err); got != tt.want {
				t.Errorf("class = %v, want %v (err %v)", got, tt.want, err)
			}
			if errors.Is(err, cloudsiem.ErrNotApplied) != tt.wantNotApp {
				t.Errorf("ErrNotApplied = %v, want %v", !tt.wantNotApp, tt.wantNotApp)
			}
		})
	}
}

func TestRetries(t *testing.T) {
	t.Run("throttling honours x-acs-retry-after", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			emu, c := newPair(t, emulator.Config{QuotaPerSecond: 1}, cloudsiem.RetryPolicy{BaseDelay: time.Millisecond})
			ctx := context.Background()
			if _, err := c.ListBindAccount(ctx, cloudsiem.ListBindAccountRequest{CloudCode: "hcloud"}); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if _, err := c.ListBindAccount(ctx, cloudsiem.ListBindAccountRequest{CloudCode: "hcloud"}); err != nil {
				t.Fatalf("second list: %v", err)
			}
			// The bucket refills one token per second; a 1 ms jittered backoff
			// alone would have been throttled again and again.
			if waited := time.Since(start); waited < 900*time.Millisecond || waited > 1100*time.Millisecond {
				t.Errorf("waited %v, want about the 1 s the server asked for", waited)
			}
			if got := emu.Counts()["ListBindAccount"]; got["Throttling.User"] != 1 || got["ok"] != 2 {
				t.Errorf("counts = %v, want 1 throttled then ok", got)
			}
		})
	})
	t.Run("5xx backoff is capped exponential", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			emu, c := newPair(t, emulator.Config{Faults: emulator.Faults{InternalError: 1}},
				cloudsiem.RetryPolicy{MaxAttempts: 5, BaseDelay: 100 * time.Millisecond, MaxDelay: 300 * time.Millisecond, MaxElapsed: time.Minute})
			start := time.Now()
			_, err := c.ListBindAccount(context.Background(), cloudsiem.ListBindAccountRequest{CloudCode: "hcloud"})
			waited := time.Since(start)
			if !errors.Is(err, cloudsiem.ErrServer) {
				t.Fatalf("err = %v", err)
			}
			if n := len(emu.Requests()); n != 5 {
				t.Errorf("%d attempts, want 5", n)
			}
			// Full jitter: each wait is in [0, min(cap, base*2^k)) = 100, 200, 300, 300 ms.
			if waited >= 900*time.Millisecond {
				t.Errorf("waited %v, want < 900ms", waited)
			}
		})
	})
	t.Run("MaxElapsed bounds the whole call", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			emu, c := newPair(t, emulator.Config{QuotaPerSecond: 1}, cloudsiem.RetryPolicy{MaxAttempts: 100, MaxElapsed: 2500 * time.Millisecond})
			emu.SetFaults(emulator.Faults{Unavailable: 1})
			start := time.Now()
			_, err := c.ListBindAccount(context.Background(), cloudsiem.ListBindAccountRequest{CloudCode: "hcloud"})
			if err == nil || time.Since(start) > 2500*time.Millisecond {
				t.Errorf("err = %v after %v, want failure within 2.5s", err, time.Since(start))
			}
		})
	})
	t.Run("dropped connections are retried", func(t *testing.T) {
		emu, c := newPair(t, emulator.Config{Faults: emulator.Faults{Drop: 0.4}, Seed: 7}, cloudsiem.RetryPolicy{MaxAttempts: 10, BaseDelay: time.Microsecond})
		emu.Seed(emulator.Binding{BoundAccount: cloudsiem.BoundAccount{BindID: 9, CloudCode: "hcloud", AccountID: "1", AccountName: "x", AccessID: "HPUAEXAMPLE0000001"}})
		for i := range 20 {
			if _, err := c.ModifyBindAccount(t.Context(), cloudsiem.ModifyBindAccountRequest{BindID: 9, CloudCode: "hcloud", AccountID: "1", AccountName: "n"}); err != nil {
				t.Fatalf("modify %d: %v", i, err)
			}
		}
		if emu.Counts()["ModifyBindAccount"]["dropped"] == 0 {
			t.Fatal("no connection was dropped; the test proves nothing")
		}
	})
	t.Run("BindAccount with unknown outcome is not resent", func(t *testing.T) {
		emu, c := newPair(t, emulator.Config{Faults: emulator.Faults{DropAfterApply: 1}, AnyKey: true}, cloudsiem.RetryPolicy{BaseDelay: time.Microsecond})
		_, err := c.BindAccount(t.Context(), cloudsiem.BindAccountRequest{CloudCode: "hcloud", AccountID: "1", AccountName: "x", AccessID: "HPUAEXAMPLE0000001"})
		if !errors.Is(err, cloudsiem.ErrOutcomeUnknown) || !errors.Is(err, cloudsiem.ErrNetwork) {
			t.Fatalf("err = %v, want ErrOutcomeUnknown", err)
		}
		if n := emu.Counts()["BindAccount"]["dropped"]; n != 1 || len(emu.Requests()) != 1 {
			t.Errorf("requests = %v, want exactly one BindAccount", emu.Counts())
		}
		if len(emu.Bindings()) != 1 {
			t.Errorf("the dropped bind was applied on the server; state = %v", emu.Bindings())
		}
	})
	t.Run("cancel stops the retry loop at once", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			_, c := newPair(t, emulator.Config{Faults: emulator.Faults{Unavailable: 1}}, cloudsiem.RetryPolicy{MaxAttempts: 10, BaseDelay: 10 * time.Second, MaxDelay: 10 * time.Second})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			start := time.Now()
			go func() {
				_, err := c.ListBindAccount(ctx, cloudsiem.ListBindAccountRequest{CloudCode: "hcloud"})
				done <- err
			}()
			synctest.Wait() // the call is now waiting out a backoff
			cancel()
			err := <-done
			if !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v, want context.Canceled", err)
			}
			if d := time.Since(start); d != 0 {
				t.Errorf("returned after %v of fake time, want at once", d)
			}
		})
	})
	t.Run("no retry on client and auth errors", func(t *testing.T) {
		emu, c := newPair(t, emulator.Config{}, cloudsiem.RetryPolicy{MaxAttempts: 5})
		_, _ = c.BindAccount(t.Context(), cloudsiem.BindAccountRequest{CloudCode: "aws", AccountID: "1", AccountName: "x", AccessID: "y"})
		if n := len(emu.Requests()); n != 1 {
			t.Errorf("%d requests for an invalid CloudCode, want 1", n)
		}
	})
}

func TestEndpoints(t *testing.T) {
	creds := cloudsiem.StaticCredentials(testCred)
	for _, tt := range []struct {
		cfg     cloudsiem.Config
		want    string
		wantErr bool
	}{
		{cfg: cloudsiem.Config{RegionID: "cn-hangzhou"}, want: "https://cloud-siem.cn-shanghai.aliyuncs.com"},
		{cfg: cloudsiem.Config{RegionID: "ap-southeast-1"}, want: "https://cloud-siem.ap-southeast-1.aliyuncs.com"},
		{cfg: cloudsiem.Config{RegionID: "us-east-1"}, wantErr: true},
		{cfg: cloudsiem.Config{Endpoint: "http://127.0.0.1:8080"}, want: "http://127.0.0.1:8080"},
		{cfg: cloudsiem.Config{Endpoint: "http://[::1]:8080"}, want: "http://[::1]:8080"},
		{cfg: cloudsiem.Config{Endpoint: "http://cloud-siem.cn-shanghai.aliyuncs.com"}, wantErr: true},
		{cfg: cloudsiem.Config{Endpoint: "http://10.0.0.1"}, wantErr: true},
		{cfg: cloudsiem.Config{Endpoint: "ftp://127.0.0.1"}, wantErr: true},
		{cfg: cloudsiem.Config{Endpoint: "https://example.com/path"}, wantErr: true},
		{cfg: cloudsiem.Config{Endpoint: "https://cloud-siem.cn-shanghai.aliyuncs.com/"}, want: "https://cloud-siem.cn-shanghai.aliyuncs.com"},
		{cfg: cloudsiem.Config{Endpoint: "https://example.com?x=1"}, wantErr: true},
		{cfg: cloudsiem.Config{Endpoint: "https://example.com/#frag"}, wantErr: true},
		{cfg: cloudsiem.Config{Endpoint: "https://user:hunter2pass@example.com"}, wantErr: true},
		{cfg: cloudsiem.Config{Endpoint: "https://user:hunter2pass@exa mple.com/%zz"}, wantErr: true},
	} {
		tt.cfg.Credentials = creds
		c, err := cloudsiem.New(tt.cfg)
		if (err != nil) != tt.wantErr {
			t.Errorf("New(%+v) err = %v, wantErr %v", tt.cfg.Endpoint+tt.cfg.RegionID, err, tt.wantErr)
			continue
		}
		if err != nil && strings.Contains(err.Error(), "hunter2pass") {
			t.Errorf("the error echoes a password: %v", err)
		}
		if err == nil && c.Endpoint() != tt.want {
			t.Errorf("Endpoint() = %q, want %q", c.Endpoint(), tt.want)
		}
	}
}

func TestCredentialRedaction(t *testing.T) {
	c := cloudsiem.Credential{AccessKeyID: "LTAI5tExampleKey", AccessKeySecret: "supersecret", SecurityToken: "tok"}
	for _, s := range []string{c.String(), c.GoString()} {
		if strings.Contains(s, "supersecret") || strings.Contains(s, "tok\"") || strings.Contains(s, "LTAI5tExampleKey") {
			t.Errorf("Credential formats as %q", s)
		}
	}
}

func TestObserveHook(t *testing.T) {
	var mu sync.Mutex
	var got []cloudsiem.Attempt
	emu := emulator.New(emulator.Config{Credentials: []cloudsiem.Credential{testCred}, QuotaPerSecond: 1})
	c, _ := cloudsiem.New(cloudsiem.Config{Endpoint: "http://127.0.0.1:1", Credentials: cloudsiem.StaticCredentials(testCred),
		HTTPClient: &http.Client{Transport: emu.Transport()}, Retry: cloudsiem.RetryPolicy{MaxAttempts: 1},
		Observe: func(a cloudsiem.Attempt) { mu.Lock(); got = append(got, a); mu.Unlock() }})
	_, _ = c.ListBindAccount(t.Context(), cloudsiem.ListBindAccountRequest{CloudCode: "hcloud"})
	_, _ = c.ListBindAccount(t.Context(), cloudsiem.ListBindAccountRequest{CloudCode: "hcloud"})
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0].Class != 0 || got[1].Class != cloudsiem.ClassThrottled || got[1].RetryAfter <= 0 || got[0].Action != "ListBindAccount" {
		t.Errorf("observed %+v", got)
	}
}

// TestChainCredentials reads the key pair through credentials-go's default
// chain from the environment; the metadata service is disabled so nothing
// outside the process is probed.
func TestChainCredentials(t *testing.T) {
	chainFromEnvironment(t, "LTAIchain00000001", "chain-secret", "chain-token")
	chain, err := cloudsiem.NewChainCredentials()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 { // concurrent callers are serialised inside
		wg.Go(func() {
			got, err := chain.Credential(t.Context())
			if err != nil || got.AccessKeyID != "LTAIchain00000001" || got.AccessKeySecret != "chain-secret" || got.SecurityToken != "chain-token" {
				t.Errorf("Credential() = %v, %v", got, err)
			}
		})
	}
	wg.Wait()
	emu := emulator.New(emulator.Config{Credentials: []cloudsiem.Credential{{AccessKeyID: "LTAIchain00000001", AccessKeySecret: "chain-secret", SecurityToken: "chain-token"}}})
	c, _ := cloudsiem.New(cloudsiem.Config{Endpoint: "http://127.0.0.1:1", Credentials: chain, HTTPClient: &http.Client{Transport: emu.Transport()}})
	if _, err := c.ListBindAccount(t.Context(), cloudsiem.ListBindAccountRequest{CloudCode: "hcloud"}); err != nil {
		t.Errorf("STS credentials from the chain: %v", err)
	}
}

// TestTrailingSlashEndpointWorks: the request goes to "/", which the
// signature covers (it went to "//" and every call failed).
func TestTrailingSlashEndpointWorks(t *testing.T) {
	emu := emulator.New(emulator.Config{Credentials: []cloudsiem.Credential{testCred}})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	c, err := cloudsiem.New(cloudsiem.Config{Endpoint: srv.URL + "/", Credentials: cloudsiem.StaticCredentials(testCred)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListBindAccount(t.Context(), cloudsiem.ListBindAccountRequest{CloudCode: "hcloud"}); err != nil {
		t.Fatalf("list through %s/: %v", srv.URL, err)
	}
}

// TestChainHeals: credentials-go's default chain remembers the provider it
// tried last; once every provider failed, it never tries the others again.
// bindsync rebuilds the chain after a failure, so a source that appears
// later (RRSA after a transient STS failure, here the environment) is found.
func TestChainHeals(t *testing.T) {
	chainFromEnvironment(t, "", "", "")
	t.Setenv("ALIBABA_CLOUD_CREDENTIALS_FILE", t.TempDir()+"/none")
	chain, err := cloudsiem.NewChainCredentials()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := credentials.NewCredential(nil) // the chain as credentials-go ships it
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chain.Credential(t.Context()); err == nil {
		t.Fatal("no source yet, but a credential came back")
	}
	if _, err := raw.GetCredential(); err == nil {
		t.Fatal("no source yet, but the raw chain answered")
	}
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIlater00000001")
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "later-secret")
	if _, err := raw.GetCredential(); err == nil {
		t.Log("credentials-go no longer pins the last provider after a failure; the rebuild is now only a safeguard")
	}
	got, err := chain.Credential(t.Context())
	if err != nil || got.AccessKeyID != "LTAIlater00000001" {
		t.Fatalf("after the source appeared: %v, %v", got, err)
	}
}

// TestConfigTypesPrintNoSecret: %v, %+v and %#v of every type that holds a
// credential.
func TestConfigTypesPrintNoSecret(t *testing.T) {
	chainFromEnvironment(t, "LTAIprint00000001", "print-secret-value", "print-token-value")
	chain, err := cloudsiem.NewChainCredentials()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chain.Credential(t.Context()); err != nil { // the chain now caches the secret
		t.Fatal(err)
	}
	cred := cloudsiem.Credential{AccessKeyID: "LTAIprint00000001", AccessKeySecret: "print-secret-value", SecurityToken: "print-token-value"}
	values := []any{cred, &cred, cloudsiem.StaticCredentials(cred), chain,
		cloudsiem.Config{Credentials: chain}, cloudsiem.Config{Credentials: cloudsiem.StaticCredentials(cred)},
		emulator.Config{Credentials: []cloudsiem.Credential{cred}}}
	for _, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			out := fmt.Sprintf(verb, v)
			if strings.Contains(out, "print-secret-value") || strings.Contains(out, "print-token-value") {
				t.Errorf("%s of %T leaks: %s", verb, v, out)
			}
		}
	}
}

// TestMessagesCutOnRuneBoundary: a long Chinese message stays valid UTF-8.
func TestMessagesCutOnRuneBoundary(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		fmt.Fprintf(w, `{"Code":"InvalidParameter","Message":"x%s"}`, strings.Repeat("参数错误", 100))
	}))
	t.Cleanup(srv.Close)
	c, _ := cloudsiem.New(cloudsiem.Config{Endpoint: srv.URL, Credentials: cloudsiem.StaticCredentials(testCred)})
	_, err := c.ListBindAccount(t.Context(), cloudsiem.ListBindAccountRequest{CloudCode: "hcloud"})
	if err == nil || !utf8.ValidString(err.Error()) || !strings.Contains(err.Error(), "…") {
		t.Fatalf("err = %q", err)
	}
}

// TestRequestTimeoutIsEndToEnd: the timeout bounds the wait for headers too,
// whatever its value (the header wait was capped at 20 s).
func TestRequestTimeoutIsEndToEnd(t *testing.T) {
	for _, d := range []time.Duration{50 * time.Millisecond, time.Minute} {
		hc := cloudsiem.NewHTTPClient(d)
		if tr := hc.Transport.(*http.Transport); hc.Timeout != d || tr.ResponseHeaderTimeout != d {
			t.Errorf("NewHTTPClient(%s): timeout %s, header timeout %s", d, hc.Timeout, tr.ResponseHeaderTimeout)
		}
	}
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	t.Cleanup(func() { close(release); srv.Close() })
	c, _ := cloudsiem.New(cloudsiem.Config{Endpoint: srv.URL, Credentials: cloudsiem.StaticCredentials(testCred),
		HTTPClient: cloudsiem.NewHTTPClient(50 * time.Millisecond), Retry: cloudsiem.RetryPolicy{MaxAttempts: 1}})
	_, err := c.ListBindAccount(t.Context(), cloudsiem.ListBindAccountRequest{CloudCode: "hcloud"})
	if !errors.Is(err, cloudsiem.ErrNetwork) {
		t.Fatalf("err = %v, want a network-class timeout", err)
	}
}

// TestCancellation: a read stops as soon as ctx ends; a mutation that was on
// the wire when ctx ended keeps its class and outcome mark.
func TestCancellation(t *testing.T) {
	t.Run("a list in flight stops promptly", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		t.Cleanup(func() { close(release); srv.Close() })
		c, _ := cloudsiem.New(cloudsiem.Config{Endpoint: srv.URL, Credentials: cloudsiem.StaticCredentials(testCred), HTTPClient: cloudsiem.NewHTTPClient(time.Minute)})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			_, err := c.ListBindAccount(ctx, cloudsiem.ListBindAccountRequest{CloudCode: "hcloud"})
			done <- err
		}()
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the list did not stop within 10 s of cancellation")
		}
	})
	t.Run("a mutation cut by shutdown keeps its class", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cancel() // shutdown arrives while the request is at the server
			hj, _ := w.(http.Hijacker)
			conn, _, _ := hj.Hijack()
			conn.Close()
		}))
		t.Cleanup(srv.Close)
		c, _ := cloudsiem.New(cloudsiem.Config{Endpoint: srv.URL, Credentials: cloudsiem.StaticCredentials(testCred)})
		for _, call := range []func() error{
			func() error {
				_, err := c.ModifyBindAccount(ctx, cloudsiem.ModifyBindAccountRequest{BindID: 1, CloudCode: "hcloud", AccountID: "1"})
				return err
			},
			func() error {
				_, err := c.BindAccount(ctx, cloudsiem.BindAccountRequest{CloudCode: "hcloud", AccountID: "1", AccountName: "n", AccessID: "HPUA0000000001"})
				return err
			},
		} {
			ctx, cancel = context.WithCancel(t.Context())
			err := call()
			if cloudsiem.ClassOf(err) != cloudsiem.ClassNetwork || !errors.Is(err, cloudsiem.ErrOutcomeUnknown) || !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v, want a network failure with unknown outcome, and the cancellation", err)
			}
		}
		cancel()
	})
}

// chainFromEnvironment leaves credentials-go's default chain only the
// environment to read (no metadata service, no CLI profile) and puts the
// given key pair and token there ("" leaves a variable empty).
func chainFromEnvironment(t *testing.T, id, secret, token string) {
	t.Helper()
	t.Setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
	t.Setenv("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "true")
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", id)
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", secret)
	t.Setenv("ALIBABA_CLOUD_SECURITY_TOKEN", token)
}
