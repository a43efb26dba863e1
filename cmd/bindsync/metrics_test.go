package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
)

// wantMetrics is the stable interface of the issue that defined the metrics:
// each family, its type and, for fixed label sets, every label value that
// must exist from start-up.
var wantMetrics = []struct {
	name   string
	typ    dto.MetricType
	labels map[string][]string // label -> values that must all be present (nil: label exists, values free)
}{
	{"bindsync_changes_applied_total", dto.MetricType_COUNTER, map[string][]string{"op": {"create", "update", "delete"}, "result": {"success", "failure"}}},
	{"bindsync_api_requests_total", dto.MetricType_COUNTER, map[string][]string{"operation": {"ListBindAccount", "BindAccount", "ModifyBindAccount", "DeleteBindAccount"}, "result": {"ok", "throttled", "client_error", "auth_error", "server_error", "network_error"}}},
	{"bindsync_api_request_duration_seconds", dto.MetricType_HISTOGRAM, map[string][]string{"operation": {"ListBindAccount", "BindAccount", "ModifyBindAccount", "DeleteBindAccount"}}},
	{"bindsync_reconcile_runs_total", dto.MetricType_COUNTER, map[string][]string{"result": {"success", "failure", "blocked"}}},
	{"bindsync_reconcile_duration_seconds", dto.MetricType_HISTOGRAM, nil},
	{"bindsync_last_reconcile_attempt_timestamp_seconds", dto.MetricType_GAUGE, nil},
	{"bindsync_last_reconcile_success_timestamp_seconds", dto.MetricType_GAUGE, nil},
	{"bindsync_consecutive_failed_reconciles", dto.MetricType_GAUGE, nil},
	{"bindsync_bindings", dto.MetricType_GAUGE, map[string][]string{"state": {"desired", "observed", "in_sync", "drifted", "missing", "unmanaged", "conflict"}}},
	{"bindsync_pending_changes", dto.MetricType_GAUGE, map[string][]string{"op": {"create", "update", "delete"}}},
	{"bindsync_bindings_in_backoff", dto.MetricType_GAUGE, nil},
	{"bindsync_safety_gate_blocked", dto.MetricType_GAUGE, nil},
	{"bindsync_rate_limit_wait_seconds", dto.MetricType_HISTOGRAM, nil},
	{"bindsync_rate_limit_qps", dto.MetricType_GAUGE, nil},
	{"bindsync_desired_state_reloads_total", dto.MetricType_COUNTER, map[string][]string{"result": {"success", "failure"}}},
	{"bindsync_desired_state_last_reload_successful", dto.MetricType_GAUGE, nil},
	{"bindsync_desired_state_last_reload_success_timestamp_seconds", dto.MetricType_GAUGE, nil},
	{"bindsync_build_info", dto.MetricType_GAUGE, map[string][]string{"version": nil, "revision": nil, "goversion": nil}},
	{"bindsync_mode_info", dto.MetricType_GAUGE, map[string][]string{"policy": {"update-only"}, "dry_run": {"false"}}},
	{"go_goroutines", dto.MetricType_GAUGE, nil},
	{"process_resident_memory_bytes", dto.MetricType_GAUGE, nil},
}

func TestMetricsExposition(t *testing.T) {
	d, _ := startConvergedDaemon(t)

	families := scrape(t, d.metrics)
	var list []*dto.MetricFamily
	for _, mf := range families {
		list = append(list, mf)
	}
	problems, err := promlint.NewWithMetricFamilies(list).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "bindsync_") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
	for _, w := range wantMetrics {
		mf := families[w.name]
		if mf == nil {
			t.Errorf("%s: not exported", w.name)
			continue
		}
		if mf.GetType() != w.typ {
			t.Errorf("%s: type %v, want %v", w.name, mf.GetType(), w.typ)
		}
		for label, values := range w.labels {
			seen := map[string]bool{}
			for _, m := range mf.Metric {
				for _, lp := range m.Label {
					if lp.GetName() == label {
						seen[lp.GetValue()] = true
					}
				}
			}
			if len(seen) == 0 {
				t.Errorf("%s: no label %q", w.name, label)
			}
			for _, v := range values {
				if !seen[v] {
					t.Errorf("%s: no series with %s=%q", w.name, label, v)
				}
			}
		}
		if w.labels != nil {
			for _, m := range mf.Metric {
				var names []string
				for _, lp := range m.Label {
					names = append(names, lp.GetName())
				}
				for l := range w.labels {
					if !slices.Contains(names, l) {
						t.Errorf("%s: a series lacks label %q", w.name, l)
					}
				}
				if len(names) != len(w.labels) {
					t.Errorf("%s: labels %v, want exactly %d", w.name, names, len(w.labels))
				}
			}
		}
	}
	// No label anywhere carries an account, an AccessKey ID or a name.
	for name, mf := range families {
		for _, m := range mf.Metric {
			for _, lp := range m.Label {
				for _, secret := range []string{"0123456789", "HPUAEXAMPLE0000001", "huawei-prod", testCred.AccessKeyID, testCred.AccessKeySecret} {
					if strings.Contains(lp.GetValue(), secret) {
						t.Errorf("%s{%s=%q} carries %q", name, lp.GetName(), lp.GetValue(), secret)
					}
				}
			}
		}
	}
	if v := gauge(t, d.metrics, "bindsync_desired_state_last_reload_successful"); v != 1 {
		t.Errorf("last_reload_successful = %v, want 1", v)
	}
	if v := gauge(t, d.metrics, "bindsync_rate_limit_qps"); v != 5 {
		t.Errorf("rate_limit_qps = %v, want the configured 5", v)
	}
}
