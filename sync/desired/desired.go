// Package desired reads the desired-state file: the YAML list of bindings
// kept in git. Parse is pure and strict: unknown keys, wrong types, missing
// fields, bad values, duplicate keys, duplicate identities and duplicate
// accessIds are all errors, every one reported at once with the file, line
// and entry. Anchors and aliases are refused outright (no alias bombs), the
// file size is bounded, and an empty binding list is an error unless the
// file says allowEmpty: true, so a file emptied by accident never reads as
// "remove everything".
//
// Load is the I/O wrapper; Watcher follows the file on disk.
package desired

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"

	"github.com/bindsync/bindsync/cloudsiem"
	"github.com/bindsync/bindsync/internal/redact"
	"github.com/bindsync/bindsync/sync/plan"
	"go.yaml.in/yaml/v3"
)

// MaxFileSize bounds a desired-state file (or a directory's files together):
// 4 MiB, about 30,000 bindings. Parsing keeps a YAML node tree of about
// 30 times the file's size, so this is what loads well inside the 256 MiB
// the shipped deployments allow (BenchmarkLoadCapSizedFile: about 125 MB).
const MaxFileSize = 4 << 20

// sizeLimit says what the size limit is and why.
var sizeLimit = fmt.Sprintf("the limit is %d bytes (4 MiB, about 30,000 bindings), what bindsync loads within the 256 MiB memory limit it ships with; run one bindsync per data center or member view for more", MaxFileSize)

// maxNodes bounds the YAML node count, whatever the byte size.
const maxNodes = 1_000_000

// SchemaVersion is the only version this build reads.
const SchemaVersion = 1

// Top-level and per-binding keys. The JSON Schema beside the example file
// lists the same; a test keeps them in step.
var (
	TopLevelKeys = []string{"version", "regionId", "allowEmpty", "bindings"}
	BindingKeys  = []string{"cloudCode", "accountId", "accountName", "accessId", "roleFor", "roleType"}
	RegionIDs    = []string{cloudsiem.RegionMainland, cloudsiem.RegionOverseas}
	CloudCodes   = cloudsiem.CloudCodes[:] // the API's machine enum: the file takes what the API takes
)

// State is one valid desired state.
type State struct {
	Path       string // the file it came from
	Hash       string // sha256 of the content, hex
	RegionID   string
	AllowEmpty bool
	Desired    plan.Desired
}

// Problem is one thing wrong with a file.
type Problem struct {
	Line  int    // 1-based; 0 when the problem is the whole file
	Col   int    // 1-based column, when known
	Entry string // e.g. "bindings[3] (hcloud/0123456789)"; empty at top level
	Msg   string
}

// Error lists every problem found in one file.
type Error struct {
	File     string
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
			if p.Col > 0 {
				fmt.Fprintf(&b, ":%d", p.Col)
			}
		}
		b.WriteString(": ")
		if p.Entry != "" {
			b.WriteString(p.Entry + ": ")
		}
		b.WriteString(p.Msg)
	}
	return b.String()
}

// notRegular says what a path is instead of a YAML file.
func notRegular(m os.FileMode) string {
	kind := "not a regular file"
	switch {
	case m.IsDir():
		kind = "a directory"
	case m&os.ModeNamedPipe != 0:
		kind = "a FIFO (named pipe)"
	case m&os.ModeSocket != 0:
		kind = "a socket"
	case m&os.ModeDevice != 0 || m&os.ModeCharDevice != 0:
		kind = "a device"
	}
	return "is " + kind + ", want a regular YAML file"
}

// Load reads and parses a desired-state file, or every *.yaml file of a
// directory (see dir.go).
func Load(path string) (*State, error) {
	src, err := readSource(path)
	if err != nil {
		return nil, err
	}
	return parseSource(src, nil)
}

// EntryCaches keeps, per file, the entries of the last load (EntryCache).
type EntryCaches map[string]*EntryCache

// LoadCached is Load keeping the entries it parsed in caches, for the
// watcher that follows the file (WatchConfig.Caches): its first reload of
// a large file then parses only the entries that changed.
func LoadCached(path string, caches EntryCaches) (*State, error) {
	src, err := readSource(path)
	if err != nil {
		return nil, err
	}
	return parseSource(src, caches)
}

