package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bindsync/bindsync/cloudsiem"
	"github.com/bindsync/bindsync/cloudsiem/emulator"
	"github.com/bindsync/bindsync/metrics"
	"github.com/bindsync/bindsync/sync/plan"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/time/rate"
)

var cred = cloudsiem.Credential{AccessKeyID: "LTAIreconcile", AccessKeySecret: "reconcile-secret"}

type env struct {
	emu *emulator.Emulator
	lim *AdaptiveLimiter
	m   *metrics.Metrics
	rec *Reconciler
}

type envOpts struct {
	emu     emulator.Config
	qps     float64
	burst   int
	cfg     Config
	retries cloudsiem.RetryPolicy
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	o.emu.Credentials = []cloudsiem.Credential{cred}
	e := &env{emu: emulator.New(o.emu), m: metrics.New(prometheus.NewRegistry())}
	if o.qps == 0 {
		o.qps = 1000
	}
	if o.burst == 0 {
		o.burst = 10
	}
	e.lim = NewAdaptiveLimiter(LimiterConfig{QPS: o.qps, Burst: o.burst}, LimiterHooks{})
	if o.retries.BaseDelay == 0 {
		o.retries.BaseDelay = time.Millisecond
	}
	client, err := cloudsiem.New(cloudsiem.Config{
		Endpoint:    "http://127.0.0.1:1",
		Credentials: cloudsiem.StaticCredentials(cred),
		HTTPClient:  &http.Client{Transport: e.emu.Transport()},
		Limiter:     e.lim,
		Observe:     e.lim.Observe,
		Retry:       o.retries,
	})
	if err != nil {
		t.Fatal(err)
	}
	o.cfg.API, o.cfg.Metrics = client, e.m
	if o.cfg.Concurrency == 0 {
		o.cfg.Concurrency = 4
	}
	e.rec = New(o.cfg)
	return e
}

var home = plan.Scope{RegionID: "cn-hangzhou"}

func want(cloud, account, name, ak string) plan.Binding {
	return plan.Binding{Key: plan.Key{Scope: home, CloudCode: cloud, AccountID: account}, AccountName: name, AccessID: ak}
}

func seed(cloud, account, name, ak string) emulator.Binding {
	return emulator.Binding{Scope: emulator.Scope{RegionID: "cn-hangzhou"}, BoundAccount: cloudsiem.BoundAccount{CloudCode: cloud, AccountID: account, AccountName: name, AccessID: ak}}
}

// registered returns the keys of the desired bindings, to register them in
// the emulator as Security Center would before they can be bound.
func registered(d plan.Desired) []emulator.Key {
	var out []emulator.Key
	for _, b := range d.Bindings {
		out = append(out, emulator.Key{RegionID: b.RegionID, CloudCode: b.CloudCode, AccessID: b.AccessID, AccountID: b.AccountID})
	}
	return out
}

// state renders the emulator's bindings as "cloud/account=name/ak" for comparison.
func state(e *emulator.Emulator) []string {
	var out []string
	for _, b := range e.Bindings() {
		s := fmt.Sprintf("%s/%s=%s/%s", b.CloudCode, b.AccountID, b.AccountName, b.AccessID)
		if b.RoleFor != 0 {
			s += fmt.Sprintf("@%d", b.RoleFor)
		}
		out = append(out, s)
	}
	return out
}

func mutations(e *emulator.Emulator) int {
	n := 0
	for _, r := range e.Requests() {
		if r.Mutating() {
			n++
		}
	}
	return n
}

func TestPolicies(t *testing.T) {
	desired := plan.Desired{Bindings: []plan.Binding{
		want("hcloud", "1", "prod", "HPUA0000000001"),
		want("qcloud", "2", "logs", "AKID0000000002"),
		want("qcloud", "3", "new", "AKID0000000003"),
	}}
	seeds := func(e *emulator.Emulator) {
		e.Seed(seed("hcloud", "1", "old-name", "HPUA0000000001"), seed("qcloud", "2", "logs", "AKID00000OLD02"), seed("hcloud", "9", "stray", "HPUA0000000009"))
		b := seed("hcloud", "8", "with-sources", "HPUA0000000008")
		b.DataSourceCount = 2
		e.Seed(b)
		e.Register(registered(desired)...)
	}
	tests := []struct {
		policy plan.Policy
		want   []string
	}{
		{policy: plan.UpdateOnly, want: []string{"hcloud/1=prod/HPUA0000000001", "hcloud/8=with-sources/HPUA0000000008", "hcloud/9=stray/HPUA0000000009", "qcloud/2=logs/AKID0000000002"}},
		{policy: plan.Upsert, want: []string{"hcloud/1=prod/HPUA0000000001", "hcloud/8=with-sources/HPUA0000000008", "hcloud/9=stray/HPUA0000000009", "qcloud/2=logs/AKID0000000002", "qcloud/3=new/AKID0000000003"}},
		{policy: plan.Sync, want: []string{"hcloud/1=prod/HPUA0000000001", "hcloud/8=with-sources/HPUA0000000008", "qcloud/2=logs/AKID0000000002", "qcloud/3=new/AKID0000000003"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.policy), func(t *testing.T) {
			e := newEnv(t, envOpts{cfg: Config{Plan: plan.Options{Policy: tt.policy}}})
			seeds(e.emu)
			res, err := e.rec.RunOnce(t.Context(), desired)
			if err != nil {
				t.Fatalf("RunOnce: %v", err)
			}
			if diff := cmp.Diff(tt.want, state(e.emu)); diff != "" {
				t.Errorf("state (-want +got):\n%s", diff)
			}
			// A second pass finds nothing to do.
			e.emu.ResetLog()
			res, err = e.rec.RunOnce(t.Context(), desired)
			if err != nil || len(res.Plan.Changes) != 0 || mutations(e.emu) != 0 {
				t.Errorf("second pass: err %v, plan:\n%s", err, res.Plan.Text())
			}
			if got := testutil.ToFloat64(e.m.ReconcileRuns.WithLabelValues("success")); got != 2 {
				t.Errorf("success runs = %v, want 2", got)
			}
		})
	}
}

