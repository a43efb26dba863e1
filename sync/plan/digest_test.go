package plan

import "testing"

func TestDigest(t *testing.T) {
	desired := Desired{Bindings: []Binding{b("hcloud", "1", "new", "AK1")}, Source: "file-1"}
	observed := []Binding{obs(10, "hcloud", "1", "old", "AK1"), obs(11, "hcloud", "9", "x", "AK9")}
	opts := Options{Policy: UpdateOnly}
	base := Digest(desired.Source, opts, Compute(desired, observed, opts))
	if again := Digest(desired.Source, opts, Compute(desired, observed, opts)); again != base {
		t.Fatal("Digest is not deterministic")
	}
	tests := []struct {
		name     string
		source   string
		opts     Options
		observed []Binding
		same     bool
	}{
		{name: "file changed", source: "file-2", opts: opts, observed: observed},
		{name: "policy changed", source: "file-1", opts: Options{Policy: Upsert}, observed: observed},
		{name: "force changed", source: "file-1", opts: Options{Policy: UpdateOnly, Force: true}, observed: observed},
		{name: "touched binding changed on the server", source: "file-1", opts: opts, observed: []Binding{obs(10, "hcloud", "1", "other", "AK1"), obs(11, "hcloud", "9", "x", "AK9")}},
		{name: "touched binding rebound (new BindId)", source: "file-1", opts: opts, observed: []Binding{obs(12, "hcloud", "1", "old", "AK1"), obs(11, "hcloud", "9", "x", "AK9")}},
		{name: "untouched binding changed", source: "file-1", opts: opts, observed: []Binding{obs(10, "hcloud", "1", "old", "AK1"), obs(11, "hcloud", "9", "y", "AK9")}, same: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Digest(tt.source, tt.opts, Compute(Desired{Bindings: desired.Bindings, Source: tt.source}, tt.observed, tt.opts))
			if (got == base) != tt.same {
				t.Errorf("digest equal = %v, want %v", got == base, tt.same)
			}
		})
	}
}
