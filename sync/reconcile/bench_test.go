package reconcile

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/bindsync/bindsync/cloudsiem"
	"github.com/bindsync/bindsync/cloudsiem/emulator"
	"github.com/bindsync/bindsync/metrics"
	"github.com/bindsync/bindsync/sync/plan"
	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkConverge500 converges 500 drifted bindings against the emulator
// over loopback HTTP with a quota of 100 requests/s and 30 ms latency. The
// quota alone makes 500 updates take 5 s. Targets: at --qps 100, ≤ 1.05 × 5 s
// and no throttled answer; at --qps 200, ≤ 1.3 × 5 s with throttled answers
// ≤ 5% of calls.
func BenchmarkConverge500(b *testing.B) {
	for _, tt := range []struct {
		qps          float64
		targetRatio  float64
		maxThrottled float64
	}{
		{qps: 100, targetRatio: 1.05, maxThrottled: 0},
		{qps: 200, targetRatio: 1.3, maxThrottled: 0.05},
	} {
		b.Run(fmt.Sprintf("qps=%v", tt.qps), func(b *testing.B) {
			var elapsed time.Duration
			var throttled, calls int
			for range b.N {
				e, t, c := convergeOnce(b, tt.qps)
				elapsed += e
				throttled += t
				calls += c
			}
			seconds := elapsed.Seconds() / float64(b.N)
			share := float64(throttled) / float64(calls)
			b.ReportMetric(seconds, "s/converge")
			b.ReportMetric(seconds/5/tt.targetRatio, "ratio-to-target")
			b.ReportMetric(100*share, "%throttled")
			if tt.maxThrottled > 0 {
				b.ReportMetric(share/tt.maxThrottled, "throttled-ratio-to-target")
			} else if throttled > 0 {
				b.Errorf("%d throttled answers, want none", throttled)
			}
		})
	}
}

func convergeOnce(b *testing.B, qps float64) (elapsed time.Duration, throttled, calls int) {
	const n = 500
	emu := emulator.New(emulator.Config{Credentials: []cloudsiem.Credential{cred}, QuotaPerSecond: 100, Faults: emulator.Faults{Latency: 30 * time.Millisecond}})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	var desired plan.Desired
	for i := range n {
		ak := fmt.Sprintf("HPUA%010d", i)
		emu.Seed(seed("hcloud", fmt.Sprint(i), "old", ak))
		desired.Bindings = append(desired.Bindings, want("hcloud", fmt.Sprint(i), "new", ak))
	}
	m := metrics.New(prometheus.NewRegistry())
	lim := NewAdaptiveLimiter(qps, 10, LimiterHooks{})
	client, err := cloudsiem.New(cloudsiem.Config{Endpoint: srv.URL, Credentials: cloudsiem.StaticCredentials(cred), Limiter: lim, Observe: lim.Observe})
	if err != nil {
		b.Fatal(err)
	}
	rec := New(Config{API: client, Metrics: m, Concurrency: 16, Plan: plan.Options{Force: true}})
	// The quota bucket starts full, as a real service's does after idling.
	start := time.Now()
	res, err := rec.RunOnce(context.Background(), desired)
	elapsed = time.Since(start)
	if err != nil || res.Count(plan.OpUpdate, Applied) != n {
		b.Fatalf("not converged: %v (%d applied)", err, res.Count(plan.OpUpdate, Applied))
	}
	for _, outcomes := range emu.Counts() {
		for o, c := range outcomes {
			calls += c
			if o == "Throttling.User" {
				throttled += c
			}
		}
	}
	return elapsed, throttled, calls
}

// BenchmarkPass10k is one in-sync pass over 10,000 bindings with the real
// client against an emulator over loopback in the same process (so the
// emulator's own encoding is included): the figure to profile when the
// daemon's resync cost grows.
func BenchmarkPass10k(b *testing.B) {
	emu := emulator.New(emulator.Config{Credentials: []cloudsiem.Credential{cred}})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	var d plan.Desired
	for i := range 10000 {
		code := []string{"hcloud", "qcloud"}[i%2]
		a, ak := fmt.Sprintf("%012d", i), fmt.Sprintf("AKEXAMPLE%09d", i)
		emu.Seed(seed(code, a, "account-"+a, ak))
		d.Bindings = append(d.Bindings, want(code, a, "account-"+a, ak))
	}
	c, err := cloudsiem.New(cloudsiem.Config{Endpoint: srv.URL, Credentials: cloudsiem.StaticCredentials(cred)})
	if err != nil {
		b.Fatal(err)
	}
	r := New(Config{API: c, Metrics: metrics.New(prometheus.NewRegistry())})
	for b.Loop() {
		if _, err := r.RunOnce(context.Background(), d); err != nil {
			b.Fatal(err)
		}
	}
}