func TestSafetyGateBlocksEverything(t *testing.T) {
	e := newEnv(t, envOpts{cfg: Config{Plan: plan.Options{Policy: plan.Sync}}})
	var desired plan.Desired
	for i := range 10 {
		e.emu.Seed(seed("hcloud", fmt.Sprint(i), "n", fmt.Sprintf("HPUA00000000%02d", i)))
		if i >= 5 { // five of ten would be deleted: over 30%
			continue
		}
		desired.Bindings = append(desired.Bindings, want("hcloud", fmt.Sprint(i), "n", fmt.Sprintf("HPUA00000000%02d", i)))
	}
	res, err := e.rec.RunOnce(t.Context(), desired)
	if err != nil || !res.Blocked {
		t.Fatalf("err %v blocked %v", err, res.Blocked)
	}
	if mutations(e.emu) != 0 || len(e.emu.Bindings()) != 10 {
		t.Errorf("a blocked plan changed something: %v", e.emu.Counts())
	}
	if testutil.ToFloat64(e.m.SafetyGateBlock) != 1 || testutil.ToFloat64(e.m.ReconcileRuns.WithLabelValues("blocked")) != 1 {
		t.Error("gate metrics not set")
	}
	forced := newEnv(t, envOpts{cfg: Config{Plan: plan.Options{Policy: plan.Sync, Force: true}}})
	forced.emu.Seed(e.emu.Bindings()...)
	if _, err := forced.rec.RunOnce(t.Context(), desired); err != nil || len(forced.emu.Bindings()) != 5 {
		t.Errorf("forced: err %v, %d bindings left", err, len(forced.emu.Bindings()))
	}
}

func TestDryRunSendsNoMutation(t *testing.T) {
	e := newEnv(t, envOpts{cfg: Config{Plan: plan.Options{Policy: plan.Sync}, DryRun: true}})
	e.emu.Seed(seed("hcloud", "1", "old", "HPUA0000000001"), seed("hcloud", "9", "stray", "HPUA0000000009"))
	e.emu.Register(emulator.Key{CloudCode: "qcloud", AccessID: "AKID0000000002", AccountID: "2"})
	before := state(e.emu)
	res, err := e.rec.RunOnce(t.Context(), plan.Desired{Bindings: []plan.Binding{want("hcloud", "1", "new", "HPUA0000000001"), want("qcloud", "2", "x", "AKID0000000002")}})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Count(plan.OpUpdate, DryRun) + res.Count(plan.OpCreate, DryRun) + res.Count(plan.OpDelete, DryRun); got != 3 {
		t.Errorf("%d dry-run changes, want 3", got)
	}
	if n := mutations(e.emu); n != 0 {
		t.Errorf("dry-run sent %d mutating requests", n)
	}
	if lists := e.emu.Counts()[cloudsiem.ActionListBindAccount]["ok"]; lists != 2 {
		t.Errorf("dry-run listed %d times, want 2 (it lists for real)", lists)
	}
	if diff := cmp.Diff(before, state(e.emu)); diff != "" {
		t.Errorf("state changed:\n%s", diff)
	}
	if testutil.ToFloat64(e.m.PendingChanges.WithLabelValues("update")) != 1 {
		t.Error("dry-run should leave the update pending")
	}
}

func TestCountZeroIsReportedAsFailure(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.emu.Seed(seed("hcloud", "1", "old", "HPUA0000000001"), seed("hcloud", "2", "old", "HPUA0000000002"))
	e.emu.SetFaults(emulator.Faults{CountZero: map[int64]bool{1000: true}})
	res, err := e.rec.RunOnce(t.Context(), plan.Desired{Bindings: []plan.Binding{want("hcloud", "1", "new", "HPUA0000000001"), want("hcloud", "2", "new", "HPUA0000000002")}})
	if !errors.Is(err, cloudsiem.ErrNotApplied) {
		t.Fatalf("err = %v, want ErrNotApplied", err)
	}
	f := res.Failures()
	if len(f) != 1 || f[0].Class != "client_error" || f[0].Change.Key.AccountID != "1" || f[0].RequestID == "" {
		t.Errorf("failures = %+v", f)
	}
	if res.Count(plan.OpUpdate, Applied) != 1 {
		t.Error("the other change must still be applied")
	}
	if testutil.ToFloat64(e.m.ChangesApplied.WithLabelValues("update", "failure")) != 1 || testutil.ToFloat64(e.m.ConsecutiveFailures) != 1 {
		t.Error("failure metrics not set")
	}
}

