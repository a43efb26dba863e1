package desired

import (
	"sync"

	"github.com/bindsync/bindsync/sync/plan"
)

// Latest holds the newest valid desired state. Setting it never blocks and
// replaces what was there: when versions A then B arrive while a pass runs,
// the next pass reads B and A is never applied. Changed tells a reader that
// a newer state is in place (one signal for any number of sets).
type Latest struct {
	mu      sync.Mutex
	st      *State
	changed chan struct{}
}

// NewLatest returns a slot holding initial.
func NewLatest(initial *State) *Latest {
	return &Latest{st: initial, changed: make(chan struct{}, 1)}
}

// Set replaces the state and signals Changed.
func (l *Latest) Set(st *State) {
	l.mu.Lock()
	l.st = st
	l.mu.Unlock()
	select {
	case l.changed <- struct{}{}:
	default: // a signal is already pending; the reader will see st
	}
}

// Get returns the newest state.
func (l *Latest) Get() *State {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st
}

// Desired returns the newest state's bindings (reconcile.DesiredSource).
func (l *Latest) Desired() plan.Desired { return l.Get().Desired }

// Changed receives after Set.
func (l *Latest) Changed() <-chan struct{} { return l.changed }
