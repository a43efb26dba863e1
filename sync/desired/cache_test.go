package desired

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestCacheFollowsEdits: after each kind of edit, a cached reload reads
// exactly what a fresh parse reads, and parses only the entries the edit
// touched. (The comment after the list is part of the last entry's text,
// so an edit that changes which entry is last parses that one too.)
func TestCacheFollowsEdits(t *testing.T) {
	entry := func(i int, name string) string {
		return fmt.Sprintf("  - cloudCode: hcloud\n    accountId: \"%d\"\n    accountName: %s\n    accessId: HPUA%016d\n", 1000+i, name, i)
	}
	file := func(entries []string) []byte {
		return []byte("version: 1\nbindings:\n" + strings.Join(entries, "") + "# end\n")
	}
	var base []string
	for i := range 50 {
		base = append(base, entry(i, fmt.Sprintf("n%d", i)))
	}
	edited := func(f func(e []string) []string) []string { return f(slices.Clone(base)) }
	for _, tt := range []struct {
		name    string
		entries []string
		parsed  int
	}{
		{"unchanged", base, 0},
		{"one edited", edited(func(e []string) []string { e[20] = entry(20, "renamed"); return e }), 1},
		{"first and last edited", edited(func(e []string) []string { e[0], e[49] = entry(0, "a"), entry(49, "b"); return e }), 2},
		{"one inserted", edited(func(e []string) []string { return slices.Insert(e, 10, entry(99, "new")) }), 1},
		{"one inserted at the end", append(slices.Clone(base), entry(99, "new")), 2},
		{"one removed", edited(func(e []string) []string { return slices.Delete(e, 10, 11) }), 0},
		{"three removed", edited(func(e []string) []string { return slices.Delete(e, 10, 13) }), 0},
		{"block moved", edited(func(e []string) []string { return append(e[25:], e[:25]...) }), 2},
		{"reversed", edited(func(e []string) []string { slices.Reverse(e); return e }), 2},
		{"edited and inserted apart", edited(func(e []string) []string { e[5] = entry(5, "x"); return slices.Insert(e, 30, entry(98, "y")) }), 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var cache EntryCache
			if _, err := ParseCached("f.yaml", file(base), &cache); err != nil {
				t.Fatal(err)
			}
			got, err := ParseCached("f.yaml", file(tt.entries), &cache)
			if err != nil {
				t.Fatal(err)
			}
			want, err := Parse("f.yaml", file(tt.entries))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("cached reload differs from a fresh parse")
			}
			if cache.parsed != tt.parsed {
				t.Errorf("parsed %d entries, want %d", cache.parsed, tt.parsed)
			}
			// And the cache it left serves the next load as well.
			if _, err := ParseCached("f.yaml", file(tt.entries), &cache); err != nil || cache.parsed != 0 {
				t.Errorf("reloading the same file parsed %d entries (%v)", cache.parsed, err)
			}
		})
	}
}
