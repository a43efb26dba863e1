package reconcile

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/bindsync/bindsync/cloudsiem"
	"github.com/bindsync/bindsync/cloudsiem/emulator"
	"github.com/bindsync/bindsync/metrics"
	"github.com/bindsync/bindsync/sync/plan"
	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkConverge converges N drifted bindings against the emulator over
// loopback HTTP, with a quota the emulator does not tell bindsync and a
// latency per call. The physical limit is N ÷ quota; each case prints the
// time, its ratio to that limit, the ratio to the case's target and the
// throttled share. Targets (issue 13): with default flags, ≤ 1.3 × the limit
// and ≤ 3% throttled, at quota 100 and at quota 20; with the quota known
// (--qps equal to it), ≤ 1.05 × and no throttled answer, at 30 ms and at
// 200 ms latency; with --qps 10 × the quota, every change applied in ≤ 1.3 ×.
func BenchmarkConverge(b *testing.B) {
	for _, tt := range []struct {
		name         string
		n, quota     int
		latency      time.Duration
		lim          LimiterConfig
		targetRatio  float64
		maxThrottled float64
	}{
		// No target: the comparison with BenchmarkNaiveSDKLoop.
		{name: "defaults/n=100/quota=100", n: 100, quota: 100, latency: 30 * time.Millisecond},
		{name: "defaults/quota=100", n: 1000, quota: 100, latency: 30 * time.Millisecond, targetRatio: 1.3, maxThrottled: 0.03},
		{name: "defaults/quota=20", n: 1000, quota: 20, latency: 30 * time.Millisecond, targetRatio: 1.3, maxThrottled: 0.03},
		{name: "qps=quota/quota=100", n: 1000, quota: 100, latency: 30 * time.Millisecond, lim: LimiterConfig{QPS: 100}, targetRatio: 1.05},
		{name: "qps=quota/quota=100/latency=200ms", n: 1000, quota: 100, latency: 200 * time.Millisecond, lim: LimiterConfig{QPS: 100}, targetRatio: 1.05},
		{name: "qps=10xquota/quota=100", n: 1000, quota: 100, latency: 30 * time.Millisecond, lim: LimiterConfig{QPS: 1000}, targetRatio: 1.3, maxThrottled: 1},
		{name: "qps=10xquota/quota=20", n: 400, quota: 20, latency: 30 * time.Millisecond, lim: LimiterConfig{QPS: 200}, targetRatio: 1.3, maxThrottled: 1},
	} {
		b.Run(tt.name, func(b *testing.B) {
			var elapsed time.Duration
			var throttled, calls int
			for range b.N {
				e, t, c := convergeOnce(b, tt.n, tt.quota, tt.latency, tt.lim)
				elapsed += e
				throttled += t
				calls += c
			}
			seconds := elapsed.Seconds() / float64(b.N)
			limit := float64(tt.n) / float64(tt.quota)
			share := float64(throttled) / float64(calls)
			b.ReportMetric(seconds, "s/converge")
			b.ReportMetric(seconds/limit, "x-limit")
			if tt.targetRatio > 0 {
				b.ReportMetric(seconds/limit/tt.targetRatio, "ratio-to-target")
			}
			b.ReportMetric(100*share, "%throttled")
			switch {
			case tt.targetRatio == 0:
			case tt.maxThrottled == 0 && throttled > 0:
				b.Errorf("%d throttled answers, want none", throttled)
			case tt.maxThrottled > 0 && tt.maxThrottled < 1:
				b.ReportMetric(share/tt.maxThrottled, "throttled-ratio-to-target")
			}
		})
	}
}

func convergeOnce(b *testing.B, n, quota int, latency time.Duration, lc LimiterConfig) (elapsed time.Duration, throttled, calls int) {
	emu := emulator.New(emulator.Config{Credentials: []cloudsiem.Credential{cred}, QuotaPerSecond: quota, Faults: emulator.Faults{Latency: latency}})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	var desired plan.Desired
	for i := range n {
		ak := fmt.Sprintf("HPUA%010d", i)
		emu.Seed(seed("hcloud", fmt.Sprint(i), "old", ak))
		desired.Bindings = append(desired.Bindings, want("hcloud", fmt.Sprint(i), "new", ak))
	}
	m := metrics.New(prometheus.NewRegistry())
	lim := NewAdaptiveLimiter(lc, LimiterHooks{})
	client, err := cloudsiem.New(cloudsiem.Config{Endpoint: srv.URL, Credentials: cloudsiem.StaticCredentials(cred), Limiter: lim, Observe: lim.Observe})
	if err != nil {
		b.Fatal(err)
	}
	// Default concurrency (0: as many in flight as the rate and the latency need).
	rec := New(Config{API: client, Metrics: m, Plan: plan.Options{Force: true}})
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

// BenchmarkNaiveSDKLoop is the comparison a user makes: a loop of one
// official-SDK call per change (darabonba-openapi, sequential, as a shell
// loop over `aliyun` would be), 100 updates against the same emulator
// (quota 100, 30 ms latency). Compare with BenchmarkConverge/defaults/n=100.
func BenchmarkNaiveSDKLoop(b *testing.B) {
	const n = 100
	for range b.N {
		emu := emulator.New(emulator.Config{Credentials: []cloudsiem.Credential{cred}, QuotaPerSecond: 100, Faults: emulator.Faults{Latency: 30 * time.Millisecond}})
		srv := httptest.NewServer(emu)
		for i := range n {
			emu.Seed(emulator.Binding{BoundAccount: cloudsiem.BoundAccount{BindID: int64(1000 + i), CloudCode: "hcloud", AccountID: fmt.Sprint(i), AccountName: "old", AccessID: fmt.Sprintf("HPUA%010d", i)}})
		}
		u, _ := url.Parse(srv.URL)
		c, err := openapi.NewClient(&openapi.Config{AccessKeyId: dara.String(cred.AccessKeyID), AccessKeySecret: dara.String(cred.AccessKeySecret), Endpoint: dara.String(u.Host), Protocol: dara.String("HTTP")})
		if err != nil {
			b.Fatal(err)
		}
		params := &openapi.Params{Action: dara.String("ModifyBindAccount"), Version: dara.String(cloudsiem.APIVersion), Protocol: dara.String("HTTP"),
			Pathname: dara.String("/"), Method: dara.String("POST"), AuthType: dara.String("AK"), Style: dara.String("RPC"),
			ReqBodyType: dara.String("formData"), BodyType: dara.String("json")}
		start := time.Now()
		for i := range n {
			body := map[string]any{"BindId": 1000 + i, "CloudCode": "hcloud", "AccountId": fmt.Sprint(i), "AccountName": "new"}
			if _, err := c.CallApi(params, &openapi.OpenApiRequest{Body: body}, &dara.RuntimeOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(time.Since(start).Seconds(), "s/100-updates")
		srv.Close()
	}
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
