package desired

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

// TestSchemaAgreesWithParser feeds the same files to the parser and to the
// JSON Schema that editors use: both must refuse the bad ones and accept the
// good ones. (Integers spelled 0x10 or 0123 cannot be told apart by a schema,
// which sees the decoded number; TestDecimalIntegersOnly covers the parser.)
func TestSchemaAgreesWithParser(t *testing.T) {
	c := jsonschema.NewCompiler()
	schema, err := c.Compile("../../desired-state.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	const head = "version: 1\nbindings:\n"
	ok := func(k, v string) string {
		fields := map[string]string{"cloudCode": "hcloud", "accountId": `"1"`, "accountName": "n", "accessId": "HPUA0000000001"}
		fields[k] = v
		var parts []string
		for _, k := range []string{"cloudCode", "accountId", "accountName", "accessId"} {
			if fields[k] != "<absent>" {
				parts = append(parts, k+": "+fields[k])
			}
		}
		return head + "  - {" + strings.Join(parts, ", ") + "}\n"
	}
	cases := map[string]struct {
		yaml string
		good bool
	}{
		"good":                         {ok("accountName", "n"), true},
		"empty list with allowEmpty":   {"version: 1\nallowEmpty: true\nbindings: []\n", true},
		"null list with allowEmpty":    {"version: 1\nallowEmpty: true\nbindings:\n", true},
		"empty accountName":            {ok("accountName", `""`), false},
		"blank accountName":            {ok("accountName", `"   "`), false},
		"empty accessId":               {ok("accessId", `""`), false},
		"blank accessId":               {ok("accessId", `" "`), false},
		"empty accountId":              {ok("accountId", `""`), false},
		"empty cloudCode":              {ok("cloudCode", `""`), false},
		"missing accessId":             {ok("accessId", "<absent>"), false},
		"empty list":                   {"version: 1\nbindings: []\n", false},
		"null list":                    {"version: 1\nbindings:\n", false},
		"empty list, allowEmpty false": {"version: 1\nallowEmpty: false\nbindings: []\n", false},
	}
	for name, tc := range cases {
		_, perr := Parse("f.yaml", []byte(tc.yaml))
		var doc any
		if err := yaml.Unmarshal([]byte(tc.yaml), &doc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// Through JSON, as an editor's language server sees it.
		raw, _ := json.Marshal(doc)
		inst, _ := jsonschema.UnmarshalJSON(strings.NewReader(string(raw)))
		serr := schema.Validate(inst)
		if (perr == nil) != tc.good || (serr == nil) != tc.good {
			t.Errorf("%s: parser err %v, schema err %v; want good=%t", name, perr, serr, tc.good)
		}
	}
}

func TestDecimalIntegersOnly(t *testing.T) {
	for _, v := range []string{"0x10", "0o17", "1_130_916", "0123", "+5"} {
		data := "version: 1\nbindings:\n  - {cloudCode: hcloud, accountId: \"1\", accountName: n, accessId: HPUA0000000001, roleFor: " + v + "}\n"
		_, err := Parse("f.yaml", []byte(data))
		if err == nil || !strings.Contains(err.Error(), "f.yaml:3") || !strings.Contains(err.Error(), "decimal") {
			t.Errorf("roleFor: %s: err = %v", v, err)
		}
	}
	data := "version: 1\nbindings:\n  - {cloudCode: hcloud, accountId: \"1\", accountName: n, accessId: HPUA0000000001, roleFor: 1130916744880000, roleType: 1}\n"
	if st, err := Parse("f.yaml", []byte(data)); err != nil || st.Desired.Bindings[0].RoleFor != 1130916744880000 {
		t.Errorf("plain decimal: %v", err)
	}
}

// TestNotRegularFilesAreRefusedAtOnce: a FIFO, a socket or a device in place
// of the file, or of a part of a directory, is refused without blocking.
func TestNotRegularFilesAreRefusedAtOnce(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("mkfifo and sockets as files: linux only")
	}
	dir := t.TempDir()
	fifo := filepath.Join(dir, "desired.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	teams := t.TempDir()
	if err := os.WriteFile(filepath.Join(teams, "a.yaml"), []byte(content("a")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(teams, "b.YML"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{fifo, teams, "/dev/zero", "/dev/null"} {
		done := make(chan error, 1)
		go func() { _, err := Load(path); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "want a regular YAML file") {
				t.Errorf("%s: err = %v", path, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: Load blocked", path)
		}
	}
}

// TestDirectoryEntriesThatCannotBeRead: any *.yaml/*.yml entry (any case)
// that cannot be read makes the directory invalid, naming it.
func TestDirectoryEntriesThatCannotBeRead(t *testing.T) {
	for name, setup := range map[string]func(dir string) string{
		"dangling symlink": func(dir string) string {
			p := filepath.Join(dir, "team-b.yaml")
			_ = os.Symlink(filepath.Join(dir, "gone.yaml"), p)
			return p
		},
		"directory named like a part": func(dir string) string {
			p := filepath.Join(dir, "team-b.yml")
			_ = os.Mkdir(p, 0o755)
			return p
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "team-a.yaml"), []byte(content("a")), 0o644); err != nil {
				t.Fatal(err)
			}
			bad := setup(dir)
			_, err := Load(dir)
			if err == nil || !strings.Contains(err.Error(), bad) {
				t.Errorf("err = %v, want one naming %s", err, bad)
			}
		})
	}
	// Upper-case extensions are parts too.
	dir := t.TempDir()
	_ = os.WriteFile(filepath.Join(dir, "a.YAML"), []byte(content("a")), 0o644)
	other := strings.Replace(content("b"), `accountId: "1"`, `accountId: "2"`, 1)
	other = strings.Replace(other, "HPUA0000000001", "HPUA0000000002", 1)
	_ = os.WriteFile(filepath.Join(dir, "b.Yml"), []byte(other), 0o644)
	if st, err := Load(dir); err != nil || len(st.Desired.Bindings) != 2 {
		t.Errorf("upper-case extensions: %v", err)
	}
}