// readFile reads a regular file. A FIFO, a device or a socket is refused
// before anything could block on it: the open is non-blocking and the file
// is checked before it is read.
func readFile(path string) ([]byte, error) {
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, &Error{File: path, Problems: []Problem{{Msg: notRegular(fi.Mode())}}}
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, &Error{File: path, Problems: []Problem{{Msg: describeOpenError(err)}}}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, &Error{File: path, Problems: []Problem{{Msg: err.Error()}}}
	}
	if !st.Mode().IsRegular() { // replaced between the two looks
		return nil, &Error{File: path, Problems: []Problem{{Msg: notRegular(st.Mode())}}}
	}
	// Sized from the file (one read, no regrowth, for a file of megabytes);
	// a file growing meanwhile is read on to its end all the same.
	buf := bytes.NewBuffer(make([]byte, 0, min(st.Size(), MaxFileSize)+512))
	_, err = buf.ReadFrom(io.LimitReader(f, MaxFileSize+1))
	data := buf.Bytes()
	if err != nil {
		return nil, &Error{File: path, Problems: []Problem{{Msg: err.Error()}}}
	}
	return data, nil
}

func describeOpenError(err error) string {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "file does not exist (a missing file is never read as an empty desired state)"
	case errors.Is(err, os.ErrPermission):
		return "permission denied"
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// Hash returns the hex sha256 of data, as State.Hash holds it.
func Hash(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// Parse validates data as a desired-state file named name.
func Parse(name string, data []byte) (*State, error) {
	return parseWith(&parser{file: name}, name, data)
}

// ParseCached is Parse reusing, through cache, the entries an earlier parse
// of the same file read cleanly (the watcher's reloads).
func ParseCached(name string, data []byte, cache *EntryCache) (*State, error) {
	return parseWith(&parser{file: name, cache: cache}, name, data)
}

func parseWith(p *parser, name string, data []byte) (*State, error) {
	// The sha256 of a large file takes milliseconds: on a second core,
	// while the file is parsed.
	hash := make(chan string, 1)
	go func() { hash <- Hash(data) }()
	st := p.parse(data)
	sum := <-hash
	if len(p.problems) > 0 {
		return nil, &Error{File: name, Problems: p.problems}
	}
	st.Path, st.Hash = name, sum
	st.Desired.Source = st.Hash
	return st, nil
}

type parser struct {
	file     string
	problems []Problem
	// items are the entries of a block-style bindings list, parsed one at
	// a time (see splitBindings); nil: the list is in the document.
	items []item
	// fallback: an item did not parse on its own; parse the whole file.
	fallback bool
	// whole: never split the list (tests compare both ways).
	whole bool
	// cache: entries parsed by an earlier load (nil: none).
	cache *EntryCache
	// skeleton: the document parsed is a skeleton (see splitBindings).
	skeleton *skeleton
	// lastAccessLine is the accessId line of the entry binding parsed last.
	lastAccessLine int
}

func (p *parser) add(line int, entry, format string, args ...any) {
	p.problems = append(p.problems, Problem{Line: line, Entry: entry, Msg: fmt.Sprintf(format, args...)})
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (p *parser) parse(data []byte) *State {
	switch {
	case len(data) > MaxFileSize:
		p.add(0, "", "file is larger than allowed: %s", sizeLimit)
		return nil
	case len(bytes.TrimSpace(data)) == 0:
		p.add(0, "", "file is empty (a file emptied by accident must never mean 'remove everything')")
		return nil
	case !utf8.Valid(data):
		line := 1 + bytes.Count(data[:firstInvalidUTF8(data)], []byte("\n"))
		p.add(line, "", "not valid UTF-8")
		return nil
	case bytes.IndexByte(data, 0) >= 0:
		p.add(1+bytes.Count(data[:bytes.IndexByte(data, 0)], []byte("\n")), "", "contains a NUL byte: not a text file")
		return nil
	}
	if sk, items, ok := splitBindings(data); ok && !p.whole {
		// A large file is parsed entry by entry: the YAML node tree of one
		// binding at a time, not of all of them (about 30 times the file's
		// size). Anything unusual falls back to the whole-document parse,
		// which reports it.
		chunked := &parser{file: p.file, items: items, cache: p.cache, skeleton: &sk}
		if st := chunked.parseDocument(sk.text); st != nil && !chunked.fallback && len(chunked.problems) == 0 {
			return st
		}
		// A file with any problem is parsed whole again, so that what is
		// reported never depends on how the file was read.
	}
	return p.parseDocument(data)
}

// parseDocument parses one YAML document (the whole file, or its skeleton
// when the bindings come in p.items).
func (p *parser) parseDocument(data []byte) *State {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.add(0, "", "file holds no YAML document (only comments?)")
			return nil
		}
		p.yamlError(data, err)
		return nil
	}
	if p.skeleton != nil {
		p.skeleton.restoreLines(&doc)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := extra.Line
		if err != nil {
			p.yamlError(data, err)
			return nil
		}
		p.add(line, "", "more than one YAML document; a desired-state file holds exactly one")
		return nil
	}
	if n := p.checkNodes(&doc); n > maxNodes {
		p.add(0, "", "more than %d YAML nodes", maxNodes)
		return nil
	}
	if len(p.problems) > 0 {
		return nil
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		p.add(root.Line, "", "the document must be a mapping with version, regionId and bindings")
		return nil
	}
	return p.top(root)
}

func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(b)
}

