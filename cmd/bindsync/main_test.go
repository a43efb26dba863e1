package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bindsync/bindsync/cloudsiem"
	"github.com/bindsync/bindsync/cloudsiem/emulator"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var testCred = cloudsiem.Credential{AccessKeyID: "LTAIe2etestkey0001", AccessKeySecret: "e2e-secret-value-9f8e7d"}

// setCredentials puts the test key pair in the environment, where the
// credentials chain finds it first, and keeps the chain from probing the
// metadata service or a CLI profile.
func setCredentials(t *testing.T) {
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", testCred.AccessKeyID)
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", testCred.AccessKeySecret)
	t.Setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
	t.Setenv("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "true")
}

// startEmulator serves an emulator that binds any AccessKey: these tests are
// about other behaviour, and would otherwise have to register every key they
// bind. The registry has tests of its own (startRegistryEmulator).
func startEmulator(t testing.TB, cfg emulator.Config) (*emulator.Emulator, string) {
	t.Helper()
	cfg.AnyKey = true
	return startRegistryEmulator(t, cfg)
}

// startRegistryEmulator serves an emulator that binds only registered keys,
// as the service does.
func startRegistryEmulator(t testing.TB, cfg emulator.Config) (*emulator.Emulator, string) {
	t.Helper()
	cfg.Credentials = []cloudsiem.Credential{testCred}
	emu := emulator.New(cfg)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return emu, srv.URL
}

func binding(cloud, account, name, ak string) string {
	return fmt.Sprintf("  - {cloudCode: %s, accountId: %q, accountName: %s, accessId: %s}\n", cloud, account, name, ak)
}

func file(bindings ...string) string {
	return "version: 1\nregionId: cn-hangzhou\nbindings:\n" + strings.Join(bindings, "")
}

func writeFile(t testing.TB, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func seed(cloud, account, name, ak string) emulator.Binding {
	return emulator.Binding{BoundAccount: cloudsiem.BoundAccount{CloudCode: cloud, AccountID: account, AccountName: name, AccessID: ak}}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(t.Context(), append([]string{"bindsync"}, args...), os.Getenv, &out, &errOut)
	return code, out.String(), errOut.String()
}

// eventually polls cond until it holds or 10s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	eventuallyWithin(t, 10*time.Second, what, cond)
}

// eventuallyWithin polls cond until it holds or d passes.
func eventuallyWithin(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
}

func names(emu *emulator.Emulator) map[string]string {
	out := map[string]string{}
	for _, b := range emu.Bindings() {
		out[b.CloudCode+"/"+b.AccountID] = b.AccountName
	}
	return out
}

func mutations(emu *emulator.Emulator) int {
	n := 0
	for _, r := range emu.Requests() {
		if r.Mutating() {
			n++
		}
	}
	return n
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good.yaml"), filepath.Join(dir, "bad.yaml")
	writeFile(t, good, file(binding("hcloud", "1", "a", "HPUA0000000001")))
	writeFile(t, bad, file(binding("aws", "1", "a", "HPUA0000000001")))
	// No credentials in the environment at all: validate needs none.
	for _, k := range []string{"ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"} {
		t.Setenv(k, "")
	}
	if code, out, _ := runCLI(t, "validate", "-f", good); code != 0 || !strings.Contains(out, "valid, 1 bindings") {
		t.Errorf("valid file: exit %d, %q", code, out)
	}
	if code, _, errOut := runCLI(t, "validate", "-f", bad); code != 1 || !strings.Contains(errOut, "bad.yaml:4: bindings[0] (aws/1): cloudCode \"aws\" is not supported") {
		t.Errorf("invalid file: exit %d, %q", code, errOut)
	}
	if code, _, _ := runCLI(t, "validate"); code != 1 {
		t.Errorf("no file: exit %d", code)
	}
}

func TestPlanAndApply(t *testing.T) {
	setCredentials(t)
	emu, url := startEmulator(t, emulator.Config{})
	emu.Seed(seed("hcloud", "1", "old", "HPUA0000000001"), seed("hcloud", "9", "stray", "HPUA0000000009"))
	path := filepath.Join(t.TempDir(), "desired.yaml")
	writeFile(t, path, file(binding("hcloud", "1", "new", "HPUA0000000001"), binding("qcloud", "2", "created", "AKID0000000002")))

	code, out, errOut := runCLI(t, "plan", "-f", path, "--endpoint", url)
	if code != 2 || !strings.Contains(out, "~ update hcloud/1") || !strings.Contains(out, "! missing qcloud/2") {
		t.Fatalf("plan: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "plan", "-f", path, "--endpoint", url, "--output", "json", "--policy", "upsert")
	if code != 2 || !strings.Contains(out, `"op": "create"`) || strings.Contains(out, "AKID0000000002") {
		t.Fatalf("plan json: exit %d\n%s", code, out)
	}
	if mutations(emu) != 0 {
		t.Fatal("plan sent a mutating request")
	}
	if code, out, _ := runCLI(t, "apply", "-f", path, "--endpoint", url, "--dry-run", "--policy", "upsert"); code != 0 || mutations(emu) != 0 || !strings.Contains(out, "would apply") {
		t.Fatalf("apply --dry-run: exit %d, %d mutations\n%s", code, mutations(emu), out)
	}
	if code, out, errOut := runCLI(t, "apply", "-f", path, "--endpoint", url, "--policy", "upsert"); code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := names(emu); got["hcloud/1"] != "new" || got["qcloud/2"] != "created" || got["hcloud/9"] != "stray" {
		t.Errorf("after apply: %v", got)
	}
	if code, out, _ := runCLI(t, "plan", "-f", path, "--endpoint", url, "--policy", "upsert"); code != 0 {
		t.Errorf("plan after apply: exit %d\n%s", code, out)
	}
	// A Count-0 answer makes apply exit 1.
	emu.SetFaults(emulator.Faults{CountZero: map[int64]bool{1000: true}})
	writeFile(t, path, file(binding("hcloud", "1", "newer", "HPUA0000000001"), binding("qcloud", "2", "created", "AKID0000000002")))
	if code, _, errOut := runCLI(t, "apply", "-f", path, "--endpoint", url); code != 1 || !strings.Contains(errOut, "Count <= 0") {
		t.Errorf("apply with Count 0: exit %d\n%s", code, errOut)
	}
}

func TestInvalidFileSendsNoRequest(t *testing.T) {
	setCredentials(t)
	emu, url := startEmulator(t, emulator.Config{})
	path := filepath.Join(t.TempDir(), "desired.yaml")
	for _, content := range []string{"", "version: 1\nbindings: []\n", "version: 1\nbindings:\n  - {cloudCode: hcloud, accountId: 1}\n", "\x00\x01garbage"} {
		writeFile(t, path, content)
		for _, args := range [][]string{{"plan"}, {"apply"}, {"run", "--listen-address", "127.0.0.1:0", "--admin-address", ""}} {
			code, _, errOut := runCLI(t, append(args, "-f", path, "--endpoint", url)...)
			if code != 1 || !strings.Contains(errOut, path) {
				t.Errorf("%s with %q: exit %d, want 1 with an error naming the file:\n%s", args[0], content, code, errOut)
			}
		}
	}
	if n := len(emu.Requests()); n != 0 {
		t.Errorf("invalid files caused %d API requests", n)
	}
}

func TestFlagsFromEnvironment(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
		check   func(d daemonFlags) bool
	}{
		{name: "defaults", args: []string{"-f", "x"}, check: func(d daemonFlags) bool {
			return d.qps == 0 && d.qpsMax == 200 && d.concurrency == 0 && d.policy == "update-only" && !d.dryRun
		}},
		{name: "environment", args: []string{"-f", "x"}, env: map[string]string{"BINDSYNC_QPS": "2.5", "BINDSYNC_DRY_RUN": "true", "BINDSYNC_POLICY": "sync", "BINDSYNC_RESYNC_INTERVAL": "1m"},
			check: func(d daemonFlags) bool {
				return d.qps == 2.5 && d.dryRun && d.policy == "sync" && d.resync == time.Minute
			}},
		{name: "flag beats environment", args: []string{"-f", "x", "--qps", "7"}, env: map[string]string{"BINDSYNC_QPS": "2"}, check: func(d daemonFlags) bool { return d.qps == 7 }},
		{name: "file from environment", env: map[string]string{"BINDSYNC_FILE": "/etc/bindsync/desired.yaml"}, check: func(d daemonFlags) bool { return d.file == "/etc/bindsync/desired.yaml" }},
		{name: "bad environment value", args: []string{"-f", "x"}, env: map[string]string{"BINDSYNC_QPS": "fast"}, wantErr: "BINDSYNC_QPS"},
		{name: "bad policy", args: []string{"-f", "x", "--policy", "mirror"}, wantErr: "unknown policy"},
		{name: "missing file", wantErr: "--file is required"},
		{name: "bad ratio", args: []string{"-f", "x", "--max-change-ratio", "2"}, wantErr: "max-change-ratio"},
		{name: "NaN ratio", args: []string{"-f", "x", "--max-change-ratio", "NaN"}, wantErr: "max-change-ratio"},
		{name: "infinite ratio", args: []string{"-f", "x", "--max-change-ratio", "+Inf"}, wantErr: "max-change-ratio"},
		{name: "zero request timeout", args: []string{"-f", "x", "--request-timeout", "0s"}, wantErr: "--request-timeout"},
		{name: "shutdown shorter than a call", args: []string{"-f", "x", "--request-timeout", "30s", "--shutdown-timeout", "10s"}, wantErr: "--shutdown-timeout"},
		{name: "negative qps", args: []string{"-f", "x", "--qps", "-1"}, wantErr: "--qps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFlagSet("run", io.Discard)
			var d daemonFlags
			d.register(fs, true)
			getenv := func(k string) string { return tt.env[k] }
			err := parseFlags(fs, tt.args, getenv)
			if err == nil {
				err = d.validate()
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !tt.check(d) {
				t.Errorf("err = %v, flags = %+v", err, d)
			}
		})
	}
}

// daemon runs `bindsync run` in-process and returns its addresses.
type daemon struct {
	metrics, admin string
	stderr         *syncBuffer
	cancel         context.CancelFunc
	done           chan int
}

func startDaemon(t *testing.T, args ...string) *daemon {
	t.Helper()
	d := &daemon{stderr: &syncBuffer{}, done: make(chan int, 1)}
	ready := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	h := hooks{listening: func(m, a string) { d.metrics, d.admin = m, a; close(ready) }}
	go func() {
		d.done <- runWith(ctx, append([]string{"bindsync", "run", "--listen-address", "127.0.0.1:0", "--admin-address", "127.0.0.1:0"}, args...), os.Getenv, io.Discard, d.stderr, h)
	}()
	select {
	case <-ready:
	case code := <-d.done:
		t.Fatalf("daemon exited %d before listening:\n%s", code, d.stderr)
	case <-time.After(10 * time.Second):
		t.Fatal("daemon not listening after 10s")
	}
	t.Cleanup(func() {
		d.cancel()
		select {
		case <-d.done:
		case <-time.After(30 * time.Second):
			t.Error("daemon did not stop")
		}
	})
	return d
}

// startConvergedDaemon runs a daemon for one binding and waits until its
// first pass has succeeded.
func startConvergedDaemon(t *testing.T) (*daemon, *emulator.Emulator) {
	t.Helper()
	setCredentials(t)
	emu, url := startEmulator(t, emulator.Config{})
	emu.Seed(seed("hcloud", "0123456789", "old", "HPUAEXAMPLE0000001"))
	path := filepath.Join(t.TempDir(), "desired.yaml")
	writeFile(t, path, file(binding("hcloud", "0123456789", "huawei-prod", "HPUAEXAMPLE0000001")))
	d := startDaemon(t, "-f", path, "--endpoint", url, "--max-change-ratio", "1")
	eventually(t, "converged", func() bool { return names(emu)["hcloud/0123456789"] == "huawei-prod" })
	eventually(t, "a successful pass recorded", func() bool {
		return gauge(t, d.metrics, "bindsync_last_reconcile_success_timestamp_seconds") > 0
	})
	return d, emu
}

func (d *daemon) stop(t *testing.T) int {
	t.Helper()
	d.cancel()
	select {
	case code := <-d.done:
		d.done <- code // for the cleanup
		return code
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not stop within 30s")
		return -1
	}
}

func scrape(t testing.TB, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return families
}

func gauge(t testing.TB, addr, name string) float64 {
	t.Helper()
	mf := scrape(t, addr)[name]
	if mf == nil || len(mf.Metric) == 0 {
		t.Fatalf("metric %s missing", name)
	}
	return mf.Metric[0].GetGauge().GetValue()
}

// gaugeLabel reads the gauge name{label="value"}.
func gaugeLabel(t testing.TB, addr, name, label, value string) float64 {
	t.Helper()
	mf := scrape(t, addr)[name]
	if mf == nil {
		t.Fatalf("metric %s missing", name)
	}
	for _, m := range mf.Metric {
		for _, l := range m.Label {
			if l.GetName() == label && l.GetValue() == value {
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no %s{%s=%q}", name, label, value)
	return 0
}

func TestDaemonFollowsTheFile(t *testing.T) {
	setCredentials(t)
	emu, url := startEmulator(t, emulator.Config{})
	emu.Seed(seed("hcloud", "1", "old", "HPUA0000000001"), seed("hcloud", "2", "old", "HPUA0000000002"))
	dir := t.TempDir()
	path := filepath.Join(dir, "desired.yaml")
	write := func(n1, n2 string) string {
		return file(binding("hcloud", "1", n1, "HPUA0000000001"), binding("hcloud", "2", n2, "HPUA0000000002"))
	}
	writeFile(t, path, write("v0", "v0"))
	d := startDaemon(t, "-f", path, "--endpoint", url, "--resync-interval", "2s", "--poll-interval", "1h", "--max-change-ratio", "1")
	converged := func(want string) func() bool {
		return func() bool { n := names(emu); return n["hcloud/1"] == want && n["hcloud/2"] == want }
	}
	eventually(t, "initial convergence", converged("v0"))
	eventually(t, "ready", func() bool {
		resp, err := http.Get("http://" + d.metrics + "/readyz")
		return err == nil && resp.Body.Close() == nil && resp.StatusCode == 200
	})

	// Rename over the file (editors).
	tmp := filepath.Join(dir, ".desired.yaml.tmp")
	writeFile(t, tmp, write("v1", "v1"))
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	eventually(t, "rename-over", converged("v1"))

	// In-place write.
	writeFile(t, path, write("v2", "v2"))
	eventually(t, "in-place write", converged("v2"))

	// Delete, then recreate.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deletion reported", func() bool { return gauge(t, d.metrics, "bindsync_desired_state_last_reload_successful") == 0 })
	writeFile(t, path, write("v3", "v3"))
	eventually(t, "recreate", converged("v3"))

	// An invalid edit keeps the last state and flips the reload metric.
	writeFile(t, path, "version: 1\nbindings:\n  - {cloudCode: hcloud, accountId: 1\n")
	eventually(t, "bad edit reported", func() bool { return gauge(t, d.metrics, "bindsync_desired_state_last_reload_successful") == 0 })
	if got := names(emu); got["hcloud/1"] != "v3" {
		t.Fatalf("bad edit changed bindings: %v", got)
	}
	if !strings.Contains(d.stderr.String(), "desired.yaml:3:5: YAML syntax") {
		t.Errorf("the log does not name the file and line:\n%s", d.stderr)
	}

	// Drift made on the server is repaired at the next resync.
	writeFile(t, path, write("v4", "v4"))
	eventually(t, "fixed file", converged("v4"))
	emu.Seed(emulator.Binding{Scope: emulator.Scope{RegionID: "cn-hangzhou"}, BoundAccount: cloudsiem.BoundAccount{BindID: 1000, CloudCode: "hcloud", AccountID: "1", AccountName: "by-hand", AccessID: "HPUA0000000001"}})
	eventually(t, "drift repaired at resync", converged("v4"))

	// SIGHUP and POST /-/reload each run a pass.
	runs := func() float64 {
		var n float64
		for _, m := range scrape(t, d.metrics)["bindsync_reconcile_runs_total"].Metric {
			n += m.GetCounter().GetValue()
		}
		return n
	}
	before := runs()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a pass after SIGHUP", func() bool { return runs() > before })
	before = runs()
	resp, err := http.Post("http://"+d.admin+"/-/reload", "", nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /-/reload: %v %v", resp, err)
	}
	resp.Body.Close()
	eventually(t, "a pass after /-/reload", func() bool { return runs() > before })
	// The reload endpoint is not on the metrics address.
	if resp, err := http.Post("http://"+d.metrics+"/-/reload", "", nil); err == nil && resp.StatusCode < 300 {
		t.Error("POST /-/reload works on the metrics address")
	}

	if code := d.stop(t); code != 0 {
		t.Errorf("exit %d after cancel\n%s", code, d.stderr)
	}
}

func TestDaemonConfigMapSwap(t *testing.T) {
	setCredentials(t)
	emu, url := startEmulator(t, emulator.Config{})
	emu.Seed(seed("hcloud", "1", "old", "HPUA0000000001"))
	dir := t.TempDir()
	version := func(stamp, name string) {
		d := filepath.Join(dir, stamp)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(d, "desired.yaml"), file(binding("hcloud", "1", name, "HPUA0000000001")))
	}
	version("..2026_01", "v1")
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink("..2026_01", filepath.Join(dir, "..data")))
	must(os.Symlink("..data/desired.yaml", filepath.Join(dir, "desired.yaml")))
	startDaemon(t, "-f", filepath.Join(dir, "desired.yaml"), "--endpoint", url, "--max-change-ratio", "1")
	eventually(t, "v1", func() bool { return names(emu)["hcloud/1"] == "v1" })
	version("..2026_02", "v2")
	must(os.Symlink("..2026_02", filepath.Join(dir, "..data_tmp")))
	must(os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
	must(os.RemoveAll(filepath.Join(dir, "..2026_01")))
	eventually(t, "v2 after the ..data swap", func() bool { return names(emu)["hcloud/1"] == "v2" })
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
