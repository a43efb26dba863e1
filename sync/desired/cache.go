package desired

import "github.com/bindsync/bindsync/sync/plan"

// EntryCache keeps the entries of the last load of a file, in their order,
// with what each parsed to, for the next load of the same file (the watcher
// keeps one). The zero value is ready; a nil *EntryCache caches nothing.
//
// An edit leaves nearly every entry where it was, so an entry is first
// compared with the cached entry at its place (one comparison of its bytes,
// following an entry inserted or removed there), and only an entry not
// found there is looked up by its text, in an index built on the first such
// miss. A 10,000-entry reload after an edit of one entry hashes no entry.
type EntryCache struct {
	file     string // the name the entries were read under (their origins carry it)
	regionID string // the file's regionId the entries were read under
	entries  []cachedEntry
	byText   map[string]int // index of entries by text, built when needed
	// parsed is how many entries the last load had to parse (tests).
	parsed int
}

type cachedEntry struct {
	text   string       // the entry's text, as in the file
	parsed bool         // it parsed cleanly: b and the rest are its result
	b      plan.Binding // with its Origin, made for originLine
	// lines relative to the entry's first line, and its YAML node count
	line, accessLine, nodes int
	originLine              int
}

// cacheWalk is one load's pass over the cache: find the entries in the
// order of items, keep what the next load will look for.
type cacheWalk struct {
	c        *EntryCache
	file     string
	regionID string
	old      []cachedEntry // nil: nothing cached (or under another regionId)
	items    []item
	off      int // items[i] is expected at old[i+off]
	next     []cachedEntry
	parsed   int
}

func (c *EntryCache) walk(file, regionID string, items []item) *cacheWalk {
	w := &cacheWalk{c: c, file: file, regionID: regionID, items: items}
	if c == nil {
		return w
	}
	if c.file == file && c.regionID == regionID {
		w.old = c.entries
	}
	w.next = make([]cachedEntry, 0, len(items))
	return w
}

// find returns the cached result of items[i], if it parsed cleanly before.
func (w *cacheWalk) find(i int) (e cachedEntry, ok bool) {
	defer func() {
		if !ok {
			w.parsed++
		}
	}()
	if len(w.old) == 0 {
		return cachedEntry{}, false
	}
	text := w.items[i].text
	at := func(k int, text []byte) bool { return k >= 0 && k < len(w.old) && w.old[k].text == string(text) }
	k := i + w.off
	switch {
	case at(k, text):
		return w.hit(k)
	case at(k+1, text): // the entry before it was removed
		w.off++
		return w.hit(k + 1)
	}
	if i+1 < len(w.items) {
		switch after := w.items[i+1].text; {
		case at(k+1, after): // this entry was edited in place
			return cachedEntry{}, false
		case at(k, after): // this entry was inserted
			w.off--
			return cachedEntry{}, false
		}
	}
	// Moved, or several removed: look it up by its text.
	if w.c.byText == nil {
		w.c.byText = make(map[string]int, len(w.old))
		for j, e := range w.old {
			w.c.byText[e.text] = j
		}
	}
	if j, ok := w.c.byText[string(text)]; ok {
		w.off = j - i
		return w.hit(j)
	}
	return cachedEntry{}, false
}

func (w *cacheWalk) hit(k int) (cachedEntry, bool) { return w.old[k], w.old[k].parsed }

// keep records the entry at the next place, for the next load.
func (w *cacheWalk) keep(e cachedEntry) {
	if w.c != nil {
		w.next = append(w.next, e)
	}
}

// done makes what this load kept the cache: it never outgrows the file.
func (w *cacheWalk) done() {
	if w.c != nil {
		w.c.file, w.c.regionID, w.c.entries, w.c.byText, w.c.parsed = w.file, w.regionID, w.next, nil, w.parsed
	}
}
