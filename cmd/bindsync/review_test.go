package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bindsync/bindsync/cloudsiem"
	"github.com/bindsync/bindsync/cloudsiem/emulator"
	"github.com/bindsync/bindsync/sync/plan"
)

func TestSavedPlans(t *testing.T) {
	setCredentials(t)
	setup := func(t *testing.T) (*emulator.Emulator, string, string, string) {
		emu, url := startEmulator(t, emulator.Config{})
		emu.Seed(seed("hcloud", "1", "old", "HPUA0000000001"), seed("hcloud", "2", "old", "HPUA0000000002"))
		dir := t.TempDir()
		path := filepath.Join(dir, "desired.yaml")
		writeFile(t, path, file(binding("hcloud", "1", "new", "HPUA0000000001"), binding("hcloud", "2", "new", "HPUA0000000002"), binding("qcloud", "3", "created", "AKID0000000003")))
		saved := filepath.Join(dir, "plan.json")
		if code, out, errOut := runCLI(t, "plan", "-f", path, "--endpoint", url, "--policy", "upsert", "--out", saved); code != 2 {
			t.Fatalf("plan --out: exit %d\n%s\n%s", code, out, errOut)
		}
		return emu, url, path, saved
	}

	t.Run("applies exactly the reviewed plan", func(t *testing.T) {
		emu, url, _, saved := setup(t)
		data := string(mustRead(t, saved))
		if strings.Contains(data, "AKID0000000003") || !strings.Contains(data, `"digest"`) || !strings.Contains(data, `"op": "create"`) {
			t.Fatalf("saved plan:\n%s", data)
		}
		var sp plan.Saved
		if err := json.Unmarshal([]byte(data), &sp); err != nil || len(sp.Changes) != 3 || !strings.Contains(sp.Text, "+ create qcloud/3") {
			t.Fatalf("saved plan does not parse as a bindsync plan: %v", err)
		}
		// As the hint says: no flags, the plan records file, policy and endpoint.
		if sp.Endpoint != url || sp.Options.Policy != "upsert" || !filepath.IsAbs(sp.File) {
			t.Fatalf("the saved plan does not record what it was made with: %+v", sp)
		}
		if code, out, errOut := runCLI(t, "apply", "--plan", saved); code != 0 {
			t.Fatalf("apply --plan: exit %d\n%s\n%s", code, out, errOut)
		}
		if got := stateOf(emu); got["qcloud/3"] != "created|AKID0000000003" || got["hcloud/1"] != "new|HPUA0000000001" {
			t.Errorf("state after apply --plan: %v", got)
		}
	})

	stale := []struct {
		name   string
		change func(t *testing.T, emu *emulator.Emulator, path string) []string // returns extra apply args
		want   string
	}{
		{name: "file changed", want: "the desired-state file changed since the plan", change: func(t *testing.T, emu *emulator.Emulator, path string) []string {
			writeFile(t, path, strings.Replace(string(mustRead(t, path)), "created", "created-later", 1))
			return nil
		}},
		{name: "binding changed on the server", want: "hcloud/2 [cn-hangzhou]: the binding changed on the server since the plan", change: func(t *testing.T, emu *emulator.Emulator, path string) []string {
			emu.Seed(emulator.Binding{Scope: emulator.Scope{RegionID: "cn-hangzhou"}, BoundAccount: cloudsiem.BoundAccount{BindID: 1001, CloudCode: "hcloud", AccountID: "2", AccountName: "renamed-by-hand", AccessID: "HPUA0000000002"}})
			return []string{"--policy", "upsert"}
		}},
	}
	t.Run("refuses flags that contradict the plan, and a plan report", func(t *testing.T) {
		emu, url, path, saved := setup(t)
		code, _, errOut := runCLI(t, "apply", "--plan", saved, "--policy", "sync", "--endpoint", url)
		if code != 1 || !strings.Contains(errOut, `--policy sync (the plan was made with "upsert")`) || strings.Contains(errOut, "--endpoint") {
			t.Errorf("contradicting flag: exit %d\n%s", code, errOut)
		}
		report := filepath.Join(t.TempDir(), "report.json")
		_, out, _ := runCLI(t, "plan", "-f", path, "--endpoint", url, "--output", "json")
		writeFile(t, report, out)
		code, _, errOut = runCLI(t, "apply", "--plan", report)
		if code != 1 || !strings.Contains(errOut, "is a plan report") || !strings.Contains(errOut, "--out") {
			t.Errorf("a report given to apply --plan: exit %d\n%s", code, errOut)
		}
		if mutations(emu) != 0 {
			t.Error("a refused apply changed something")
		}
	})
	for _, tt := range stale {
		t.Run("refuses a stale plan: "+tt.name, func(t *testing.T) {
			emu, url, path, saved := setup(t)
			extra := tt.change(t, emu, path)
			before := mutations(emu)
			_ = url
			code, _, errOut := runCLI(t, append([]string{"apply", "--plan", saved}, extra...)...)
			if code != 1 || !strings.Contains(errOut, "stale") || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, want 1 saying %q:\n%s", code, tt.want, errOut)
			}
			if n := mutations(emu) - before; n != 0 {
				t.Errorf("a stale plan made %d changes", n)
			}
		})
	}
}

