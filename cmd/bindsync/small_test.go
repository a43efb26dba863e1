package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bindsync/bindsync/cloudsiem"
)

func TestHealthz(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name     string
		progress time.Time
		started  time.Time
		want     int
	}{
		{name: "recent pass", progress: now.Add(-time.Minute), started: now.Add(-time.Hour), want: 200},
		{name: "stuck loop", progress: now.Add(-20 * time.Minute), started: now.Add(-time.Hour), want: 503},
		{name: "starting, no pass yet", started: now.Add(-time.Minute), want: 200},
		{name: "never got going", started: now.Add(-20 * time.Minute), want: 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			healthz(func() time.Time { return tt.progress }, tt.started, 16*time.Minute)(w, httptest.NewRequest("GET", "/healthz", nil))
			if w.Code != tt.want {
				t.Errorf("status %d, want %d (%s)", w.Code, tt.want, w.Body)
			}
		})
	}
}

func TestEmulatorCommand(t *testing.T) {
	setCredentials(t)
	seedFile := filepath.Join(t.TempDir(), "seed.yaml")
	writeFile(t, seedFile, file(binding("hcloud", "1", "seeded", "HPUA0000000001")))
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"bindsync", "emulator", "--listen", "127.0.0.1:0", "--seed", seedFile}, func(k string) string {
			return map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_ID": testCred.AccessKeyID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": testCred.AccessKeySecret}[k]
		}, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	m := regexp.MustCompile(`listening on (http://[0-9.:]+)`).FindStringSubmatch(line)
	if m == nil || strings.Contains(line, testCred.AccessKeyID) {
		t.Fatalf("first line %q: want the address, and the key masked", line)
	}
	c, _ := cloudsiem.New(cloudsiem.Config{Endpoint: m[1], Credentials: cloudsiem.StaticCredentials(testCred)})
	got, err := c.ListBindAccount(t.Context(), cloudsiem.ListBindAccountRequest{CloudCode: "hcloud"})
	if err != nil || len(got) != 1 || got[0].AccountName != "seeded" || got[0].BindID == 0 {
		t.Fatalf("list from the standalone emulator: %+v, %v", got, err)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d", code)
	}
	// Without a key pair to accept it refuses to start.
	var errOut strings.Builder
	noEnv := func(string) string { return "" }
	if code := run(t.Context(), []string{"bindsync", "emulator", "--listen", "127.0.0.1:0"}, noEnv, io.Discard, &errOut); code != 1 || !strings.Contains(errOut.String(), "ALIBABA_CLOUD_ACCESS_KEY_ID") {
		t.Errorf("no credentials: exit %d, %s", code, errOut.String())
	}
}

