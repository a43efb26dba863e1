package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bindsync/bindsync/cloudsiem"
	"github.com/bindsync/bindsync/cloudsiem/emulator"
)

func TestImportRoundTrip(t *testing.T) {
	setCredentials(t)
	member := emulator.Scope{RegionID: "cn-hangzhou", RoleFor: 1130916744880000, RoleType: 1}
	own := emulator.Scope{RegionID: "cn-hangzhou"}
	bind := func(s emulator.Scope, code, account, name, ak string, ds int64) emulator.Binding {
		return emulator.Binding{Scope: s, BoundAccount: cloudsiem.BoundAccount{CloudCode: code, AccountID: account, AccountName: name, AccessID: ak, DataSourceCount: ds}}
	}
	tests := []struct {
		name     string
		seeds    []emulator.Binding
		args     []string
		want     []string // in the file
		warnings []string
	}{
		{
			name: "own view with awkward values",
			seeds: []emulator.Binding{
				bind(own, "qcloud", "100012345678", "tencent logs: prod", "AKIDEXAMPLE0000002", 0),
				bind(own, "hcloud", "0123456789", "yes", "123e4567", 2),
				bind(own, "hcloud", "0000000001", "#not a comment", "HPUAEXAMPLE0000003", 0),
				bind(member, "hcloud", "555", "member only", "HPUAEXAMPLE0000005", 0),
			},
			want: []string{`accountId: "0123456789"`, `accountName: "yes"`, `accessId: "123e4567"`, `accountName: "#not a comment"`, "# 2 data sources", "regionId: cn-hangzhou", "# Imported by bindsync"},
		},
		{
			name:  "a member's view",
			seeds: []emulator.Binding{bind(member, "hcloud", "555", "member", "HPUAEXAMPLE0000005", 0), bind(own, "hcloud", "1", "own", "HPUAEXAMPLE0000001", 0)},
			args:  []string{"--role-for", "1130916744880000", "--role-type", "1"},
			want:  []string{"roleFor: 1130916744880000", "roleType: 1", "view roleFor=1130916744880000 roleType=1"},
		},
		{
			name:  "only one cloud code",
			seeds: []emulator.Binding{bind(own, "hcloud", "1", "h", "HPUAEXAMPLE0000001", 0), bind(own, "qcloud", "2", "q", "AKIDEXAMPLE0000002", 0)},
			args:  []string{"--cloud-code", "qcloud"},
			want:  []string{"qcloud", "cloud codes qcloud"},
		},
		{
			name: "nothing bound",
			want: []string{"allowEmpty: true", "bindings: []"},
		},
		{
			name:     "an identity bound twice",
			seeds:    []emulator.Binding{bind(own, "hcloud", "1", "first", "HPUAEXAMPLE0000001", 0), bind(own, "hcloud", "1", "second", "HPUAEXAMPLE0000002", 0)},
			want:     []string{"first"},
			warnings: []string{"hcloud/1 is bound twice"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emu, url := startEmulator(t, emulator.Config{})
			emu.Seed(tt.seeds...)
			out := filepath.Join(t.TempDir(), "imported.yaml")
			code, _, errOut := runCLI(t, append([]string{"import", "--endpoint", url, "-o", out}, tt.args...)...)
			if code != 0 {
				t.Fatalf("import: exit %d\n%s", code, errOut)
			}
			data := string(mustRead(t, out))
			for _, w := range tt.want {
				if !strings.Contains(data, w) {
					t.Errorf("imported file lacks %q:\n%s", w, data)
				}
			}
			for _, w := range tt.warnings {
				if !strings.Contains(errOut, w) {
					t.Errorf("no warning %q:\n%s", w, errOut)
				}
			}
			if code, _, errOut := runCLI(t, "validate", "-f", out); code != 0 {
				t.Fatalf("validate rejects the imported file:\n%s\n%s", errOut, data)
			}
			if tt.warnings != nil {
				return // a conflict cannot round-trip: the plan reports it
			}
			before := len(emu.Requests())
			if code, planOut, errOut := runCLI(t, "plan", "-f", out, "--endpoint", url, "--policy", "upsert"); code != 0 {
				t.Errorf("plan after import: exit %d, want 0 (no changes)\n%s\n%s\n%s", code, planOut, errOut, data)
			}
			if mutations(emu) != 0 || len(emu.Requests()) == before {
				t.Error("plan did not list, or changed something")
			}
			// Deterministic: a second import writes the same bindings.
			out2 := filepath.Join(t.TempDir(), "again.yaml")
			runCLI(t, append([]string{"import", "--endpoint", url, "-o", out2}, tt.args...)...)
			if body := func(s string) string { return s[strings.Index(s, "version:"):] }; body(data) != body(string(mustRead(t, out2))) {
				t.Error("two imports of one state differ")
			}
		})
	}
}

func TestImportNeverOverwrites(t *testing.T) {
	setCredentials(t)
	_, url := startEmulator(t, emulator.Config{})
	out := filepath.Join(t.TempDir(), "existing.yaml")
	writeFile(t, out, "precious")
	if code, _, errOut := runCLI(t, "import", "--endpoint", url, "-o", out); code != 1 || !strings.Contains(errOut, "never overwrites") {
		t.Errorf("exit %d: %s", code, errOut)
	}
	if data, _ := os.ReadFile(out); string(data) != "precious" {
		t.Error("the existing file was overwritten")
	}
}

// TestImportToStdoutAndNothingFound: -o - writes to standard output (not a
// file named "-"), and an empty view is said on stderr with where it looked.
func TestImportToStdoutAndNothingFound(t *testing.T) {
	setCredentials(t)
	_, url := startEmulator(t, emulator.Config{})
	dir := t.TempDir()
	t.Chdir(dir)
	code, out, errOut := runCLI(t, "import", "--endpoint", url, "-o", "-")
	if code != 0 || !strings.Contains(out, "allowEmpty: true") {
		t.Fatalf("import -o -: exit %d\n%s\n%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "-")); err == nil {
		t.Error("import -o - wrote a file named -")
	}
	if !strings.Contains(errOut, "no binding found in data center cn-hangzhou") || !strings.Contains(errOut, url) || !strings.Contains(errOut, "inferred") {
		t.Errorf("nothing found, but stderr says: %q", errOut)
	}
}

// TestApplySaysWhenTheListFailed: a failed list is said as such, not as
// "0 of 0 changes failed".
func TestApplySaysWhenTheListFailed(t *testing.T) {
	setCredentials(t)
	emu, url := startEmulator(t, emulator.Config{})
	emu.SetFaults(emulator.Faults{Unavailable: 1})
	path := filepath.Join(t.TempDir(), "desired.yaml")
	writeFile(t, path, file(binding("hcloud", "1", "a", "HPUA0000000001")))
	code, out, errOut := runCLI(t, "apply", "-f", path, "--endpoint", url, "--retry-attempts", "1")
	if code != 1 || strings.Contains(out+errOut, "0 of 0") || !strings.Contains(errOut, "could not list the current bindings") {
		t.Errorf("exit %d\n%s\n%s", code, out, errOut)
	}
}
