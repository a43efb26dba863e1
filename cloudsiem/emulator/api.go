package emulator

import (
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/bindsync/bindsync/cloudsiem"
)

const (
	maxBody        = 1 << 20
	dateWindow     = 15 * time.Minute
	hostID         = "cloud-siem.emulator.local"
	throttleMsg    = "Request was denied due to user flow control."
	internalMsg    = "The request processing has failed due to some unknown error."
	unavailableMsg = "The request has failed due to a temporary failure of the server."
)

// apiError is an error answer in the real body shape.
type apiError struct {
	status     int
	code, msg  string
	retryAfter time.Duration
}

func (e *Emulator) serveAPI(w http.ResponseWriter, r *http.Request) {
	rid := requestID()
	action := r.Header.Get("x-acs-action")
	if r.Method != http.MethodPost && r.Method != http.MethodGet || r.URL.Path != "/" {
		writeError(w, rid, apiError{status: http.StatusNotFound, code: "InvalidAction.NotFound", msg: "Specified api is not found, please check your url and method."})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		writeError(w, rid, apiError{status: http.StatusBadRequest, code: "InvalidParameter", msg: "The request body is too large or unreadable."})
		return
	}
	params, perr := requestParams(r, body)

	e.mu.Lock()
	rec := Request{Time: e.now(), Action: action, Params: params}
	aerr := perr
	if aerr == nil && !knownAction(action) {
		aerr = unknownAction(action)
	}
	if aerr == nil {
		aerr = e.authenticate(r, body)
	}
	if aerr == nil {
		aerr = e.throttle()
	}
	faults := e.faults
	drop := aerr == nil && e.roll(faults.Drop)
	var latency time.Duration
	if aerr == nil && !drop {
		latency = faults.Latency
		if e.roll(faults.SpikeRate) {
			latency += faults.LatencySpike
		}
		switch {
		case e.roll(faults.InternalError):
			aerr = &apiError{status: http.StatusInternalServerError, code: "InternalError", msg: internalMsg}
		case e.roll(faults.Unavailable):
			aerr = &apiError{status: http.StatusServiceUnavailable, code: "ServiceUnavailable", msg: unavailableMsg}
		}
	}
	e.mu.Unlock()

	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			// The client hung up mid-call: recorded, so tests can prove
			// that bindsync never cuts a call in half.
			e.record(rec, 0, "client_gone", false)
			return
		}
	}
	if drop {
		e.record(rec, 0, "dropped", false)
		hangUp(w)
		return
	}
	if aerr != nil {
		e.record(rec, aerr.status, aerr.code, false)
		writeError(w, rid, *aerr)
		return
	}

	e.mu.Lock()
	result, applied, aerr := e.dispatch(action, params)
	dropAfter := applied && e.roll(faults.DropAfterApply)
	malformed := e.roll(faults.MalformedRate)
	answers := e.answers
	e.mu.Unlock()

	switch {
	case aerr != nil:
		e.record(rec, aerr.status, aerr.code, false)
		writeError(w, rid, *aerr)
	case dropAfter:
		e.record(rec, 0, "dropped", true)
		hangUp(w)
	case malformed:
		e.record(rec, http.StatusOK, "malformed", applied)
		w.Header().Set("x-acs-request-id", rid)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"Data": {"Count": `)
	default:
		outcome := "ok"
		if c, ok := result.(countData); ok && c.Count <= 0 {
			outcome = "count0"
		}
		e.record(rec, http.StatusOK, outcome, applied)
		writeJSON(w, rid, http.StatusOK, successBody(action, result, rid, answers))
	}
}

// successBody is a 200 answer: Data and RequestId, with the documented
// success envelope where the operation has it (ListAccountAccessId) or the
// Envelope switch asks for it everywhere.
func successBody(action string, data any, rid string, a Answers) map[string]any {
	body := map[string]any{"Data": data, "RequestId": rid}
	if a.Envelope || action == cloudsiem.ActionListAccountAccessID {
		body["Code"], body["Success"], body["Message"] = 200, true, "success"
	}
	if a.OmitEmptyData && reflect.ValueOf(data).Kind() == reflect.Slice && reflect.ValueOf(data).Len() == 0 {
		delete(body, "Data")
	}
	return body
}

// maxLog bounds the request log so a long demo or soak cannot grow it forever.
const maxLog = 200_000

func (e *Emulator) record(rec Request, status int, outcome string, applied bool) {
	rec.Status, rec.Outcome, rec.Applied = status, outcome, applied
	e.mu.Lock()
	if len(e.log) >= maxLog {
		e.log = append(e.log[:0], e.log[len(e.log)-maxLog/2:]...)
	}
	e.log = append(e.log, rec)
	e.mu.Unlock()
}

// roll draws the fault dice; e.mu must be held.
func (e *Emulator) roll(p float64) bool {
	return p > 0 && e.dice.Float64() < p
}

// requestParams merges query and form body, as the real RPC gateway does.
func requestParams(r *http.Request, body []byte) (map[string]string, *apiError) {
	out := map[string]string{}
	for k, vs := range r.URL.Query() {
		out[k] = vs[0]
	}
	if len(body) > 0 {
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
			return out, &apiError{status: http.StatusBadRequest, code: "InvalidParameter", msg: "The body must be application/x-www-form-urlencoded."}
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return out, &apiError{status: http.StatusBadRequest, code: "InvalidParameter", msg: "The form body cannot be parsed."}
		}
		for k, vs := range form {
			out[k] = vs[0]
		}
	}
	return out, nil
}

// authenticate verifies the V3 signature, the payload hash, the date window
// and the nonce. e.mu must be held.
func (e *Emulator) authenticate(r *http.Request, body []byte) *apiError {
	if v := r.Header.Get("x-acs-version"); v != cloudsiem.APIVersion {
		return &apiError{status: http.StatusBadRequest, code: "InvalidVersion", msg: fmt.Sprintf("Specified parameter Version %q is not valid.", v)}
	}
	if e.skipSig {
		return nil
	}
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return &apiError{status: http.StatusBadRequest, code: "MissingAuthorization", msg: "Authorization is mandatory for this action."}
	}
	akid, signedHeaders, signature, ok := cloudsiem.ParseAuthorization(auth)
	if !ok {
		return &apiError{status: http.StatusBadRequest, code: "IncompleteSignature", msg: "The request signature does not conform to Aliyun standards."}
	}
	cred, known := e.creds[akid]
	if !known {
		return &apiError{status: http.StatusNotFound, code: "InvalidAccessKeyId.NotFound", msg: "Specified access key is not found."}
	}
	// Every x-acs-* header sent must be signed, plus host and the content type.
	signed := map[string]bool{}
	for _, h := range strings.Split(signedHeaders, ";") {
		signed[h] = true
	}
	headers := map[string]string{}
	for name := range r.Header {
		ln := strings.ToLower(name)
		if (strings.HasPrefix(ln, "x-acs-") || ln == "content-type") && !signed[ln] {
			return &apiError{status: http.StatusBadRequest, code: "IncompleteSignature", msg: fmt.Sprintf("The header %s is not signed.", ln)}
		}
		if signed[ln] {
			// A client may sign more than it must (user-agent, accept):
			// the service verifies whatever was signed.
			headers[ln] = strings.Join(r.Header.Values(name), ",")
		}
	}
	headers["host"] = r.Host
	for _, required := range []string{"host", "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256"} {
		if !signed[required] || headers[required] == "" {
			return &apiError{status: http.StatusBadRequest, code: "IncompleteSignature", msg: fmt.Sprintf("The header %s is missing or not signed.", required)}
		}
	}
	for h := range signed {
		if _, ok := headers[h]; !ok {
			return &apiError{status: http.StatusBadRequest, code: "IncompleteSignature", msg: fmt.Sprintf("The signed header %s is not present.", h)}
		}
	}
	payloadHash := cloudsiem.HashPayload(body)
	if headers["x-acs-content-sha256"] != payloadHash {
		return &apiError{status: http.StatusBadRequest, code: "SignatureDoesNotMatch", msg: "The x-acs-content-sha256 header does not match the request body."}
	}
	canonical, _ := cloudsiem.CanonicalRequest(cloudsiem.SignInput{Method: r.Method, Path: "/", Query: r.URL.Query(), Headers: headers, PayloadHash: payloadHash})
	if !hmac.Equal([]byte(cloudsiem.Signature(cred.AccessKeySecret, canonical)), []byte(signature)) {
		return &apiError{status: http.StatusBadRequest, code: "SignatureDoesNotMatch", msg: "Specified signature is not matched with our calculation."}
	}
	switch tok := headers["x-acs-security-token"]; {
	case cred.SecurityToken != "" && tok == "":
		return &apiError{status: http.StatusBadRequest, code: "MissingSecurityToken", msg: "SecurityToken is mandatory for this STS AccessKey (header x-acs-security-token)."}
	case cred.SecurityToken != "" && tok != cred.SecurityToken:
		return &apiError{status: http.StatusBadRequest, code: "InvalidSecurityToken.Expired", msg: "Specified SecurityToken (header x-acs-security-token) is expired or invalid."}
	}
	date, err := time.Parse("2006-01-02T15:04:05Z", headers["x-acs-date"])
	if err != nil {
		return &apiError{status: http.StatusBadRequest, code: "InvalidTimeStamp.Format", msg: "Specified time stamp or date value is not well formatted."}
	}
	now := e.now()
	if d := now.Sub(date); d > dateWindow || d < -dateWindow {
		return &apiError{status: http.StatusBadRequest, code: "InvalidTimeStamp.Expired", msg: "Specified time stamp or date value is expired."}
	}
	nonce := headers["x-acs-signature-nonce"]
	if _, used := e.nonces[nonce]; used {
		return &apiError{status: http.StatusBadRequest, code: "SignatureNonceUsed", msg: "Specified signature nonce was used already."}
	}
	e.nonces[nonce] = now
	e.nonceOrder = append(e.nonceOrder, nonceSeen{nonce, now})
	// A nonce older than twice the date window can no longer be replayed
	// (its date would be refused): forget it, oldest first.
	for len(e.nonceOrder) > 0 && now.Sub(e.nonceOrder[0].at) > 2*dateWindow {
		delete(e.nonces, e.nonceOrder[0].nonce)
		e.nonceOrder = e.nonceOrder[1:]
	}
	return nil
}

// throttle applies the per-second quota. e.mu must be held.
func (e *Emulator) throttle() *apiError {
	if e.quota == nil {
		return nil
	}
	res := e.quota.Reserve()
	if d := res.Delay(); d > 0 {
		res.Cancel()
		return &apiError{status: http.StatusBadRequest, code: "Throttling.User", msg: throttleMsg, retryAfter: max(d, time.Millisecond)}
	}
	return nil
}

func hangUp(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

func writeError(w http.ResponseWriter, rid string, e apiError) {
	if e.retryAfter > 0 {
		w.Header().Set("x-acs-retry-after", strconv.FormatInt(e.retryAfter.Milliseconds(), 10))
	}
	writeJSON(w, rid, e.status, map[string]string{
		"RequestId": rid,
		"HostId":    hostID,
		"Code":      e.code,
		"Message":   e.msg,
		"Recommend": "https://api.alibabacloud.com/troubleshoot?q=" + url.QueryEscape(e.code) + "&product=cloud-siem&requestId=" + rid,
	})
}

func writeJSON(w http.ResponseWriter, rid string, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	if rid != "" {
		w.Header().Set("x-acs-request-id", rid)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