func TestStormsConverge(t *testing.T) {
	desired := plan.Desired{}
	for i := range 40 {
		desired.Bindings = append(desired.Bindings, want("hcloud", fmt.Sprint(i), "new", fmt.Sprintf("HPUA00000000%02d", i)))
	}
	tests := []struct {
		name   string
		faults emulator.Faults
		quota  int
		qps    float64
	}{
		{name: "throttling", quota: 20, qps: 200},
		{name: "5xx", faults: emulator.Faults{InternalError: 0.3, Unavailable: 0.1}},
		{name: "dropped connections", faults: emulator.Faults{Drop: 0.2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, envOpts{emu: emulator.Config{QuotaPerSecond: tt.quota, Faults: tt.faults, Seed: 3}, qps: tt.qps,
					cfg: Config{Backoff: Backoff{Base: time.Second, Max: 2 * time.Second}, Plan: plan.Options{Force: true}}})
				for _, b := range desired.Bindings {
					e.emu.Seed(seed("hcloud", b.AccountID, "old", b.AccessID))
				}
				ctx := context.Background()
				deadline := time.Now().Add(time.Minute)
				for pass := 1; ; pass++ {
					_, err := e.rec.RunOnce(ctx, desired)
					if err == nil {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("not converged after %d passes: %v", pass, err)
					}
					time.Sleep(time.Second) // fake time: the loop's retry delay
				}
				for _, b := range e.emu.Bindings() {
					if b.AccountName != "new" {
						t.Fatalf("binding %s not converged", b.AccountID)
					}
				}
				if tt.quota > 0 && e.lim.Rate() >= tt.qps {
					t.Errorf("limiter stayed at %v qps under throttling", e.lim.Rate())
				}
			})
		})
	}
}

func TestFailingBindingBacksOffWithoutBlockingOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOpts{cfg: Config{Backoff: Backoff{Base: 10 * time.Second, Max: time.Minute}}})
		e.emu.Seed(seed("hcloud", "1", "old", "HPUA0000000001"), seed("hcloud", "2", "old", "HPUA0000000002"))
		e.emu.SetFaults(emulator.Faults{CountZero: map[int64]bool{1000: true}})
		desired := plan.Desired{Bindings: []plan.Binding{want("hcloud", "1", "new", "HPUA0000000001"), want("hcloud", "2", "new", "HPUA0000000002")}}
		ctx := context.Background()
		if _, err := e.rec.RunOnce(ctx, desired); err == nil {
			t.Fatal("first pass should fail for binding 1")
		}
		e.emu.ResetLog()
		res, err := e.rec.RunOnce(ctx, desired)
		if err == nil || res.Changes[0].Outcome != Deferred || mutations(e.emu) != 0 {
			t.Fatalf("second pass right away: err %v, results %+v, %d mutations", err, res.Changes, mutations(e.emu))
		}
		if testutil.ToFloat64(e.m.InBackoff) != 1 {
			t.Error("bindings_in_backoff != 1")
		}
		// A new desired value for the binding starts a fresh schedule.
		desired.Bindings[0].AccountName = "newer"
		if res, _ := e.rec.RunOnce(ctx, desired); res.Changes[0].Outcome != Failed {
			t.Errorf("changed desired value: outcome %v, want an immediate attempt", res.Changes[0].Outcome)
		}
		e.emu.SetFaults(emulator.Faults{})
		time.Sleep(11 * time.Second) // beyond the first backoff (at most Base)
		if _, err := e.rec.RunOnce(ctx, desired); err != nil {
			t.Fatalf("after the backoff: %v", err)
		}
		if testutil.ToFloat64(e.m.InBackoff) != 0 {
			t.Error("bindings_in_backoff not cleared")
		}
	})
}

func TestLimiterPacesCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOpts{qps: 1, burst: 1, cfg: Config{Concurrency: 8}})
		var desired plan.Desired
		for i := range 5 {
			e.emu.Seed(seed("hcloud", fmt.Sprint(i), "old", fmt.Sprintf("HPUA00000000%02d", i)))
			desired.Bindings = append(desired.Bindings, want("hcloud", fmt.Sprint(i), "new", fmt.Sprintf("HPUA00000000%02d", i)))
		}
		start := time.Now()
		if _, err := e.rec.RunOnce(context.Background(), desired); err != nil {
			t.Fatal(err)
		}
		// 2 binding lists and 5 updates (of names: no key list) at 1/s
		// with a burst of 1: the first is free.
		if got := time.Since(start); got != 6*time.Second {
			t.Errorf("pass took %v of fake time, want 6s", got)
		}
	})
}

