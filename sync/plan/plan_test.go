package plan

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var home = Scope{RegionID: "cn-hangzhou"}

func b(cloud, account, name, ak string) Binding {
	return Binding{Key: Key{Scope: home, CloudCode: cloud, AccountID: account}, AccountName: name, AccessID: ak}
}

func obs(id int64, cloud, account, name, ak string) Binding {
	x := b(cloud, account, name, ak)
	x.BindID = id
	return x
}

type opKey struct {
	Op      Op
	Account string
}

func summary(p Plan) (changes []opKey, findings []string) {
	for _, c := range p.Changes {
		changes = append(changes, opKey{c.Op, c.Key.AccountID})
	}
	for _, f := range p.Findings {
		findings = append(findings, string(f.Kind)+":"+f.Key.AccountID)
	}
	return changes, findings
}

func TestCompute(t *testing.T) {
	tests := []struct {
		name         string
		desired      []Binding
		observed     []Binding
		opts         Options
		wantChanges  []opKey
		wantFindings []string
		wantCounts   Counts
	}{
		{
			name:       "in sync",
			desired:    []Binding{b("hcloud", "1", "a", "AK1")},
			observed:   []Binding{obs(10, "hcloud", "1", "a", "AK1")},
			wantCounts: Counts{Desired: 1, Observed: 1, InSync: 1},
		},
		{
			name:       "normalisation hides cosmetic differences",
			desired:    []Binding{{Key: Key{CloudCode: " HCLOUD ", AccountID: "1 "}, AccountName: " a", AccessID: "AK1 "}},
			observed:   []Binding{obs(10, "hcloud", "1", "a", "AK1")},
			wantCounts: Counts{Desired: 1, Observed: 1, InSync: 1},
		},
		{
			name:        "name and accessId drift are updates",
			desired:     []Binding{b("hcloud", "1", "new", "AK1"), b("qcloud", "2", "b", "AK2-new")},
			observed:    []Binding{obs(10, "hcloud", "1", "old", "AK1"), obs(11, "qcloud", "2", "b", "AK2")},
			wantChanges: []opKey{{OpUpdate, "1"}, {OpUpdate, "2"}},
			wantCounts:  Counts{Desired: 2, Observed: 2, Drifted: 2},
		},
		{
			name:         "update-only reports missing and unmanaged",
			desired:      []Binding{b("hcloud", "1", "a", "AK1")},
			observed:     []Binding{obs(10, "hcloud", "9", "x", "AK9")},
			wantFindings: []string{"missing:1", "unmanaged:9"},
			wantCounts:   Counts{Desired: 1, Observed: 1, Missing: 1, Unmanaged: 1},
		},
		{
			name:         "upsert creates, never deletes",
			desired:      []Binding{b("hcloud", "1", "a", "AK1")},
			observed:     []Binding{obs(10, "hcloud", "9", "x", "AK9")},
			opts:         Options{Policy: Upsert},
			wantChanges:  []opKey{{OpCreate, "1"}},
			wantFindings: []string{"unmanaged:9"},
			wantCounts:   Counts{Desired: 1, Observed: 1, Missing: 1, Unmanaged: 1},
		},
		{
			name:         "sync deletes unmanaged, protects data sources",
			desired:      []Binding{b("hcloud", "1", "a", "AK1")},
			observed:     []Binding{obs(10, "hcloud", "9", "x", "AK9"), {Key: Key{Scope: home, CloudCode: "qcloud", AccountID: "8"}, AccessID: "AK8", BindID: 12, DataSourceCount: 3}},
			opts:         Options{Policy: Sync},
			wantChanges:  []opKey{{OpDelete, "9"}, {OpCreate, "1"}},
			wantFindings: []string{"protected:8"},
			wantCounts:   Counts{Desired: 1, Observed: 2, Missing: 1, Unmanaged: 2},
		},
		{
			name:        "sync may delete bindings with data sources when allowed",
			observed:    []Binding{{Key: Key{Scope: home, CloudCode: "qcloud", AccountID: "8"}, AccessID: "AK8", BindID: 12, DataSourceCount: 3}},
			opts:        Options{Policy: Sync, DeleteWithDataSources: true},
			wantChanges: []opKey{{OpDelete, "8"}},
			wantCounts:  Counts{Observed: 1, Unmanaged: 1},
		},
		{
			name:         "two observed bindings with one identity are a conflict",
			desired:      []Binding{b("hcloud", "1", "a", "AK1")},
			observed:     []Binding{obs(10, "hcloud", "1", "a", "AK1"), obs(11, "hcloud", "1", "b", "AK2")},
			opts:         Options{Policy: Sync},
			wantFindings: []string{"conflict:1"},
			wantCounts:   Counts{Desired: 1, Observed: 2, Conflict: 1},
		},
		{
			name:         "desired accessId bound to another account is a conflict",
			desired:      []Binding{b("hcloud", "1", "a", "AK-shared"), b("hcloud", "2", "b", "AK2")},
			observed:     []Binding{obs(10, "hcloud", "1", "a", "AK1"), obs(11, "hcloud", "2", "b", "AK-shared")},
			opts:         Options{Policy: Sync},
			wantFindings: []string{"conflict:1"},
			wantChanges:  []opKey{{OpUpdate, "2"}},
			wantCounts:   Counts{Desired: 2, Observed: 2, Conflict: 1, Drifted: 1},
		},
		{
			name:        "a repeated desired identity counts once",
			desired:     []Binding{b("hcloud", "1", "a", "AK1"), b("hcloud", "1", "b", "AK1"), b("qcloud", "2", "x", "AK2"), b("qcloud", "2", "y", "AK2")},
			observed:    []Binding{obs(10, "hcloud", "1", "old", "AK1")},
			opts:        Options{Policy: Upsert},
			wantChanges: []opKey{{OpUpdate, "1"}, {OpCreate, "2"}},
			wantCounts:  Counts{Desired: 2, Observed: 1, Drifted: 1, Missing: 1},
		},
		{
			name:         "an accountId shared across cloud codes is two identities",
			desired:      []Binding{b("hcloud", "1", "a", "AK1"), b("qcloud", "1", "b", "AK2")},
			observed:     []Binding{obs(10, "qcloud", "1", "b", "AK2"), obs(11, "hcloud", "1", "old", "AK1"), obs(12, "hcloud", "1", "again", "AK3")},
			opts:         Options{Policy: Sync},
			wantFindings: []string{"conflict:1"},
			wantCounts:   Counts{Desired: 2, Observed: 3, InSync: 1, Conflict: 1},
		},
		{
			// Scopes are separate identities, but an AccessKey is bound
			// once per data center whichever view lists it.
			name:         "an AccessKey held in another view of the data center is a conflict",
			desired:      []Binding{{Key: Key{Scope: Scope{RegionID: "cn-hangzhou", RoleFor: 5}, CloudCode: "hcloud", AccountID: "1"}, AccountName: "a", AccessID: "AK1"}},
			observed:     []Binding{obs(10, "hcloud", "1", "a", "AK1")},
			opts:         Options{Policy: Sync},
			wantChanges:  []opKey{{OpDelete, "1"}},
			wantFindings: []string{"conflict:1"},
			wantCounts:   Counts{Desired: 1, Observed: 1, Unmanaged: 1, Conflict: 1},
		},
		{
			name:        "scopes are separate identities",
			desired:     []Binding{{Key: Key{Scope: Scope{RegionID: "cn-hangzhou", RoleFor: 5}, CloudCode: "hcloud", AccountID: "1"}, AccountName: "a", AccessID: "AK2"}},
			observed:    []Binding{obs(10, "hcloud", "1", "a", "AK1")},
			opts:        Options{Policy: Sync},
			wantChanges: []opKey{{OpDelete, "1"}, {OpCreate, "1"}},
			wantCounts:  Counts{Desired: 1, Observed: 1, Missing: 1, Unmanaged: 1},
		},
		{
			name:    "the same binding listed in the enterprise view is not another holder",
			desired: []Binding{{Key: Key{Scope: Scope{RegionID: "cn-hangzhou", RoleType: 1}, CloudCode: "hcloud", AccountID: "1"}, AccountName: "a", AccessID: "AK2"}},
			observed: []Binding{
				{Key: Key{Scope: Scope{RegionID: "cn-hangzhou", RoleType: 1}, CloudCode: "hcloud", AccountID: "1"}, AccountName: "a", AccessID: "AK1", BindID: 10},
				{Key: Key{Scope: Scope{RegionID: "cn-hangzhou"}, CloudCode: "hcloud", AccountID: "1"}, AccountName: "a", AccessID: "AK2", BindID: 10},
			},
			opts:         Options{Policy: UpdateOnly},
			wantChanges:  []opKey{{OpUpdate, "1"}},
			wantFindings: []string{"unmanaged:1"},
			wantCounts:   Counts{Desired: 1, Observed: 2, Drifted: 1, Unmanaged: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Compute(Desired{Bindings: tt.desired}, tt.observed, tt.opts)
			gotChanges, gotFindings := summary(p)
			if diff := cmp.Diff(tt.wantChanges, gotChanges); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantFindings, gotFindings); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantCounts, p.Counts); diff != "" {
				t.Errorf("counts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUpdateCarriesObservedBindID(t *testing.T) {
	p := Compute(Desired{Bindings: []Binding{b("hcloud", "1", "new", "AK1")}}, []Binding{obs(42, "hcloud", "1", "old", "AK1")}, Options{})
	if len(p.Changes) != 1 || p.Changes[0].Old.BindID != 42 || p.Changes[0].New.AccountName != "new" {
		t.Fatalf("changes = %+v", p.Changes)
	}
}

func TestSafetyGate(t *testing.T) {
	var desired, observed []Binding
	for i := range 10 {
		id := fmt.Sprint(i)
		desired = append(desired, b("hcloud", id, "name", "AK"+id))
		observed = append(observed, obs(int64(i), "hcloud", id, "name", "AK"+id))
	}
	drift := func(n int) []Binding {
		out := append([]Binding(nil), desired...)
		for i := range n {
			out[i].AccountName = "renamed"
		}
		return out
	}
	tests := []struct {
		name        string
		desired     []Binding
		observed    []Binding
		opts        Options
		wantBlocked bool
	}{
		{name: "3 of 10 is at the limit", desired: drift(3), observed: observed},
		{name: "4 of 10 is over", desired: drift(4), observed: observed, wantBlocked: true},
		{name: "forced", desired: drift(4), observed: observed, opts: Options{Force: true}},
		{name: "higher ratio", desired: drift(4), observed: observed, opts: Options{MaxChangeRatio: 0.5}},
		{name: "below the minimum size the gate is off", desired: drift(9)[:9], observed: observed[:9]},
		{name: "emptied desired state under sync", desired: nil, observed: observed, opts: Options{Policy: Sync}, wantBlocked: true},
		{name: "creates do not count", desired: append(drift(0), b("qcloud", "x", "n", "AKX1"), b("qcloud", "y", "n", "AKY1"), b("qcloud", "z", "n", "AKZ1"), b("qcloud", "w", "n", "AKW1")), observed: observed, opts: Options{Policy: Upsert}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Compute(Desired{Bindings: tt.desired}, tt.observed, tt.opts)
			if p.Blocked != tt.wantBlocked {
				t.Errorf("Blocked = %v (%s), want %v", p.Blocked, p.BlockReason, tt.wantBlocked)
			}
			if p.Blocked && !strings.Contains(p.Text(), "BLOCKED") {
				t.Errorf("blocked plan text does not say so:\n%s", p.Text())
			}
		})
	}
}

func TestRenderMasksAccessIDs(t *testing.T) {
	p := Compute(Desired{Bindings: []Binding{b("hcloud", "1", "n", "HPUAEXAMPLE0000NEW"), b("qcloud", "2", "n", "AKIDEXAMPLECREATE1")}},
		[]Binding{obs(1, "hcloud", "1", "o", "HPUAEXAMPLE0000OLD"), obs(2, "hcloud", "9", "x", "HPUAEXAMPLEUNMANAG")}, Options{Policy: Sync})
	js, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{p.Text(), string(js)} {
		for _, secret := range []string{"HPUAEXAMPLE0000NEW", "AKIDEXAMPLECREATE1", "HPUAEXAMPLE0000OLD", "HPUAEXAMPLEUNMANAG"} {
			if strings.Contains(out, secret) {
				t.Errorf("rendering contains %s:\n%s", secret, out)
			}
		}
	}
	for _, want := range []string{"~ update hcloud/1", "accessId:    HPUA****0OLD -> HPUA****0NEW", "+ create qcloud/2", "- delete hcloud/9", "1 to create, 1 to update, 1 to delete"} {
		if !strings.Contains(p.Text(), want) {
			t.Errorf("text lacks %q:\n%s", want, p.Text())
		}
	}
	var decoded map[string]any
	if err := json.Unmarshal(js, &decoded); err != nil || decoded["policy"] != "sync" || len(decoded["changes"].([]any)) != 3 {
		t.Errorf("JSON = %s (%v)", js, err)
	}
}

// apply plays a plan against the observed set the way the API would.
func apply(observed []Binding, p Plan) []Binding {
	if p.Blocked {
		return observed
	}
	next := int64(100000)
	out := append([]Binding(nil), observed...)
	for _, c := range p.Changes {
		switch c.Op {
		case OpCreate:
			n := *c.New
			n.BindID, n.Origin = next, ""
			next++
			out = append(out, n)
		case OpUpdate:
			for i := range out {
				if out[i].BindID == c.Old.BindID {
					out[i].AccountName, out[i].AccessID = c.New.AccountName, c.New.AccessID
				}
			}
		case OpDelete:
			for i := range out {
				if out[i].BindID == c.Old.BindID {
					out = append(out[:i], out[i+1:]...)
					break
				}
			}
		}
	}
	return out
}

// randomWorld builds a desired and an observed set that overlap, drift,
// conflict and spread over two scopes, from one seed.
func randomWorld(r *rand.Rand, n int) (Desired, []Binding) {
	scopes := []Scope{home, {RegionID: "cn-hangzhou", RoleFor: 7}}
	var d Desired
	var o []Binding
	usedAK := map[akKey]bool{}
	seenKey := map[Key]bool{}
	for i := range n {
		k := Key{Scope: scopes[r.IntN(2)], CloudCode: []string{"hcloud", "qcloud"}[r.IntN(2)], AccountID: fmt.Sprint(r.IntN(n + 1))}
		ak := fmt.Sprintf("AK%04d", r.IntN(2*n+1))
		if r.IntN(3) > 0 && !seenKey[k] && !usedAK[akKey{k.RegionID, ak}] {
			seenKey[k], usedAK[akKey{k.RegionID, ak}] = true, true
			d.Bindings = append(d.Bindings, Binding{Key: k, AccountName: fmt.Sprint("n", r.IntN(3)), AccessID: ak})
		}
		if r.IntN(3) > 0 {
			oak := ak
			if r.IntN(4) == 0 {
				oak = fmt.Sprintf("AK%04d", r.IntN(2*n+1))
			}
			o = append(o, Binding{Key: k, AccountName: fmt.Sprint("n", r.IntN(3)), AccessID: oak, BindID: int64(i + 1), DataSourceCount: int64(r.IntN(2))})
		}
	}
	return d, o
}

func checkProperties(t *testing.T, d Desired, observed []Binding, opts Options) {
	t.Helper()
	p := Compute(d, observed, opts)
	if again := Compute(d, observed, opts); !cmp.Equal(p, again) {
		t.Fatalf("Compute is not deterministic")
	}
	want := map[Key]bool{}
	for _, b := range d.Bindings {
		want[Normalize(b).Key] = true
	}
	conflicted := map[Key]bool{}
	for _, f := range p.Findings {
		if f.Kind == KindConflict {
			conflicted[f.Key] = true
		}
	}
	for _, c := range p.Changes {
		if conflicted[c.Key] {
			t.Fatalf("plan touches conflicted %s", c.Key)
		}
		if opts.Policy != Sync && c.Op == OpDelete {
			t.Fatalf("policy %s deletes %s", opts.Policy, c.Key)
		}
		if opts.Policy == UpdateOnly && c.Op == OpCreate {
			t.Fatalf("policy update-only creates %s", c.Key)
		}
		if c.Op == OpDelete && want[c.Key] {
			t.Fatalf("deletes desired %s", c.Key)
		}
		if c.Op == OpDelete && c.Old.DataSourceCount > 0 && !opts.DeleteWithDataSources {
			t.Fatalf("deletes %s with data sources", c.Key)
		}
		if c.Op != OpDelete && !want[c.Key] {
			t.Fatalf("%s of undesired %s", c.Op, c.Key)
		}
	}
	// Applying the plan and planning again leaves nothing to do, except what
	// the previous pass could not do yet because a conflict blocked it.
	if p.Blocked {
		return
	}
	next := Compute(d, apply(observed, p), opts)
	for _, c := range next.Changes {
		if !conflicted[c.Key] && !p.Blocked {
			// A change the first plan could not make because the accessId it
			// needed was held by a binding the first plan deleted or updated.
			if f := findingFor(p, c.Key); f == nil || f.Kind != KindConflict {
				t.Fatalf("second plan still wants %s %s\nfirst:\n%s\nsecond:\n%s", c.Op, c.Key, p.Text(), next.Text())
			}
		}
	}
}

func findingFor(p Plan, k Key) *Finding {
	for i := range p.Findings {
		if p.Findings[i].Key == k {
			return &p.Findings[i]
		}
	}
	return nil
}

func TestComputeProperties(t *testing.T) {
	for seed := range 300 {
		r := rand.New(rand.NewPCG(uint64(seed), 1))
		d, o := randomWorld(r, 1+r.IntN(30))
		for _, pol := range []Policy{UpdateOnly, Upsert, Sync} {
			checkProperties(t, d, o, Options{Policy: pol, MaxChangeRatio: 1})
		}
	}
}

func FuzzCompute(f *testing.F) {
	f.Add(uint64(1), uint8(10), uint8(0), false)
	f.Add(uint64(99), uint8(40), uint8(2), true)
	f.Fuzz(func(t *testing.T, seed uint64, n uint8, policy uint8, force bool) {
		r := rand.New(rand.NewPCG(seed, 2))
		d, o := randomWorld(r, int(n%64)+1)
		pol := []Policy{UpdateOnly, Upsert, Sync}[policy%3]
		checkProperties(t, d, o, Options{Policy: pol, Force: force, DeleteWithDataSources: seed%2 == 0})
	})
}

func ExampleCompute() {
	desired := Desired{Bindings: []Binding{
		{Key: Key{CloudCode: "hcloud", AccountID: "0123456789"}, AccountName: "huawei-prod", AccessID: "HPUAEXAMPLE0000001"},
	}}
	observed := []Binding{
		{Key: Key{CloudCode: "hcloud", AccountID: "0123456789"}, AccountName: "huawei-old", AccessID: "HPUAEXAMPLE0000001", BindID: 7},
	}
	fmt.Print(Compute(desired, observed, Options{Policy: UpdateOnly}).Text())
	// Output:
	// ~ update hcloud/0123456789 [cn-hangzhou] (bindId 7)
	//     accountName: "huawei-old" -> "huawei-prod"
	// Plan (policy update-only): 0 to create, 1 to update, 0 to delete; 0 in sync, 0 reported.
}

func TestAwaitingKey(t *testing.T) {
	known := NewKnownKeys()
	known.Add(KnownKey{AccessID: "AK1", AccessIDMd5: MD5Hex("AK1"), Bound: true})
	// A masked listing: only the MD5 identifies it.
	known.Add(KnownKey{AccessID: "AK****05", AccessIDMd5: MD5Hex("AK5")})
	d := Desired{Bindings: []Binding{
		{Key: Key{Scope: home, CloudCode: "hcloud", AccountID: "1"}, AccountName: "a", AccessID: "AK2"}, // rotation to an unknown key
		{Key: Key{Scope: home, CloudCode: "hcloud", AccountID: "3"}, AccountName: "c", AccessID: "AK3"}, // create, unknown key
		{Key: Key{Scope: home, CloudCode: "hcloud", AccountID: "4"}, AccountName: "renamed", AccessID: "AK4"},
		{Key: Key{Scope: home, CloudCode: "hcloud", AccountID: "5"}, AccountName: "e", AccessID: "AK5"}, // create, key known by MD5
	}}
	observed := []Binding{obs(10, "hcloud", "1", "a", "AK1"), obs(11, "hcloud", "4", "d", "AK4")}
	p := Compute(d, observed, Options{Policy: Upsert, Known: known})
	changes, findings := summary(p)
	if diff := cmp.Diff([]opKey{{OpUpdate, "4"}, {OpCreate, "5"}}, changes); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"awaiting_key:1", "awaiting_key:3"}, findings); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	if p.Counts.AwaitingKey != 2 || !strings.Contains(p.Text(), "waits for AccessKey") || strings.Contains(p.Text(), "AK2\"") {
		t.Errorf("counts %+v\n%s", p.Counts, p.Text())
	}
	// Under update-only a create is not going to happen: missing, not awaiting.
	p = Compute(d, observed, Options{Policy: UpdateOnly, Known: known})
	if _, f := summary(p); !slices.Contains(f, "missing:3") || slices.Contains(f, "awaiting_key:3") {
		t.Errorf("update-only findings %v", f)
	}
	// Without a key list nothing is held back.
	p = Compute(d, observed, Options{Policy: Upsert})
	if p.Counts.AwaitingKey != 0 || len(p.Changes) != 4 {
		t.Errorf("no key list: %+v", p.Counts)
	}
	if unused := known.Unused([]string{"AK1"}); len(unused) != 1 || unused[0].AccessIDMd5 != MD5Hex("AK5") {
		t.Errorf("unused %+v", unused)
	}
}