func blockedWorld(t *testing.T) (*emulator.Emulator, string, string) {
	emu, url := startEmulator(t, emulator.Config{})
	var lines []string
	for i := range 10 {
		ak := fmt.Sprintf("HPUA%010d", i)
		emu.Seed(seed("hcloud", fmt.Sprint(i), "n", ak))
		if i < 5 {
			lines = append(lines, binding("hcloud", fmt.Sprint(i), "n", ak))
		}
	}
	path := filepath.Join(t.TempDir(), "desired.yaml")
	writeFile(t, path, file(lines...))
	return emu, url, path
}

func TestApproveABlockedPlan(t *testing.T) {
	setCredentials(t)
	emu, url, path := blockedWorld(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	writeFile(t, tokenFile, "s3cret-admin-token-0123456789\n")
	if code := run(t.Context(), []string{"bindsync", "run", "-f", path, "--endpoint", url, "--admin-token-file", tokenFile, "--listen-address", "127.0.0.1:0", "--admin-address", "127.0.0.1:0"},
		os.Getenv, io.Discard, io.Discard); code != exitError {
		t.Fatalf("a token file readable by others was accepted (exit %d)", code)
	}
	if err := os.Chmod(tokenFile, 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, "-f", path, "--endpoint", url, "--policy", "sync", "--admin-token-file", tokenFile)
	eventually(t, "the gate blocks", func() bool { return gauge(t, d.metrics, "bindsync_safety_gate_blocked") == 1 })
	if len(emu.Bindings()) != 10 {
		t.Fatal("a blocked plan deleted something")
	}

	call := func(method, addr, path, token string) (int, string) {
		header := map[string]string{}
		if token != "" {
			header["Authorization"] = "Bearer " + token
		}
		return adminCall(t, method, "http://"+addr+path, header)
	}
	get := func(addr, path, token string) (int, string) { return call(http.MethodGet, addr, path, token) }
	post := func(addr, path, token string) (int, string) { return call(http.MethodPost, addr, path, token) }
	const token = "s3cret-admin-token-0123456789"
	if code, _ := get(d.admin, "/-/plan", ""); code != http.StatusUnauthorized {
		t.Errorf("GET /-/plan without the token: %d", code)
	}
	code, body := get(d.admin, "/-/plan", token)
	var shown struct {
		Hash    string `json:"hash"`
		Blocked bool   `json:"blocked"`
		Text    string `json:"text"`
	}
	if err := json.Unmarshal([]byte(body), &shown); err != nil || code != 200 || !shown.Blocked || len(shown.Hash) != 64 || !strings.Contains(shown.Text, "- delete hcloud/9") {
		t.Fatalf("GET /-/plan: %d %s", code, body)
	}
	if strings.Contains(body, "HPUA0000000009") {
		t.Error("/-/plan shows an AccessKey ID in clear")
	}
	if code, _ := post(d.admin, "/-/approve?plan="+shown.Hash, ""); code != http.StatusUnauthorized {
		t.Errorf("approve without the token: %d", code)
	}
	if code, _ := post(d.admin, "/-/approve?plan="+shown.Hash, "wrong-token-wrong-token"); code != http.StatusUnauthorized {
		t.Errorf("approve with a wrong token: %d", code)
	}
	if code, _ := post(d.metrics, "/-/approve?plan="+shown.Hash, token); code < 400 {
		t.Errorf("approve on the metrics address: %d", code)
	}
	if code, _ := post(d.admin, "/-/approve?plan="+strings.Repeat("0", 64), token); code != http.StatusConflict {
		t.Errorf("approve of another hash: %d", code)
	}
	if len(emu.Bindings()) != 10 {
		t.Fatal("refused approvals changed something")
	}

	// The CLI convenience, with the token from a file.
	var out strings.Builder
	if code := run(t.Context(), []string{"bindsync", "approve", "--address", d.admin, "--token-file", tokenFile}, os.Getenv, &out, io.Discard); code != 0 || !strings.Contains(out.String(), "--hash "+shown.Hash) {
		t.Fatalf("bindsync approve (show): exit %d\n%s", code, out.String())
	}
	out.Reset()
	if code := run(t.Context(), []string{"bindsync", "approve", "--address", d.admin, "--token-file", tokenFile, "--hash", shown.Hash}, os.Getenv, &out, io.Discard); code != 0 {
		t.Fatalf("bindsync approve: exit %d\n%s", code, out.String())
	}
	eventually(t, "the approved plan applied", func() bool { return len(emu.Bindings()) == 5 })

	// Exactly once: a new mass delete is blocked again.
	for i := 10; i < 20; i++ {
		emu.Seed(seed("hcloud", fmt.Sprint(i), "n", fmt.Sprintf("HPUA%010d", i)))
	}
	before := len(emu.Requests())
	if code, _ := post(d.admin, "/-/reload", token); code != http.StatusOK {
		t.Fatal("reload refused")
	}
	eventually(t, "a new pass", func() bool { return len(emu.Requests()) > before+1 })
	eventually(t, "blocked again", func() bool { return gauge(t, d.metrics, "bindsync_safety_gate_blocked") == 1 })
	if n := len(emu.Bindings()); n != 15 {
		t.Errorf("%d bindings: the approval was used twice", n)
	}
}

func TestAdminAddressNeedsATokenOffLoopback(t *testing.T) {
	setCredentials(t)
	_, url, path := blockedWorld(t)
	code, _, errOut := runCLI(t, "run", "-f", path, "--endpoint", url, "--listen-address", "127.0.0.1:0", "--admin-address", "0.0.0.0:0")
	if code != 1 || !strings.Contains(errOut, "--admin-token-file") {
		t.Errorf("exit %d: %s", code, errOut)
	}
}

func TestDaemonFollowsADirectoryOfTeamFiles(t *testing.T) {
	setCredentials(t)
	emu, url := startEmulator(t, emulator.Config{})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "team-a.yaml"), file(binding("hcloud", "1", "a", "HPUA0000000001")))
	writeFile(t, filepath.Join(dir, "team-b.yaml"), file(binding("qcloud", "2", "b", "AKID0000000002")))
	startDaemon(t, "-f", dir, "--endpoint", url, "--policy", "sync", "--max-change-ratio", "1")
	eventually(t, "both teams bound", func() bool { s := stateOf(emu); return len(s) == 2 && s["qcloud/2"] == "b|AKID0000000002" })
	writeFile(t, filepath.Join(dir, "team-c.yaml"), file(binding("hcloud", "3", "c", "HPUA0000000003")))
	eventually(t, "a new team file applied", func() bool { return stateOf(emu)["hcloud/3"] == "c|HPUA0000000003" })
	if err := os.Remove(filepath.Join(dir, "team-b.yaml")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a removed team file's binding deleted (sync)", func() bool { _, ok := stateOf(emu)["qcloud/2"]; return !ok && len(stateOf(emu)) == 2 })
	// The same identity in two files is rejected, naming both.
	writeFile(t, filepath.Join(dir, "team-d.yaml"), file(binding("hcloud", "3", "dup", "HPUA0000000004")))
	code, _, errOut := runCLI(t, "validate", "-f", dir)
	if code != 1 || !strings.Contains(errOut, "team-d.yaml:4") || !strings.Contains(errOut, "team-c.yaml:4") {
		t.Errorf("validate of a directory with a cross-file duplicate: exit %d\n%s", code, errOut)
	}
}
