package plan

import (
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// TestKeyIndexAgreesWithAMap checks the hand-made index, whole and split in
// 2 and 4 parts, against the plain map it replaces, on inputs made to
// collide: few account IDs shared by cloud codes and views, spaces and
// upper case that normalise away, and repeated identities.
func TestKeyIndexAgreesWithAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	spell := func(s string) string {
		switch rng.IntN(4) {
		case 0:
			return " " + s
		case 1:
			return s + "\t"
		}
		return s
	}
	randomKey := func(accounts int) Key {
		return Key{
			Scope:     Scope{RegionID: []string{"", "cn-hangzhou", "ap-southeast-1"}[rng.IntN(3)], RoleFor: int64(rng.IntN(2))},
			CloudCode: []string{"hcloud", "qcloud", "HCloud"}[rng.IntN(3)],
			AccountID: strconv.Itoa(rng.IntN(accounts)),
		}
	}
	for round := range 200 {
		accounts := 1 + rng.IntN(50)
		observed := make([]Binding, rng.IntN(300))
		for i := range observed {
			k := randomKey(accounts)
			k.AccountID = spell(k.AccountID)
			observed[i] = Binding{Key: k}
		}
		// The reference: the last index of each normalised key, and the
		// keys seen more than once.
		last := map[Key]int32{}
		wantDups := map[Key]bool{}
		for i, b := range observed {
			k := normalKey(b.Key)
			if _, ok := last[k]; ok {
				wantDups[k] = true
			}
			last[k] = int32(i)
		}
		x, dups := newSplitIndex(observed, uint(round%3))
		if len(dups) != len(wantDups) {
			t.Fatalf("round %d: %d identities seen twice, want %d", round, len(dups), len(wantDups))
		}
		for k := range wantDups {
			if !dups[k] {
				t.Fatalf("round %d: %v not reported as seen twice", round, k)
			}
		}
		for range 300 {
			k := normalKey(randomKey(accounts + 5))
			want, ok := last[k]
			if !ok {
				want = -1
			}
			if got := x.find(k); got != want {
				t.Fatalf("round %d: find(%v) = %d, want %d", round, k, got, want)
			}
		}
	}
}

// TestSplitPlansAreTheSame: a plan computed in two or four parts is the plan
// computed whole, on large random worlds with every kind of finding.
func TestSplitPlansAreTheSame(t *testing.T) {
	for seed := range 6 {
		r := rand.New(rand.NewPCG(uint64(seed), 7))
		d, o := randomWorld(r, 3000)
		// Repeated desired identities, and spellings that normalise away.
		for i := 0; i < len(d.Bindings); i += 20 {
			dup := d.Bindings[i]
			dup.AccountName = "again"
			d.Bindings = append(d.Bindings, dup)
		}
		for i := 0; i < len(o); i += 7 {
			o[i].AccountID, o[i].CloudCode = " "+o[i].AccountID, strings.ToUpper(o[i].CloudCode)
		}
		for _, pol := range []Policy{UpdateOnly, Upsert, Sync} {
			opts := Options{Policy: pol, MaxChangeRatio: 1}
			whole := compute(d, o, opts, 0)
			for _, bits := range []uint{1, 2} {
				if split := compute(d, o, opts, bits); !reflect.DeepEqual(split, whole) {
					t.Fatalf("seed %d, %s, %d parts: the plan differs from the plan made whole", seed, pol, 1<<bits)
				}
			}
		}
	}
}
