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
	// KeyRecheck is the interval between passes while a binding awaits its
	// AccessKey (a rotation under way): the key list is read again this
	// often, so the switch follows the registration quickly. Default 30s.
	KeyRecheck time.Duration
}

// DesiredSource hands out the newest desired state; *desired.Latest is one.
type DesiredSource interface {
	// Desired returns the newest valid desired state.
	Desired() plan.Desired
	// Changed receives when a newer state is in place.
	Changed() <-chan struct{}
}

// Run runs a pass at once, then whenever a newer desired state is in place,
// a pass is requested on kick (an approval, a reload), or the schedule says
// so. Every event source and what it does is in the one select below.
// Passes never overlap; each reads the newest state just before it plans, so
// states that arrived during a pass coalesce and an older one is never
// applied. A pass that follows an edit plans from the last list while it is
// recent (Config.ListReuse, see lastList); every other pass lists. It returns nil when ctx ends, after the pass in progress has
// wound down.
func (r *Reconciler) Run(ctx context.Context, src DesiredSource, kick <-chan struct{}, s Schedule) error {
	if s.Resync <= 0 {
		s.Resync = 5 * time.Minute
	}
	if s.RetryBase <= 0 {
		s.RetryBase = 5 * time.Second
	}
	if s.KeyRecheck <= 0 {
		s.KeyRecheck = 30 * time.Second
	}
	reuse := false // the first pass lists
	for {
		res, _ := r.runOnce(ctx, src.Desired(), reuse)
		if ctx.Err() != nil {
			return nil
		}
		delay := nextDelay(s, r.failed, rand.Float64())
		if res.Plan.Counts.AwaitingKey > 0 {
			delay = min(delay, s.KeyRecheck)
		}
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done(): // shutdown
			timer.Stop()
			return nil
		case <-src.Changed(): // the file changed: plan from the newest state, from the last list if it is recent
			reuse = true
		case <-kick: // an approval or a reload asked for a pass now
			reuse = false
		case <-timer.C: // resync (or the retry of a failed pass): list
			reuse = false
		}
		timer.Stop()
		// One pass covers whatever else arrived meanwhile.
		select {
		case <-kick:
			reuse = false
		default:
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
