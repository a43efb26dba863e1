package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bindsync/bindsync/cloudsiem/emulator"
)

// TestSoak edits the file again and again while the API misbehaves, and
// checks that every edit converges, that no request asked for a value no
// valid version asked for, and that goroutines and memory stay flat. It runs
// about a minute; BINDSYNC_SOAK=30m (any Go duration) runs it longer.
func TestSoak(t *testing.T) {
	longTest(t)
	duration := time.Minute
	if v := os.Getenv("BINDSYNC_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("BINDSYNC_SOAK=%q: %v", v, err)
		}
		duration = d
	}
	emu, url := startEmulator(t, emulator.Config{Seed: 5, QuotaPerSecond: 20,
		Faults: emulator.Faults{InternalError: 0.1, Unavailable: 0.05, Drop: 0.05, DropAfterApply: 0.05, SpikeRate: 0.02, LatencySpike: time.Second}})
	version := func(n int) world {
		w := world{}
		for i := range 10 {
			w[fmt.Sprintf("hcloud/%d", i)] = fmt.Sprintf("v%d-%d|HPUA%010d", n, i%3, i)
		}
		return w
	}
	for i := range 10 {
		emu.Seed(seed("hcloud", fmt.Sprint(i), "start", fmt.Sprintf("HPUA%010d", i)))
	}
	path := filepath.Join(t.TempDir(), "desired.yaml")
	versions := []world{version(0)}
	writeFile(t, path, versions[0].file())
	p := startBinary(t, nil, "run", "-f", path, "--endpoint", url, "--max-change-ratio", "1", "--qps", "30",
		"--backoff-base", "1s", "--backoff-max", "2s", "--resync-interval", "2s", "--retry-attempts", "4",
		"--listen-address", "127.0.0.1:0", "--admin-address", "", "--log-format", "json")
	eventuallyWithin(t, 60*time.Second, "first convergence", func() bool { return stateOf(emu).equal(versions[0]) })
	goroutines0 := gauge(t, p.metrics, "go_goroutines")
	rss0 := gauge(t, p.metrics, "process_resident_memory_bytes")

	start := time.Now()
	edits := 0
	var slowest time.Duration
	for time.Since(start) < duration {
		edits++
		v := version(edits)
		versions = append(versions, v)
		writeFile(t, path, v.file())
		t0 := time.Now()
		eventuallyWithin(t, 60*time.Second, fmt.Sprintf("edit %d converged", edits), func() bool { return stateOf(emu).equal(v) })
		slowest = max(slowest, time.Since(t0))
	}
	checkRequests(t, emu, versions...)
	goroutines1 := gauge(t, p.metrics, "go_goroutines")
	rss1 := gauge(t, p.metrics, "process_resident_memory_bytes")
	t.Logf("soak %s: %d edits, all converged (slowest %s); %d requests %v; goroutines %v -> %v; RSS %.1f -> %.1f MB",
		duration, edits, slowest.Round(time.Millisecond), len(emu.Requests()), emu.Counts(), goroutines0, goroutines1, rss0/(1<<20), rss1/(1<<20))
	if goroutines1 > goroutines0+10 {
		t.Errorf("goroutines grew from %v to %v", goroutines0, goroutines1)
	}
	if rss1 > rss0+16<<20 {
		t.Errorf("RSS grew from %.1f to %.1f MB", rss0/(1<<20), rss1/(1<<20))
	}
	if edits < 5 {
		t.Errorf("only %d edits in %s", edits, duration)
	}
}

// longTest skips a test that takes more than a few seconds unless asked:
// BINDSYNC_LONG_TESTS=1 (or BINDSYNC_SOAK) runs it. CI always asks; the
// README's test command stays under a minute without them.
func longTest(t *testing.T) {
	t.Helper()
	if os.Getenv("BINDSYNC_LONG_TESTS") == "" && os.Getenv("BINDSYNC_SOAK") == "" {
		t.Skip("long test: run with BINDSYNC_LONG_TESTS=1 (CI does)")
	}
}
