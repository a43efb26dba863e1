package reconcile

import (
	"math/rand/v2"
	"time"

	"github.com/bindsync/bindsync/sync/plan"
)

// Backoff is the per-binding retry schedule across passes: after the n-th
// failure in a row a change waits about Base*2^(n-1), capped at Max, with
// jitter, before it is attempted again. A change to what the file asks for
// resets the schedule.
type Backoff struct {
	Base time.Duration
	Max  time.Duration
}

// DefaultBackoff retries a failing binding after about 30s, 1m, 2m, … up to 30m.
var DefaultBackoff = Backoff{Base: 30 * time.Second, Max: 30 * time.Minute}

type backoffEntry struct {
	failures    int
	next        time.Time
	fingerprint string
}

// delay is the wait after the failures-th failure; u in [0,1) is the jitter
// point (equal jitter: half fixed, half random).
func (b Backoff) delay(failures int, u float64) time.Duration {
	d := b.Base
	for i := 1; i < failures && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	return d/2 + time.Duration(u*float64(d/2))
}

// fingerprint identifies what a change asks for, so a new desired value
// starts with a fresh schedule.
func fingerprint(c plan.Change) string {
	s := string(c.Op)
	if c.New != nil {
		s += "|" + c.New.AccountName + "|" + c.New.AccessID
	}
	if c.Old != nil {
		s += "|" + c.Old.AccountName + "|" + c.Old.AccessID
	}
	return s
}

type backoffs struct {
	policy  Backoff
	entries map[plan.Key]*backoffEntry
}

func newBackoffs(p Backoff) *backoffs {
	if p.Base <= 0 {
		p.Base = DefaultBackoff.Base
	}
	if p.Max <= 0 {
		p.Max = DefaultBackoff.Max
	}
	return &backoffs{policy: p, entries: map[plan.Key]*backoffEntry{}}
}

// due reports whether c may be attempted at now.
func (b *backoffs) due(c plan.Change, now time.Time) bool {
	e := b.entries[c.Key]
	if e == nil || e.fingerprint != fingerprint(c) {
		return true
	}
	return !now.Before(e.next)
}

func (b *backoffs) failed(c plan.Change, now time.Time) time.Time {
	e := b.entries[c.Key]
	fp := fingerprint(c)
	if e == nil || e.fingerprint != fp {
		e = &backoffEntry{fingerprint: fp}
		b.entries[c.Key] = e
	}
	e.failures++
	e.next = now.Add(b.policy.delay(e.failures, rand.Float64()))
	return e.next
}

func (b *backoffs) succeeded(k plan.Key) { delete(b.entries, k) }

// keep forgets entries for keys the current plan no longer changes.
func (b *backoffs) keep(p plan.Plan) {
	live := map[plan.Key]bool{}
	for _, c := range p.Changes {
		live[c.Key] = true
	}
	for k := range b.entries {
		if !live[k] {
			delete(b.entries, k)
		}
	}
}

func (b *backoffs) waiting(now time.Time) int {
	n := 0
	for _, e := range b.entries {
		if now.Before(e.next) {
			n++
		}
	}
	return n
}