func TestCancelMidApplyReturnsPromptly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOpts{qps: 1, burst: 1, cfg: Config{Plan: plan.Options{Force: true}}})
		var desired plan.Desired
		for i := range 20 {
			e.emu.Seed(seed("hcloud", fmt.Sprint(i), "old", fmt.Sprintf("HPUA00000000%02d", i)))
			desired.Bindings = append(desired.Bindings, want("hcloud", fmt.Sprint(i), "new", fmt.Sprintf("HPUA00000000%02d", i)))
		}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(4500*time.Millisecond, cancel)
		start := time.Now()
		res, err := e.rec.RunOnce(ctx, desired)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("returned after %v, want right after the cancel at 4.5s", d)
		}
		applied := res.Count(plan.OpUpdate, Applied)
		if applied == 0 || applied == 20 || res.Count(plan.OpUpdate, Failed) != 0 {
			t.Errorf("applied %d, failed %d: want some applied, none failed, rest cancelled", applied, res.Count(plan.OpUpdate, Failed))
		}
		if got := mutations(e.emu); got != applied {
			t.Errorf("%d mutations reached the server, %d reported applied: a call was cut", got, applied)
		}
	})
}

// TestAdaptiveLimiter drives the limiter against a simulated quota in fake
// time: it slow-starts, finds the quota, settles just below it, keeps the
// rate while idle, and with a known quota never exceeds it.
func TestAdaptiveLimiter(t *testing.T) {
	// simulate runs busy callers against a quota for d and returns the
	// answers granted and throttled.
	simulate := func(l *AdaptiveLimiter, quota float64, d time.Duration) (granted, throttled int) {
		bucket := rate.NewLimiter(rate.Limit(quota), int(quota))
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range 32 {
			wg.Go(func() {
				for l.Wait(ctx) == nil {
					a := cloudsiem.Attempt{Duration: 30 * time.Millisecond} // the API's latency
					if !bucket.Allow() {
						a.Class = cloudsiem.ClassThrottled
					}
					time.Sleep(a.Duration)
					l.Observe(a)
					mu.Lock()
					if a.Class == 0 {
						granted++
					} else {
						throttled++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		return granted, throttled
	}
	t.Run("discovers the quota", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var rates []float64
			l := NewAdaptiveLimiter(LimiterConfig{}, LimiterHooks{Rate: func(q float64) { rates = append(rates, q) }})
			if l.Rate() != DefaultQPSStart {
				t.Fatalf("starts at %v, want %v", l.Rate(), DefaultQPSStart)
			}
			granted, throttled := simulate(l, 100, 20*time.Second)
			// 20 s at a quota of 100: at most 2,100 (the bucket starts full).
			if granted < 1700 {
				t.Errorf("%d granted in 20 s at quota 100: the limiter does not use the quota", granted)
			}
			if share := float64(throttled) / float64(granted+throttled); share > 0.03 {
				t.Errorf("%.1f%% throttled, want at most 3%%", 100*share)
			}
			// A snapshot: the rate saws between a cut (at least half) and just
			// above the quota; the granted count above is the average.
			if r := l.Rate(); r < 45 || r > 115 {
				t.Errorf("settled at %v, want around the quota of 100", r)
			}
			// Idle for a minute: the rate is kept for the next pass.
			settled := l.Rate()
			time.Sleep(time.Minute)
			_ = l.Wait(context.Background())
			if l.Rate() != settled {
				t.Errorf("idle changed the rate from %v to %v", settled, l.Rate())
			}
			if len(rates) < 5 || rates[0] != DefaultQPSStart {
				t.Errorf("rate hook saw %v", rates)
			}
		})
	})
	t.Run("caps the discovered rate", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := NewAdaptiveLimiter(LimiterConfig{Max: 40}, LimiterHooks{})
			if _, throttled := simulate(l, 1000, 10*time.Second); throttled != 0 || l.Rate() != 40 {
				t.Errorf("rate %v, %d throttled; want the cap of 40 and none", l.Rate(), throttled)
			}
		})
	})
	t.Run("a known quota is never exceeded", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := NewAdaptiveLimiter(LimiterConfig{QPS: 50}, LimiterHooks{})
			granted, throttled := simulate(l, 50, 10*time.Second)
			if throttled != 0 || l.Rate() != 50 || granted < 480 {
				t.Errorf("rate %v, %d granted, %d throttled; want 50, about 550, none", l.Rate(), granted, throttled)
			}
		})
	})
	t.Run("a --qps far above the quota settles below the quota", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := NewAdaptiveLimiter(LimiterConfig{QPS: 200}, LimiterHooks{})
			simulate(l, 20, 10*time.Second) // find it
			granted, throttled := simulate(l, 20, 20*time.Second)
			if r := l.Rate(); r > 25 || r < 15 {
				t.Errorf("settled at %v, want near the quota of 20, not the flag's 200", r)
			}
			if share := float64(throttled) / float64(granted+throttled); share > 0.05 || granted < 340 {
				t.Errorf("%d granted, %.1f%% throttled in 20 s at quota 20", granted, 100*share)
			}
		})
	})
}

func TestRunLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOpts{})
		e.emu.Seed(seed("hcloud", "1", "old", "HPUA0000000001"))
		src := &slot{d: plan.Desired{Bindings: []plan.Binding{want("hcloud", "1", "v1", "HPUA0000000001")}}, changed: make(chan struct{}, 1)}
		kick := make(chan struct{}, 1)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- e.rec.Run(ctx, src, kick, Schedule{Resync: time.Minute}) }()

		synctest.Wait()
		if got := state(e.emu); got[0] != "hcloud/1=v1/HPUA0000000001" {
			t.Fatalf("initial pass: %v", got)
		}
		src.set(plan.Desired{Bindings: []plan.Binding{want("hcloud", "1", "v2", "HPUA0000000001")}})
		synctest.Wait()
		if got := state(e.emu); got[0] != "hcloud/1=v2/HPUA0000000001" {
			t.Fatalf("after update: %v", got)
		}
		// Drift made outside the file is repaired at the next resync.
		e.emu.Seed(seed("hcloud", "2", "x", "HPUA0000000002"))
		c, _ := cloudsiem.New(cloudsiem.Config{Endpoint: "http://127.0.0.1:1", Credentials: cloudsiem.StaticCredentials(cred), HTTPClient: &http.Client{Transport: e.emu.Transport()}})
		if _, err := c.ModifyBindAccount(ctx, cloudsiem.ModifyBindAccountRequest{BindID: 1000, CloudCode: "hcloud", AccountID: "1", AccountName: "drifted"}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Second)
		synctest.Wait()
		if got := state(e.emu); got[0] != "hcloud/1=drifted/HPUA0000000001" {
			t.Fatalf("repaired before the resync interval: %v", got)
		}
		time.Sleep(20 * time.Second)
		synctest.Wait()
		if got := state(e.emu); got[0] != "hcloud/1=v2/HPUA0000000001" {
			t.Fatalf("drift not repaired at resync: %v", got)
		}
		passes := testutil.ToFloat64(e.m.ReconcileRuns.WithLabelValues("success"))
		kick <- struct{}{}
		synctest.Wait()
		if got := testutil.ToFloat64(e.m.ReconcileRuns.WithLabelValues("success")); got != passes+1 {
			t.Errorf("kick ran %v passes, want 1", got-passes)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v", err)
		}
	})
}

// slot is a DesiredSource for tests.
type slot struct {
	mu      sync.Mutex
	d       plan.Desired
	changed chan struct{}
}

func (s *slot) Desired() plan.Desired {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.d
}

func (s *slot) Changed() <-chan struct{} { return s.changed }

func (s *slot) set(d plan.Desired) {
	s.mu.Lock()
	s.d = d
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// TestNewestStateWins: states A then B set while a pass runs; the next pass
// plans from B and no request ever carries A's values.
func TestNewestStateWins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOpts{emu: emulator.Config{Faults: emulator.Faults{Latency: time.Second}}, cfg: Config{Concurrency: 1, Plan: plan.Options{MaxChangeRatio: 1}}})
		var v0, a, b plan.Desired
		for i := range 4 {
			ak := fmt.Sprintf("HPUA000000000%d", i)
			e.emu.Seed(seed("hcloud", fmt.Sprint(i), "old", ak))
			v0.Bindings = append(v0.Bindings, want("hcloud", fmt.Sprint(i), "v0", ak))
			a.Bindings = append(a.Bindings, want("hcloud", fmt.Sprint(i), "A", ak))
			b.Bindings = append(b.Bindings, want("hcloud", fmt.Sprint(i), "B", ak))
		}
		src := &slot{d: v0, changed: make(chan struct{}, 1)}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- e.rec.Run(ctx, src, nil, Schedule{Resync: time.Hour}) }()
		time.Sleep(1500 * time.Millisecond) // inside the first pass (4 s of latency)
		src.set(a)
		src.set(b)
		time.Sleep(time.Minute)
		synctest.Wait()
		for _, r := range e.emu.Requests() {
			if r.Params["AccountName"] == "A" {
				t.Fatalf("a request carried the superseded state A: %+v", r)
			}
		}
		for _, s := range state(e.emu) {
			if !strings.Contains(s, "=B/") {
				t.Fatalf("not converged to B: %v", state(e.emu))
			}
		}
		cancel()
		<-done
	})
}

func TestNextDelay(t *testing.T) {
	s := Schedule{Resync: 5 * time.Minute, RetryBase: 5 * time.Second}
	for _, tt := range []struct {
		failures int
		u        float64
		want     time.Duration
	}{
		{0, 0.5, 5 * time.Minute},
		{0, 0, 4*time.Minute + 30*time.Second},
		{0, 1, 5*time.Minute + 30*time.Second},
		{1, 0.5, 5 * time.Second},
		{3, 0.5, 20 * time.Second},
		{20, 0.5, 5 * time.Minute},
	} {
		if got := nextDelay(s, tt.failures, tt.u); got != tt.want {
			t.Errorf("nextDelay(%d, %v) = %v, want %v", tt.failures, tt.u, got, tt.want)
		}
	}
}