func (p *parser) yamlError(data []byte, err error) {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		for _, e := range te.Errors {
			p.add(0, "", "%s", strings.TrimPrefix(e, "yaml: "))
		}
		return
	}
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		pr := locateSyntaxError(data, line, m[2])
		pr.Msg = "YAML syntax: " + pr.Msg
		p.problems = append(p.problems, pr)
		return
	}
	p.add(0, "", "YAML syntax: %s", strings.TrimPrefix(msg, "yaml: "))
}

// checkNodes refuses anchors and aliases (the alias-bomb vector; nobody needs
// them in a list of bindings) and counts nodes.
func (p *parser) checkNodes(n *yaml.Node) int {
	count := 1
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		p.add(n.Line, "", "YAML anchors and aliases are not allowed")
		return count
	}
	for _, c := range n.Content {
		count += p.checkNodes(c)
		if count > maxNodes {
			return count
		}
	}
	return count
}

// mapping walks a mapping node, reporting unknown and duplicate keys, and
// returns the value node of each known key.
func (p *parser) mapping(n *yaml.Node, entry string, allowed []string) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	keyLine := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.add(k.Line, entry, "keys must be plain names")
			continue
		}
		if first, dup := keyLine[k.Value]; dup {
			p.add(k.Line, entry, "key %q appears twice (first on line %d)", k.Value, first)
			continue
		}
		keyLine[k.Value] = k.Line
		if !slices.Contains(allowed, k.Value) {
			hint := ""
			if s := suggest(k.Value, allowed); s != "" {
				hint = fmt.Sprintf(" (did you mean %q?)", s)
			}
			p.add(k.Line, entry, "unknown key %q%s; allowed: %s", k.Value, hint, strings.Join(allowed, ", "))
			continue
		}
		out[k.Value] = v
	}
	return out
}

func suggest(key string, allowed []string) string {
	for _, a := range allowed {
		if strings.EqualFold(a, key) || strings.EqualFold(strings.ReplaceAll(a, "Id", "ID"), key) {
			return a
		}
	}
	return ""
}

