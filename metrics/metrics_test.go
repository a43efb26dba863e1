package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.SetBuildInfo("v0", "abc", "go1.26")
	m.SetMode("update-only", false)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestSeriesExistAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	New(reg)
	got, err := testutil.GatherAndCount(reg, "bindsync_api_requests_total", "bindsync_changes_applied_total", "bindsync_reconcile_runs_total", "bindsync_bindings")
	if err != nil {
		t.Fatal(err)
	}
	if want := len(Operations)*len(APIResults) + len(Ops)*len(ChangeResults) + len(RunResults) + len(BindingStates); got != want {
		t.Errorf("%d series, want %d pre-created", got, want)
	}
}

func TestTwoInstancesCoexist(t *testing.T) {
	a, b := New(prometheus.NewRegistry()), New(prometheus.NewRegistry())
	a.ReloadFailed()
	b.ReloadSucceeded(42)
	if testutil.ToFloat64(a.LastReloadOK) != 0 || testutil.ToFloat64(b.LastReloadOK) != 1 || testutil.ToFloat64(b.LastReloadSuccessTS) != 42 {
		t.Error("instances share state")
	}
	if err := testutil.CollectAndCompare(a.Reloads, strings.NewReader(`
# HELP bindsync_desired_state_reloads_total Attempts to load the desired-state file, by result.
# TYPE bindsync_desired_state_reloads_total counter
bindsync_desired_state_reloads_total{result="failure"} 1
bindsync_desired_state_reloads_total{result="success"} 0
`)); err != nil {
		t.Error(err)
	}
}