// TestHostileListAnswers: whatever garbage the API answers a list with, the
// pass fails with a classified error and sends no mutating request.
func TestHostileListAnswers(t *testing.T) {
	answers := map[string]struct {
		status int
		body   string
	}{
		"malformed JSON":     {200, `{"Data": [`},
		"wrong field types":  {200, `{"Data": [{"BindId": "one", "AccountId": 7}]}`},
		"duplicated BindId":  {200, `{"Data": [{"BindId": 5, "AccountId": "1", "CloudCode": "hcloud"}, {"BindId": 5, "AccountId": "2", "CloudCode": "hcloud"}]}`},
		"missing BindId":     {200, `{"Data": [{"AccountId": "1", "CloudCode": "hcloud"}]}`},
		"BindId 0":           {200, `{"Data": [{"BindId": 0, "AccountId": "1", "CloudCode": "hcloud"}]}`},
		"missing AccountId":  {200, `{"Data": [{"BindId": 5, "CloudCode": "hcloud"}]}`},
		"HTML error page":    {502, `<html><body><h1>502 Bad Gateway</h1></body></html>`},
		"huge body":          {200, `{"Data": [], "Pad": "` + strings.Repeat("x", cloudsiem.MaxResponseBytes) + `"}`},
		"empty body":         {200, ``},
		"a JSON string only": {200, `"Data"`},
	}
	for name, a := range answers {
		t.Run(name, func(t *testing.T) {
			var mu sync.Mutex
			mutating := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !strings.HasPrefix(r.Header.Get("x-acs-action"), "List") {
					mu.Lock()
					mutating++
					mu.Unlock()
				}
				w.WriteHeader(a.status)
				_, _ = io.WriteString(w, a.body)
			}))
			t.Cleanup(srv.Close)
			client, err := cloudsiem.New(cloudsiem.Config{Endpoint: srv.URL, Credentials: cloudsiem.StaticCredentials(cred), Retry: cloudsiem.RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond}})
			if err != nil {
				t.Fatal(err)
			}
			m := metrics.New(prometheus.NewRegistry())
			rec := New(Config{API: client, Metrics: m, Plan: plan.Options{Policy: plan.Sync, Force: true}})
			_, err = rec.RunOnce(t.Context(), plan.Desired{Bindings: []plan.Binding{want("hcloud", "1", "a", "HPUA0000000001")}})
			if err == nil || cloudsiem.ClassOf(err) == 0 {
				t.Fatalf("err = %v, want a classified error", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if mutating != 0 {
				t.Errorf("%d mutating requests after a bad list answer", mutating)
			}
			if testutil.ToFloat64(m.ReconcileRuns.WithLabelValues("failure")) != 1 {
				t.Error("the pass was not counted as failed")
			}
		})
	}
}

func TestApproveBlockedPlan(t *testing.T) {
	e := newEnv(t, envOpts{cfg: Config{Plan: plan.Options{Policy: plan.Sync}}})
	var desired plan.Desired
	for i := range 10 {
		e.emu.Seed(seed("hcloud", fmt.Sprint(i), "n", fmt.Sprintf("HPUA00000000%02d", i)))
		if i < 5 {
			desired.Bindings = append(desired.Bindings, want("hcloud", fmt.Sprint(i), "n", fmt.Sprintf("HPUA00000000%02d", i)))
		}
	}
	desired.Source = "file-v1"
	ctx := t.Context()
	if err := e.rec.Approve("anything"); !errors.Is(err, ErrNoSuchPlan) {
		t.Fatalf("approve with nothing blocked: %v", err)
	}
	res, _ := e.rec.RunOnce(ctx, desired)
	last, ok := e.rec.LastPlan()
	if !res.Blocked || !ok || !last.Plan.Blocked || last.Digest != res.Digest {
		t.Fatalf("blocked %v, last %+v", res.Blocked, last)
	}
	if err := e.rec.Approve("0000"); !errors.Is(err, ErrNoSuchPlan) {
		t.Errorf("approving another hash: %v", err)
	}

	// A change to a touched binding after the approval voids it.
	if err := e.rec.Approve(res.Digest); err != nil {
		t.Fatal(err)
	}
	e.emu.Seed(emulator.Binding{Scope: emulator.Scope{RegionID: "cn-hangzhou"}, BoundAccount: cloudsiem.BoundAccount{BindID: 1009, CloudCode: "hcloud", AccountID: "9", AccountName: "renamed", AccessID: "HPUA0000000009"}})
	res2, _ := e.rec.RunOnce(ctx, desired)
	if !res2.Blocked || mutations(e.emu) != 0 || res2.Digest == res.Digest {
		t.Fatalf("a changed plan ran on an old approval: blocked %v, %d mutations", res2.Blocked, mutations(e.emu))
	}

	// Approving the plan as it is now lets exactly that plan through, once.
	if err := e.rec.Approve(res2.Digest); err != nil {
		t.Fatal(err)
	}
	res3, err := e.rec.RunOnce(ctx, desired)
	if err != nil || res3.Blocked || len(e.emu.Bindings()) != 5 {
		t.Fatalf("approved pass: err %v blocked %v, %d bindings left", err, res3.Blocked, len(e.emu.Bindings()))
	}
	for i := 10; i < 20; i++ {
		e.emu.Seed(seed("hcloud", fmt.Sprint(i), "n", fmt.Sprintf("HPUA00000000%02d", i)))
	}
	if res4, _ := e.rec.RunOnce(ctx, desired); !res4.Blocked {
		t.Error("the approval applied twice: a new mass delete went through")
	}
}

