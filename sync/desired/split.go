package desired

import (
	"bytes"
	"regexp"

	"go.yaml.in/yaml/v3"
)

// item is one entry of a block-style bindings list: its text (a slice of
// the file, not a copy) and the line it starts on.
type item struct {
	text []byte
	line int
}

var bindingsKey = regexp.MustCompile(`^bindings:[ \t]*(#.*)?$`)

// skeleton is a file with its bindings list taken out: the lines after the
// list are gap lines higher than in the file (the YAML parser would
// otherwise scan as many empty lines as the list had: 40,000 for 10,000
// bindings).
type skeleton struct {
	text  []byte
	after int // the line of the bindings key: later lines moved up
	gap   int // by this many lines
}

// splitBindings finds the bindings list of a file written in the usual
// block style and returns the file without the list's lines, and the
// list's entries, each to be parsed on its own. ok is false for anything
// else (flow style, several documents, tabs, an entry not where entries
// start): the whole file is parsed then.
func splitBindings(data []byte) (sk skeleton, items []item, ok bool) {
	type line struct{ start, end int } // data[start:end], without the newline
	lines := make([]line, 0, bytes.Count(data, []byte("\n"))+1)
	for start := 0; start <= len(data); {
		end := bytes.IndexByte(data[start:], '\n')
		if end < 0 {
			lines = append(lines, line{start, len(data)})
			break
		}
		lines = append(lines, line{start, start + end})
		start += end + 1
	}
	text := func(i int) []byte { return data[lines[i].start:lines[i].end] }
	key := -1
	for i := range lines {
		l := text(i)
		if len(l) == 0 {
			continue
		}
		if l[0] == '-' || l[0] == '.' {
			if t := bytes.TrimRight(l, " \t\r"); bytes.Equal(t, []byte("---")) || bytes.Equal(t, []byte("...")) {
				return skeleton{}, nil, false
			}
		}
		if bytes.IndexByte(leading(l), '\t') >= 0 {
			return skeleton{}, nil, false
		}
		if l[0] == 'b' && bindingsKey.Match(bytes.TrimRight(l, " \t\r")) {
			if key >= 0 {
				return skeleton{}, nil, false // twice: the whole-document parse says so
			}
			key = i
		}
	}
	if key < 0 {
		return skeleton{}, nil, false
	}
	indent, end := -1, len(lines)
	var starts []int
scan:
	for i := key + 1; i < len(lines); i++ {
		t := bytes.TrimSpace(text(i))
		if len(t) == 0 || t[0] == '#' {
			continue
		}
		ind := len(leading(text(i)))
		dash := t[0] == '-' && (len(t) == 1 || t[1] == ' ')
		switch {
		case indent < 0 && dash:
			indent = ind
			starts = append(starts, i)
		case indent < 0:
			return skeleton{}, nil, false // not a block list
		case ind < indent || ind == 0:
			end = i
			break scan
		case ind == indent && dash:
			starts = append(starts, i)
		case ind == indent:
			return skeleton{}, nil, false // malformed: the whole-document parse says where
		}
	}
	if len(starts) == 0 {
		return skeleton{}, nil, false
	}
	for n, first := range starts {
		last := end
		if n+1 < len(starts) {
			last = starts[n+1]
		}
		items = append(items, item{text: data[lines[first].start:lines[last-1].end], line: first + 1})
	}
	// The skeleton: the lines before the list and the lines after it.
	blockStart := lines[key].end + 1
	blockEnd := len(data)
	if end < len(lines) {
		blockEnd = lines[end].start
	}
	sk.text = make([]byte, 0, blockStart+len(data)-blockEnd)
	sk.text = append(sk.text, data[:blockStart]...)
	sk.text = append(sk.text, data[blockEnd:]...)
	sk.after, sk.gap = key+1, end-key-1
	return sk, items, true
}

// restoreLines gives the nodes of a parsed skeleton their lines in the file.
func (sk skeleton) restoreLines(n *yaml.Node) {
	if n.Line > sk.after {
		n.Line += sk.gap
	}
	for _, c := range n.Content {
		sk.restoreLines(c)
	}
}

// leading is the indentation of l (bytes.TrimLeft builds a set of its
// cutset on every call: measurable over 40,000 lines).
func leading(l []byte) []byte {
	i := 0
	for i < len(l) && (l[i] == ' ' || l[i] == '\t') {
		i++
	}
	return l[:i]
}
