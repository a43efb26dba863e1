package plan

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkCompute100k plans 100,000 desired against 100,000 observed
// bindings with 1% drift. Target: ≤ 50 ms per plan.
func BenchmarkCompute100k(b *testing.B) {
	const n = 100_000
	desired := Desired{Bindings: make([]Binding, n)}
	observed := make([]Binding, n)
	for i := range n {
		k := Key{Scope: home, CloudCode: []string{"hcloud", "qcloud"}[i%2], AccountID: fmt.Sprintf("%012d", i)}
		desired.Bindings[i] = Binding{Key: k, AccountName: "account", AccessID: fmt.Sprintf("AK%016d", i)}
		observed[i] = Binding{Key: k, AccountName: "account", AccessID: fmt.Sprintf("AK%016d", i), BindID: int64(i)}
		if i%100 == 0 {
			observed[i].AccountName = "drifted"
		}
	}
	b.ReportAllocs()
	var p Plan
	start := time.Now()
	for b.Loop() {
		p = Compute(desired, observed, Options{Policy: Sync})
	}
	if got := p.Count(OpUpdate); got != n/100 {
		b.Fatalf("%d updates, want %d", got, n/100)
	}
	perOp := time.Since(start) / time.Duration(b.N)
	const target = 50 * time.Millisecond
	b.ReportMetric(float64(perOp)/float64(target), "ratio-to-50ms-target")
}
