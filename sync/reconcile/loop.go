package reconcile

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/bindsync/bindsync/sync/plan"
)

// Schedule says when passes run besides on events.
type Schedule struct {
	// Resync is the interval between passes that catch drift made outside
	// the file. Each wait is jittered by ±10% so replicas and restarts
	// spread out.
	Resync time.Duration
	// RetryBase is the first delay after a failed pass; it doubles per
	// failure in a row, up to Resync, so an outage is probed quickly at first
	// and gently later.
	RetryBase time.Duration
}

// Run runs a pass at once, then whenever a new desired state arrives on
// updates, a pass is requested on kick, or the schedule says so. Passes never
// overlap; events that arrive during a pass coalesce into one more pass. It
// returns nil when ctx ends, after the pass in progress has wound down.
func (r *Reconciler) Run(ctx context.Context, d plan.Desired, updates <-chan plan.Desired, kick <-chan struct{}, s Schedule) error {
	if s.Resync <= 0 {
		s.Resync = 5 * time.Minute
	}
	if s.RetryBase <= 0 {
		s.RetryBase = 5 * time.Second
	}
	failures := 0
	for {
		if _, err := r.RunOnce(ctx, d); err != nil && ctx.Err() == nil {
			failures++
		} else {
			failures = 0
		}
		if ctx.Err() != nil {
			return nil
		}
		timer := time.NewTimer(nextDelay(s, failures, rand.Float64()))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case nd := <-updates:
			d = nd
		case <-kick:
		case <-timer.C:
		}
		timer.Stop()
		d = drain(d, updates, kick)
	}
}

// drain takes the newest pending desired state and swallows pending kicks:
// one pass covers them all.
func drain(d plan.Desired, updates <-chan plan.Desired, kick <-chan struct{}) plan.Desired {
	for {
		select {
		case nd := <-updates:
			d = nd
		case <-kick:
		default:
			return d
		}
	}
}

// nextDelay is the wait before the next scheduled pass; u in [0,1) places the jitter.
func nextDelay(s Schedule, failures int, u float64) time.Duration {
	d := s.Resync
	if failures > 0 {
		d = s.RetryBase
		for i := 1; i < failures && d < s.Resync; i++ {
			d *= 2
		}
		d = min(d, s.Resync)
	}
	return d - d/10 + time.Duration(u*float64(d/5))
}
