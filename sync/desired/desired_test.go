package desired

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/bindsync/bindsync/sync/plan"
	"github.com/google/go-cmp/cmp"
)

func TestLoadValid(t *testing.T) {
	st, err := Load("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []plan.Binding{
		{Key: plan.Key{Scope: plan.Scope{RegionID: "ap-southeast-1"}, CloudCode: "hcloud", AccountID: "0123456789"}, AccountName: "huawei-prod", AccessID: "HPUAEXAMPLE0000001", Origin: "testdata/valid.yaml:4"},
		{Key: plan.Key{Scope: plan.Scope{RegionID: "ap-southeast-1", RoleFor: 1130916744880000, RoleType: 1}, CloudCode: "qcloud", AccountID: "100012345678"}, AccountName: "tencent logs", AccessID: "AKIDEXAMPLE0000002", Origin: "testdata/valid.yaml:8"},
	}
	if diff := cmp.Diff(want, st.Desired.Bindings); diff != "" {
		t.Errorf("bindings (-want +got):\n%s", diff)
	}
	if st.RegionID != "ap-southeast-1" || len(st.Hash) != 64 || st.Path != "testdata/valid.yaml" {
		t.Errorf("state = %+v", st)
	}
}

func TestExampleFileParses(t *testing.T) {
	st, err := Load("../../desired-state.example.yaml")
	if err != nil {
		t.Fatalf("the example file must stay valid: %v", err)
	}
	if len(st.Desired.Bindings) < 3 {
		t.Errorf("example has %d bindings", len(st.Desired.Bindings))
	}
}

