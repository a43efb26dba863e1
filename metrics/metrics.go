// Package metrics defines bindsync's Prometheus metrics. The names and label
// sets are a stable interface: the shipped alert rules and dashboard depend
// on them, and a test proves every name they use is exported.
//
// Metrics are built on an injected prometheus.Registerer (no globals, no
// init), so tests and several instances can coexist. Every series whose label
// values are known in advance exists at 0 from the start, so rate() and
// absent() behave before the first event. No label ever carries an account
// ID, an AccessKey ID or a name: cardinality stays fixed.
package metrics

import (
	"fmt"

	"github.com/bindsync/bindsync/cloudsiem"
	"github.com/bindsync/bindsync/sync/plan"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Label values, fixed. Operations, failure classes and change operations are
// taken from the packages that define them, so a new one is a new series.
var (
	Ops           = labels(plan.Ops[:])
	ChangeResults = []string{"success", "failure"}
	Operations    = labels(cloudsiem.Actions[:])
	APIResults    = append([]string{"ok"}, labels(cloudsiem.Classes[:])...)
	RunResults    = []string{"success", "failure", "blocked"}
	BindingStates = []string{"desired", "observed", "in_sync", "drifted", "missing", "unmanaged", "conflict", "awaiting_key"}
	ReloadResults = []string{"success", "failure"}
)

func labels[T any](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = fmt.Sprint(v)
	}
	return out
}

// Metrics holds every bindsync metric.
type Metrics struct {
	ChangesApplied *prometheus.CounterVec   // op, result
	APIRequests    *prometheus.CounterVec   // operation, result
	APIDuration    *prometheus.HistogramVec // operation

	ReconcileRuns       *prometheus.CounterVec // result
	ReconcileDuration   prometheus.Histogram
	LastAttempt         prometheus.Gauge
	LastSuccess         prometheus.Gauge
	ConsecutiveFailures prometheus.Gauge

	Bindings        *prometheus.GaugeVec // state
	PendingChanges  *prometheus.GaugeVec // op
	InBackoff       prometheus.Gauge
	SafetyGateBlock prometheus.Gauge

	RateLimitWait prometheus.Histogram
	RateLimitQPS  prometheus.Gauge

	Reloads             *prometheus.CounterVec // result
	LastReloadOK        prometheus.Gauge
	LastReloadSuccessTS prometheus.Gauge

	BuildInfo *prometheus.GaugeVec // version, revision, goversion
	ModeInfo  *prometheus.GaugeVec // policy, dry_run
}