func (p *parser) top(root *yaml.Node) *State {
	fields := p.mapping(root, "", TopLevelKeys)
	st := &State{RegionID: plan.DefaultRegionID}

	if v, ok := fields["version"]; !ok {
		p.add(root.Line, "", "missing required key version (want version: %d)", SchemaVersion)
	} else if n, ok := p.integer(v, "", "version"); ok && n != SchemaVersion {
		p.add(v.Line, "", "version %d is not supported; this build reads version %d", n, SchemaVersion)
	}
	if v, ok := fields["regionId"]; ok {
		if s, ok := p.str(v, "", "regionId"); ok {
			if !slices.Contains(RegionIDs, s) {
				p.add(v.Line, "", "regionId %q is not a Threat Analysis data center; want one of %s", s, strings.Join(RegionIDs, ", "))
			} else {
				st.RegionID = s
			}
		}
	}
	if v, ok := fields["allowEmpty"]; ok {
		if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
			p.add(v.Line, "", "allowEmpty must be true or false")
		} else {
			st.AllowEmpty = v.Value == "true" || v.Value == "True" || v.Value == "TRUE"
		}
	}
	st.Desired.Scopes = []plan.Scope{{RegionID: st.RegionID}}

	v, ok := fields["bindings"]
	switch {
	case !ok:
		p.add(root.Line, "", "missing required key bindings")
		return st
	case p.items != nil && v.Kind == yaml.ScalarNode && v.Tag == "!!null":
		p.bindingItems(st)
		if len(st.Desired.Bindings) == 0 && len(p.problems) == 0 && !st.AllowEmpty {
			p.add(v.Line, "", "bindings is empty; write allowEmpty: true if the desired state really is no bindings")
		}
		return st
	case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
		// "bindings:" with nothing after it: treated as an empty list below.
	case v.Kind != yaml.SequenceNode:
		p.add(v.Line, "", "bindings must be a list")
		return st
	}
	p.bindings(v, st)
	if len(st.Desired.Bindings) == 0 && len(p.problems) == 0 && !st.AllowEmpty {
		p.add(v.Line, "", "bindings is empty; write allowEmpty: true if the desired state really is no bindings")
	}
	return st
}

// seenBindings is what the entries parsed so far claimed: identities and
// AccessKeys must be unique. One file has one data center, so neither key
// carries it; the maps hold an index into claims, which keeps them small
// (a 10,000-entry reload spends most of its time here).
type seenBindings struct {
	ids    map[identity]int32
	aks    map[string]int32 // by accessId
	claims []seenAt
}

// identity is a plan.Key within one data center.
type identity struct {
	roleFor            int64
	roleType           int32
	cloudCode, account string
}

func newSeenBindings(n int) *seenBindings {
	return &seenBindings{ids: make(map[identity]int32, n), aks: make(map[string]int32, n), claims: make([]seenAt, 0, n)}
}

// seenAt is where an identity or a key was first claimed: entry i, read
// as cloudCode/accountId, on line (its label is made only for a message).
type seenAt struct {
	line          int
	i             int
	code, account string
}

func (s seenAt) entry() string { return entryLabel(s.i, s.code, s.account) }

// entryLabel names entry i of the bindings, with its identity when known.
func entryLabel(i int, code, account string) string {
	if code == "" || account == "" {
		return "bindings[" + strconv.Itoa(i) + "]"
	}
	return "bindings[" + strconv.Itoa(i) + "] (" + code + "/" + account + ")"
}

func (p *parser) bindings(seq *yaml.Node, st *State) {
	seen := newSeenBindings(len(seq.Content))
	for i, item := range seq.Content {
		p.binding(i, item, st, seen)
	}
}

