package desired

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func teamFile(region string, bindings ...string) string {
	return "version: 1\nregionId: " + region + "\nbindings:\n" + strings.Join(bindings, "")
}

func entry(code, account, name, ak string) string {
	return "  - cloudCode: " + code + "\n    accountId: \"" + account + "\"\n    accountName: " + name + "\n    accessId: " + ak + "\n"
}

func TestLoadDirectory(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "team-a.yaml"), teamFile("cn-hangzhou", entry("hcloud", "1", "a", "HPUA0000000001")))
	writeFile(t, filepath.Join(dir, "team-b.yml"), teamFile("cn-hangzhou", entry("qcloud", "2", "b", "AKID0000000002")))
	writeFile(t, filepath.Join(dir, ".hidden.yaml"), "not: [yaml")
	writeFile(t, filepath.Join(dir, "README.md"), "# not yaml")
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "sub", "ignored.yaml"), "not: [yaml")
	st, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Desired.Bindings) != 2 || st.Hash == "" || st.Desired.Source != st.Hash {
		t.Fatalf("state = %+v", st)
	}
	if !strings.HasSuffix(st.Desired.Bindings[0].Origin, "team-a.yaml:4") {
		t.Errorf("origin %q does not name the file and line", st.Desired.Bindings[0].Origin)
	}
	h1 := st.Hash
	writeFile(t, filepath.Join(dir, "team-b.yml"), teamFile("cn-hangzhou", entry("qcloud", "2", "b2", "AKID0000000002")))
	if st, _ := Load(dir); st.Hash == h1 {
		t.Error("the hash ignores a file's content")
	}
}

func TestDirectoryConflicts(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{
			name: "same identity in two files",
			files: map[string]string{
				"a.yaml": teamFile("cn-hangzhou", entry("hcloud", "1", "a", "HPUA0000000001")),
				"b.yaml": teamFile("cn-hangzhou", entry("qcloud", "9", "x", "AKID0000000009"), entry("hcloud", "1", "b", "HPUA0000000002")),
			},
			want: []string{"b.yaml:8: hcloud/1 is also declared at", "a.yaml:4"},
		},
		{
			name: "same accessId in two files",
			files: map[string]string{
				"a.yaml": teamFile("cn-hangzhou", entry("hcloud", "1", "a", "HPUA0000000001")),
				"b.yaml": teamFile("cn-hangzhou", entry("hcloud", "2", "b", "HPUA0000000001")),
			},
			want: []string{"b.yaml:4: hcloud/2 uses an accessId already used at", "a.yaml:4"},
		},
		{
			name: "two data centers",
			files: map[string]string{
				"a.yaml": teamFile("cn-hangzhou", entry("hcloud", "1", "a", "HPUA0000000001")),
				"b.yaml": teamFile("ap-southeast-1", entry("hcloud", "2", "b", "HPUA0000000002")),
			},
			want: []string{"b.yaml: regionId ap-southeast-1 differs from cn-hangzhou"},
		},
		{
			name: "errors in several files are all reported",
			files: map[string]string{
				"a.yaml": teamFile("cn-hangzhou", entry("aws", "1", "a", "HPUA0000000001")),
				"b.yaml": "version: 1\nbindings: []\n",
			},
			want: []string{"a.yaml:4: bindings[0] (aws/1): cloudCode", "b.yaml:2: bindings is empty"},
		},
		{name: "empty directory", files: map[string]string{}, want: []string{"holds no *.yaml file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, data := range tt.files {
				writeFile(t, filepath.Join(dir, name), data)
			}
			_, err := Load(dir)
			if err == nil {
				t.Fatal("loaded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestWatchDirectoryAddAndRemove(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), teamFile("cn-hangzhou", entry("hcloud", "1", "a", "HPUA0000000001")))
	var l loads
	_, out := startWatcher(t, dir, &l)
	writeFile(t, filepath.Join(dir, "b.yaml"), teamFile("cn-hangzhou", entry("qcloud", "2", "b", "AKID0000000002")))
	if st := next(t, out); len(st.Desired.Bindings) != 2 {
		t.Fatalf("after adding b.yaml: %d bindings", len(st.Desired.Bindings))
	}
	if err := os.Remove(filepath.Join(dir, "a.yaml")); err != nil {
		t.Fatal(err)
	}
	if st := next(t, out); len(st.Desired.Bindings) != 1 || st.Desired.Bindings[0].CloudCode != "qcloud" {
		t.Fatalf("after removing a.yaml: %+v", st.Desired.Bindings)
	}
	// Removing the last file is an error, not an empty state.
	if err := os.Remove(filepath.Join(dir, "b.yaml")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the empty directory rejected", func() bool { _, errs := l.get(); return errs > 0 })
}
