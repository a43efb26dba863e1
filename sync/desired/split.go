package desired

import (
	"bytes"
	"regexp"
)

// item is one entry of a block-style bindings list: its text (a slice of
// the file, not a copy) and the line it starts on.
type item struct {
	text []byte
	line int
}

var bindingsKey = regexp.MustCompile(`^bindings:[ \t]*(#.*)?$`)

// splitBindings finds the bindings list of a file written in the usual
// block style and returns the file with the list's lines emptied (so every
// other line keeps its number) and the list's entries, each to be parsed on
// its own. ok is false for anything else (flow style, several documents,
// tabs, an entry not where entries start): the whole file is parsed then.
func splitBindings(data []byte) (skeleton []byte, items []item, ok bool) {
	type line struct{ start, end int } // data[start:end], without the newline
	var lines []line
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
		t := bytes.TrimRight(l, " \t\r")
		if bytes.Equal(t, []byte("---")) || bytes.Equal(t, []byte("...")) || bytes.IndexByte(leading(l), '\t') >= 0 {
			return nil, nil, false
		}
		if bindingsKey.Match(t) {
			if key >= 0 {
				return nil, nil, false // twice: the whole-document parse says so
			}
			key = i
		}
	}
	if key < 0 {
		return nil, nil, false
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
			return nil, nil, false // not a block list
		case ind < indent || ind == 0:
			end = i
			break scan
		case ind == indent && dash:
			starts = append(starts, i)
		case ind == indent:
			return nil, nil, false // malformed: the whole-document parse says where
		}
	}
	if len(starts) == 0 {
		return nil, nil, false
	}
	for n, first := range starts {
		last := end
		if n+1 < len(starts) {
			last = starts[n+1]
		}
		items = append(items, item{text: data[lines[first].start:lines[last-1].end], line: first + 1})
	}
	// The skeleton: the lines before the list, as many empty lines as the
	// list had, the lines after it.
	blockStart := lines[key].end + 1
	blockEnd := len(data)
	if end < len(lines) {
		blockEnd = lines[end].start
	}
	skeleton = make([]byte, 0, blockStart+(end-key-1)+len(data)-blockEnd)
	skeleton = append(skeleton, data[:blockStart]...)
	skeleton = append(skeleton, bytes.Repeat([]byte("\n"), end-key-1)...)
	skeleton = append(skeleton, data[blockEnd:]...)
	return skeleton, items, true
}

func leading(l []byte) []byte { return l[:len(l)-len(bytes.TrimLeft(l, " \t"))] }
