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
	"slices"
	"strings"
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
	return cmp.Or(
		cmp.Compare(k.RegionID, o.RegionID),
		cmp.Compare(k.RoleFor, o.RoleFor),
		cmp.Compare(k.RoleType, o.RoleType),
		cmp.Compare(k.CloudCode, o.CloudCode),
		cmp.Compare(k.AccountID, o.AccountID),
	)
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
	b.CloudCode = strings.ToLower(strings.TrimSpace(b.CloudCode))
	b.AccountID = strings.TrimSpace(b.AccountID)
	b.AccountName = strings.TrimSpace(b.AccountName)
	b.AccessID = strings.TrimSpace(b.AccessID)
	b.RegionID = strings.TrimSpace(b.RegionID)
	if b.RegionID == "" {
		b.RegionID = DefaultRegionID
	}
	return b
}

// Desired is the desired state: the bindings and the scopes they manage. A
// scope with no bindings is still managed (its unmanaged bindings are
// reported, or deleted under sync).
type Desired struct {
	Bindings []Binding
	Scopes   []Scope
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
	Desired, Observed, InSync, Drifted, Missing, Unmanaged, Conflict int
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

// Empty reports whether the plan changes nothing.
func (p Plan) Empty() bool { return len(p.Changes) == 0 }

type akKey struct {
	scope    Scope
	accessID string
}

// Compute is the whole diff. It is deterministic: changes and findings are
// ordered by operation and key.
func Compute(desired Desired, observed []Binding, opts Options) Plan {
	if opts.Policy == "" {
		opts.Policy = UpdateOnly
	}
	p := Plan{Policy: opts.Policy}

	want := make(map[Key]Binding, len(desired.Bindings))
	for _, b := range desired.Bindings {
		b = Normalize(b)
		want[b.Key] = b
	}
	have := make(map[Key][]Binding, len(observed))
	holders := make(map[akKey][]Key, len(observed))
	for _, b := range observed {
		b = Normalize(b)
		have[b.Key] = append(have[b.Key], b)
		ak := akKey{b.Scope, b.AccessID}
		holders[ak] = append(holders[ak], b.Key)
	}
	p.Counts.Desired, p.Counts.Observed = len(want), len(observed)

	for _, k := range sortedKeys(want) {
		d := want[k]
		obs := have[k]
		if len(obs) > 1 {
			p.conflict(k, &d, obs, fmt.Sprintf("%d observed bindings share this identity", len(obs)))
			continue
		}
		if other := otherHolder(holders[akKey{k.Scope, d.AccessID}], k); other != nil {
			p.conflict(k, &d, obs, fmt.Sprintf("the desired accessId is bound to %s", other))
			continue
		}
		switch {
		case len(obs) == 0 && opts.Policy == UpdateOnly:
			p.Counts.Missing++
			p.Findings = append(p.Findings, Finding{Kind: KindMissing, Key: k, Desired: &d, Reason: "not bound; policy update-only does not create"})
		case len(obs) == 0:
			p.Counts.Missing++
			p.Changes = append(p.Changes, Change{Op: OpCreate, Key: k, New: &d})
		case obs[0].AccountName == d.AccountName && obs[0].AccessID == d.AccessID:
			p.Counts.InSync++
		default:
			p.Counts.Drifted++
			o := obs[0]
			p.Changes = append(p.Changes, Change{Op: OpUpdate, Key: k, Old: &o, New: &d})
		}
	}

	for _, k := range sortedKeys(have) {
		if _, ok := want[k]; ok {
			continue
		}
		obs := have[k]
		p.Counts.Unmanaged += len(obs)
		switch {
		case len(obs) > 1:
			p.conflict(k, nil, obs, fmt.Sprintf("%d observed bindings share this identity", len(obs)))
		case opts.Policy != Sync:
			p.Findings = append(p.Findings, Finding{Kind: KindUnmanaged, Key: k, Observed: obs, Reason: "not in the desired state; policy " + string(opts.Policy) + " does not delete"})
		case obs[0].DataSourceCount > 0 && !opts.DeleteWithDataSources:
			p.Findings = append(p.Findings, Finding{Kind: KindProtected, Key: k, Observed: obs,
				Reason: fmt.Sprintf("has %d data sources; deleting would orphan them", obs[0].DataSourceCount)})
		default:
			o := obs[0]
			p.Changes = append(p.Changes, Change{Op: OpDelete, Key: k, Old: &o})
		}
	}

	slices.SortStableFunc(p.Changes, func(a, b Change) int {
		return cmp.Or(cmp.Compare(a.Op.rank(), b.Op.rank()), a.Key.Compare(b.Key))
	})
	slices.SortStableFunc(p.Findings, func(a, b Finding) int {
		return cmp.Or(a.Key.Compare(b.Key), cmp.Compare(a.Kind, b.Kind))
	})
	p.gate(opts)
	return p
}

func (p *Plan) conflict(k Key, d *Binding, obs []Binding, reason string) {
	p.Counts.Conflict++
	p.Findings = append(p.Findings, Finding{Kind: KindConflict, Key: k, Desired: d, Observed: obs, Reason: reason})
}

func (p *Plan) gate(opts Options) {
	ratio := opts.MaxChangeRatio
	if ratio == 0 {
		ratio = DefaultMaxChangeRatio
	}
	minObserved := opts.GateMinObserved
	if minObserved == 0 {
		minObserved = DefaultGateMinObserved
	}
	risky := p.Count(OpUpdate) + p.Count(OpDelete)
	if p.Counts.Observed < minObserved || risky == 0 {
		return
	}
	share := float64(risky) / float64(p.Counts.Observed)
	if share <= ratio {
		return
	}
	reason := fmt.Sprintf("would update or delete %d of %d observed bindings (%.0f%%), over the %.0f%% limit",
		risky, p.Counts.Observed, 100*share, 100*ratio)
	if opts.Force {
		p.BlockReason = reason + "; forced"
		return
	}
	p.Blocked, p.BlockReason = true, reason
}

func otherHolder(keys []Key, self Key) *Key {
	for _, k := range keys {
		if k != self {
			return &k
		}
	}
	return nil
}

func sortedKeys[V any](m map[Key]V) []Key {
	keys := make([]Key, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, Key.Compare)
	return keys
}
