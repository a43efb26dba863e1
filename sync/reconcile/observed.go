package reconcile

import (
	"slices"
	"time"

	"github.com/bindsync/bindsync/sync/plan"
)

// DefaultListReuse is how long after a list a pass that follows an edit of
// the desired state may plan from that list instead of listing again.
const DefaultListReuse = time.Minute

// lastList is the last list of the observed bindings, kept in step with the
// changes this reconciler made since (informer-style, as controller-runtime
// and Argo CD keep a cache of live state): a pass that follows an edit of
// the file plans from it at once, and the edit reaches the API without
// waiting for two lists of 5,000 bindings. Only what bindsync itself did is
// folded in; a drift made by others since the list shows at the next full
// list (a resync, a kick, a failure), as it would have without the reuse.
// A change refused because the list was stale fails, and drops the list.
type lastList struct {
	bindings []plan.Binding
	scopes   []plan.Scope // the views it covers
	at       time.Time
	ok       bool
}

// usable reports whether the list covers scopes and is younger than maxAge.
func (l *lastList) usable(scopes []plan.Scope, now time.Time, maxAge time.Duration) bool {
	return l.ok && maxAge > 0 && now.Sub(l.at) < maxAge && slices.Equal(l.scopes, scopes)
}

func (l *lastList) keep(bindings []plan.Binding, scopes []plan.Scope, at time.Time) {
	*l = lastList{bindings: bindings, scopes: scopes, at: at, ok: true}
}

func (l *lastList) drop() { *l = lastList{} }

// fold brings the list up to date with the outcome of a pass: applied
// updates and deletes are written in; anything it cannot know (a create's
// BindId, a failure, an outcome unknown) drops the list.
func (l *lastList) fold(results []ChangeResult) {
	if !l.ok {
		return
	}
	var at map[plan.Key]int
	for _, c := range results {
		switch {
		case c.Outcome == DryRun || c.Outcome == Deferred || c.Outcome == Cancelled:
			continue // nothing sent
		case c.Outcome != Applied || c.Change.Op == plan.OpCreate:
			l.drop()
			return
		}
		if at == nil {
			at = make(map[plan.Key]int, len(l.bindings))
			for i, b := range l.bindings {
				at[b.Key] = i
			}
		}
		i, found := at[c.Change.Key]
		if !found {
			l.drop()
			return
		}
		switch c.Change.Op {
		case plan.OpUpdate:
			l.bindings[i].AccountName, l.bindings[i].AccessID = c.Change.New.AccountName, c.Change.New.AccessID
		case plan.OpDelete:
			l.bindings[i] = plan.Binding{} // a zero binding matches no desired one; removed below
		}
	}
	if at != nil {
		l.bindings = slices.DeleteFunc(l.bindings, func(b plan.Binding) bool { return b.BindID == 0 && b.AccountID == "" })
	}
}
