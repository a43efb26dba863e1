package reconcile

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/bindsync/bindsync/cloudsiem"
	"golang.org/x/time/rate"
)

// AdaptiveLimiter is the one rate limiter every API attempt waits on. The
// API's quota is not documented, so the limiter finds it:
//
//   - Slow start: while the quota is unknown and attempts queue for the
//     limiter, the rate doubles every half second (from Start, up to Max).
//   - A throttled answer halves the rate, or sets it to 90% of the quota it
//     found when that is lower; the quota found is the answers that got
//     through in the second before. Only an attempt sent after the last cut
//     can cut again (as TCP reacts once per round trip), and at most one a
//     second: the answers to what was already in flight are the same burst,
//     and the quota's bucket needs the time to refill. The first cut ends
//     the slow start and takes half the refused rate as the quota found.
//   - After a cut the rate climbs back quickly to 90% of the found quota, then
//     probes above it gently (2% of it a second), so it settles just below
//     the quota instead of returning to a configured figure.
//
// The rate only grows while attempts are waiting for it; an idle daemon keeps
// the rate it had, across passes. With a known quota (Config.QPS) the rate
// starts there and never exceeds it.
type AdaptiveLimiter struct {
	mu         sync.Mutex
	lim        *rate.Limiter
	max        rate.Limit // never above
	floor      rate.Limit // never below
	ceiling    float64    // the quota found at the last throttled answer; 0 unknown
	lastCut    time.Time
	lastAdjust time.Time
	backlog    bool          // an attempt waited for the limiter since lastAdjust
	granted    []time.Time   // answers that were not throttled, the last second's
	booking    chan struct{} // callers holding a booked start, at most a burst

	onWait func(time.Duration)
	onRate func(float64)
}

// LimiterConfig configures an AdaptiveLimiter.
type LimiterConfig struct {
	// QPS, when positive, is a known quota: the rate starts there and never
	// exceeds it. Zero: discover the quota, between Start and Max.
	QPS float64
	// Max caps a discovered rate (default 200): the quota is the real limit,
	// but other tools of the same account share it.
	Max float64
	// Start is the first rate while discovering (default 5).
	Start float64
	// Burst is how many attempts may start at once (default 10).
	Burst int
}

// Defaults of LimiterConfig.
const (
	DefaultQPSMax   = 200
	DefaultQPSStart = 5
	DefaultBurst    = 10
)

const (
	adjustTick    = 250 * time.Millisecond
	doubling      = 500 * time.Millisecond // slow start: the rate doubles this often
	settleShare   = 0.9                    // climb back quickly to this share of the found quota
	probePerSec   = 0.02                   // then probe above it by this share of it a second
	grantedWindow = time.Second
	cutSpacing    = time.Second // at most one cut a second: the quota's bucket refills meanwhile
)

// LimiterHooks observe the limiter (for metrics); both are optional.
type LimiterHooks struct {
	Wait func(waited time.Duration)
	Rate func(qps float64)
}

// NewAdaptiveLimiter returns a limiter configured by cfg.
func NewAdaptiveLimiter(cfg LimiterConfig, hooks LimiterHooks) *AdaptiveLimiter {
	if cfg.Max <= 0 {
		cfg.Max = DefaultQPSMax
	}
	if cfg.Start <= 0 {
		cfg.Start = DefaultQPSStart
	}
	if cfg.Burst < 1 {
		cfg.Burst = DefaultBurst
	}
	start, ceil := min(cfg.Start, cfg.Max), cfg.Max
	if cfg.QPS > 0 {
		start, ceil = cfg.QPS, cfg.QPS
	}
	now := time.Now()
	l := &AdaptiveLimiter{
		lim:        rate.NewLimiter(rate.Limit(start), cfg.Burst),
		booking:    make(chan struct{}, cfg.Burst),
		max:        rate.Limit(ceil),
		floor:      rate.Limit(min(start, 0.5)),
		lastAdjust: now,
		onWait:     hooks.Wait,
		onRate:     hooks.Rate,
	}
	l.report()
	return l
}

