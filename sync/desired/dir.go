package desired

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bindsync/bindsync/sync/plan"
)

// A desired state may be split over a directory: every entry directly in it
// whose name ends in .yaml or .yml, in any letter case, is one part, so teams
// can own their own files. Hidden entries are ignored (a Kubernetes
// ConfigMap's ..data machinery lives there). A part that cannot be read (a
// dangling symlink, a directory, a FIFO, no permission) makes the whole
// directory invalid: skipping it would read as "that team wants nothing",
// and under sync delete its bindings. The parts must agree on regionId; an identity or
// an accessId in two files is an error naming both files and lines; an empty
// directory is an error, never an empty desired state.

// source is what a path holds: one file, or the files of a directory.
type source struct {
	path  string
	dir   bool
	files []sourceFile // sorted by name
}

type sourceFile struct {
	name string // path as given + file name
	data []byte
}

// same reports whether s and o hold the same files with the same content.
func (s source) same(o source) bool {
	return s.dir == o.dir && slices.EqualFunc(s.files, o.files, func(a, b sourceFile) bool {
		return a.name == b.name && bytes.Equal(a.data, b.data)
	})
}

// hash covers every file's name and content.
func (s source) hash() string {
	if !s.dir && len(s.files) == 1 {
		return Hash(s.files[0].data)
	}
	h := sha256.New()
	for _, f := range s.files {
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.Base(f.name), len(f.data))
		h.Write(f.data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// readSource reads a file, or the desired-state files of a directory.
func readSource(path string) (source, error) {
	st, err := os.Stat(path)
	if err != nil {
		return source{path: path}, &Error{File: path, Problems: []Problem{{Msg: describeOpenError(err)}}}
	}
	if !st.IsDir() {
		data, err := readFile(path)
		return source{path: path, files: []sourceFile{{name: path, data: data}}}, err
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return source{path: path, dir: true}, &Error{File: path, Problems: []Problem{{Msg: describeOpenError(err)}}}
	}
	src := source{path: path, dir: true}
	total := 0
	for _, e := range entries {
		name := e.Name()
		lower := strings.ToLower(name)
		if strings.HasPrefix(name, ".") || !(strings.HasSuffix(lower, ".yaml") || strings.HasSuffix(lower, ".yml")) {
			continue
		}
		full := filepath.Join(path, name)
		data, err := readFile(full)
		if err != nil {
			return src, err
		}
		total += len(data)
		if total > MaxFileSize {
			return src, &Error{File: path, Problems: []Problem{{Msg: "the files together are larger than allowed: " + sizeLimit}}}
		}
		src.files = append(src.files, sourceFile{name: full, data: data})
	}
	slices.SortFunc(src.files, func(a, b sourceFile) int { return strings.Compare(a.name, b.name) })
	if len(src.files) == 0 {
		return src, &Error{File: path, Problems: []Problem{{Msg: "directory holds no *.yaml file (an empty directory is never read as an empty desired state)"}}}
	}
	return src, nil
}

// parseSource parses every file and merges them. caches (may be nil) holds
// an entry cache per file, for reloads.
func parseSource(src source, caches EntryCaches) (*State, error) {
	parse := func(name string, data []byte) (*State, error) {
		p := &parser{file: name}
		if caches != nil {
			if p.cache = caches[name]; p.cache == nil {
				p.cache = &EntryCache{}
				caches[name] = p.cache
			}
		}
		return parseWith(p, name, data)
	}
	if !src.dir {
		return parse(src.files[0].name, src.files[0].data)
	}
	var errs []error
	var parts []*State
	for _, f := range src.files {
		st, err := parse(f.name, f.data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		parts = append(parts, st)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	merged, err := merge(src.path, parts)
	if err != nil {
		return nil, err
	}
	merged.Hash = src.hash()
	merged.Desired.Source = merged.Hash
	return merged, nil
}

// merge joins the parts of a directory, refusing what no single file could
// see: a second regionId, and identities or accessIds used in two files.
func merge(dir string, parts []*State) (*State, error) {
	out := &State{Path: dir, RegionID: parts[0].RegionID}
	var problems []error
	type seen struct{ origin string }
	ids := map[plan.Key]seen{}
	type akKey struct {
		regionID string
		ak       string
	}
	aks := map[akKey]seen{}
	for _, p := range parts {
		if p.RegionID != out.RegionID {
			problems = append(problems, &Error{File: p.Path, Problems: []Problem{{Msg: fmt.Sprintf("regionId %s differs from %s in %s; one directory is one data center", p.RegionID, out.RegionID, parts[0].Path)}}})
			continue
		}
		out.AllowEmpty = out.AllowEmpty || p.AllowEmpty
		for _, b := range p.Desired.Bindings {
			if first, dup := ids[b.Key]; dup {
				problems = append(problems, fmt.Errorf("%s: %s/%s is also declared at %s (one identity, one file)", b.Origin, b.CloudCode, b.AccountID, first.origin))
				continue
			}
			ids[b.Key] = seen{b.Origin}
			ak := akKey{b.RegionID, b.AccessID}
			if first, dup := aks[ak]; dup {
				problems = append(problems, fmt.Errorf("%s: %s/%s uses an accessId already used at %s (an AccessKey can be bound only once per data center)", b.Origin, b.CloudCode, b.AccountID, first.origin))
				continue
			}
			aks[ak] = seen{b.Origin}
			out.Desired.Bindings = append(out.Desired.Bindings, b)
		}
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	out.Desired.Scopes = []plan.Scope{{RegionID: out.RegionID}}
	return out, nil
}
