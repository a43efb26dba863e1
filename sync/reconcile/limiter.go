package reconcile

import (
	"context"
	"sync"
	"time"

	"github.com/bindsync/bindsync/cloudsiem"
	"golang.org/x/time/rate"
)

// AdaptiveLimiter is the one rate limiter every API attempt waits on. It
// starts at the configured rate; a throttled answer halves the rate
// (multiplicative decrease, at most once per cooldown so one burst of
// throttled answers counts once), and every quiet second adds a twentieth of
// the configured rate back (additive increase) up to the configured rate. So
// a --qps set above the real quota converges instead of storming.
type AdaptiveLimiter struct {
	mu       sync.Mutex
	lim      *rate.Limiter
	max      rate.Limit
	floor    rate.Limit
	step     rate.Limit
	cooldown time.Duration
	lastCut  time.Time
	lastStep time.Time

	onWait func(time.Duration)
	onRate func(float64)
}

// LimiterHooks observe the limiter (for metrics); both are optional.
type LimiterHooks struct {
	Wait func(waited time.Duration)
	Rate func(qps float64)
}

// NewAdaptiveLimiter returns a limiter at qps requests per second with the
// given burst.
func NewAdaptiveLimiter(qps float64, burst int, hooks LimiterHooks) *AdaptiveLimiter {
	if burst < 1 {
		burst = 1
	}
	l := &AdaptiveLimiter{
		lim:      rate.NewLimiter(rate.Limit(qps), burst),
		max:      rate.Limit(qps),
		floor:    rate.Limit(min(qps, 0.5)),
		step:     rate.Limit(qps / 20),
		cooldown: time.Second,
		lastStep: time.Now(),
		onWait:   hooks.Wait,
		onRate:   hooks.Rate,
	}
	l.report()
	return l
}

// Wait blocks until an attempt may start, or ctx ends.
func (l *AdaptiveLimiter) Wait(ctx context.Context) error {
	l.recover(time.Now())
	start := time.Now()
	err := l.lim.Wait(ctx)
	if l.onWait != nil && err == nil {
		l.onWait(time.Since(start))
	}
	return err
}

// Observe feeds the outcome of one API attempt back into the rate: pass it
// as (part of) cloudsiem.Config.Observe.
func (l *AdaptiveLimiter) Observe(a cloudsiem.Attempt) {
	if a.Class == cloudsiem.ClassThrottled {
		l.Throttled(time.Now())
	}
}

// Throttled halves the rate, unless it was cut less than a cooldown ago.
func (l *AdaptiveLimiter) Throttled(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastCut) < l.cooldown {
		return
	}
	l.lastCut, l.lastStep = now, now
	l.lim.SetLimitAt(now, max(l.floor, l.lim.Limit()/2))
	l.reportLocked()
}

// recover adds one step per quiet second since the last cut or step.
func (l *AdaptiveLimiter) recover(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cur := l.lim.Limit()
	if cur >= l.max {
		l.lastStep = now
		return
	}
	steps := int(now.Sub(l.lastStep) / time.Second)
	if steps <= 0 {
		return
	}
	l.lastStep = l.lastStep.Add(time.Duration(steps) * time.Second)
	l.lim.SetLimitAt(now, min(l.max, cur+rate.Limit(steps)*l.step))
	l.reportLocked()
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
