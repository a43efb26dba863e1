package desired

import (
	"fmt"
	"strings"
)

// locateSyntaxError turns a YAML parser's syntax error into a problem that
// points at the mistake: the parser often names the line where a block began
// (a mis-indented key on line 6 reported at line 3), so the common causes
// are looked for in the text itself: a tab in the indentation, a key
// indented unlike its siblings, a new entry without its '-', a colon in an
// unquoted value. The problem shows the line with a caret under the column
// and a hint; when no cause is recognised, the parser's own line and words.
func locateSyntaxError(data []byte, line int, msg string) Problem {
	lines := strings.Split(string(data), "\n")
	at := func(n, col int, hint string) Problem {
		return Problem{Line: n, Col: col, Msg: fmt.Sprintf("%s\n%s\n  hint: %s", msg, caret(lines[n-1], n, col), hint)}
	}
	// A tab anywhere in the indentation.
	for i, l := range lines {
		indent := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
		if j := strings.IndexByte(indent, '\t'); j >= 0 {
			return at(i+1, j+1, "indent with spaces: YAML does not allow tabs in indentation")
		}
	}
	// An unclosed flow collection: the parser names the line before it.
	if strings.Contains(msg, "expected ',' or '}'") || strings.Contains(msg, "expected ',' or ']'") {
		for i := max(line-1, 0); i < len(lines); i++ {
			l := lines[i]
			for _, pair := range [][2]string{{"{", "}"}, {"[", "]"}} {
				if strings.Count(l, pair[0]) > strings.Count(l, pair[1]) {
					return at(i+1, strings.Index(l, pair[0])+1, fmt.Sprintf("this %s is not closed on its line: close it with %s (or write the entry as indented lines)", pair[0], pair[1]))
				}
			}
		}
	}
	// Indentation: within a list of mappings, every key of an entry lines
	// up with the first key after its '- ', and a new entry starts with '-'.
	item, keys := -1, -1 // the column of the entries' '-' and of their keys
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		ind := indentOf(l)
		past := i+1 >= line // the mistake is where the parser stopped, or after
		switch {
		case ind == 0:
			item, keys = -1, -1 // a top-level key: a new block
		case strings.HasPrefix(t, "- "):
			if item < 0 {
				item = ind
			}
			if ind == item {
				keys = ind + 2 + indentOf(strings.TrimPrefix(t, "-")) - 1
				continue
			}
			if past {
				return at(i+1, ind+1, fmt.Sprintf("entries of this list start with '-' at column %d", item+1))
			}
		case past && keys >= 0 && ind == item && strings.Contains(t, ":"):
			return at(i+1, ind+1, fmt.Sprintf("a new entry needs '- ' before its first key; a key of the entry above lines up at column %d", keys+1))
		case past && keys >= 0 && ind != keys && strings.Contains(t, ":"):
			return at(i+1, ind+1, fmt.Sprintf("this key is indented %d columns, the entry's other keys %d: line it up with them", ind, keys))
		}
	}
	// A colon and a space inside an unquoted value.
	if line >= 1 && line <= len(lines) {
		l := lines[line-1]
		if k := strings.Index(l, ": "); k >= 0 {
			value := strings.TrimSpace(l[k+2:])
			if j := strings.Index(value, ": "); j >= 0 && !strings.HasPrefix(value, `"`) && !strings.HasPrefix(value, "'") {
				col := k + 2 + (len(l[k+2:]) - len(strings.TrimLeft(l[k+2:], " "))) + j + 1
				return at(line, col, fmt.Sprintf("a value containing ': ' must be quoted: %s \"%s\"", strings.TrimSpace(l[:k+2]), value))
			}
		}
		return at(line, indentOf(l)+1, "check the indentation and the quoting on this line and the one before it")
	}
	return Problem{Line: line, Msg: msg}
}

func indentOf(l string) int { return len(l) - len(strings.TrimLeft(l, " ")) }

// caret shows a line with a caret under column col (1-based).
func caret(l string, n, col int) string {
	prefix := fmt.Sprintf("  %d | ", n)
	return prefix + l + "\n" + strings.Repeat(" ", len(prefix)-2) + "| " + strings.Repeat(" ", max(col-1, 0)) + "^"
}
