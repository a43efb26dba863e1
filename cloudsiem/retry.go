package cloudsiem

import "time"

// RetryPolicy bounds the retries inside one call.
type RetryPolicy struct {
	MaxAttempts int           // attempts in all, the first included; throttled ones do not count
	BaseDelay   time.Duration // backoff before the second attempt, doubled each time
	MaxDelay    time.Duration // cap of one backoff (and of an honoured x-acs-retry-after)
	MaxElapsed  time.Duration // give up rather than wait past this since the call began
}

// DefaultRetryPolicy is the policy used when a zero RetryPolicy is configured.
var DefaultRetryPolicy = RetryPolicy{MaxAttempts: 5, BaseDelay: 200 * time.Millisecond, MaxDelay: 10 * time.Second, MaxElapsed: 60 * time.Second}

func (p RetryPolicy) withDefaults() RetryPolicy {
	d := DefaultRetryPolicy
	if p.MaxAttempts > 0 {
		d.MaxAttempts = p.MaxAttempts
	}
	if p.BaseDelay > 0 {
		d.BaseDelay = p.BaseDelay
	}
	if p.MaxDelay > 0 {
		d.MaxDelay = p.MaxDelay
	}
	if p.MaxElapsed > 0 {
		d.MaxElapsed = p.MaxElapsed
	}
	return d
}

// Backoff is the wait before attempt number attempt+1 after attempt failed:
// full jitter over a capped exponential (u in [0,1) picks the point), and
// never less than the server's retry-after, itself capped by MaxDelay.
func (p RetryPolicy) Backoff(attempt int, retryAfter time.Duration, u float64) time.Duration {
	ceiling := p.BaseDelay
	for i := 1; i < attempt && ceiling < p.MaxDelay; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, p.MaxDelay)
	d := time.Duration(u * float64(ceiling))
	if retryAfter > d {
		d = min(retryAfter, p.MaxDelay)
	}
	return d
}
