package cloudsiem

import (
	"bytes"
	"context"
	cryptorand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxThrottledRetries bounds the throttled attempts that do not count
// against RetryPolicy.MaxAttempts.
const maxThrottledRetries = 20

// MaxResponseBytes bounds how much of an answer is read; a larger answer is a
// server error, never an out-of-memory.
const MaxResponseBytes = 32 << 20

// Limiter paces attempts. It is waited on before every attempt, retries
// included, because retries spend the same quota.
type Limiter interface {
	Wait(ctx context.Context) error
}

// Attempt describes one HTTP attempt, for metrics and rate adaptation.
type Attempt struct {
	Action     string
	Class      Class // 0 when the attempt succeeded
	HTTPStatus int
	Duration   time.Duration
	RetryAfter time.Duration
}

// Config configures a Client. Credentials is required.
type Config struct {
	// Endpoint is scheme://host[:port]. Empty means EndpointFor(RegionID).
	Endpoint    string
	RegionID    string
	Credentials CredentialSource
	HTTPClient  *http.Client // default: DefaultHTTPClient()
	UserAgent   string       // default "bindsync"
	Retry       RetryPolicy
	Limiter     Limiter       // optional
	Observe     func(Attempt) // optional; called after every attempt

	now   func() time.Time // for tests
	nonce func() string
}

// Client calls the cloud-siem bind-account operations. It is safe for
// concurrent use.
type Client struct {
	endpoint *url.URL
	creds    CredentialSource
	http     *http.Client
	ua       string
	retry    RetryPolicy
	limiter  Limiter
	observe  func(Attempt)
	now      func() time.Time
	nonce    func() string
}

// DefaultRequestTimeout bounds one HTTP attempt, and so how long shutdown may
// wait for an attempt in flight.
const DefaultRequestTimeout = 20 * time.Second

// NewHTTPClient returns an HTTP client whose timeout bounds a whole attempt
// (connect, headers and body) and which never follows a redirect. A timeout
// of zero or less means DefaultRequestTimeout.
func NewHTTPClient(timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = DefaultRequestTimeout
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	tr.ResponseHeaderTimeout = timeout
	return &http.Client{Timeout: timeout, Transport: tr, CheckRedirect: refuseRedirect}
}

// DefaultHTTPClient is NewHTTPClient(DefaultRequestTimeout).
func DefaultHTTPClient() *http.Client { return NewHTTPClient(DefaultRequestTimeout) }

// refuseRedirect hands a 3xx answer back to the caller instead of following
// it: following would re-send a signed mutation and the STS token to
// whatever host Location names, or turn a POST into a GET whose answer would
// be read as the binding list.
func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// New builds a client. It fails on a missing credential source or an endpoint
// that is not https (plain http is allowed for loopback only).
func New(cfg Config) (*Client, error) {
	if cfg.Credentials == nil {
		return nil, errors.New("cloudsiem: no credential source")
	}
	raw := cfg.Endpoint
	if raw == "" {
		var err error
		if raw, err = EndpointFor(cfg.RegionID); err != nil {
			return nil, fmt.Errorf("cloudsiem: %w", err)
		}
	}
	u, err := checkEndpoint(raw)
	if err != nil {
		return nil, fmt.Errorf("cloudsiem: %w", err)
	}
	c := &Client{
		endpoint: u,
		creds:    cfg.Credentials,
		http:     cfg.HTTPClient,
		ua:       cfg.UserAgent,
		retry:    cfg.Retry.withDefaults(),
		limiter:  cfg.Limiter,
		observe:  cfg.Observe,
		now:      cfg.now,
		nonce:    cfg.nonce,
	}
	if c.http == nil {
		c.http = DefaultHTTPClient()
	} else {
		// Whatever client is given, redirects are never followed.
		hc := *c.http
		hc.CheckRedirect = refuseRedirect
		c.http = &hc
	}
	if c.ua == "" {
		c.ua = "bindsync"
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.nonce == nil {
		c.nonce = randomNonce
	}
	return c, nil
}

// Endpoint returns the URL the client sends to.
func (c *Client) Endpoint() string { return c.endpoint.String() }

// ListBindAccount returns every binding of one cloud code in the given view.
// An answer with no Data (absent or null) is an empty list, as the official
// SDK reads it. An answer whose entries repeat a BindId, miss BindId,
// AccountId or CloudCode, or carry a BindId <= 0 is refused as a whole
// (ErrBrokenAnswer): nothing may be planned from a list that cannot be
// trusted. Every entry's CloudCode is the one that was asked for.
func (c *Client) ListBindAccount(ctx context.Context, req ListBindAccountRequest) ([]BoundAccount, error) {
	var resp listResponse
	if err := c.call(ctx, ActionListBindAccount, req.form(), "", &resp); err != nil {
		return nil, err
	}
	out, err := checkList(resp.Data, req.CloudCode)
	if err != nil {
		return nil, &APIError{Action: ActionListBindAccount, Class: ClassServer, HTTPStatus: http.StatusOK, RequestID: resp.RequestID,
			Message: "broken list answer", Err: errors.Join(ErrBrokenAnswer, err), Attempts: 1}
	}
	return out, nil
}

// ListAccountAccessID returns the AccessKeys Threat Analysis knows for one
// cloud code, bound or not. No Data is an empty list.
func (c *Client) ListAccountAccessID(ctx context.Context, req ListAccountAccessIDRequest) ([]KnownAccessKey, error) {
	var resp knownKeysResponse
	if err := c.call(ctx, ActionListAccountAccessID, req.form(), "", &resp); err != nil {
		return nil, err
	}
	return resp.Data, nil
}

// checkList validates the entries of a list answer and converts them.
func checkList(items []listItem, cloudCode string) ([]BoundAccount, error) {
	out := make([]BoundAccount, 0, len(items))
	seen := make(map[int64]int, len(items))
	var errs []error
	for i, it := range items {
		var missing []string
		if !it.hasBindID {
			missing = append(missing, "BindId")
		}
		if !it.hasAccountID || strings.TrimSpace(it.AccountID) == "" {
			missing = append(missing, "AccountId")
		}
		if !it.hasCloudCode || strings.TrimSpace(it.CloudCode) == "" {
			missing = append(missing, "CloudCode")
		}
		switch {
		case len(missing) > 0:
			errs = append(errs, fmt.Errorf("entry %d: no %s", i+1, strings.Join(missing, ", ")))
			continue
		case it.BindID <= 0:
			errs = append(errs, fmt.Errorf("entry %d: BindId %d is not positive", i+1, it.BindID))
			continue
		}
		if first, dup := seen[it.BindID]; dup {
			errs = append(errs, fmt.Errorf("entries %d and %d: both have BindId %d", first, i+1, it.BindID))
			continue
		}
		seen[it.BindID] = i + 1
		out = append(out, BoundAccount{
			BindID: it.BindID, AccountID: it.AccountID, AccountName: it.AccountName, AccessID: it.AccessID,
			CloudCode: cloudCode, CreateUser: it.CreateUser, ModifyTime: it.ModifyTime, DataSourceCount: it.DataSourceCount,
		})
		if len(errs) >= 5 {
			break
		}
	}
	return out, errors.Join(errs...)
}

// The mutating calls return the RequestId of the answer that applied them
// (to log with every change); failures carry theirs in *APIError.

// BindAccount creates a binding. An error matching ErrOutcomeUnknown means the
// request may have been applied: list again before deciding to resend.
func (c *Client) BindAccount(ctx context.Context, req BindAccountRequest) (requestID string, err error) {
	return c.callCount(ctx, ActionBindAccount, req.form(), req.AccessID)
}

// ModifyBindAccount changes the binding req.BindID.
func (c *Client) ModifyBindAccount(ctx context.Context, req ModifyBindAccountRequest) (requestID string, err error) {
	return c.callCount(ctx, ActionModifyBindAccount, req.form(), req.AccessID)
}

// DeleteBindAccount removes a binding.
func (c *Client) DeleteBindAccount(ctx context.Context, req DeleteBindAccountRequest) (requestID string, err error) {
	return c.callCount(ctx, ActionDeleteBindAccount, req.form(), req.AccessID)
}

func (c *Client) callCount(ctx context.Context, action string, form url.Values, accessID string) (string, error) {
	var resp countResponse
	if err := c.call(ctx, action, form, accessID, &resp); err != nil {
		return "", err
	}
	if resp.Data == nil || resp.Data.Count == nil {
		me := malformed(action, resp.RequestID, errors.New("answer has no Data.Count"))
		if action == ActionBindAccount {
			// The service answered 200 but we cannot tell what it did.
			me.Err = errors.Join(ErrOutcomeUnknown, me.Err)
		}
		return "", me
	}
	if *resp.Data.Count <= 0 {
		return "", &APIError{Action: action, Class: ClassClient, HTTPStatus: http.StatusOK, RequestID: resp.RequestID,
			Message: fmt.Sprintf("Count=%d", *resp.Data.Count), Err: ErrNotApplied, Attempts: 1}
	}
	return resp.RequestID, nil
}

func malformed(action, rid string, err error) *APIError {
	return &APIError{Action: action, Class: ClassServer, HTTPStatus: http.StatusOK, RequestID: rid,
		Message: "malformed answer", Err: err, Attempts: 1}
}

// call runs the attempt loop; the first good 200 answer is decoded into out.
func (c *Client) call(ctx context.Context, action string, form url.Values, accessID string, out any) error {
	body := []byte(form.Encode())
	start := c.now()
	var last *APIError
	throttled := 0
	for attempt := 1; ; attempt++ {
		if c.limiter != nil {
			if err := c.limiter.Wait(ctx); err != nil {
				return cancelled(ctx, action, err, last)
			}
		}
		cred, err := c.creds.Credential(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return cancelled(ctx, action, ctx.Err(), last)
			}
			// A credential that cannot be had is an auth failure; the chain
			// has its own timeouts and retrying here would only hammer STS.
			return &APIError{Action: action, Class: ClassAuth, Message: "no credentials", Err: err, Attempts: attempt}
		}
		t0 := c.now()
		aerr := c.attempt(ctx, action, body, cred, out)
		if c.observe != nil {
			a := Attempt{Action: action, Duration: c.now().Sub(t0)}
			if aerr != nil {
				a.Class, a.HTTPStatus, a.RetryAfter = aerr.Class, aerr.HTTPStatus, aerr.RetryAfter
			}
			c.observe(a)
		}
		if aerr == nil {
			return nil
		}
		aerr.Attempts = attempt
		aerr.Message = maskIn(aerr.Message, accessID)
		last = aerr
		if isMutation(action) && outcomeUnknown(aerr) {
			// It may have been applied: the caller lists again before it
			// decides anything, and a BindAccount is never resent blindly
			// (it could fail "already bound" or bind twice).
			aerr.Err = errors.Join(ErrOutcomeUnknown, aerr.Err)
		}
		if ctx.Err() != nil {
			// Shut down after this attempt went out: it keeps its class
			// and its outcome mark, so it is counted and logged as what it
			// was, never as "not sent".
			aerr.Err = errors.Join(aerr.Err, context.Cause(ctx))
			return aerr
		}
		if action == ActionBindAccount && errors.Is(aerr.Err, ErrOutcomeUnknown) {
			return aerr
		}
		if aerr.Class == ClassThrottled && c.retry.MaxAttempts > 1 && throttled < maxThrottledRetries {
			// A throttled attempt was refused before it did anything, and
			// the limiter slows down on it: it does not use up one of the
			// call's attempts (a call allowed to retry at all), within a
			// bound of its own and MaxElapsed.
			throttled++
		}
		if !aerr.Class.Retryable() || attempt-throttled >= c.retry.MaxAttempts {
			return aerr
		}
		delay := c.retry.Backoff(attempt, aerr.RetryAfter, rand.Float64())
		if c.now().Sub(start)+delay > c.retry.MaxElapsed {
			return aerr
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return cancelled(ctx, action, ctx.Err(), aerr)
		case <-t.C:
		}
	}
}

// cancelled is the error of a call that ctx ended. When an attempt had
// already gone out, the call keeps that attempt's class and outcome mark (it
// was sent, and may have been applied); otherwise nothing was sent.
func cancelled(ctx context.Context, action string, err error, last *APIError) error {
	if cause := context.Cause(ctx); cause != nil {
		err = cause
	}
	if last != nil {
		last.Err = errors.Join(last.Err, err)
		return last
	}
	return fmt.Errorf("%s: %w", action, err)
}

// attempt sends one signed request, classifies the answer and, for a good
// 200, decodes it into out (once: list answers can be megabytes).
func (c *Client) attempt(ctx context.Context, action string, body []byte, cred Credential, out any) *APIError {
	// A mutation that is on the wire is not cut off when ctx is cancelled (on
	// shutdown): cut in half, its outcome would be unknown. The HTTP client's
	// timeout bounds it instead. A read changes nothing and stops at once.
	reqCtx := ctx
	if isMutation(action) {
		reqCtx = context.WithoutCancel(ctx)
	}
	req, err := http.NewRequestWithContext(reqCtx, http.MethodPost, c.endpoint.String()+"/", bytes.NewReader(body))
	if err != nil {
		return &APIError{Action: action, Class: ClassClient, Message: "build request", Err: err}
	}
	headers := map[string]string{
		"host":                  req.URL.Host,
		"content-type":          "application/x-www-form-urlencoded",
		"x-acs-action":          action,
		"x-acs-version":         APIVersion,
		"x-acs-date":            c.now().UTC().Format("2006-01-02T15:04:05Z"),
		"x-acs-signature-nonce": c.nonce(),
		"x-acs-content-sha256":  HashPayload(body),
	}
	if cred.SecurityToken != "" {
		headers["x-acs-security-token"] = cred.SecurityToken
	}
	auth := Sign(SignInput{Method: http.MethodPost, Path: "/", Headers: headers, PayloadHash: headers["x-acs-content-sha256"]},
		cred.AccessKeyID, cred.AccessKeySecret)
	for k, v := range headers {
		if k != "host" {
			req.Header.Set(k, v)
		}
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.ua)

	resp, err := c.http.Do(req)
	if err != nil {
		return &APIError{Action: action, Class: ClassNetwork, Err: scrubURL(err)}
	}
	defer func() {
		// Drain a little so the connection can be reused, then close.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
	}()
	answerBody := io.LimitReader(resp.Body, MaxResponseBytes+1)
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		// Every 2xx is a success, as in the official SDK core; its Code,
		// Message and any x-acs-retry-after are not read.
		data, err := readAnswer(answerBody, resp.ContentLength)
		switch {
		case err != nil:
			return &APIError{Action: action, Class: ClassNetwork, HTTPStatus: resp.StatusCode, Message: "reading answer", Err: scrubURL(err)}
		case len(data) > MaxResponseBytes:
			return &APIError{Action: action, Class: ClassServer, HTTPStatus: resp.StatusCode, Message: fmt.Sprintf("answer larger than %d bytes", MaxResponseBytes)}
		}
		if err := decodeAnswer(data, out); err != nil {
			return &APIError{Action: action, Class: ClassServer, HTTPStatus: resp.StatusCode, Message: "malformed answer", Err: err}
		}
		return nil
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		// Never followed (see refuseRedirect). Where it pointed is not
		// echoed: it may carry anything.
		return &APIError{Action: action, Class: ClassRedirect, HTTPStatus: resp.StatusCode,
			Message: "the endpoint answered with a redirect; bindsync never follows one (check --endpoint and any proxy in between)"}
	}
	retryAfter := parseRetryAfter(resp.Header.Get("x-acs-retry-after"))
	data, err := io.ReadAll(answerBody)
	if err != nil {
		return &APIError{Action: action, Class: ClassNetwork, HTTPStatus: resp.StatusCode, Message: "reading answer", Err: scrubURL(err)}
	}
	if len(data) > MaxResponseBytes {
		return &APIError{Action: action, Class: ClassServer, HTTPStatus: resp.StatusCode, Message: fmt.Sprintf("answer larger than %d bytes", MaxResponseBytes)}
	}
	eb, isJSON := decodeErrorBody(data)
	ae := &APIError{
		Action:     action,
		HTTPStatus: resp.StatusCode,
		Code:       eb.Code,
		Message:    eb.Message,
		RequestID:  eb.RequestID,
		Recommend:  eb.Recommend,
		RetryAfter: retryAfter,
	}
	if !isJSON {
		ae.Message = "non-JSON answer: " + snippet(data)
	}
	ae.Class = classify(resp.StatusCode, eb.Code, retryAfter > 0)
	if eb.AccessDenied {
		ae.Class = ClassAuth
	}
	return ae
}

