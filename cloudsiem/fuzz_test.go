package cloudsiem_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/bindsync/bindsync/cloudsiem"
)

// answerTransport answers every request with one canned response.
type answerTransport struct {
	status     int
	body       []byte
	retryAfter string
}

func (a answerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	h := http.Header{}
	if a.retryAfter != "" {
		h.Set("x-acs-retry-after", a.retryAfter)
	}
	return &http.Response{StatusCode: a.status, Header: h, Body: io.NopCloser(bytes.NewReader(a.body)), Request: r}, nil
}

// FuzzDecodeAnswer feeds arbitrary answers to the client: it must never
// panic, every failure must be classified, and success only comes from 200.
func FuzzDecodeAnswer(f *testing.F) {
	f.Add(200, []byte(`{"Data":[{"BindId":1,"AccountId":"1","CloudCode":"hcloud"}],"RequestId":"r"}`), "")
	f.Add(200, []byte(`{"Data":{"Count":1}}`), "")
	f.Add(200, []byte(`{"Data":{"Count":0}}`), "")
	f.Add(400, []byte(`{"Code":"Throttling.User","Message":"m"}`), "120")
	f.Add(502, []byte(`<html><title>Bad Gateway</title></html>`), "")
	f.Add(200, []byte(`{"code":"InvalidParameter"}`), "")
	f.Add(200, []byte(`{"Data":[{"BindId":"x"}]}`), "")
	f.Fuzz(func(t *testing.T, status int, body []byte, retryAfter string) {
		if status < 100 || status > 599 {
			status = 200 + (status%400+400)%400
		}
		c, err := cloudsiem.New(cloudsiem.Config{Endpoint: "http://127.0.0.1:1", Credentials: cloudsiem.StaticCredentials(testCred),
			HTTPClient: &http.Client{Transport: answerTransport{status, body, retryAfter}}, Retry: cloudsiem.RetryPolicy{MaxAttempts: 1}})
		if err != nil {
			t.Fatal(err)
		}
		check := func(op string, err error) {
			if err == nil {
				// Every 2xx is a success, as in the official SDK; nothing else is.
				if status < 200 || status > 299 {
					t.Fatalf("%s succeeded on HTTP %d", op, status)
				}
				return
			}
			var ae *cloudsiem.APIError
			if !errors.As(err, &ae) || ae.Class == 0 {
				t.Fatalf("%s: unclassified error %v", op, err)
			}
			if strings.Contains(err.Error(), testCred.AccessKeySecret) {
				t.Fatalf("%s: error contains the secret", op)
			}
		}
		list, err := c.ListBindAccount(t.Context(), cloudsiem.ListBindAccountRequest{CloudCode: "hcloud"})
		check("list", err)
		if err == nil && list == nil {
			t.Fatal("list succeeded without a list")
		}
		_, err = c.ModifyBindAccount(t.Context(), cloudsiem.ModifyBindAccountRequest{BindID: 1, CloudCode: "hcloud", AccountID: "1"})
		check("modify", err)
		_, err = c.BindAccount(t.Context(), cloudsiem.BindAccountRequest{CloudCode: "hcloud", AccountID: "1", AccountName: "a", AccessID: "b"})
		check("bind", err)
		if status >= 200 && status <= 299 && err != nil && cloudsiem.ClassOf(err) == cloudsiem.ClassServer && !errors.Is(err, cloudsiem.ErrOutcomeUnknown) {
			t.Fatalf("a garbled 200 to BindAccount must be ErrOutcomeUnknown: %v", err)
		}
	})
}

// FuzzCanonicalRequest: the canonical request ignores header-name case and
// order and unsigned headers, never loses a signed header, and an
// Authorization header parses back into what signed it.
func FuzzCanonicalRequest(f *testing.F) {
	f.Add("POST", "x-acs-action", "ModifyBindAccount", "AccessId=A&BindId=1", "k", "v")
	f.Add("GET", "X-ACS-Date", "2023-10-26T10:22:32Z", "", "a b", "*~")
	f.Fuzz(func(t *testing.T, method, hname, hvalue, body, qk, qv string) {
		hname = strings.ToLower(strings.TrimSpace(hname))
		if !validHeaderName(hname) {
			// HTTP header names are tokens (RFC 9110 §5.1); Go's server
			// refuses anything else before it could reach verification.
			hname = "x-acs-extra"
		}
		base := map[string]string{"host": "h", "x-acs-version": "2022-06-16", "x-acs-content-sha256": cloudsiem.HashPayload([]byte(body)), "user-agent": "ignored"}
		in := cloudsiem.SignInput{Method: method, Path: "/", Query: map[string][]string{qk: {qv}}, Headers: base, PayloadHash: cloudsiem.HashPayload([]byte(body))}
		in.Headers[hname] = hvalue
		canon, signed := cloudsiem.CanonicalRequest(in)

		upper := map[string]string{}
		for k, v := range in.Headers {
			upper[strings.ToUpper(k)] = v
		}
		upper["Another-Unsigned"] = "x"
		in2 := in
		in2.Headers = upper
		canon2, signed2 := cloudsiem.CanonicalRequest(in2)
		if canon != canon2 || signed != signed2 {
			t.Fatalf("case or unsigned headers changed the canonical request:\n%q\n%q", canon, canon2)
		}
		if strings.Contains(signed, "user-agent") {
			t.Fatal("user-agent was signed")
		}
		if (strings.HasPrefix(hname, "x-acs-") || hname == "content-type" || hname == "host") && !strings.Contains(";"+signed+";", ";"+hname+";") {
			t.Fatalf("signed header %q missing from %q", hname, signed)
		}
		auth := cloudsiem.Sign(in, "AKID", "secret")
		id, gotSigned, sig, ok := cloudsiem.ParseAuthorization(auth)
		if !ok || id != "AKID" || gotSigned != signed || sig != cloudsiem.Signature("secret", canon) {
			t.Fatalf("Authorization %q does not parse back", auth)
		}
	})
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("!#$%&'*+-.^_`|~", r):
		default:
			return false
		}
	}
	return true
}
