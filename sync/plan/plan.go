// Package plan is the pure heart of bindsync: it compares the desired
// bindings with the observed ones and says what to change. It does no I/O,
// reads no clock and logs nothing, so every decision it makes is a plain
// function of its inputs and can be tested exhaustively.
//
// Decision table, per identity (scope, cloudCode, accountId):
//
//	desired  observed                      result
//	yes      one, same name and accessId   in sync
//	yes      one, name or accessId differ  update (ModifyBindAccount with the observed BindId)
//	yes      none                          missing: create under upsert/sync, else reported
//	no       one                           unmanaged: delete under sync, else reported;
//	                                       never deleted while DataSourceCount > 0 unless allowed
//	any      two or more                   conflict: reported, never touched
//	yes      any, but the desired accessId
//	         is bound to another identity  conflict: reported, never touched
//
// A safety gate blocks the whole plan when it would update or delete more
// than a share of the observed bindings (octoDNS's threshold, 30% by default,
// only once at least 10 bindings are observed), unless forced.
package plan

import (
	"cmp"
	"fmt"
	"runtime"
	"slices"
	"strings"

	"github.com/bindsync/bindsync/internal/redact"
)

// DefaultRegionID is the data center used when none is given.
const DefaultRegionID = "cn-hangzhou"

// Scope is the view bindings live in: data center, member account, view type.
type Scope struct {
	RegionID string
	RoleFor  int64 // 0: the caller's own account
	RoleType int32 // 0: current account view, 1: whole enterprise
}

func (s Scope) String() string {
	out := s.RegionID
	if s.RoleFor != 0 {
		out += fmt.Sprintf(" roleFor=%d", s.RoleFor)
	}
	if s.RoleType != 0 {
		out += fmt.Sprintf(" roleType=%d", s.RoleType)
	}
	return out
}

// Key is the identity of a binding.
type Key struct {
	Scope
	CloudCode string
	AccountID string
}

func (k Key) String() string { return k.CloudCode + "/" + k.AccountID + " [" + k.Scope.String() + "]" }

// Compare orders keys by scope, cloud code and account.
func (k Key) Compare(o Key) int {
	if c := strings.Compare(k.RegionID, o.RegionID); c != 0 {
		return c
	}
	if k.RoleFor != o.RoleFor {
		return cmp.Compare(k.RoleFor, o.RoleFor)
	}
	if k.RoleType != o.RoleType {
		return cmp.Compare(k.RoleType, o.RoleType)
	}
	if c := strings.Compare(k.CloudCode, o.CloudCode); c != 0 {
		return c
	}
	return strings.Compare(k.AccountID, o.AccountID)
}

// Binding is one binding, desired or observed.
type Binding struct {
	Key
	AccountName string
	AccessID    string

	BindID          int64  // observed only
	DataSourceCount int64  // observed only
	Origin          string // desired only: "file:line", for messages
}

// Normalize puts a binding in the form the API returns, so that cosmetic
// differences (spaces, case of the cloud code, an omitted region) never
// show up as drift.
func Normalize(b Binding) Binding {
	b.normalize()
	return b
}

// normalize is Normalize in place: a plan normalises every binding, and a
// copy of one costs more than the checks.
func (b *Binding) normalize() {
	b.Key.normalize()
	b.AccountName = trim(b.AccountName)
	b.AccessID = trim(b.AccessID)
}

func (k *Key) normalize() {
	k.CloudCode = lower(trim(k.CloudCode))
	k.AccountID = trim(k.AccountID)
	k.RegionID = trim(k.RegionID)
	if k.RegionID == "" {
		k.RegionID = DefaultRegionID
	}
}

func normalKey(k Key) Key {
	k.normalize()
	return k
}

// lower is strings.ToLower with a fast path for the usual lower-case value.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' || c >= 0x80 {
			return strings.ToLower(s)
		}
	}
	return s
}

// trim is strings.TrimSpace with a fast path for the usual clean value: the
// first and the last byte printable ASCII (0x21 to 0x7f, tested as one
// unsigned comparison each).
func trim(s string) string {
	if s == "" || s[0]-0x21 < 0x5f && s[len(s)-1]-0x21 < 0x5f {
		return s
	}
	return strings.TrimSpace(s)
}

