package cloudsiem

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Class says what kind of failure an error is, and so whether retrying can help.
type Class int

// The classes, in the order the metrics list them.
const (
	ClassThrottled Class = iota + 1 // the API's flow control said no; retry later, slower
	ClassServer                     // 5xx, ServiceUnavailable, InternalError, garbled answers
	ClassNetwork                    // timeouts, resets, refused connections
	ClassAuth                       // signature, AccessKey, token, permission
	ClassClient                     // any other 4xx, and a 200 with Count <= 0
	ClassRedirect                   // a 3xx: never followed, never retried
)

// Classes lists every class (for metrics created up front).
var Classes = [...]Class{ClassThrottled, ClassServer, ClassNetwork, ClassAuth, ClassClient, ClassRedirect}

// String returns the metric label of the class.
func (c Class) String() string {
	switch c {
	case ClassThrottled:
		return "throttled"
	case ClassServer:
		return "server_error"
	case ClassNetwork:
		return "network_error"
	case ClassAuth:
		return "auth_error"
	case ClassClient:
		return "client_error"
	case ClassRedirect:
		return "redirect"
	}
	return "unknown"
}

// Retryable reports whether a failure of this class may succeed on another attempt.
func (c Class) Retryable() bool {
	return c == ClassThrottled || c == ClassServer || c == ClassNetwork
}

// Sentinels matched by errors.Is on any *APIError of that class.
var (
	ErrThrottled = errors.New("cloudsiem: throttled")
	ErrServer    = errors.New("cloudsiem: server error")
	ErrNetwork   = errors.New("cloudsiem: network error")
	ErrAuth      = errors.New("cloudsiem: authentication or authorization failed")
	ErrClient    = errors.New("cloudsiem: request rejected")
	ErrRedirect  = errors.New("cloudsiem: redirect refused")

	// ErrBrokenAnswer is a 2xx list answer that cannot be trusted (repeated
	// or missing BindIds, entries without AccountId or CloudCode).
	ErrBrokenAnswer = errors.New("cloudsiem: broken answer")

	// ErrNotApplied is a 200 answer whose Data.Count is 0 or less: the API
	// accepted the request but changed nothing (for example an unknown BindId).
	ErrNotApplied = errors.New("cloudsiem: change not applied (Count <= 0)")

	// ErrOutcomeUnknown is a BindAccount that may or may not have reached the
	// service. Resending could bind twice or fail "already bound": list first.
	ErrOutcomeUnknown = errors.New("cloudsiem: outcome unknown, list bindings again before retrying")
)

func (c Class) sentinel() error {
	switch c {
	case ClassThrottled:
		return ErrThrottled
	case ClassServer:
		return ErrServer
	case ClassNetwork:
		return ErrNetwork
	case ClassAuth:
		return ErrAuth
	case ClassClient:
		return ErrClient
	case ClassRedirect:
		return ErrRedirect
	}
	return nil
}

// APIError is every failure of a call: an error answer from the service, a
// garbled answer, or a transport failure (HTTPStatus 0, Err set).
type APIError struct {
	Action     string
	Class      Class
	HTTPStatus int
	Code       string
	Message    string
	RequestID  string
	Recommend  string
	RetryAfter time.Duration // from x-acs-retry-after, when sent
	Attempts   int           // attempts made before giving up
	Err        error         // underlying cause (transport error, ErrNotApplied, ErrOutcomeUnknown)
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", e.Action, e.Class)
	if e.HTTPStatus != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.HTTPStatus)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " [RequestId %s]", e.RequestID)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " after %d attempts", e.Attempts)
	}
	return b.String()
}

// Unwrap exposes the cause.
func (e *APIError) Unwrap() error { return e.Err }

// Is matches the sentinel of the error's class.
func (e *APIError) Is(target error) bool { return target != nil && target == e.Class.sentinel() }

// ClassOf returns the class of err, or 0 when err is not an *APIError.
func ClassOf(err error) Class {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Class
	}
	return 0
}

// classify maps an error answer to a class: by Code first, HTTP status second,
// because gateways answer throttling with 400 or 403 as well as 429.
func classify(status int, code string, hasRetryAfter bool) Class {
	switch {
	case strings.Contains(code, "Throttling"):
		return ClassThrottled
	case code == "ServiceUnavailable" || strings.HasPrefix(code, "InternalError"):
		return ClassServer
	case isAuthCode(code):
		return ClassAuth
	case hasRetryAfter:
		// darabonba-openapi v2.2.4 treats any answer carrying x-acs-retry-after as throttling.
		return ClassThrottled
	case status == 429:
		return ClassThrottled
	case status >= 500:
		return ClassServer
	case status == 401 || status == 403:
		return ClassAuth
	}
	return ClassClient
}

func isAuthCode(code string) bool {
	for _, p := range []string{
		"SignatureDoesNotMatch", "IncompleteSignature", "InvalidAccessKeyId", "InvalidSecurityToken",
		"InvalidTimeStamp", "SignatureNonceUsed", "Forbidden", "NoPermission", "InvalidAuthorization",
		"MissingSecurityToken", "InvalidAccessKeySecret", "AccessDenied", "NotAuthorized",
	} {
		if strings.HasPrefix(code, p) {
			return true
		}
	}
	return false
}
