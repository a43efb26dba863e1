package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bindsync/bindsync/cloudsiem/emulator"
)

// The real binary, built once per test run.
var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func bindsyncBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "bindsync-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "bindsync")
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// process is a running bindsync binary.
type process struct {
	cmd     *exec.Cmd
	stderr  *syncBuffer
	stdout  *syncBuffer
	metrics string
	admin   string
	exited  chan struct{}
	err     error
}

var listeningLine = regexp.MustCompile(`"msg":"listening","metrics":"([^"]+)","admin":"([^"]*)"`)

// startBinary runs the binary with the test credentials and JSON logs, and
// waits until it listens.
func startBinary(t testing.TB, env []string, args ...string) *process {
	t.Helper()
	p := &process{stderr: &syncBuffer{}, stdout: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bindsyncBinary(t), args...)
	p.cmd.Env = append([]string{
		"ALIBABA_CLOUD_ACCESS_KEY_ID=" + testCred.AccessKeyID,
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET=" + testCred.AccessKeySecret,
		"ALIBABA_CLOUD_ECS_METADATA_DISABLED=true",
		"ALIBABA_CLOUD_CLI_PROFILE_DISABLED=true",
		"HOME=" + t.TempDir(),
		"PATH=" + os.Getenv("PATH"),
	}, env...)
	pr, pw := io.Pipe()
	p.cmd.Stderr = io.MultiWriter(p.stderr, pw)
	p.cmd.Stdout = p.stdout
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		pw.Close()
		close(p.exited)
	}()
	found := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if m := listeningLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- [2]string{m[1], m[2]}
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case a := <-found:
		p.metrics, p.admin = a[0], a[1]
	case <-p.exited:
		t.Fatalf("bindsync exited before listening: %v\n%s", p.err, p.stderr)
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		t.Fatalf("bindsync not listening after 20s\n%s", p.stderr)
	}
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// wait returns the exit code, failing after timeout.
func (p *process) wait(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.cmd.Process.Kill()
		t.Fatalf("bindsync did not exit within %s\n%s", timeout, p.stderr)
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		t.Fatal(p.err)
	}
	return 0
}

func TestSIGTERMDuringApplyExitsCleanly(t *testing.T) {
	t.Parallel()
	emu, url := startEmulator(t, emulator.Config{Faults: emulator.Faults{Latency: 400 * time.Millisecond}})
	var lines []string
	for i := range 20 {
		ak := fmt.Sprintf("HPUA%010d", i)
		emu.Seed(seed("hcloud", fmt.Sprint(i), "old", ak))
		lines = append(lines, binding("hcloud", fmt.Sprint(i), "new", ak))
	}
	path := filepath.Join(t.TempDir(), "desired.yaml")
	writeFile(t, path, file(lines...))
	p := startBinary(t, nil, "run", "-f", path, "--endpoint", url, "--qps", "100", "--burst", "10", "--concurrency", "4",
		"--max-change-ratio", "1", "--listen-address", "127.0.0.1:0", "--admin-address", "", "--log-format", "json")

	// Wait until calls are in flight: some modifies have completed.
	eventually(t, "modifies under way", func() bool { return emu.Counts()["ModifyBindAccount"]["ok"] >= 4 })
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM\n%s", code, p.stderr)
	}
	counts := emu.Counts()["ModifyBindAccount"]
	if counts["client_gone"] != 0 {
		t.Errorf("%d calls were cut in half by the shutdown", counts["client_gone"])
	}
	if done := counts["ok"]; done >= 20 {
		t.Errorf("all %d changes ran: SIGTERM did not stop new changes from starting", done)
	}
	// Every call the server answered was one the daemon waited for.
	if !strings.Contains(p.stderr.String(), `"msg":"stopped"`) {
		t.Errorf("no clean stop logged:\n%s", p.stderr)
	}
	applied := strings.Count(p.stderr.String(), `"msg":"change applied"`)
	if withID := regexp.MustCompile(`"msg":"change applied"[^\n]*"request_id":"[0-9A-F-]{20,}"`).FindAllString(p.stderr.String(), -1); len(withID) != applied {
		t.Errorf("%d of %d 'change applied' lines carry the RequestId", len(withID), applied)
	}
	if applied != counts["ok"] {
		t.Errorf("the server applied %d, the daemon logged %d: an answer was lost", counts["ok"], applied)
	}
}

// TestConvergesInEveryAnswerShape: the real binary converges against the
// emulator whether its answers carry the documented success envelope and
// omit an empty Data, or not.
func TestConvergesInEveryAnswerShape(t *testing.T) {
	t.Parallel()
	for _, answers := range []emulator.Answers{{}, {Envelope: true, OmitEmptyData: true}} {
		t.Run(fmt.Sprintf("envelope=%t", answers.Envelope), func(t *testing.T) {
			emu, url := startRegistryEmulator(t, emulator.Config{Answers: answers})
			var lines []string
			for i := range 6 {
				ak := fmt.Sprintf("HPUA%010d", i)
				emu.Register(emulator.Key{CloudCode: "hcloud", AccessID: ak, AccountID: fmt.Sprint(i)})
				if i < 3 {
					emu.Seed(seed("hcloud", fmt.Sprint(i), "old", ak))
				}
				lines = append(lines, binding("hcloud", fmt.Sprint(i), "new", ak))
			}
			path := filepath.Join(t.TempDir(), "desired.yaml")
			writeFile(t, path, file(lines...))
			startBinary(t, nil, "run", "-f", path, "--endpoint", url, "--policy", "upsert", "--max-change-ratio", "1",
				"--listen-address", "127.0.0.1:0", "--admin-address", "", "--log-format", "json")
			eventually(t, "convergence", func() bool {
				bs := emu.Bindings()
				if len(bs) != 6 {
					return false
				}
				for _, b := range bs {
					if b.AccountName != "new" {
						return false
					}
				}
				return true
			})
		})
	}
}