// Wait blocks until an attempt may start, or ctx ends. At most a burst of
// callers hold a booked start at a time: booking further ahead would fix
// those starts at today's rate, and a cut could not slow them (with 64
// callers, seconds of them).
func (l *AdaptiveLimiter) Wait(ctx context.Context) error {
	select {
	case l.booking <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-l.booking }()
	now := time.Now()
	l.adjust(now)
	r := l.lim.ReserveN(now, 1)
	if !r.OK() {
		return l.lim.Wait(ctx) // burst < 1 cannot happen; keep the library's error
	}
	delay := r.DelayFrom(now)
	if delay > 0 {
		l.mu.Lock()
		l.backlog = true
		l.mu.Unlock()
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			r.CancelAt(time.Now())
			return ctx.Err()
		}
	}
	if l.onWait != nil {
		l.onWait(delay)
	}
	return nil
}

// Observe feeds the outcome of one API attempt back into the rate: pass it
// as (part of) cloudsiem.Config.Observe.
func (l *AdaptiveLimiter) Observe(a cloudsiem.Attempt) {
	now := time.Now()
	if a.Class == cloudsiem.ClassThrottled {
		l.throttled(now, now.Add(-a.Duration))
		return
	}
	l.mu.Lock()
	l.grantedSince(now.Add(-grantedWindow)) // forget what is older than the window
	l.granted = append(l.granted, now)
	l.mu.Unlock()
}

// throttled cuts the rate and records the quota found, for an attempt sent
// at sent and answered "throttled" at now.
func (l *AdaptiveLimiter) throttled(now, sent time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !sent.After(l.lastCut) || now.Sub(l.lastCut) < cutSpacing {
		// Sent before the last cut (that cut answered it already), or too
		// soon after it for the quota's bucket to have refilled.
		return
	}
	cur := l.lim.Limit()
	found := float64(l.grantedSince(now.Add(-grantedWindow)))
	if l.ceiling == 0 || found < float64(l.floor) {
		// The first throttled answer ends a slow start, whose last second
		// also drained the quota's burst: half the rate that was refused is
		// the better estimate (TCP's ssthresh).
		found = min(found, float64(cur)/2)
	}
	l.ceiling = max(found, float64(l.floor))
	l.lastCut, l.lastAdjust = now, now
	// At least a halving; below the quota just found when that is lower
	// (a slow start that overshot by far must not go on throttling).
	l.lim.SetLimitAt(now, max(l.floor, min(cur/2, rate.Limit(settleShare*found))))
	l.reportLocked()
}

// adjust grows the rate for the time since the last adjustment, if attempts
// were waiting for it.
func (l *AdaptiveLimiter) adjust(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	elapsed := now.Sub(l.lastAdjust)
	if elapsed < adjustTick {
		return
	}
	l.lastAdjust = now
	backlog := l.backlog
	l.backlog = false
	cur := float64(l.lim.Limit())
	// A long gap means nobody waited all along (an idle daemon between
	// passes): the rate is kept, not grown for the whole gap.
	if !backlog || elapsed > 4*adjustTick || cur >= float64(l.max) {
		return
	}
	grow := math.Pow(2, elapsed.Seconds()/doubling.Seconds())
	next := cur * grow
	switch settle := settleShare * l.ceiling; {
	case l.ceiling == 0:
		// slow start: doubling until the first throttled answer
	case cur < settle:
		next = min(next, settle) // back quickly to just below the found quota
	default:
		next = cur + probePerSec*l.ceiling*elapsed.Seconds() // probe gently above it
	}
	l.lim.SetLimitAt(now, min(l.max, rate.Limit(next)))
	l.reportLocked()
}

// grantedSince counts the answers not throttled since t, forgetting older ones.
func (l *AdaptiveLimiter) grantedSince(t time.Time) int {
	i := 0
	for i < len(l.granted) && l.granted[i].Before(t) {
		i++
	}
	l.granted = l.granted[i:]
	return len(l.granted)
}

// Rate returns the current rate in requests per second.
func (l *AdaptiveLimiter) Rate() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return float64(l.lim.Limit())
}

func (l *AdaptiveLimiter) report() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reportLocked()
}

func (l *AdaptiveLimiter) reportLocked() {
	if l.onRate != nil {
		l.onRate(float64(l.lim.Limit()))
	}
}
