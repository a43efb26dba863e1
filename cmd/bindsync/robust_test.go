package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bindsync/bindsync/cloudsiem"
	"github.com/bindsync/bindsync/cloudsiem/emulator"
)

// world is a set of bindings by "cloud/account" with "name|accessId" values.
type world map[string]string

func (w world) file() string {
	var lines []string
	for k, v := range w {
		code, account, _ := strings.Cut(k, "/")
		name, ak, _ := strings.Cut(v, "|")
		lines = append(lines, binding(code, account, name, ak))
	}
	return file(lines...)
}

func stateOf(emu *emulator.Emulator) world {
	out := world{}
	for _, b := range emu.Bindings() {
		out[b.CloudCode+"/"+b.AccountID] = b.AccountName + "|" + b.AccessID
	}
	return out
}

func (w world) equal(o world) bool {
	if len(w) != len(o) {
		return false
	}
	for k, v := range w {
		if o[k] != v {
			return false
		}
	}
	return true
}

// checkRequests proves that no mutating request ever asked for a value that
// no valid version of the file asked for, that only bindings some valid
// version lacks were deleted, and that no AccessKey was bound twice.
func checkRequests(t *testing.T, emu *emulator.Emulator, versions ...world) {
	t.Helper()
	allowed := map[string]map[string]bool{}
	inAll := map[string]int{}
	for _, v := range versions {
		for k, val := range v {
			if allowed[k] == nil {
				allowed[k] = map[string]bool{}
			}
			allowed[k][val] = true
			inAll[k]++
		}
	}
	boundTimes := map[string]int{}
	for _, r := range emu.Requests() {
		key := r.Params["CloudCode"] + "/" + r.Params["AccountId"]
		switch r.Action {
		case cloudsiem.ActionBindAccount, cloudsiem.ActionModifyBindAccount:
			if val := r.Params["AccountName"] + "|" + r.Params["AccessId"]; !allowed[key][val] {
				t.Errorf("%s asked %s = %q, which no valid file asked for", r.Action, key, val)
			}
			if r.Action == cloudsiem.ActionBindAccount && r.Applied {
				boundTimes[r.Params["AccessId"]]++
			}
		case cloudsiem.ActionDeleteBindAccount:
			if inAll[key] == len(versions) {
				t.Errorf("DeleteBindAccount of %s, which every valid file wants", key)
			}
		}
	}
	for ak, n := range boundTimes {
		if n > 1 {
			t.Errorf("AccessKey %s bound %d times", ak, n)
		}
	}
}

func countOutcome(emu *emulator.Emulator, outcome string) int {
	n := 0
	for _, r := range emu.Requests() {
		if r.Outcome == outcome {
			n++
		}
	}
	return n
}

