// Package cloudsiem is a small, typed client for the multicloud account-binding
// operations of Alibaba Cloud Threat Analysis (product cloud-siem, API version
// 2022-06-16): ListBindAccount, BindAccount, ModifyBindAccount and
// DeleteBindAccount.
//
// Requests are RPC style: POST to "/" with a form-encoded body, the action and
// version in x-acs-action / x-acs-version headers, signed with V3
// ACS3-HMAC-SHA256 (see Sign). Every attempt is signed afresh with a new date
// and nonce, credentials are asked for before every attempt so expiring STS
// credentials refresh, and transient failures (throttling, 5xx, network) are
// retried inside one call with capped, jittered exponential backoff.
//
// Failures are returned as *APIError, classified (Class) so callers can branch
// with errors.Is against ErrThrottled, ErrServer, ErrNetwork, ErrAuth and
// ErrClient, or errors.As for the request ID. A 200 answer whose Data.Count is
// 0 or less matches ErrNotApplied; a BindAccount whose outcome is unknown
// matches ErrOutcomeUnknown and must be followed by a fresh list, not a resend.
package cloudsiem