// TestCollapsedListIsGated: a list that suddenly lost most of its bindings
// (the official SDK reads an answer with no Data as an empty list) blocks
// the plan, pass after pass, until the list is whole again or a person
// approves; it never drives a mass re-create.
func TestCollapsedListIsGated(t *testing.T) {
	for _, answer := range []emulator.Answers{{OmitEmptyData: true}, {}} {
		e := newEnv(t, envOpts{cfg: Config{Plan: plan.Options{Policy: plan.Sync}}})
		var desired plan.Desired
		for i := range 12 {
			b := seed("hcloud", fmt.Sprint(i), "n", fmt.Sprintf("HPUA00000000%02d", i))
			e.emu.Seed(b)
			desired.Bindings = append(desired.Bindings, want("hcloud", fmt.Sprint(i), "n", b.AccessID))
		}
		if _, err := e.rec.RunOnce(t.Context(), desired); err != nil {
			t.Fatal(err)
		}
		saved := e.emu.Bindings()
		// The service loses its memory (or a proxy answers {} with 200).
		e.emu.SetAnswers(answer)
		wipe(e.emu)
		e.emu.ResetLog()
		for pass := range 3 {
			res, err := e.rec.RunOnce(t.Context(), desired)
			if err != nil || !res.Blocked || !strings.Contains(res.Plan.BlockReason, "collapsed") {
				t.Fatalf("pass %d over an empty list: blocked=%v reason=%q err=%v", pass, res.Blocked, res.Plan.BlockReason, err)
			}
		}
		if n := mutations(e.emu); n != 0 {
			t.Fatalf("%d mutating requests after the list collapsed", n)
		}
		// The list comes back whole: the block lifts by itself.
		e.emu.Seed(saved...)
		res, err := e.rec.RunOnce(t.Context(), desired)
		if err != nil || res.Blocked {
			t.Fatalf("after the list came back: blocked=%v err=%v", res.Blocked, err)
		}
		// Collapsed again; an approval of exactly that plan lets it through once.
		wipe(e.emu)
		res, _ = e.rec.RunOnce(t.Context(), desired)
		if !res.Blocked {
			t.Fatal("second collapse not blocked")
		}
		if err := e.rec.Approve(res.Digest); err != nil {
			t.Fatal(err)
		}
		if res, err := e.rec.RunOnce(t.Context(), desired); err != nil || res.Blocked || res.Count(plan.OpCreate, Applied) != 12 {
			t.Fatalf("approved re-create: blocked=%v created=%d err=%v", res.Blocked, res.Count(plan.OpCreate, Applied), err)
		}
	}
}

// wipe deletes every binding behind the reconciler's back.
func wipe(e *emulator.Emulator) {
	for _, b := range e.Bindings() {
		e.Delete(b.BindID)
	}
}

// TestLongApplyReportsProgress: a pass with many changes says how far it is.
func TestLongApplyReportsProgress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs strings.Builder
		var mu sync.Mutex
		log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
		e := newEnv(t, envOpts{qps: 4, burst: 1, cfg: Config{Logger: log, Plan: plan.Options{Force: true}}})
		var desired plan.Desired
		for i := range 40 {
			e.emu.Seed(seed("hcloud", fmt.Sprint(i), "old", fmt.Sprintf("HPUA%010d", i)))
			desired.Bindings = append(desired.Bindings, want("hcloud", fmt.Sprint(i), "new", fmt.Sprintf("HPUA%010d", i)))
		}
		if _, err := e.rec.RunOnce(context.Background(), desired); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if n := strings.Count(logs.String(), `msg=applying`); n < 1 || !strings.Contains(logs.String(), "total=40") {
			t.Errorf("%d progress lines in a 10 s apply:\n%s", n, logs.String())
		}
	})
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestKeysAreListedOnlyToBind: a pass lists the AccessKeys Threat Analysis
// knows only when it would bind one (a create, or a new key for a binding);
// a pass that is in sync or only renames lists none.
func TestKeysAreListedOnlyToBind(t *testing.T) {
	e := newEnv(t, envOpts{cfg: Config{Plan: plan.Options{Policy: plan.Upsert}}})
	e.emu.Seed(seed("hcloud", "1", "one", "HPUA0000000001"))
	e.emu.Register(emulator.Key{CloudCode: "hcloud", AccessID: "HPUA0000000002", AccountID: "2"})
	e.emu.Register(emulator.Key{CloudCode: "hcloud", AccessID: "HPUA0000000003", AccountID: "1"})
	keyLists := func() int { return countRequests(e.emu, cloudsiem.ActionListAccountAccessID) }
	for _, step := range []struct {
		name     string
		desired  []plan.Binding
		keyLists int // ListAccountAccessId calls this pass: one per cloud code, or none
	}{
		{"in sync", []plan.Binding{want("hcloud", "1", "one", "HPUA0000000001")}, 0},
		{"a rename", []plan.Binding{want("hcloud", "1", "renamed", "HPUA0000000001")}, 0},
		{"a create", []plan.Binding{want("hcloud", "1", "renamed", "HPUA0000000001"), want("hcloud", "2", "two", "HPUA0000000002")}, 2},
		{"a new key", []plan.Binding{want("hcloud", "1", "renamed", "HPUA0000000003"), want("hcloud", "2", "two", "HPUA0000000002")}, 2},
		{"a new key not registered", []plan.Binding{want("hcloud", "1", "renamed", "HPUA0000000009"), want("hcloud", "2", "two", "HPUA0000000002")}, 2},
	} {
		before := keyLists()
		res, err := e.rec.RunOnce(t.Context(), plan.Desired{Bindings: step.desired})
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got := keyLists() - before; got != step.keyLists {
			t.Errorf("%s: %d key lists, want %d", step.name, got, step.keyLists)
		}
		if step.name == "a new key not registered" && res.Plan.Counts.AwaitingKey != 1 {
			t.Errorf("%s: %d awaiting their key, want 1", step.name, res.Plan.Counts.AwaitingKey)
		}
	}
	var names []string
	for _, b := range e.emu.Bindings() {
		names = append(names, b.AccountName+"/"+b.AccessID)
	}
	slices.Sort(names)
	if want := []string{"renamed/HPUA0000000003", "two/HPUA0000000002"}; !slices.Equal(names, want) {
		t.Errorf("bindings %v, want %v", names, want)
	}
}