// TestSchemaMatchesParser keeps the JSON Schema for editors in step with the parser.
func TestSchemaMatchesParser(t *testing.T) {
	data, err := os.ReadFile("../../desired-state.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Properties map[string]struct {
			Enum  []any `json:"enum"`
			Items struct {
				Properties map[string]struct {
					Enum []any `json:"enum"`
				} `json:"properties"`
			} `json:"items"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	keys := func(m map[string]any) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	top := map[string]any{}
	for k := range schema.Properties {
		top[k] = nil
	}
	item := map[string]any{}
	for k := range schema.Properties["bindings"].Items.Properties {
		item[k] = nil
	}
	sorted := func(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }
	if diff := cmp.Diff(sorted(TopLevelKeys), keys(top)); diff != "" {
		t.Errorf("top-level keys (-parser +schema):\n%s", diff)
	}
	if diff := cmp.Diff(sorted(BindingKeys), keys(item)); diff != "" {
		t.Errorf("binding keys (-parser +schema):\n%s", diff)
	}
	var regions, codes []string
	for _, v := range schema.Properties["regionId"].Enum {
		regions = append(regions, v.(string))
	}
	for _, v := range schema.Properties["bindings"].Items.Properties["cloudCode"].Enum {
		codes = append(codes, v.(string))
	}
	if !slices.Equal(regions, RegionIDs) || !slices.Equal(codes, CloudCodes) {
		t.Errorf("schema enums %v %v, parser %v %v", regions, codes, RegionIDs, CloudCodes)
	}
}

func TestInvalidFiles(t *testing.T) {
	tests := []struct {
		file string
		want []string // each must appear in the error, in this order
	}{
		{file: "many-problems.yaml", want: []string{
			`many-problems.yaml:2: unknown key "regionID" (did you mean "regionId"?)`,
			`many-problems.yaml:4: bindings[0]: cloudCode "aws" is not supported`,
			`many-problems.yaml:5: bindings[0]: accountId must be a string; quote it`,
			`many-problems.yaml:11: bindings[1] (hcloud/1): unknown key "color"`,
			`many-problems.yaml:8: bindings[1] (hcloud/1): missing required key accountName`,
			`many-problems.yaml:16: bindings[2] (hcloud/2): roleType must be 0`,
		}},
		{file: "duplicates.yaml", want: []string{
			`duplicates.yaml:7: bindings[1] (hcloud/1): same identity as bindings[0] (hcloud/1) on line 3`,
			`duplicates.yaml:14: bindings[2] (qcloud/2): accessId is already used by bindings[0] (hcloud/1) on line 3`,
			`duplicates.yaml:18: bindings[3] (qcloud/3): key "accountName" appears twice (first on line 17)`,
		}},
		{file: "alias-bomb.yaml", want: []string{"alias-bomb.yaml:2: YAML anchors and aliases are not allowed"}},
		{file: "empty-bindings.yaml", want: []string{"empty-bindings.yaml:2: bindings is empty; write allowEmpty: true"}},
		{file: "syntax.yaml", want: []string{"syntax.yaml:", "YAML syntax"}},
		{file: "empty.yaml", want: []string{"empty.yaml: file is empty"}},
		{file: "comments-only.yaml", want: []string{"comments-only.yaml: file holds no YAML document"}},
		{file: "invalid-utf8.yaml", want: []string{"invalid-utf8.yaml:4: not valid UTF-8"}},
		{file: "wrong-version.yaml", want: []string{"wrong-version.yaml:1: version 2 is not supported"}},
		{file: "two-docs.yaml", want: []string{"two-docs.yaml:4: more than one YAML document"}},
		{file: "missing.yaml", want: []string{"missing.yaml: file does not exist"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := Load(filepath.Join("testdata", tt.file))
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("err = %v, want *Error", err)
			}
			msg := err.Error()
			pos := 0
			for _, w := range tt.want {
				i := strings.Index(msg[pos:], w)
				if i < 0 {
					t.Errorf("error lacks %q (after position %d):\n%s", w, pos, msg)
					continue
				}
				pos += i
			}
		})
	}
}

func TestAllowEmpty(t *testing.T) {
	st, err := Load("testdata/allow-empty.yaml")
	if err != nil || len(st.Desired.Bindings) != 0 || !st.AllowEmpty {
		t.Fatalf("allowEmpty file: %+v, %v", st, err)
	}
	if got := st.Desired.ManagedScopes(); len(got) != 1 || got[0].RegionID != "cn-hangzhou" {
		t.Errorf("scopes = %v, want the default scope still managed", got)
	}
}

func TestHostileInput(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{name: "too large", data: []byte("version: 1\n" + strings.Repeat("#", MaxFileSize)), want: "larger than"},
		{name: "binary garbage", data: []byte{0x7f, 'E', 'L', 'F', 0, 1, 2}, want: "NUL byte"},
		{name: "scalar document", data: []byte("hello"), want: "must be a mapping"},
		{name: "list document", data: []byte("- a\n- b\n"), want: "must be a mapping"},
		{name: "bindings a string", data: []byte("version: 1\nbindings: yes\n"), want: "bindings must be a list"},
		{name: "binding a string", data: []byte("version: 1\nbindings: [x]\n"), want: "each binding must be a mapping"},
		{name: "tab indentation", data: []byte("version: 1\nbindings:\n\t- a\n"), want: "YAML syntax"},
		{name: "huge roleFor", data: []byte("version: 1\nbindings:\n  - {cloudCode: hcloud, accountId: \"1\", accountName: a, accessId: AK1, roleFor: 99999999999999999999}\n"), want: "roleFor must be an integer"},
		{name: "control characters", data: []byte("version: 1\nbindings:\n  - {cloudCode: hcloud, accountId: \"1\", accountName: \"a\\u0007\", accessId: AK1}\n"), want: "control characters"},
		{name: "null accessId", data: []byte("version: 1\nbindings:\n  - {cloudCode: hcloud, accountId: \"1\", accountName: a, accessId: }\n"), want: "accessId must not be empty"},
		{name: "numeric accessId is not echoed in clear", data: []byte("version: 1\nbindings:\n  - {cloudCode: hcloud, accountId: \"1\", accountName: a, accessId: 1234567890123}\n"), want: `quote it (accessId: "1234****0123")`},
		{name: "version missing", data: []byte("bindings:\n  - {cloudCode: hcloud, accountId: \"1\", accountName: a, accessId: AK1}\n"), want: "missing required key version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", tt.data)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"valid.yaml", "many-problems.yaml", "duplicates.yaml", "alias-bomb.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("version: 1\nbindings:\n  - cloudCode: hcloud\n    accountId: \"1\"\n    accountName: a\n    accessId: X\n  - cloudCode: hcloud\n    accountId: \"1\"\n    accountName: \"\"\n    accessId: X\nregionId: ap-southeast-1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := Parse("fuzz.yaml", data)
		// Parsing the list entry by entry must say exactly what parsing
		// the whole document says.
		whole, werr := parseWith(&parser{file: "fuzz.yaml", whole: true}, "fuzz.yaml", data)
		if fmt.Sprint(err) != fmt.Sprint(werr) || (st == nil) != (whole == nil) || st != nil && !reflect.DeepEqual(st.Desired, whole.Desired) {
			t.Fatalf("entry-by-entry and whole-document parses differ:\n%v\n%v", err, werr)
		}
		if (st == nil) == (err == nil) {
			t.Fatalf("Parse returned state %v and error %v", st, err)
		}
		if err != nil {
			var de *Error
			if !errors.As(err, &de) || len(de.Problems) == 0 {
				t.Fatalf("error %v is not a *Error with problems", err)
			}
			return
		}
		if len(st.Desired.Bindings) == 0 && !st.AllowEmpty {
			t.Fatalf("empty desired state accepted without allowEmpty")
		}
		seen := map[plan.Key]bool{}
		for _, b := range st.Desired.Bindings {
			if seen[b.Key] || b.AccessID == "" || b.AccountID == "" || b.CloudCode == "" {
				t.Fatalf("invalid binding accepted: %+v", b)
			}
			seen[b.Key] = true
		}
	})
}

// TestSyntaxErrorsPointAtTheMistake: line and column of the mistake (not of
// the block it is in), the line with a caret, and a hint for the common
// causes.
func TestSyntaxErrorsPointAtTheMistake(t *testing.T) {
	const head = "version: 1\nbindings:\n  - cloudCode: hcloud\n    accountId: \"1\"\n"
	for name, tc := range map[string]struct {
		data, want, hint string
	}{
		"mis-indented key": {head + "    accountName: a\n     accessId: X\n", "f.yaml:6:6:", "indented 5 columns"},
		"tab":              {head + "\taccountName: a\n    accessId: X\n", "f.yaml:5:1:", "tabs"},
		"unquoted colon":   {head + "    accountName: team: prod\n    accessId: X\n", "f.yaml:5:22:", `accountName: "team: prod"`},
		"missing dash":     {head + "    accountName: a\n    accessId: X\n  cloudCode: qcloud\n    accountId: \"2\"\n", "f.yaml:7:3:", "needs '- '"},
	} {
		_, err := Parse("f.yaml", []byte(tc.data))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.hint) || !strings.Contains(err.Error(), "^") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzParseCached: a reload that reuses the entries an earlier load parsed
// says exactly what a fresh parse says, whatever the two files were.
func FuzzParseCached(f *testing.F) {
	const head = "version: 1\nbindings:\n"
	entry := func(acct, name, ak string) string {
		return "  - cloudCode: hcloud\n    accountId: \"" + acct + "\"\n    accountName: " + name + "\n    accessId: " + ak + "\n"
	}
	a := head + entry("1", "a", "AK1") + entry("2", "b", "AK2")
	f.Add([]byte(a), []byte(head+entry("1", "renamed", "AK1")+entry("2", "b", "AK2")))
	f.Add([]byte(a), []byte("# a comment shifts every line\n"+a))
	f.Add([]byte(a), []byte(head+entry("2", "b", "AK2")+entry("1", "a", "AK1")))
	f.Add([]byte(a), []byte(head+entry("1", "a", "AK1")+entry("1", "a", "AK1")))
	f.Add([]byte(a), []byte("version: 1\nregionId: ap-southeast-1\nbindings:\n"+entry("1", "a", "AK1")+entry("2", "b", "AK2")))
	f.Add([]byte(a), []byte(head+entry("1", "a", "AK1")+entry("3", "c", "AK1")))
	f.Fuzz(func(t *testing.T, first, second []byte) {
		var cache EntryCache
		_, _ = ParseCached("f.yaml", first, &cache)
		got, gotErr := ParseCached("f.yaml", second, &cache)
		want, wantErr := Parse("f.yaml", second)
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || (got == nil) != (want == nil) || got != nil && !reflect.DeepEqual(got.Desired, want.Desired) {
			t.Fatalf("a cached reload differs from a fresh parse:\n%v\n%v", gotErr, wantErr)
		}
	})
}

// BenchmarkParseScaling parses files of 1,000, 10,000 and 30,000 bindings
// (the last near the 4 MiB cap) and reports the time per binding: linear
// growth keeps it flat.
func BenchmarkParseScaling(b *testing.B) {
	for _, n := range []int{1000, 10000, 30000} {
		var sb strings.Builder
		sb.WriteString("version: 1\nregionId: cn-hangzhou\nbindings:\n")
		for i := range n {
			fmt.Fprintf(&sb, "  - cloudCode: hcloud\n    accountId: \"%d\"\n    accountName: \"team-%06d-production\"\n    accessId: \"HPUA%016d\"\n", 1000000000+i, i, i)
		}
		data := []byte(sb.String())
		b.Run(fmt.Sprintf("bindings=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := Parse("f.yaml", data); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(n), "µs/binding")
		})
	}
}

// BenchmarkReloadOneEdit10k is the watcher's reload of a 10,000-binding
// file after an edit of one entry: every other entry comes from the cache.
func BenchmarkReloadOneEdit10k(b *testing.B) {
	const n = 10000
	var sb strings.Builder
	sb.WriteString("version: 1\nregionId: cn-hangzhou\nbindings:\n")
	for i := range n {
		fmt.Fprintf(&sb, "  - cloudCode: hcloud\n    accountId: \"%d\"\n    accountName: \"team-%06d-production\"\n    accessId: \"HPUA%016d\"\n", 1000000000+i, i, i)
	}
	data := []byte(sb.String())
	var cache EntryCache
	if _, err := ParseCached("f.yaml", data, &cache); err != nil {
		b.Fatal(err)
	}
	edits := [2][]byte{bytes.Replace(data, []byte("team-000000-production"), []byte("edited-a"), 1), bytes.Replace(data, []byte("team-000000-production"), []byte("edited-b"), 1)}
	i := 0
	for b.Loop() {
		i++
		if _, err := ParseCached("f.yaml", edits[i%2], &cache); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/reload")
}