// readAnswer reads a body into one string of its exact size: the fast list
// reader keeps slices of it as the entries' strings, so a body is copied
// once, not once per field. Without a Content-Length it is read in chunks
// and joined, where growing one buffer would copy a megabyte answer a dozen
// times.
func readAnswer(r io.Reader, contentLength int64) (string, error) {
	var b strings.Builder
	if contentLength > 0 && contentLength <= MaxResponseBytes {
		b.Grow(int(contentLength))
		_, err := io.Copy(&b, r)
		return b.String(), err
	}
	var chunks [][]byte
	total := 0
	for size := 4 << 10; ; size = min(2*size, 1<<20) { // most answers are small
		chunk := make([]byte, size)
		n, err := io.ReadFull(r, chunk)
		chunks = append(chunks, chunk[:n])
		total += n
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return "", err
		}
	}
	b.Grow(total)
	for _, c := range chunks {
		b.Write(c)
	}
	return b.String(), nil
}

// outcomeUnknown reports whether a failed attempt may nevertheless have been
// applied: the request may have reached the service but no usable answer came
// back (a transport error after dialing, or a garbled 200).
func outcomeUnknown(e *APIError) bool {
	switch {
	case e.Class == ClassNetwork:
		return !notSent(e.Err)
	case e.HTTPStatus >= 200 && e.HTTPStatus < 300 && e.Class == ClassServer:
		return true
	}
	return false
}