func TestStormsConvergeWithoutWrongChanges(t *testing.T) {
	longTest(t)
	emu, url := startEmulator(t, emulator.Config{
		QuotaPerSecond: 10, // half of --qps below
		Seed:           11,
		Faults: emulator.Faults{InternalError: 0.15, Unavailable: 0.15, Drop: 0.1, DropAfterApply: 0.1,
			SpikeRate: 0.05, LatencySpike: 2 * time.Second},
	})
	v1, v2 := world{}, world{}
	for i := range 20 {
		k, ak := fmt.Sprintf("hcloud/%d", i), fmt.Sprintf("HPUA%010d", i)
		emu.Seed(seed("hcloud", fmt.Sprint(i), "old", ak))
		v1[k], v2[k] = "v1|"+ak, "v1|"+ak
		if i%2 == 0 {
			v2[k] = "v2|" + ak
		}
	}
	for i := range 10 {
		k, ak := fmt.Sprintf("qcloud/n%d", i), fmt.Sprintf("AKIDNEW%07d", i)
		v1[k], v2[k] = "new|"+ak, "new|"+ak
	}
	for i := range 5 {
		emu.Seed(seed("qcloud", fmt.Sprintf("u%d", i), "unmanaged", fmt.Sprintf("AKIDOLD%07d", i)))
	}
	path := filepath.Join(t.TempDir(), "desired.yaml")
	writeFile(t, path, v1.file())
	p := startBinary(t, nil, "run", "-f", path, "--endpoint", url, "--policy", "sync", "--max-change-ratio", "1",
		"--qps", "20", "--burst", "5", "--concurrency", "4", "--backoff-base", "1s", "--backoff-max", "3s",
		"--resync-interval", "2s", "--retry-attempts", "4", "--request-timeout", "5s",
		"--listen-address", "127.0.0.1:0", "--admin-address", "", "--log-format", "json")

	eventuallyWithin(t, 30*time.Second, "some changes under the storm", func() bool { return len(emu.Requests()) > 40 })
	// An invalid edit in the middle of the storm: never applied.
	writeFile(t, path, strings.Replace(v2.file(), "bindings:", "bindings: [", 1))
	eventuallyWithin(t, 10*time.Second, "the invalid edit rejected", func() bool { return strings.Contains(p.stderr.String(), "desired state rejected") })
	writeFile(t, path, v2.file())
	eventuallyWithin(t, 120*time.Second, "convergence to v2 under the storm", func() bool { return stateOf(emu).equal(v2) })

	checkRequests(t, emu, v1, v2)
	c := emu.Counts()
	t.Logf("requests by action and outcome: %v", c)
	for _, outcome := range []string{"InternalError", "ServiceUnavailable", "dropped", "Throttling.User"} {
		if countOutcome(emu, outcome) == 0 {
			t.Errorf("no %s answer: the storm did not happen", outcome)
		}
	}
	if n := countOutcome(emu, "InvalidOperation"); n > 0 {
		t.Errorf("%d BindAccount calls hit 'already bound': a bind was resent blindly", n)
	}
	if p.cmd.ProcessState != nil {
		t.Fatal("the daemon died under the storm")
	}
}

func TestKillMinus9MidApplyThenRestart(t *testing.T) {
	t.Parallel()
	emu, url := startEmulator(t, emulator.Config{Faults: emulator.Faults{Latency: 300 * time.Millisecond}})
	want := world{}
	for i := range 20 {
		want[fmt.Sprintf("qcloud/%d", i)] = fmt.Sprintf("n%d|AKIDCRASH%06d", i, i)
	}
	path := filepath.Join(t.TempDir(), "desired.yaml")
	writeFile(t, path, want.file())
	args := []string{"run", "-f", path, "--endpoint", url, "--policy", "upsert", "--qps", "50", "--concurrency", "4",
		"--listen-address", "127.0.0.1:0", "--admin-address", "", "--log-format", "json"}
	first := startBinary(t, nil, args...)
	eventually(t, "binds under way", func() bool { return len(emu.Bindings()) >= 5 })
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.wait(t, 10*time.Second)
	before := len(emu.Requests())
	bound := len(emu.Bindings())
	if bound >= 20 {
		t.Fatal("everything was bound before the kill; the test proves nothing")
	}

	startBinary(t, nil, args...)
	eventually(t, "convergence after the restart", func() bool { return stateOf(emu).equal(want) })
	checkRequests(t, emu, want)
	after := emu.Requests()[before:]
	binds := 0
	for _, r := range after {
		if r.Action == cloudsiem.ActionBindAccount {
			binds++
		}
	}
	// The restart lists first: it binds only what is missing, with no
	// duplicate, no "already bound" and no error storm.
	if binds != 20-bound {
		t.Errorf("after the restart %d BindAccount calls, want exactly the %d missing", binds, 20-bound)
	}
	if n := countOutcome(emu, "InvalidOperation"); n != 0 {
		t.Errorf("%d 'already bound' answers", n)
	}
	if len(after) > 2+binds+2 {
		t.Errorf("%d requests after the restart for %d binds: an error storm", len(after), binds)
	}
}

// passesFailed counts failed passes in a JSON log.
func passesFailed(p *process) int {
	return strings.Count(p.stderr.String(), `"msg":"reconcile pass failed"`)
}