// Desired is the desired state: the bindings and the scopes they manage. A
// scope with no bindings is still managed (its unmanaged bindings are
// reported, or deleted under sync).
type Desired struct {
	Bindings []Binding
	Scopes   []Scope
	// Source identifies the content the bindings came from (the file's
	// sha256), so that a plan's digest changes when the file does.
	Source string
}

// ManagedScopes returns the scopes of the bindings plus the declared ones, sorted.
func (d Desired) ManagedScopes() []Scope {
	seen := map[Scope]bool{}
	var out []Scope
	add := func(s Scope) {
		if s.RegionID == "" {
			s.RegionID = DefaultRegionID
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, s := range d.Scopes {
		add(s)
	}
	for _, b := range d.Bindings {
		add(Normalize(b).Scope)
	}
	slices.SortFunc(out, func(a, b Scope) int { return Key{Scope: a}.Compare(Key{Scope: b}) })
	return out
}

// Policy says which kinds of change a plan may contain.
type Policy string

// The policies, after external-dns's.
const (
	UpdateOnly Policy = "update-only" // ModifyBindAccount only
	Upsert     Policy = "upsert"      // and BindAccount for missing bindings
	Sync       Policy = "sync"        // and DeleteBindAccount for unmanaged ones
)

// ParsePolicy accepts the three policy names.
func ParsePolicy(s string) (Policy, error) {
	switch p := Policy(s); p {
	case UpdateOnly, Upsert, Sync:
		return p, nil
	}
	return "", fmt.Errorf("unknown policy %q: want update-only, upsert or sync", s)
}

// Options tune Compute.
type Options struct {
	Policy Policy
	// MaxChangeRatio is the share of observed bindings a plan may update or
	// delete before the gate blocks it. Zero means DefaultMaxChangeRatio.
	MaxChangeRatio float64
	// GateMinObserved is how many bindings must be observed before the gate
	// applies. Zero means DefaultGateMinObserved.
	GateMinObserved int
	// Force lets a plan through the gate.
	Force bool
	// DeleteWithDataSources allows deleting bindings that still have data sources.
	DeleteWithDataSources bool
	// ObservedBefore is how many bindings the last trusted list showed (0:
	// none yet). A list that lost more than MaxChangeRatio of them, from at
	// least GateMinObserved, is a collapse: the plan is blocked whatever it
	// does (creates included), because a service answering nothing must not
	// drive a mass re-create. It is not part of the plan digest.
	ObservedBefore int
	// Known, when set, is what Threat Analysis says it can bind: a create or
	// an accessId change to a key it does not know is not attempted but
	// reported as awaiting its key (KindAwaitingKey). Nil: not checked.
	Known *KnownKeys
}

// Gate defaults.
const (
	DefaultMaxChangeRatio  = 0.30
	DefaultGateMinObserved = 10
)

// Op is a kind of change.
type Op string

// The operations, in the order a plan lists them.
const (
	OpDelete Op = "delete"
	OpUpdate Op = "update"
	OpCreate Op = "create"
)

// Ops lists every operation (for metrics created up front).
var Ops = [...]Op{OpCreate, OpUpdate, OpDelete}

func (o Op) rank() int {
	switch o {
	case OpDelete:
		return 0
	case OpUpdate:
		return 1
	}
	return 2
}

// Change is one API call to make. Old is the observed binding (update,
// delete), New the desired one (create, update).
type Change struct {
	Op  Op
	Key Key
	Old *Binding
	New *Binding
}

// Kind names a finding: something the plan reports but does not act on.
type Kind string

// The kinds of finding.
const (
	KindMissing   Kind = "missing"   // desired, not observed, policy forbids create
	KindUnmanaged Kind = "unmanaged" // observed, not desired, policy forbids delete
	KindConflict  Kind = "conflict"  // ambiguous: never touched
	KindProtected Kind = "protected" // would be deleted but still has data sources
	// KindAwaitingKey: a create or an accessId change whose key Threat
	// Analysis does not know yet (not registered in Security Center). Not a
	// failure: it is applied by the first pass after the key is registered.
	KindAwaitingKey Kind = "awaiting_key"
)

// Finding is a reported, untouched binding.
type Finding struct {
	Kind     Kind
	Key      Key
	Reason   string
	Desired  *Binding
	Observed []Binding
}

// Counts are the sizes behind the bindings gauge.
type Counts struct {
	Desired, Observed, InSync, Drifted, Missing, Unmanaged, Conflict, AwaitingKey int
}

// Plan is the result of Compute.
type Plan struct {
	Policy      Policy
	Changes     []Change
	Findings    []Finding
	Counts      Counts
	Blocked     bool
	BlockReason string
}

// Count returns how many changes of op the plan holds.
func (p Plan) Count(op Op) int {
	n := 0
	for _, c := range p.Changes {
		if c.Op == op {
			n++
		}
	}
	return n
}

// BindsKeys reports whether the plan binds an AccessKey: it creates a
// binding or changes the key of one. Only such a plan is changed by
// Options.Known, so only such a plan needs the keys listed.
func (p Plan) BindsKeys() bool {
	for _, c := range p.Changes {
		if c.Op == OpCreate || c.Op == OpUpdate && c.Old.AccessID != c.New.AccessID {
			return true
		}
	}
	return false
}

// Empty reports whether the plan changes nothing.
func (p Plan) Empty() bool { return len(p.Changes) == 0 }

// akKey is what makes an AccessKey unique: one binding per data center,
// whichever account's view it is listed in (an enterprise view lists the
// members' bindings too).
type akKey struct {
	regionID string
	accessID string
}

// holder is an observed binding holding an AccessKey.
type holder struct {
	key    Key
	bindID int64
}

// Compute is the whole diff. It is deterministic: changes and findings are
// ordered by operation and key.
//
// It is built for large inputs (100,000 bindings on each side in under
// 50 ms): one compact index over the observed keys (index.go), bindings
// compared in place, matches marked in a slice rather than a second map, and the accessId holder index built only for the few
// accessIds a create or an accessId change needs.
func Compute(desired Desired, observed []Binding, opts Options) Plan {
	var splitBits uint
	if len(desired.Bindings)+len(observed) >= splitAbove && runtime.GOMAXPROCS(0) > 1 {
		splitBits = 1
	}
	return compute(desired, observed, opts, splitBits)
}

// splitAbove is how many bindings (both sides together) make a plan worth
// splitting in two halves by identity, each indexed and walked on its own
// core; below it, the goroutines cost more than they save.
const splitAbove = 16384

// candidate is a desired binding that is missing, or bound with another
// accessId: whether it can be applied depends on who holds that accessId.
type candidate struct {
	d   Binding
	obs int32 // -1: not observed
}

// firstWalk is what the walk over the desired bindings of one part found.
type firstWalk struct {
	changes    []Change
	findings   []Finding
	candidates []candidate
	counts     Counts
}

func compute(desired Desired, observed []Binding, opts Options, splitBits uint) Plan {
	opts = opts.withDefaults()
	p := Plan{Policy: opts.Policy}

	index, dupKeys := newSplitIndex(observed, splitBits)
	// obs normalises an observed binding on demand (cheaper than a copy of
	// all: most are never looked at twice).
	obs := func(i int32) Binding {
		b := observed[i]
		b.Key, b.AccountName, b.AccessID = normalKey(b.Key), trim(b.AccountName), trim(b.AccessID)
		return b
	}
	var dups map[Key][]Binding // identities observed more than once
	if len(dupKeys) > 0 {
		dups = map[Key][]Binding{}
		for i := range observed {
			if b := obs(int32(i)); dupKeys[b.Key] {
				dups[b.Key] = append(dups[b.Key], b)
			}
		}
	}
	p.Counts.Observed = len(observed)
	// Each part marks only its own observed bindings.
	matched := make([]bool, len(observed))

	// First walk: classify each desired binding by its own identity, each
	// part on its own goroutine, then put the parts together in order.
	hashes := make([]uint64, len(desired.Bindings))
	index.hashAll(len(hashes), func(i int) string { return trim(desired.Bindings[i].AccountID) }, hashes)
	walks := make([]firstWalk, len(index.parts))
	inParallel(len(index.parts), func(part int) {
		w := &walks[part]
		// A repeated desired identity (the parser refuses them) counts
		// once: an observed one is caught by its matched flag, the rest by
		// this small set.
		seenUnobserved := map[Key]bool{}
		for di, h := range hashes {
			if index.partOf(h) != part {
				continue
			}
			d := desired.Bindings[di]
			d.normalize()
			i := index.parts[part].findHashed(d.Key, h)
			ok := i >= 0
			if ok && matched[i] || !ok && seenUnobserved[d.Key] {
				continue
			}
			w.counts.Desired++
			if group, dup := dups[d.Key]; dup {
				matchAll(observed, matched, d.Key)
				dc := d
				w.conflict(d.Key, &dc, group, fmt.Sprintf("%d observed bindings share this identity", len(group)))
				continue
			}
			if !ok {
				seenUnobserved[d.Key] = true
				w.candidates = append(w.candidates, candidate{d, -1})
				continue
			}
			matched[i] = true
			// Compared in place: most bindings are in sync and are never copied.
			switch o := &observed[i]; {
			case trim(o.AccessID) != d.AccessID:
				w.candidates = append(w.candidates, candidate{d, i})
			case trim(o.AccountName) != d.AccountName:
				w.counts.Drifted++
				oc, dc := obs(i), d // only changes keep pointers: the in-sync path allocates nothing
				w.changes = append(w.changes, Change{Op: OpUpdate, Key: d.Key, Old: &oc, New: &dc})
			default:
				w.counts.InSync++
			}
		}
	})
	var candidates []candidate
	needAK := map[akKey]bool{}
	for _, w := range walks {
		p.Changes = append(p.Changes, w.changes...)
		p.Findings = append(p.Findings, w.findings...)
		p.Counts.Desired += w.counts.Desired
		p.Counts.Drifted += w.counts.Drifted
		p.Counts.InSync += w.counts.InSync
		p.Counts.Conflict += w.counts.Conflict
		for _, c := range w.candidates {
			candidates = append(candidates, c)
			needAK[akKey{c.d.RegionID, c.d.AccessID}] = true
		}
	}

	// Who holds the accessIds that the candidates want?
	holders := map[akKey][]holder{}
	if len(needAK) > 0 {
		for i := range observed {
			b := obs(int32(i))
			ak := akKey{b.RegionID, b.AccessID}
			if needAK[ak] {
				holders[ak] = append(holders[ak], holder{b.Key, b.BindID})
			}
		}
	}
	for _, c := range candidates {
		d := c.d
		var own []Binding
		var ownID int64
		if c.obs >= 0 {
			own = []Binding{obs(c.obs)}
			ownID = own[0].BindID
		}
		if other := otherHolder(holders[akKey{d.RegionID, d.AccessID}], d.Key, ownID); other != nil {
			p.conflict(d.Key, &d, own, fmt.Sprintf("the desired accessId %s is bound to %s; unbind it there first", redact.AccessID(d.AccessID), other))
			continue
		}
		if opts.Known != nil && (c.obs >= 0 || opts.Policy != UpdateOnly) && !opts.Known.Knows(d.AccessID) {
			p.Counts.AwaitingKey++
			dc := d
			p.Findings = append(p.Findings, Finding{Kind: KindAwaitingKey, Key: d.Key, Desired: &dc, Observed: own,
				Reason: fmt.Sprintf("waits for AccessKey %s to be registered in Security Center (multi-cloud assets, Threat Analysis module); applied on the first pass after that", redact.AccessID(d.AccessID))})
			continue
		}
		switch {
		case c.obs >= 0:
			p.Counts.Drifted++
			o := obs(c.obs)
			p.Changes = append(p.Changes, Change{Op: OpUpdate, Key: d.Key, Old: &o, New: &d})
		case opts.Policy == UpdateOnly:
			p.Counts.Missing++
			p.Findings = append(p.Findings, Finding{Kind: KindMissing, Key: d.Key, Desired: &d, Reason: "not bound; policy update-only does not create"})
		default:
			p.Counts.Missing++
			p.Changes = append(p.Changes, Change{Op: OpCreate, Key: d.Key, New: &d})
		}
	}

	// Observed bindings nobody asked for.
	for i := range observed {
		if matched[i] {
			continue
		}
		o := obs(int32(i))
		p.Counts.Unmanaged++
		if group, dup := dups[o.Key]; dup {
			if index.find(o.Key) == int32(i) { // report the group once (at its last member)
				p.conflict(o.Key, nil, group, fmt.Sprintf("%d observed bindings share this identity", len(group)))
			}
			continue
		}
		switch {
		case opts.Policy != Sync:
			p.Findings = append(p.Findings, Finding{Kind: KindUnmanaged, Key: o.Key, Observed: []Binding{o}, Reason: "not in the desired state; policy " + string(opts.Policy) + " does not delete"})
		case o.DataSourceCount > 0 && !opts.DeleteWithDataSources:
			p.Findings = append(p.Findings, Finding{Kind: KindProtected, Key: o.Key, Observed: []Binding{o},
				Reason: fmt.Sprintf("has %d data sources; deleting would orphan them", o.DataSourceCount)})
		default:
			p.Changes = append(p.Changes, Change{Op: OpDelete, Key: o.Key, Old: &o})
		}
	}

	slices.SortStableFunc(p.Changes, func(a, b Change) int {
		if a.Op != b.Op {
			return cmp.Compare(a.Op.rank(), b.Op.rank())
		}
		return a.Key.Compare(b.Key)
	})
	slices.SortStableFunc(p.Findings, func(a, b Finding) int {
		if c := a.Key.Compare(b.Key); c != 0 {
			return c
		}
		return strings.Compare(string(a.Kind), string(b.Kind))
	})
	p.gate(opts)
	return p
}

// matchAll marks every observed binding with key k as matched.
func matchAll(observed []Binding, matched []bool, k Key) {
	for i := range observed {
		if normalKey(observed[i].Key) == k {
			matched[i] = true
		}
	}
}

func (p *Plan) conflict(k Key, d *Binding, obs []Binding, reason string) {
	p.Counts.Conflict++
	p.Findings = append(p.Findings, Finding{Kind: KindConflict, Key: k, Desired: d, Observed: obs, Reason: reason})
}

func (w *firstWalk) conflict(k Key, d *Binding, obs []Binding, reason string) {
	w.counts.Conflict++
	w.findings = append(w.findings, Finding{Kind: KindConflict, Key: k, Desired: d, Observed: obs, Reason: reason})
}

// withDefaults fills the zero options, in one place so that the gate and
// the plan digest agree on what a zero option means.
func (o Options) withDefaults() Options {
	if o.Policy == "" {
		o.Policy = UpdateOnly
	}
	if o.MaxChangeRatio == 0 {
		o.MaxChangeRatio = DefaultMaxChangeRatio
	}
	if o.GateMinObserved == 0 {
		o.GateMinObserved = DefaultGateMinObserved
	}
	return o
}

func (p *Plan) gate(opts Options) {
	opts = opts.withDefaults()
	ratio := opts.MaxChangeRatio
	reason := collapse(p, opts)
	if reason == "" {
		risky := p.Count(OpUpdate) + p.Count(OpDelete)
		if p.Counts.Observed < opts.GateMinObserved || risky == 0 {
			return
		}
		share := float64(risky) / float64(p.Counts.Observed)
		if share <= ratio {
			return
		}
		reason = fmt.Sprintf("would update or delete %d of %d observed bindings (%.0f%%), over the %.0f%% limit",
			risky, p.Counts.Observed, 100*share, 100*ratio)
	}
	if opts.Force {
		p.BlockReason = reason + "; forced"
		return
	}
	p.Blocked, p.BlockReason = true, reason
}

// collapse says why the observed list looks collapsed, or "".
func collapse(p *Plan, opts Options) string {
	before, now := opts.ObservedBefore, p.Counts.Observed
	if before < opts.GateMinObserved || now >= before || p.Empty() {
		return ""
	}
	lost := float64(before-now) / float64(before)
	if lost <= opts.MaxChangeRatio {
		return ""
	}
	return fmt.Sprintf("observed state collapsed: the list shows %d bindings where the last trusted one showed %d (%.0f%% gone, over the %.0f%% limit); "+
		"nothing is applied until the list is whole again, or the plan is approved or forced", now, before, 100*lost, 100*opts.MaxChangeRatio)
}

// otherHolder returns a binding other than self that holds the key: not the
// same identity, and not the same binding seen in another view.
func otherHolder(hs []holder, self Key, selfID int64) *Key {
	for _, h := range hs {
		if h.key != self && (selfID == 0 || h.bindID != selfID) {
			return &h.key
		}
	}
	return nil
}