func TestDemoConverges(t *testing.T) {
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	dir := t.TempDir()
	go func() {
		done <- run(ctx, []string{"bindsync", "demo", "--dir", dir, "--listen-address", "127.0.0.1:0", "--admin-address", ""}, func(string) string { return "" }, out, io.Discard)
	}()
	eventually(t, "the demo converges", func() bool { return strings.Contains(out.String(), "converged with the file.") })
	m := regexp.MustCompile(`metrics\s+(http://\S+/metrics)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no metrics URL in:\n%s", out)
	}
	resp, err := http.Get(m[1])
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %v %v", m[1], resp, err)
	}
	resp.Body.Close()
	for _, want := range []string{"update hcloud/0123456789 [cn-hangzhou]: applied", "update hcloud/0123456790 [cn-hangzhou]: applied", "pass ok: 2 changed, 2 in sync, 1 reported"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out.String(), "update hcloud/0123456789 [cn-hangzhou]: applied") != 1 {
		t.Errorf("a change is printed more than once:\n%s", out)
	}
	// The demo's working file is live: edit it and the demo converges again.
	path := filepath.Join(dir, "desired-state.yaml")
	good := string(mustRead(t, path))
	writeFile(t, path, strings.Replace(good, "accountName: tencent-logs", `accountName: ""`, 1))
	eventually(t, "the bad edit shown as readable lines", func() bool {
		return strings.Contains(out.String(), "edit rejected; the last good state stays in force:\n    "+path+":")
	})
	writeFile(t, path, strings.Replace(good, "accountName: tencent-logs", "accountName: tencent-logs-renamed", 1))
	eventually(t, "the edit applied", func() bool {
		return strings.Contains(out.String(), "update qcloud/100012345678 [cn-hangzhou]: applied")
	})
	// A second demo beside the first: its own free ports; into the same
	// directory it refuses to overwrite the file.
	var second strings.Builder
	if code := run(t.Context(), []string{"bindsync", "demo", "--dir", dir}, func(string) string { return "" }, &second, &second); code != 1 || !strings.Contains(second.String(), "never overwrites") {
		t.Errorf("a demo into a directory with a file: exit %d\n%s", code, second.String())
	}
	if got := string(mustRead(t, path)); !strings.Contains(got, "tencent-logs-renamed") {
		t.Error("the second demo overwrote the first demo's file")
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("demo exit %d", code)
	}
}

// TestTwoDemosSideBySide: with default flags, two demos run at once (free
// ports, fresh directories) and each prints where its file is.
func TestTwoDemosSideBySide(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outs := []*syncBuffer{{}, {}}
	done := make(chan int, 2)
	for _, out := range outs {
		go func() {
			done <- run(ctx, []string{"bindsync", "demo"}, func(string) string { return "" }, out, io.Discard)
		}()
	}
	files := map[string]bool{}
	for _, out := range outs {
		eventually(t, "a demo converges", func() bool { return strings.Contains(out.String(), "converged with the file.") })
		m := regexp.MustCompile(`desired-state file\s+(\S+)`).FindStringSubmatch(out.String())
		if m == nil {
			t.Fatalf("no file in:\n%s", out)
		}
		files[m[1]] = true
		defer os.RemoveAll(filepath.Dir(m[1]))
	}
	if len(files) != 2 {
		t.Errorf("the two demos share a file: %v", files)
	}
	cancel()
	for range outs {
		if code := <-done; code != 0 {
			t.Errorf("demo exit %d", code)
		}
	}
}

// TestCLIExplainsItself: help per command with its own flags and true
// defaults, one-line errors with a suggestion.
func TestCLIExplainsItself(t *testing.T) {
	noEnv := func(string) string { return "" }
	call := func(args ...string) (int, string) {
		var out strings.Builder
		code := run(t.Context(), append([]string{"bindsync"}, args...), noEnv, &out, &out)
		return code, out.String()
	}
	for _, args := range [][]string{{"help", "demo"}, {"demo", "--help"}} {
		code, out := call(args...)
		if code != 0 || !strings.Contains(out, "--listen-address\n      address of /metrics, /healthz and /readyz (default 127.0.0.1:0)") || !strings.Contains(out, "--resync-interval") {
			t.Errorf("%v: exit %d\n%s", args, code, out)
		}
	}
	code, out := call("help", "plan")
	if code != 0 || strings.Contains(out, "--backoff-base") || strings.Contains(out, "--dry-run") || !strings.Contains(out, "-o, --out") || strings.Contains(out, "`") {
		t.Errorf("help plan shows flags plan does not use, or artifacts:\n%s", out)
	}
	code, out = call("help", "validate")
	if code != 0 || strings.Contains(out, "--qps") || !strings.Contains(out, "-f, --file") {
		t.Errorf("help validate:\n%s", out)
	}
	code, out = call("plna")
	if code != 1 || strings.Count(out, "\n") != 1 || !strings.Contains(out, `did you mean "plan"`) {
		t.Errorf("unknown command: exit %d, %q", code, out)
	}
	code, out = call("apply", "--polcy", "sync")
	if code != 1 || strings.Count(out, "\n") != 1 || !strings.Contains(out, `unknown flag --polcy; did you mean "policy"`) {
		t.Errorf("unknown flag: exit %d, %q", code, out)
	}
	if code, out = call("--version"); code != 0 || !strings.Contains(out, "commit") || !strings.Contains(out, "built") {
		t.Errorf("--version: %q", out)
	}
	for in, want := range map[string]string{"127.0.0.1:9811": "http://127.0.0.1:9811", "https://admin.example:9811/": "https://admin.example:9811", "http://[::1]:9811": "http://[::1]:9811"} {
		if got, err := adminBase(in); err != nil || got != want {
			t.Errorf("adminBase(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := adminBase("ftp://x"); err == nil {
		t.Error("adminBase accepted ftp://")
	}
}
