package desired

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func content(name string) string {
	return fmt.Sprintf("version: 1\nbindings:\n  - {cloudCode: hcloud, accountId: \"1\", accountName: %s, accessId: HPUA0000000001}\n", name)
}

type loads struct {
	mu   sync.Mutex
	errs int
	oks  int
}

func (l *loads) record(st *State, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.errs++
	} else {
		l.oks++
	}
}

func (l *loads) get() (oks, errs int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.oks, l.errs
}

// startWatcher runs a watcher on path and returns its output.
func startWatcher(t *testing.T, path string, l *loads) (*Watcher, <-chan *State) {
	t.Helper()
	initial, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	w := NewWatcher(WatchConfig{Path: path, Debounce: 50 * time.Millisecond, Settle: 30 * time.Millisecond, Poll: time.Hour, OnLoad: l.record}, initial)
	out := make(chan *State)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx, func(st *State) { out <- st }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return w, out
}

// next waits for a state, failing after a generous guard (a timeout, not a sleep).
func next(t *testing.T, out <-chan *State) *State {
	t.Helper()
	select {
	case st := <-out:
		return st
	case <-time.After(5 * time.Second):
		t.Fatal("no state within 5s")
		return nil
	}
}

func nameOf(st *State) string { return st.Desired.Bindings[0].AccountName }

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWatchDeliveryMethods(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "desired.yaml")
	writeFile(t, path, content("v0"))
	var l loads
	_, out := startWatcher(t, path, &l)

	// 1. An editor's save by rename over the file.
	tmp := filepath.Join(dir, ".desired.yaml.swp")
	writeFile(t, tmp, content("v1"))
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	if got := nameOf(next(t, out)); got != "v1" {
		t.Fatalf("after rename: %s", got)
	}

	// 2. In place, truncate then write in two steps.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	data := content("v2")
	_, _ = f.WriteString(data[:20])
	_ = f.Sync()
	_, _ = f.WriteString(data[20:])
	_ = f.Close()
	if got := nameOf(next(t, out)); got != "v2" {
		t.Fatalf("after in-place write: %s", got)
	}

	// 3. Delete, then recreate.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deletion reported as a failed load", func() bool { _, errs := l.get(); return errs > 0 })
	writeFile(t, path, content("v3"))
	if got := nameOf(next(t, out)); got != "v3" {
		t.Fatalf("after recreate: %s", got)
	}

	// 4. An invalid edit is reported, sends nothing, and the next good edit applies.
	_, errsBefore := l.get()
	writeFile(t, path, "version: 1\nbindings: [\n")
	waitFor(t, "the bad edit reported", func() bool { _, errs := l.get(); return errs > errsBefore })
	select {
	case st := <-out:
		t.Fatalf("an invalid file produced a state: %+v", st)
	default:
	}
	writeFile(t, path, content("v4"))
	if got := nameOf(next(t, out)); got != "v4" {
		t.Fatalf("after bad then good: %s", got)
	}
}

// waitFor polls cond until it holds, failing after a 5s deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline, not waiting for an event
	}
}

func TestWatchConfigMapSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	mk := func(stamp, name string) {
		d := filepath.Join(dir, stamp)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(d, "desired.yaml"), content(name))
	}
	// The kubelet AtomicWriter layout: desired.yaml -> ..data/desired.yaml, ..data -> ..<stamp>.
	mk("..2026_01", "v1")
	if err := os.Symlink("..2026_01", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..data/desired.yaml", filepath.Join(dir, "desired.yaml")); err != nil {
		t.Fatal(err)
	}
	var l loads
	_, out := startWatcher(t, filepath.Join(dir, "desired.yaml"), &l)

	mk("..2026_02", "v2")
	if err := os.Symlink("..2026_02", filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "..2026_01")); err != nil {
		t.Fatal(err)
	}
	if got := nameOf(next(t, out)); got != "v2" {
		t.Fatalf("after the ..data swap: %s", got)
	}
}

func TestWatchSymlinkToAnotherDirectory(t *testing.T) {
	real, link := t.TempDir(), t.TempDir()
	target := filepath.Join(real, "bindings.yaml")
	writeFile(t, target, content("v1"))
	path := filepath.Join(link, "desired.yaml")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	var l loads
	_, out := startWatcher(t, path, &l)
	writeFile(t, target, content("v2"))
	if got := nameOf(next(t, out)); got != "v2" {
		t.Fatalf("after editing the symlink's target: %s", got)
	}
}

func TestWatchForcedReloadSendsUnchangedState(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "desired.yaml")
	writeFile(t, path, content("v1"))
	var l loads
	w, out := startWatcher(t, path, &l)
	reloaded := make(chan error, 1)
	go func() { reloaded <- w.Reload(t.Context()) }()
	if got := nameOf(next(t, out)); got != "v1" {
		t.Fatalf("forced reload: %s", got)
	}
	if err := <-reloaded; err != nil {
		t.Fatalf("Reload: %v", err)
	}
	// A rejected file: Reload says why, and nothing is published.
	writeFile(t, path, "version: 1\nbindings: [")
	if err := w.Reload(t.Context()); err == nil || !strings.Contains(err.Error(), "desired.yaml") {
		t.Fatalf("Reload of a broken file: %v", err)
	}
	select {
	case st := <-out:
		t.Fatalf("a broken file published %v", st)
	default:
	}
}

// TestLatestKeepsOnlyTheNewest: sets never block, and a reader that comes
// late sees only the newest state, signalled once.
func TestLatestKeepsOnlyTheNewest(t *testing.T) {
	a, b := &State{Hash: "a"}, &State{Hash: "b"}
	l := NewLatest(&State{Hash: "initial"})
	l.Set(a)
	l.Set(b)
	<-l.Changed()
	if got := l.Get(); got != b {
		t.Fatalf("Get = %s, want b", got.Hash)
	}
	select {
	case <-l.Changed():
		t.Fatal("two signals for one read")
	default:
	}
}

// TestDebounceCoalesces runs the debounce loop alone in a synctest bubble: a
// burst of events yields one load, and a steady trickle cannot postpone the
// load past MaxWait.
func TestDebounceCoalesces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "desired.yaml")
	writeFile(t, path, content("v1"))
	synctest.Test(t, func(t *testing.T) {
		var l loads
		w := NewWatcher(WatchConfig{Path: path, Debounce: 100 * time.Millisecond, MaxWait: time.Second, Settle: 10 * time.Millisecond, Poll: time.Hour, OnLoad: l.record}, nil)
		out := make(chan *State, 10)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- w.loop(ctx, func(st *State) { out <- st }) }()

		for range 5 {
			w.poke()
			time.Sleep(20 * time.Millisecond)
		}
		synctest.Wait()
		time.Sleep(200 * time.Millisecond)
		synctest.Wait()
		if oks, _ := l.get(); oks != 1 || len(out) != 1 {
			t.Fatalf("burst: %d loads, %d states; want 1 and 1", oks, len(out))
		}
		<-out

		// A trickle every 50ms (under the debounce) for 3s: MaxWait forces loads.
		start := time.Now()
		for time.Since(start) < 3*time.Second {
			w.poke()
			time.Sleep(50 * time.Millisecond)
		}
		synctest.Wait()
		// The content did not change, so nothing is sent, but each MaxWait
		// expiry read the file: the hash check makes that cheap and silent.
		if len(out) != 0 {
			t.Errorf("unchanged content sent %d states", len(out))
		}
		cancel()
		<-done
	})
}
