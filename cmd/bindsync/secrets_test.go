package main

import (
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bindsync/bindsync/cloudsiem"
	"github.com/bindsync/bindsync/cloudsiem/emulator"
)

// TestSecretsNeverLeak runs the real binary with known secret values through
// plan, apply, a failed apply, the daemon under faults, auth failures and a
// bad file, and scans everything it printed and served.
func TestSecretsNeverLeak(t *testing.T) {
	const (
		secret = "SECRETvalue-do-not-leak-7f3a9c"
		token  = "STStoken-do-not-leak-42e1bb"
	)
	boundAKs := []string{"HPUAEXAMPLE0000001", "HPUAEXAMPLE0000002", "AKIDEXAMPLE0000003"}
	cred := cloudsiem.Credential{AccessKeyID: testCred.AccessKeyID, AccessKeySecret: secret, SecurityToken: token}
	emu, url := startEmulator(t, emulator.Config{Faults: emulator.Faults{InternalError: 0.2}, Seed: 9})
	emu.SetCredentials(cred)
	emu.Seed(seed("hcloud", "1", "old", boundAKs[0]), seed("hcloud", "9", "x", "HPUAEXAMPLE0000009"))
	dir := t.TempDir()
	path := filepath.Join(dir, "desired.yaml")
	writeFile(t, path, file(binding("hcloud", "1", "new", boundAKs[0]), binding("hcloud", "2", "two", boundAKs[1]), binding("qcloud", "3", "three", boundAKs[2])))
	env := []string{
		"ALIBABA_CLOUD_ACCESS_KEY_ID=" + cred.AccessKeyID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET=" + secret, "ALIBABA_CLOUD_SECURITY_TOKEN=" + token,
		"ALIBABA_CLOUD_ECS_METADATA_DISABLED=true", "ALIBABA_CLOUD_CLI_PROFILE_DISABLED=true", "HOME=" + dir,
	}
	var everything strings.Builder
	runBin := func(args ...string) {
		cmd := exec.Command(bindsyncBinary(t), args...)
		cmd.Env = env
		out, _ := cmd.CombinedOutput() // exit codes vary on purpose; the output is what is checked
		everything.Write(out)
	}
	runBin("plan", "-f", path, "--endpoint", url)
	runBin("plan", "-f", path, "--endpoint", url, "--output", "json", "--policy", "sync")
	runBin("apply", "-f", path, "--endpoint", url, "--policy", "upsert", "--dry-run")
	runBin("validate", "-f", path)
	// A file whose accessId is a number: the error must not echo it in clear.
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, file("  - {cloudCode: hcloud, accountId: \"1\", accountName: a, accessId: 123456789012345}\n"))
	runBin("validate", "-f", bad)
	// Another account holds a desired AccessKey: the plan reports a conflict
	// (the API's own "already bound" message, which names the key, is masked
	// by the client; see cloudsiem's tests).
	emu.Seed(seed("qcloud", "77", "holder", boundAKs[2]))
	runBin("apply", "-f", path, "--endpoint", url, "--policy", "upsert", "--log-level", "debug")

	// The daemon: faults, then the secret rotated on the server (auth
	// errors), then a bad file, all while scraping /metrics.
	p := startBinary(t, []string{"ALIBABA_CLOUD_ACCESS_KEY_SECRET=" + secret, "ALIBABA_CLOUD_SECURITY_TOKEN=" + token},
		"run", "-f", path, "--endpoint", url, "--resync-interval", "1s", "--log-level", "debug",
		"--listen-address", "127.0.0.1:0", "--admin-address", "", "--log-format", "json")
	eventually(t, "a pass", func() bool { return passesLogged(p) >= 1 })
	emu.SetCredentials(cloudsiem.Credential{AccessKeyID: cred.AccessKeyID, AccessKeySecret: "rotated", SecurityToken: token})
	mark := passesFailed(p)
	eventually(t, "auth failures", func() bool { return passesFailed(p) > mark })
	writeFile(t, path, "version: 1\nbindings:\n  - {cloudCode: hcloud, accountId: \"1\", accountName: a, accessId: "+boundAKs[0]+", extra: x}\n")
	eventually(t, "bad file rejected", func() bool { return strings.Contains(p.stderr.String(), "desired state rejected") })
	resp, err := http.Get("http://" + p.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metricsPage, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	everything.Write(metricsPage)
	everything.WriteString(p.stderr.String())
	everything.WriteString(p.stdout.String())

	out := everything.String()
	if len(out) < 2000 {
		t.Fatalf("only %d bytes of output: the scenarios did not run", len(out))
	}
	for _, s := range append([]string{secret, token, "123456789012345"}, boundAKs...) {
		if i := strings.Index(out, s); i >= 0 {
			t.Errorf("output contains %q: ...%s...", s, out[max(0, i-120):min(len(out), i+60)])
		}
	}
	for _, masked := range []string{"HPUA****0001", "HPUA****0002", "AKID****0003"} {
		if !strings.Contains(out, masked) {
			t.Errorf("masked AccessId %s never shown: the scan may be looking at the wrong output", masked)
		}
	}
	for _, want := range []string{"SignatureDoesNotMatch", "kind=conflict", "desired state rejected"} {
		if !strings.Contains(out, want) {
			t.Errorf("scenario %q did not happen", want)
		}
	}
}
