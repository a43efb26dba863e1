package desired

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// WatchConfig configures a Watcher. Zero durations take the defaults.
type WatchConfig struct {
	Path string
	// Debounce is the quiet time after the last event before the file is
	// read (default 100ms); MaxWait caps how long a steady trickle of events
	// can postpone it (default 2s).
	Debounce time.Duration
	MaxWait  time.Duration
	// Settle is the pause between two reads that must agree before a new
	// content is accepted, so a file caught half-written is not taken even
	// when the half happens to parse (default 100ms).
	Settle time.Duration
	// Poll re-reads the file on this interval whatever the events say: a
	// backstop for filesystems where inotify is silent (default 30s).
	Poll   time.Duration
	Logger *slog.Logger
	// Check, if set, is a further check of a parsed state; an error rejects
	// the state like a parse error would.
	Check func(st *State) error
	// Caches, if set, holds the entries of a load made before the watcher
	// started (LoadCached); the watcher goes on with it.
	Caches EntryCaches
	// OnLoad is told about every load attempt of a changed file: a state or
	// an error (the previous state stays in force).
	OnLoad func(st *State, err error)
}

// Watcher follows the desired-state file and sends each new valid state.
// It follows editors that save by rename, in-place truncate-and-write,
// delete-then-recreate, the Kubernetes ConfigMap "..data" symlink swap and a
// file that is itself a symlink elsewhere: it watches the file's directory
// (and the directory of the symlink's target), treats any non-chmod event
// there as "maybe changed", and decides by content.
type Watcher struct {
	cfg      WatchConfig
	log      *slog.Logger
	changed  chan struct{}
	force    chan chan<- error // reload requests, each with where to answer
	caches   EntryCaches       // per file: entries parsed by earlier loads
	lastGood string            // hash of the last valid state sent
	// What the last read found, to tell a change: the content (compared
	// byte for byte: cheaper than a sha256 of megabytes), or the read
	// error; before the first read, the hash of the initial state.
	lastRead    *source
	lastErr     string
	initialHash string
}

// NewWatcher returns a watcher that considers initial (may be nil) the state
// in force.
func NewWatcher(cfg WatchConfig, initial *State) *Watcher {
	if cfg.Debounce <= 0 {
		cfg.Debounce = 100 * time.Millisecond
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 2 * time.Second
	}
	if cfg.Settle <= 0 {
		cfg.Settle = 100 * time.Millisecond
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 30 * time.Second
	}
	w := &Watcher{cfg: cfg, log: cfg.Logger, changed: make(chan struct{}, 1), force: make(chan chan<- error, 16), caches: cfg.Caches}
	if w.caches == nil {
		w.caches = EntryCaches{}
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	if initial != nil {
		w.initialHash, w.lastGood = initial.Hash, initial.Hash
	}
	return w
}

// Reload reads the file now and publishes the state even when the content
// did not change (SIGHUP, POST /-/reload). It returns the outcome: nil when
// the file loaded, or why it was rejected (the last good state stays in
// force). Requests that arrive together share one read.
func (w *Watcher) Reload(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case w.force <- reply:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *Watcher) poke() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// Run watches until ctx ends and hands each new valid state to publish.
// publish should not block (a Latest slot's Set does not): the watcher keeps
// reading, logging and counting loads while a pass runs.
func (w *Watcher) Run(ctx context.Context, publish func(*State)) error {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		// inotify limits reached: not fatal, the poll still reads the file.
		w.log.Error("cannot watch the desired-state file; relying on polling", "err", err, "poll", w.cfg.Poll)
	} else {
		defer fsw.Close()
		dirs := &watchedDirs{fsw: fsw, path: w.cfg.Path, log: w.log, set: map[string]bool{}}
		// Watch before the first read below, so no edit falls between them.
		dirs.sync()
		done := make(chan struct{})
		defer func() { <-done }()
		go func() {
			defer close(done)
			w.pump(ctx, fsw, dirs)
		}()
	}
	w.poke() // catch an edit made between the initial load and the watch
	return w.loop(ctx, publish)
}

// watchedDirs keeps the watched directories in step with where the path
// resolves to: its own directory, and its symlink target's.
type watchedDirs struct {
	fsw  *fsnotify.Watcher
	path string
	log  *slog.Logger
	set  map[string]bool
}

func (d *watchedDirs) sync() {
	want := map[string]bool{filepath.Dir(d.path): true}
	if real, err := filepath.EvalSymlinks(d.path); err == nil {
		if fi, err := os.Stat(real); err == nil && fi.IsDir() {
			// A directory of files: watch the directory itself, to see
			// files added, edited and removed in it.
			want[real] = true
		} else {
			want[filepath.Dir(real)] = true
		}
	}
	for dir := range want {
		if !d.set[dir] {
			if err := d.fsw.Add(dir); err != nil {
				d.log.Warn("cannot watch directory", "dir", dir, "err", err)
				continue
			}
			d.set[dir] = true
		}
	}
	for dir := range d.set {
		if !want[dir] {
			_ = d.fsw.Remove(dir)
			delete(d.set, dir)
		}
	}
}