// bindingItems parses the entries of p.items one at a time. An entry whose
// text a previous load of the same file parsed without a problem is taken
// from p.cache: an edit of one line of a 10,000-binding file parses one
// entry, not 10,000.
func (p *parser) bindingItems(st *State) {
	seen := newSeenBindings(len(p.items))
	st.Desired.Bindings = make([]plan.Binding, 0, len(p.items))
	nodes := 0
	walk := p.cache.walk(p.file, st.RegionID, p.items)
	for i, it := range p.items {
		if c, ok := walk.find(i); ok {
			nodes += c.nodes
			if line := it.line + c.line; line != c.originLine { // moved: its origin too
				c.b.Origin, c.originLine = p.origin(line), line
			}
			p.claim(i, "", it.line+c.line, it.line+c.accessLine, c.b, st, seen)
			walk.keep(c)
			continue
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(it.text, &doc); err != nil || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.SequenceNode || len(doc.Content[0].Content) != 1 {
			p.fallback = true
			return
		}
		shiftLines(&doc, it.line-1)
		before := len(p.problems)
		n := p.checkNodes(&doc)
		if nodes += n; nodes > maxNodes || len(p.problems) > before {
			p.fallback = true // the whole-document parse reports it
			return
		}
		kept := len(st.Desired.Bindings)
		node := doc.Content[0].Content[0]
		p.binding(i, node, st, seen)
		entry := cachedEntry{text: string(it.text)}
		if len(p.problems) == before && len(st.Desired.Bindings) > kept {
			b := st.Desired.Bindings[kept]
			entry.parsed, entry.b, entry.line, entry.accessLine, entry.nodes, entry.originLine = true, b, node.Line-it.line, p.lastAccessLine-it.line, n, node.Line
		}
		walk.keep(entry)
	}
	walk.done()
}

// shiftLines moves a node tree parsed from a part of the file to its place.
func shiftLines(n *yaml.Node, by int) {
	n.Line += by
	for _, c := range n.Content {
		shiftLines(c, by)
	}
}

// binding checks entry i and adds it to st.
func (p *parser) binding(i int, item *yaml.Node, st *State, seen *seenBindings) {
	{ // one entry
		entry := fmt.Sprintf("bindings[%d]", i)
		if item.Kind != yaml.MappingNode {
			p.add(item.Line, entry, "each binding must be a mapping with cloudCode, accountId, accountName and accessId")
			return
		}
		entry = withIdentity(entry, item)
		fields := p.mapping(item, entry, BindingKeys)
		before := len(p.problems)
		b := plan.Binding{Key: plan.Key{Scope: plan.Scope{RegionID: st.RegionID}}}

		// req reads a required string; empty or blank is as wrong as
		// missing (an empty accountName would be sent, ignored by the API
		// and "applied" again on every pass).
		req := func(name string) (string, int) {
			v, ok := fields[name]
			if !ok {
				p.add(item.Line, entry, "missing required key %s", name)
				return "", item.Line
			}
			s, ok := p.str(v, entry, name)
			if ok && strings.TrimSpace(s) == "" {
				p.add(v.Line, entry, "%s must not be empty", name)
				return "", v.Line
			}
			return s, v.Line
		}
		var line int
		b.CloudCode, line = req("cloudCode")
		if b.CloudCode != "" && !slices.Contains(CloudCodes, b.CloudCode) {
			p.add(line, entry, "cloudCode %q is not supported; want one of %s", b.CloudCode, strings.Join(CloudCodes, ", "))
		}
		b.AccountID, line = req("accountId")
		p.checkText(line, entry, "accountId", b.AccountID, 64, false)
		b.AccountName, line = req("accountName")
		p.checkText(line, entry, "accountName", b.AccountName, 128, true)
		b.AccessID, line = req("accessId")
		p.checkText(line, entry, "accessId", b.AccessID, 128, false)

		if v, ok := fields["roleFor"]; ok {
			if n, ok := p.integer(v, entry, "roleFor"); ok {
				if n < 0 {
					p.add(v.Line, entry, "roleFor must not be negative")
				}
				b.RoleFor = n
			}
		}
		if v, ok := fields["roleType"]; ok {
			if n, ok := p.integer(v, entry, "roleType"); ok {
				if n != 0 && n != 1 {
					p.add(v.Line, entry, "roleType must be 0 (current account) or 1 (whole enterprise)")
				}
				b.RoleType = int32(n)
			}
		}
		if len(p.problems) > before {
			return
		}
		b = plan.Normalize(b)
		p.lastAccessLine = fields["accessId"].Line
		p.claim(i, entry, item.Line, fields["accessId"].Line, b, st, seen)
	}
}

// claim adds parsed entry i to st, unless its identity or its AccessKey is
// already claimed by an earlier entry. entry is its label; "" makes it from
// i and b when a message needs it (an entry taken from the cache).
func (p *parser) claim(i int, entry string, line, accessLine int, b plan.Binding, st *State, seen *seenBindings) {
	if b.Origin == "" {
		b.Origin = p.origin(line)
	}
	at := seenAt{line: line, i: i, code: b.CloudCode, account: b.AccountID}
	label := func() string {
		if entry == "" {
			return at.entry()
		}
		return entry
	}
	id := identity{b.RoleFor, b.RoleType, b.CloudCode, b.AccountID}
	if first, dup := seen.ids[id]; dup {
		f := seen.claims[first]
		p.add(line, label(), "same identity as %s on line %d (cloudCode, accountId, roleFor and roleType must be unique)", f.entry(), f.line)
		return
	}
	n := int32(len(seen.claims))
	seen.claims = append(seen.claims, at)
	seen.ids[id] = n
	if first, dup := seen.aks[b.AccessID]; dup {
		f := seen.claims[first]
		p.add(accessLine, label(), "accessId is already used by %s on line %d; an AccessKey can be bound only once per data center", f.entry(), f.line)
		return
	}
	seen.aks[b.AccessID] = n
	st.Desired.Bindings = append(st.Desired.Bindings, b)
}

// origin is where a binding comes from, "file:line", for messages.
func (p *parser) origin(line int) string { return p.file + ":" + strconv.Itoa(line) }

// withIdentity appends "(cloudCode/accountId)" to an entry label when both
// are plain strings, so every problem of the entry names what it is about.
func withIdentity(entry string, item *yaml.Node) string {
	var code, account string
	for i := 0; i+1 < len(item.Content); i += 2 {
		k, v := item.Content[i], item.Content[i+1]
		if v.Kind != yaml.ScalarNode || v.Tag != "!!str" {
			continue
		}
		switch k.Value {
		case "cloudCode":
			code = v.Value
		case "accountId":
			account = v.Value
		}
	}
	if code == "" || account == "" {
		return entry
	}
	return fmt.Sprintf("%s (%s/%s)", entry, code, account)
}

// str reads a scalar that must be a string. Numbers are refused rather than
// converted: YAML would turn accountId: 0123 into 83 (octal) or drop zeros.
func (p *parser) str(v *yaml.Node, entry, name string) (string, bool) {
	if v.Kind != yaml.ScalarNode {
		p.add(v.Line, entry, "%s must be a string", name)
		return "", false
	}
	if v.Tag != "!!str" {
		switch {
		case v.Tag == "!!null":
			p.add(v.Line, entry, "%s must not be empty", name)
		case name == "accessId":
			// Never echo an AccessKey ID in clear, not even a malformed one.
			p.add(v.Line, entry, "%s must be a string; quote it (%s: \"%s\")", name, name, redact.AccessID(v.Value))
		default:
			p.add(v.Line, entry, "%s must be a string; quote it (%s: \"%s\")", name, name, v.Value)
		}
		return "", false
	}
	return v.Value, true
}

// decimal is the only integer spelling accepted: YAML would also read 0x10,
// 0o17 and 1_130_916, and 0123 as octal, silently turning a member ID into
// another one.
var decimal = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

func (p *parser) integer(v *yaml.Node, entry, name string) (int64, bool) {
	if v.Kind != yaml.ScalarNode || v.Tag != "!!int" {
		p.add(v.Line, entry, "%s must be an integer", name)
		return 0, false
	}
	if !decimal.MatchString(v.Value) {
		p.add(v.Line, entry, "%s must be a plain decimal integer (no 0x or 0o prefix, leading zero or underscore): %s", name, v.Value)
		return 0, false
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	if err != nil {
		p.add(v.Line, entry, "%s must be an integer: %v", name, err.(*strconv.NumError).Err)
		return 0, false
	}
	return n, true
}

func (p *parser) checkText(line int, entry, name, s string, maxLen int, spacesOK bool) {
	if s == "" {
		return // reported as missing or not a string already
	}
	switch {
	case strings.TrimSpace(s) == "":
		p.add(line, entry, "%s must not be blank", name)
	case utf8.RuneCountInString(s) > maxLen:
		p.add(line, entry, "%s is longer than %d characters", name, maxLen)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		p.add(line, entry, "%s contains control characters", name)
	case !spacesOK && strings.IndexFunc(s, unicode.IsSpace) >= 0:
		p.add(line, entry, "%s must not contain spaces", name)
	}
}