func TestAuthFailuresRecover(t *testing.T) {
	longTest(t)
	tests := []struct {
		name    string
		env     []string
		broken  []cloudsiem.Credential // what the emulator accepts while broken
		wantLog string
	}{
		{name: "wrong secret", broken: []cloudsiem.Credential{{AccessKeyID: testCred.AccessKeyID, AccessKeySecret: "rotated-secret"}}, wantLog: "SignatureDoesNotMatch"},
		{name: "revoked AccessKey", broken: []cloudsiem.Credential{{AccessKeyID: "LTAIsomeoneelse", AccessKeySecret: "x"}}, wantLog: "InvalidAccessKeyId.NotFound"},
		{name: "expired STS token", env: []string{"ALIBABA_CLOUD_SECURITY_TOKEN=sts-token-old"},
			broken: []cloudsiem.Credential{{AccessKeyID: testCred.AccessKeyID, AccessKeySecret: testCred.AccessKeySecret, SecurityToken: "sts-token-new"}}, wantLog: "InvalidSecurityToken.Expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			good := testCred
			for _, e := range tt.env {
				if v, ok := strings.CutPrefix(e, "ALIBABA_CLOUD_SECURITY_TOKEN="); ok {
					good.SecurityToken = v
				}
			}
			emu, url := startEmulator(t, emulator.Config{})
			emu.SetCredentials(good)
			emu.Seed(seed("hcloud", "1", "old", "HPUA0000000001"))
			path := filepath.Join(t.TempDir(), "desired.yaml")
			writeFile(t, path, file(binding("hcloud", "1", "v1", "HPUA0000000001")))
			p := startBinary(t, tt.env, "run", "-f", path, "--endpoint", url, "--resync-interval", "1s",
				"--listen-address", "127.0.0.1:0", "--admin-address", "", "--log-format", "json")
			eventually(t, "first convergence", func() bool { return stateOf(emu)["hcloud/1"] == "v1|HPUA0000000001" })

			emu.SetCredentials(tt.broken...)
			failedBefore := passesFailed(p)
			eventually(t, "auth failures", func() bool { return passesFailed(p) >= failedBefore+1 })
			reqBefore := len(emu.Requests())
			failedMark := passesFailed(p)
			eventually(t, "three more failed passes", func() bool { return passesFailed(p) >= failedMark+3 })
			reqs := len(emu.Requests()) - reqBefore
			// A pass sends its lists together (bindings and known keys, two
			// cloud codes each): at most 4 requests, none retried; a retry
			// of an auth error would add 4 more per list.
			if reqs > 3*4+2 {
				t.Errorf("%d requests in 3 failed passes: auth errors are being retried", reqs)
			}
			for _, r := range emu.Requests()[reqBefore:] {
				if r.Mutating() {
					t.Errorf("a mutating request while the credentials are refused: %+v", r)
				}
			}
			if !strings.Contains(p.stderr.String(), tt.wantLog) {
				t.Errorf("the log does not name %s", tt.wantLog)
			}
			var authErrors float64
			for _, m := range scrape(t, p.metrics)["bindsync_api_requests_total"].Metric {
				for _, l := range m.Label {
					if l.GetName() == "result" && l.GetValue() == "auth_error" {
						authErrors += m.GetCounter().GetValue()
					}
				}
			}
			if authErrors == 0 {
				t.Error("bindsync_api_requests_total{result=\"auth_error\"} is 0")
			}
			if resp, err := http.Get("http://" + p.metrics + "/healthz"); err != nil || resp.StatusCode != 200 {
				t.Errorf("healthz during auth failures: %v %v", resp, err)
			}

			// Credentials fixed: it recovers by itself, and repairs drift.
			emu.SetCredentials(good)
			emu.Seed(emulator.Binding{Scope: emulator.Scope{RegionID: "cn-hangzhou"}, BoundAccount: cloudsiem.BoundAccount{BindID: 1000, CloudCode: "hcloud", AccountID: "1", AccountName: "drift", AccessID: "HPUA0000000001"}})
			eventually(t, "recovery", func() bool { return stateOf(emu)["hcloud/1"] == "v1|HPUA0000000001" })
			eventually(t, "consecutive failures back to 0", func() bool { return gauge(t, p.metrics, "bindsync_consecutive_failed_reconciles") == 0 })
		})
	}
}