// TestEditsPlanFromTheLastList: a pass that follows an edit plans from the
// last list, kept up to date with bindsync's own changes, and lists again
// once the list is older than the reuse window, after a failure, and at
// every resync.
func TestEditsPlanFromTheLastList(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, envOpts{cfg: Config{Plan: plan.Options{Policy: plan.Upsert, MaxChangeRatio: 1}, ListReuse: DefaultListReuse}})
		e.emu.Seed(seed("hcloud", "1", "old", "HPUA0000000001"))
		e.emu.Seed(seed("hcloud", "2", "y", "HPUA0000000002"))
		lists := func() int { return countRequests(e.emu, cloudsiem.ActionListBindAccount) }
		files := func(x string) plan.Desired {
			return plan.Desired{Bindings: []plan.Binding{want("hcloud", "1", x, "HPUA0000000001"), want("hcloud", "2", "y", "HPUA0000000002")}}
		}
		src := &slot{d: files("v1"), changed: make(chan struct{}, 1)}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() {
			done <- e.rec.Run(ctx, src, nil, Schedule{Resync: 10 * time.Minute, RetryBase: 5 * time.Second})
		}()
		defer func() { cancel(); <-done }()
		synctest.Wait()
		listed := lists()
		if listed != 2 || state(e.emu)[0] != "hcloud/1=v1/HPUA0000000001" {
			t.Fatalf("first pass: %d lists, %v", listed, state(e.emu))
		}

		// Edits within the window: no list. Going back to the name first
		// listed needs the list to know that bindsync renamed it since.
		for _, name := range []string{"v2", "v3", "old"} {
			time.Sleep(5 * time.Second)
			src.set(files(name))
			synctest.Wait()
			if got := state(e.emu)[0]; got != "hcloud/1="+name+"/HPUA0000000001" {
				t.Fatalf("edit to %s: %v", name, state(e.emu))
			}
		}
		if lists() != listed {
			t.Fatalf("edits within the window listed %d times", lists()-listed)
		}

		// A list gone stale behind bindsync's back: the change it causes is
		// refused, the list is dropped, and the retry lists and repairs.
		c, _ := cloudsiem.New(cloudsiem.Config{Endpoint: "http://127.0.0.1:1", Credentials: cloudsiem.StaticCredentials(cred), HTTPClient: &http.Client{Transport: e.emu.Transport()}})
		if _, err := c.DeleteBindAccount(ctx, cloudsiem.DeleteBindAccountRequest{BindID: 1000, CloudCode: "hcloud", AccountID: "1", AccessID: "HPUA0000000001"}); err != nil {
			t.Fatal(err)
		}
		src.set(files("v4"))
		synctest.Wait()
		if got := testutil.ToFloat64(e.m.ReconcileRuns.WithLabelValues("failure")); got != 1 {
			t.Fatalf("%v failed passes after the stale edit, want 1", got)
		}
		time.Sleep(6 * time.Second) // the retry
		synctest.Wait()
		if got := state(e.emu); lists() != listed+2 || len(got) != 2 || got[0] != "hcloud/1=v4/HPUA0000000001" {
			t.Fatalf("after the retry: %d more lists, %v", lists()-listed, got)
		}
		for _, r := range e.emu.Requests() {
			if r.Mutating() && r.Params["AccountName"] != "" && !slices.Contains([]string{"v1", "v2", "v3", "old", "v4"}, r.Params["AccountName"]) {
				t.Errorf("a request carried a name no file had: %+v", r)
			}
		}

		// Past the window, an edit lists first.
		listed = lists()
		time.Sleep(DefaultListReuse)
		src.set(files("v5"))
		synctest.Wait()
		if lists() != listed+2 {
			t.Errorf("an edit %v after the list listed %d times, want 2", DefaultListReuse, lists()-listed)
		}
	})
}

// countRequests is how many requests for action the emulator has seen.
func countRequests(emu *emulator.Emulator, action string) int {
	n := 0
	for _, r := range emu.Requests() {
		if r.Action == action {
			n++
		}
	}
	return n
}