// pump turns filesystem events into pokes.
func (w *Watcher) pump(ctx context.Context, fsw *fsnotify.Watcher, dirs *watchedDirs) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-fsw.Events:
			if !ok {
				return
			}
			if ev.Name == "" || ev.Op == fsnotify.Chmod {
				continue
			}
			dirs.sync()
			w.poke()
		case err, ok := <-fsw.Errors:
			if !ok {
				return
			}
			// On overflow events were lost: a full re-read covers them.
			w.log.Warn("file watcher error; re-reading", "err", err, "overflow", errors.Is(err, fsnotify.ErrEventOverflow))
			dirs.sync()
			w.poke()
		}
	}
}

// loop debounces pokes and forced reloads into loads.
func (w *Watcher) loop(ctx context.Context, publish func(*State)) error {
	poll := time.NewTicker(w.cfg.Poll)
	defer poll.Stop()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var pending bool
	var waiting []chan<- error // reload requests to answer after the next load
	var first time.Time
	arm := func() {
		now := time.Now()
		if !pending {
			pending, first = true, now
		}
		fire := min(w.cfg.Debounce, first.Add(w.cfg.MaxWait).Sub(now))
		timer.Reset(max(fire, 0))
	}
	answer := func(err error) {
		for _, r := range waiting {
			r <- err // buffered: never blocks
		}
		waiting = nil
	}
	for {
		select {
		case <-ctx.Done():
			timer.Stop()
			answer(ctx.Err())
			return nil
		case <-w.changed:
			arm()
		case <-poll.C:
			arm()
		case r := <-w.force:
			waiting = append(waiting, r)
			arm()
		case <-timer.C:
			if !pending {
				continue
			}
			st, again, err := w.load(ctx, len(waiting) > 0)
			if again {
				arm() // still being written: wait for quiet again
				continue
			}
			if st != nil {
				publish(st)
			}
			answer(err)
			pending = false
		}
	}
}

// load reads the file (or directory); again means the content moved under
// the read. err is why a changed (or forced) content was rejected.
func (w *Watcher) load(ctx context.Context, forced bool) (st *State, again bool, err error) {
	src, readErr := readSource(w.cfg.Path)
	if w.sameAsLastRead(src, readErr) && !forced {
		return nil, false, nil
	}
	if readErr == nil {
		// The file is parsed while it settles: the pause costs a large
		// file's parse nothing. The result counts only if the file is the
		// same after the pause; the parse is always waited for (the entry
		// caches are the watcher's alone), whatever happens meanwhile.
		type parsed struct {
			st  *State
			err error
		}
		done := make(chan parsed, 1)
		go func() {
			st, err := parseSource(src, w.caches)
			done <- parsed{st, err}
		}()
		t := time.NewTimer(w.cfg.Settle)
		select {
		case <-ctx.Done():
			t.Stop()
			<-done
			return nil, false, ctx.Err()
		case <-t.C:
		}
		again, againErr := readSource(w.cfg.Path)
		res := <-done
		if againErr != nil || !again.same(src) {
			return nil, true, nil
		}
		st, err = res.st, res.err
	}
	w.lastRead, w.lastErr, w.initialHash = &src, "", ""
	if readErr != nil {
		w.lastRead, w.lastErr = nil, readErr.Error()
		w.report(nil, readErr)
		return nil, false, readErr
	}
	if err == nil && w.cfg.Check != nil {
		err = w.cfg.Check(st)
	}
	if err != nil {
		w.report(nil, err)
		return nil, false, err
	}
	if st.Hash == w.lastGood && !forced {
		// Back to the content in force (a reverted bad edit): report the
		// recovery, nothing new to apply.
		w.report(st, nil)
		return nil, false, nil
	}
	w.lastGood = st.Hash
	w.report(st, nil)
	return st, false, nil
}

// sameAsLastRead reports whether a read found what the last one did.
func (w *Watcher) sameAsLastRead(src source, readErr error) bool {
	switch {
	case readErr != nil:
		return w.lastErr == readErr.Error()
	case w.lastRead != nil:
		return w.lastRead.same(src)
	}
	return w.lastErr == "" && w.initialHash != "" && src.hash() == w.initialHash
}

func (w *Watcher) report(st *State, err error) {
	if w.cfg.OnLoad != nil {
		w.cfg.OnLoad(st, err)
	}
}