func TestHostileDesiredStateFiles(t *testing.T) {
	t.Parallel()
	emu, url := startEmulator(t, emulator.Config{})
	emu.Seed(seed("hcloud", "1", "old", "HPUA0000000001"), seed("hcloud", "2", "old", "HPUA0000000002"))
	dir := t.TempDir()
	path := filepath.Join(dir, "desired.yaml")
	good := file(binding("hcloud", "1", "good", "HPUA0000000001"), binding("hcloud", "2", "good", "HPUA0000000002"))
	writeFile(t, path, good)
	p := startBinary(t, nil, "run", "-f", path, "--endpoint", url, "--policy", "sync", "--max-change-ratio", "1",
		"--listen-address", "127.0.0.1:0", "--admin-address", "", "--log-format", "json")
	eventually(t, "converged", func() bool { return stateOf(emu)["hcloud/2"] == "good|HPUA0000000002" })
	converged := stateOf(emu)
	mutationsBefore := mutations(emu)

	big := make([]byte, 50<<20)
	for i := range big {
		big[i] = '#'
	}
	cases := []struct {
		name, want string
		apply      func()
	}{
		{"syntax error", "YAML syntax", func() { writeFile(t, path, "version: 1\nbindings:\n  - {cloudCode: hcloud, accountId: \"1\"\n") }},
		{"wrong types", "must be a string", func() {
			writeFile(t, path, file("  - {cloudCode: hcloud, accountId: 1, accountName: a, accessId: HPUA0000000001}\n"))
		}},
		{"unknown keys", `unknown key \"acountName\"`, func() {
			writeFile(t, path, file("  - {cloudCode: hcloud, accountId: \"1\", acountName: a, accessId: HPUA0000000001}\n"))
		}},
		{"duplicate keys", "appears twice", func() {
			writeFile(t, path, file("  - {cloudCode: hcloud, accountId: \"1\", accountName: a, accountName: b, accessId: HPUA0000000001}\n"))
		}},
		{"duplicate entries", "same identity", func() {
			writeFile(t, path, file(binding("hcloud", "1", "a", "HPUA0000000001"), binding("hcloud", "1", "b", "HPUA0000000009")))
		}},
		{"alias bomb", "anchors and aliases", func() {
			writeFile(t, path, "version: 1\na: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nbindings: [*b]\n")
		}},
		{"50 MB file", "larger than", func() {
			if err := os.WriteFile(path, big, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"binary garbage", "NUL byte", func() { writeFile(t, path, "\x7fELF\x02\x01\x01\x00\x00\x00garbage") }},
		{"invalid UTF-8", "not valid UTF-8", func() {
			writeFile(t, path, "version: 1\nbindings:\n  - {cloudCode: hcloud, accountId: \"1\", accountName: \xff\xfe, accessId: A}\n")
		}},
		{"empty file", "file is empty", func() { writeFile(t, path, "") }},
		{"emptied list", "bindings is empty", func() { writeFile(t, path, "version: 1\nbindings: []\n") }},
		{"empty accountName", "accountName must not be empty", func() {
			writeFile(t, path, file("  - {cloudCode: hcloud, accountId: \"1\", accountName: \"\", accessId: HPUA0000000001}\n"))
		}},
		{"blank accessId", "accessId must not be empty", func() {
			writeFile(t, path, file("  - {cloudCode: hcloud, accountId: \"1\", accountName: a, accessId: \"  \"}\n"))
		}},
		{"hexadecimal roleFor", "plain decimal", func() {
			writeFile(t, path, file("  - {cloudCode: hcloud, accountId: \"1\", accountName: a, accessId: HPUA0000000001, roleFor: 0x10}\n"))
		}},
		{"a FIFO in place of the file", "FIFO", func() {
			fifo := filepath.Join(dir, "fifo.tmp")
			if err := syscall.Mkfifo(fifo, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(fifo, path); err != nil {
				t.Fatal(err)
			}
		}},
		{"deleted file", "file does not exist", func() {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}},
		{"an empty directory where the file should be", "holds no *.yaml file", func() {
			if err := os.Mkdir(path, 0o755); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		mark := len(p.stderr.String())
		c.apply()
		eventually(t, c.name+" rejected", func() bool {
			s := p.stderr.String()[mark:]
			return strings.Contains(s, "desired state rejected") && strings.Contains(s, c.want)
		})
		if got := stateOf(emu); !got.equal(converged) {
			t.Fatalf("%s changed the bindings: %v", c.name, got)
		}
		if gauge(t, p.metrics, "bindsync_desired_state_last_reload_successful") != 0 {
			t.Errorf("%s: last_reload_successful is not 0", c.name)
		}
	}
	if n := mutations(emu) - mutationsBefore; n != 0 {
		t.Errorf("hostile files caused %d mutating requests", n)
	}
	// Back to a good file: accepted, and the daemon never stopped.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, strings.ReplaceAll(good, "good", "fixed"))
	eventually(t, "the fixed file applied", func() bool { return stateOf(emu)["hcloud/1"] == "fixed|HPUA0000000001" })
	if gauge(t, p.metrics, "bindsync_desired_state_last_reload_successful") != 1 {
		t.Error("last_reload_successful is not back to 1")
	}
}

// TestCommandsRefuseWhatIsNotAFile: every command refuses a FIFO at once
// (nothing blocks on opening it), and a file with an empty value sends
// nothing, not even under upsert.
func TestCommandsRefuseWhatIsNotAFile(t *testing.T) {
	t.Parallel()
	emu, url := startEmulator(t, emulator.Config{})
	dir := t.TempDir()
	fifo := filepath.Join(dir, "desired.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"validate", "-f", fifo},
		{"plan", "-f", fifo, "--endpoint", url},
		{"apply", "-f", fifo, "--endpoint", url},
		{"run", "-f", fifo, "--endpoint", url, "--listen-address", "127.0.0.1:0", "--admin-address", ""},
	} {
		cmd := exec.Command(bindsyncBinary(t), args...)
		cmd.Env = append(os.Environ(), "ALIBABA_CLOUD_ACCESS_KEY_ID="+testCred.AccessKeyID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET="+testCred.AccessKeySecret)
		done := make(chan error, 1)
		var out strings.Builder
		cmd.Stderr = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(out.String(), "FIFO") {
				t.Errorf("%s on a FIFO: %v\n%s", args[0], err, out.String())
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("%s blocked on a FIFO", args[0])
		}
	}
	path := filepath.Join(dir, "empty-name.yaml")
	writeFile(t, path, file("  - {cloudCode: qcloud, accountId: \"7\", accountName: \"\", accessId: AKID0000000007}\n"))
	code, _, errOut := runCLI(t, "apply", "-f", path, "--endpoint", url, "--policy", "upsert")
	if code != 1 || !strings.Contains(errOut, "empty-name.yaml:4") || !strings.Contains(errOut, "accountName must not be empty") {
		t.Errorf("apply of an empty accountName: exit %d: %s", code, errOut)
	}
	if n := len(emu.Requests()); n != 0 {
		t.Errorf("%d requests for a file with an empty value", n)
	}
}

// TestCollapsedListOnTheRealBinary: the service suddenly lists nothing; the
// daemon under upsert sends no BindAccount pass after pass, says why, and
// lifts the block by itself when the list comes back.
func TestCollapsedListOnTheRealBinary(t *testing.T) {
	t.Parallel()
	emu, url := startEmulator(t, emulator.Config{})
	var lines []string
	for i := range 12 {
		ak := fmt.Sprintf("HPUA%010d", i)
		emu.Seed(seed("hcloud", fmt.Sprint(i), "n", ak))
		lines = append(lines, binding("hcloud", fmt.Sprint(i), "n", ak))
	}
	path := filepath.Join(t.TempDir(), "desired.yaml")
	writeFile(t, path, file(lines...))
	p := startBinary(t, nil, "run", "-f", path, "--endpoint", url, "--policy", "upsert", "--resync-interval", "1s",
		"--listen-address", "127.0.0.1:0", "--admin-address", "", "--log-format", "json")
	eventually(t, "a first pass", func() bool { return strings.Contains(p.stderr.String(), `"msg":"reconcile pass done"`) })
	saved := emu.Bindings()
	emu.SetAnswers(emulator.Answers{Envelope: true, OmitEmptyData: true})
	for _, b := range saved {
		emu.Delete(b.BindID)
	}
	eventually(t, "the collapse gated", func() bool { return gauge(t, p.metrics, "bindsync_safety_gate_blocked") == 1 })
	mark := len(emu.Requests())
	eventually(t, "three more passes", func() bool {
		return len(emu.Requests()) >= mark+6 // two lists (hcloud, qcloud) a pass
	})
	if n := mutations(emu); n != 0 {
		t.Fatalf("%d mutating requests after the list collapsed", n)
	}
	if !strings.Contains(p.stderr.String(), "observed state collapsed") {
		t.Error("the log does not say the observed state collapsed")
	}
	emu.Seed(saved...)
	eventually(t, "the block lifted", func() bool { return gauge(t, p.metrics, "bindsync_safety_gate_blocked") == 0 })
	if n := mutations(emu); n != 0 {
		t.Fatalf("%d mutating requests", n)
	}
}

// TestRotationWaitsForTheKey: the file moves a binding to a new AccessKey
// before the key is registered in Security Center. The daemon waits without
// a failure, a backoff or a request for the unknown key, says what it waits
// for, and switches within one key re-list of the registration. A create for
// an unknown key never sends BindAccount. Masked and clear AccessId answers
// both match.
func TestRotationWaitsForTheKey(t *testing.T) {
	setCredentials(t)
	for _, masked := range []bool{false, true} {
		t.Run(fmt.Sprintf("masked=%t", masked), func(t *testing.T) {
			emu, url := startRegistryEmulator(t, emulator.Config{Answers: emulator.Answers{MaskAccessID: masked}})
			emu.Seed(seed("hcloud", "1", "prod", "HPUAOLD000000001"))
			path := filepath.Join(t.TempDir(), "desired.yaml")
			writeFile(t, path, file(binding("hcloud", "1", "prod", "HPUANEW000000001"), binding("qcloud", "2", "new", "AKIDNEW000000002")))
			code, out, _ := runCLI(t, "plan", "-f", path, "--endpoint", url, "--policy", "upsert")
			if code != exitChanges || !strings.Contains(out, "waits for AccessKey HPUA****0001") || !strings.Contains(out, "2 awaiting their AccessKey") {
				t.Fatalf("plan: exit %d\n%s", code, out)
			}
			p := startBinary(t, nil, "run", "-f", path, "--endpoint", url, "--policy", "upsert", "--key-recheck-interval", "1s",
				"--listen-address", "127.0.0.1:0", "--admin-address", "", "--log-format", "json")
			eventually(t, "awaiting_key reported", func() bool { return gaugeLabel(t, p.metrics, "bindsync_bindings", "state", "awaiting_key") == 2 })
			mark := len(emu.Requests())
			eventually(t, "two key re-lists", func() bool { return emu.Counts()[cloudsiem.ActionListAccountAccessID]["ok"] >= 6 })
			if n := mutations(emu); n != 0 {
				t.Fatalf("%d mutating requests for keys Threat Analysis does not know", n)
			}
			if passesFailed(p) != 0 || gauge(t, p.metrics, "bindsync_bindings_in_backoff") != 0 || gauge(t, p.metrics, "bindsync_consecutive_failed_reconciles") != 0 {
				t.Fatalf("waiting for a key counted as a failure:\n%s", p.stderr)
			}
			if !strings.Contains(p.stderr.String(), "waits for AccessKey HPUA****0001") {
				t.Error("the log does not say which key it waits for")
			}
			// Security Center registers the new keys.
			emu.Register(emulator.Key{CloudCode: "hcloud", AccessID: "HPUANEW000000001", AccountID: "1"}, emulator.Key{CloudCode: "qcloud", AccessID: "AKIDNEW000000002", AccountID: "2"})
			registered := time.Now()
			eventually(t, "the switch", func() bool {
				s := stateOf(emu)
				return s["hcloud/1"] == "prod|HPUANEW000000001" && s["qcloud/2"] == "new|AKIDNEW000000002"
			})
			if took := time.Since(registered); took > 5*time.Second {
				t.Errorf("switched %s after the registration, want within one re-list (1s)", took)
			}
			for _, r := range emu.Requests()[mark:] {
				if r.Mutating() && r.Status != 200 {
					t.Errorf("a mutating request failed: %+v", r)
				}
			}
			eventually(t, "awaiting_key back to 0", func() bool { return gaugeLabel(t, p.metrics, "bindsync_bindings", "state", "awaiting_key") == 0 })
		})
	}
}