type errorBody struct {
	Code, Message, RequestID, Recommend string
	AccessDenied                        bool
}

// decodeErrorBody reads Code, Message, RequestId and Recommend in either
// capitalisation, as darabonba-openapi does.
func decodeErrorBody(data []byte) (errorBody, bool) {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return errorBody{}, false
	}
	str := func(keys ...string) string {
		for _, k := range keys {
			if s, ok := m[k].(string); ok {
				return s
			}
		}
		return ""
	}
	_, denied := m["AccessDeniedDetail"]
	_, denied2 := m["accessDeniedDetail"]
	return errorBody{
		Code:         str("Code", "code"),
		Message:      truncate(str("Message", "message"), 512),
		RequestID:    str("RequestId", "requestId"),
		Recommend:    str("Recommend", "recommend"),
		AccessDenied: denied || denied2,
	}, true
}

// parseRetryAfter reads x-acs-retry-after (milliseconds, as darabonba-openapi
// reads it) from an error answer; anything but a positive number is ignored.
func parseRetryAfter(v string) time.Duration {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return time.Duration(n) * time.Millisecond
}

// isMutation reports whether an action changes state.
func isMutation(action string) bool {
	switch action {
	case ActionBindAccount, ActionModifyBindAccount, ActionDeleteBindAccount:
		return true
	}
	return false
}

// notSent reports whether a transport error happened before the request
// could reach the server (dialing failed), so resending cannot duplicate it.
func notSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// scrubURL drops the *url.Error wrapper's URL and method; the cause is what
// matters and the endpoint is logged elsewhere.
func scrubURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func maskIn(msg, accessID string) string {
	if accessID == "" || msg == "" {
		return msg
	}
	return strings.ReplaceAll(msg, accessID, MaskAccessID(accessID))
}

func snippet(data []byte) string {
	s := strings.Map(func(r rune) rune {
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, string(data[:min(len(data), 200)]))
	return truncate(strings.Join(strings.Fields(s), " "), 120)
}

// truncate cuts s to at most n bytes on a rune boundary (the API's
// messages are often Chinese) and marks the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func randomNonce() string {
	var b [16]byte
	if _, err := cryptorand.Read(b[:]); err != nil {
		// crypto/rand never fails on supported platforms (Go 1.24+).
		panic(err)
	}
	return hex.EncodeToString(b[:])
}
