package reconcile

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bindsync/bindsync/sync/plan"
)

// A plan the safety gate blocks waits for a person. The daemon shows the
// last plan and its digest (GET /-/plan); an operator approves exactly that
// digest (POST /-/approve). The approval is used by the next pass only if it
// plans the same digest (same file, policy and touched bindings), and only
// once; a different plan voids it and is blocked again.

// ErrNoSuchPlan is an approval for a digest that is not the blocked plan.
var ErrNoSuchPlan = errors.New("no blocked plan has that hash")

// Reviewed is the last plan a pass made, for people to look at.
type Reviewed struct {
	Plan   plan.Plan
	Digest string
	At     time.Time
}

type review struct {
	mu       sync.Mutex
	last     *Reviewed
	approved string
}

// LastPlan returns the plan of the last pass that got as far as planning.
func (r *Reconciler) LastPlan() (Reviewed, bool) {
	r.rev.mu.Lock()
	defer r.rev.mu.Unlock()
	if r.rev.last == nil {
		return Reviewed{}, false
	}
	return *r.rev.last, true
}

// Approve lets the blocked plan with this digest through the safety gate,
// once. The caller should then request a pass.
func (r *Reconciler) Approve(digest string) error {
	r.rev.mu.Lock()
	defer r.rev.mu.Unlock()
	last := r.rev.last
	switch {
	case last == nil || !last.Plan.Blocked:
		return fmt.Errorf("%w: nothing is blocked", ErrNoSuchPlan)
	case last.Digest != digest:
		// The current hash is not revealed: whoever approves must have
		// read it from GET /-/plan.
		return fmt.Errorf("%w: it is not the hash of the blocked plan (see GET /-/plan)", ErrNoSuchPlan)
	}
	r.rev.approved = digest
	r.log.Warn("blocked plan approved; the next pass applies it if it still plans the same", "hash", digest)
	return nil
}

// review applies a pending approval to a freshly made plan and records it.
func (r *Reconciler) review(p plan.Plan, digest string) plan.Plan {
	r.rev.mu.Lock()
	defer r.rev.mu.Unlock()
	approved := r.rev.approved
	r.rev.approved = "" // an approval is good for one pass at most
	switch {
	case p.Blocked && approved == digest:
		p.Blocked = false
		p.BlockReason += "; approved by an operator"
		r.log.Warn("applying the approved plan despite the safety gate", "hash", digest)
	case approved != "":
		r.log.Warn("approval voided: the plan changed before it ran", "approved", approved, "now", digest)
	}
	r.rev.last = &Reviewed{Plan: p, Digest: digest, At: time.Now()}
	return p
}