// New registers every metric on reg.
func New(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		ChangesApplied: f.NewCounterVec(prometheus.CounterOpts{
			Name: "bindsync_changes_applied_total",
			Help: "Binding changes attempted against the API, by operation and result (dry-run changes are not counted).",
		}, []string{"op", "result"}),
		APIRequests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "bindsync_api_requests_total",
			Help: "HTTP attempts to the cloud-siem API (retries included), by operation and result class.",
		}, []string{"operation", "result"}),
		APIDuration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "bindsync_api_request_duration_seconds",
			Help:    "Duration of one HTTP attempt to the cloud-siem API.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"operation"}),
		ReconcileRuns: f.NewCounterVec(prometheus.CounterOpts{
			Name: "bindsync_reconcile_runs_total",
			Help: "Reconcile passes, by result: success, failure (list or any change failed), blocked (safety gate).",
		}, []string{"result"}),
		ReconcileDuration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "bindsync_reconcile_duration_seconds",
			Help:    "Duration of one reconcile pass: list, plan and apply.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}),
		LastAttempt: f.NewGauge(prometheus.GaugeOpts{
			Name: "bindsync_last_reconcile_attempt_timestamp_seconds",
			Help: "Unix time the last reconcile pass started.",
		}),
		LastSuccess: f.NewGauge(prometheus.GaugeOpts{
			Name: "bindsync_last_reconcile_success_timestamp_seconds",
			Help: "Unix time the last reconcile pass succeeded (passes with nothing to change included).",
		}),
		ConsecutiveFailures: f.NewGauge(prometheus.GaugeOpts{
			Name: "bindsync_consecutive_failed_reconciles",
			Help: "Reconcile passes that failed in a row; 0 after a success.",
		}),
		Bindings: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bindsync_bindings",
			Help: "Bindings by state at the last pass: desired, observed, in_sync, drifted, missing, unmanaged, conflict.",
		}, []string{"state"}),
		PendingChanges: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bindsync_pending_changes",
			Help: "Changes the last plan held that are not applied yet, by operation.",
		}, []string{"op"}),
		InBackoff: f.NewGauge(prometheus.GaugeOpts{
			Name: "bindsync_bindings_in_backoff",
			Help: "Bindings whose change keeps failing and waits for its next retry.",
		}),
		SafetyGateBlock: f.NewGauge(prometheus.GaugeOpts{
			Name: "bindsync_safety_gate_blocked",
			Help: "1 while the safety gate blocks the current plan, else 0.",
		}),
		RateLimitWait: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "bindsync_rate_limit_wait_seconds",
			Help:    "Time an API attempt waited for the client-side rate limiter.",
			Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		RateLimitQPS: f.NewGauge(prometheus.GaugeOpts{
			Name: "bindsync_rate_limit_qps",
			Help: "Current rate of the adaptive limiter, requests per second.",
		}),
		Reloads: f.NewCounterVec(prometheus.CounterOpts{
			Name: "bindsync_desired_state_reloads_total",
			Help: "Attempts to load the desired-state file, by result.",
		}, []string{"result"}),
		LastReloadOK: f.NewGauge(prometheus.GaugeOpts{
			Name: "bindsync_desired_state_last_reload_successful",
			Help: "1 if the last load of the desired-state file succeeded, 0 if it failed (the previous state stays in force).",
		}),
		LastReloadSuccessTS: f.NewGauge(prometheus.GaugeOpts{
			Name: "bindsync_desired_state_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last successful load of the desired-state file.",
		}),
		BuildInfo: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bindsync_build_info",
			Help: "Build information; the value is 1.",
		}, []string{"version", "revision", "goversion"}),
		ModeInfo: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bindsync_mode_info",
			Help: "The running mode; the value is 1.",
		}, []string{"policy", "dry_run"}),
	}
	for _, op := range Ops {
		for _, r := range ChangeResults {
			m.ChangesApplied.WithLabelValues(op, r)
		}
		m.PendingChanges.WithLabelValues(op)
	}
	for _, o := range Operations {
		for _, r := range APIResults {
			m.APIRequests.WithLabelValues(o, r)
		}
		m.APIDuration.WithLabelValues(o)
	}
	for _, r := range RunResults {
		m.ReconcileRuns.WithLabelValues(r)
	}
	for _, s := range BindingStates {
		m.Bindings.WithLabelValues(s)
	}
	for _, r := range ReloadResults {
		m.Reloads.WithLabelValues(r)
	}
	return m
}

// SetBuildInfo sets bindsync_build_info.
func (m *Metrics) SetBuildInfo(version, revision, goVersion string) {
	m.BuildInfo.Reset()
	m.BuildInfo.WithLabelValues(version, revision, goVersion).Set(1)
}

// SetMode sets bindsync_mode_info.
func (m *Metrics) SetMode(policy string, dryRun bool) {
	m.ModeInfo.Reset()
	d := "false"
	if dryRun {
		d = "true"
	}
	m.ModeInfo.WithLabelValues(policy, d).Set(1)
}

// ReloadSucceeded records a successful desired-state load at unix time t.
func (m *Metrics) ReloadSucceeded(t float64) {
	m.Reloads.WithLabelValues("success").Inc()
	m.LastReloadOK.Set(1)
	m.LastReloadSuccessTS.Set(t)
}

// ReloadFailed records a failed desired-state load.
func (m *Metrics) ReloadFailed() {
	m.Reloads.WithLabelValues("failure").Inc()
	m.LastReloadOK.Set(0)
}
