package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bindsync/bindsync/cloudsiem"
	"github.com/bindsync/bindsync/cloudsiem/emulator"
	"github.com/bindsync/bindsync/sync/desired"
)

// BenchmarkEditToFirstCall measures, on the real binary with default flags,
// the time from writing the desired-state file to the first mutating request
// reaching the emulator. Target: p50 ≤ 300 ms.
//
// Edits are a second apart: each costs three requests (two lists, one
// modify) and the default limiter (5 qps, burst 5) must have refilled, as it
// has for edits made by people. Back to back, the limiter paces the passes
// and the figure measures --qps instead.
func BenchmarkEditToFirstCall(b *testing.B) {
	const edits = 21
	emu, url := startEmulator(b, emulator.Config{})
	emu.Seed(seed("hcloud", "1", "v0", "HPUA0000000001"))
	path := filepath.Join(b.TempDir(), "desired.yaml")
	writeFile(b, path, file(binding("hcloud", "1", "v0", "HPUA0000000001")))
	startBinary(b, nil, "run", "-f", path, "--endpoint", url, "--listen-address", "127.0.0.1:0", "--admin-address", "", "--log-format", "json")
	eventually(b, "first pass", func() bool { return len(emu.Requests()) >= 2 })

	for range b.N {
		lat := editLatencies(b, emu, path, edits, func(i int) string {
			return file(binding("hcloud", "1", fmt.Sprintf("v%d-%d", i, time.Now().UnixNano()), "HPUA0000000001"))
		})
		slices.Sort(lat)
		p50, p90 := lat[len(lat)/2], lat[len(lat)*9/10]
		b.ReportMetric(float64(p50.Milliseconds()), "p50-ms")
		b.ReportMetric(float64(p90.Milliseconds()), "p90-ms")
		b.ReportMetric(float64(p50)/float64(300*time.Millisecond), "p50-ratio-to-300ms")
	}
}

// editLatencies writes n edits a second apart (edit(i) is the content of
// the i-th) and returns, for each, the time from the write to the emulator
// receiving the ModifyBindAccount it causes.
func editLatencies(b testing.TB, emu *emulator.Emulator, path string, n int, edit func(i int) string) []time.Duration {
	var lat []time.Duration
	for i := 1; i <= n; i++ {
		before := len(emu.Requests())
		written := time.Now()
		writeFile(b, path, edit(i))
		var arrived time.Time
		eventually(b, "the modify", func() bool {
			for _, r := range emu.Requests()[before:] {
				if r.Action == cloudsiem.ActionModifyBindAccount {
					arrived = r.Time
					return true
				}
			}
			return false
		})
		lat = append(lat, arrived.Sub(written))
		time.Sleep(time.Second) // spacing between edits, as people make them; not a wait for an event
	}
	return lat
}

// tenThousand seeds an emulator with 10,000 bindings and writes the same
// bindings as the desired state: everything in sync.
func tenThousand(b testing.TB) (*emulator.Emulator, string, string) {
	// With the key registry, as the service has it: a pass lists the
	// registered keys too (10,000 of them here), besides the bindings.
	emu, url := startRegistryEmulator(b, emulator.Config{})
	var sb strings.Builder
	sb.WriteString("version: 1\nregionId: cn-hangzhou\nbindings:\n")
	for i := range 10_000 {
		code := []string{"hcloud", "qcloud"}[i%2]
		account, ak := fmt.Sprintf("%012d", i), fmt.Sprintf("AKEXAMPLE%09d", i)
		emu.Seed(seed(code, account, "account-"+account, ak))
		sb.WriteString(binding(code, account, "account-"+account, ak))
	}
	path := filepath.Join(b.TempDir(), "desired.yaml")
	writeFile(b, path, sb.String())
	return emu, url, path
}

// vmHWM reads the peak resident set size of pid, in bytes.
func vmHWM(b *testing.B, pid int) int64 { return procStatusBytes(b, pid, "VmHWM") }

// procStatusBytes reads a "Field:  N kB" line of /proc/PID/status, in bytes.
func procStatusBytes(b *testing.B, pid int, field string) int64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, field+":") {
			kb, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return kb * 1024
		}
	}
	b.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// procStat reads utime+stime (CPU) and VmRSS of pid.
func procStat(b *testing.B, pid int) (cpu time.Duration, rssBytes int64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	const hz = 100 // USER_HZ on Linux
	cpu = time.Duration(utime+stime) * time.Second / hz
	return cpu, procStatusBytes(b, pid, "VmRSS")
}

// passesLogged counts finished passes from the daemon's JSON log, which the
// benchmark reads in its own process: scraping /metrics during a measurement
// window would charge the scrapes to the daemon's CPU.
func passesLogged(p *process) int {
	s := p.stderr.String()
	return strings.Count(s, `"msg":"reconcile pass done"`) + strings.Count(s, `"msg":"reconcile pass failed"`)
}

// BenchmarkIdleDaemon10k: the real binary holding 10,000 in-sync bindings,
// between resyncs. Targets: RSS ≤ 40 MB, CPU ≤ 1%.
func BenchmarkIdleDaemon10k(b *testing.B) {
	_, url, path := tenThousand(b)
	p := startBinary(b, nil, "run", "-f", path, "--endpoint", url, "--listen-address", "127.0.0.1:0", "--admin-address", "", "--log-format", "json", "--resync-interval", "10m")
	eventually(b, "first pass", func() bool { return passesLogged(p) >= 1 })
	const idle = 10 * time.Second
	for range b.N {
		cpu0, _ := procStat(b, p.cmd.Process.Pid)
		time.Sleep(idle) // the measurement window itself
		cpu1, rss := procStat(b, p.cmd.Process.Pid)
		share := float64(cpu1-cpu0) / float64(idle)
		b.ReportMetric(float64(rss)/(1<<20), "RSS-MB")
		b.ReportMetric(float64(rss)/(40<<20), "RSS-ratio-to-40MB")
		b.ReportMetric(100*share, "CPU-%")
		b.ReportMetric(share/0.01, "CPU-ratio-to-1%")
	}
}

// BenchmarkResync10k: CPU the real binary spends on one resync (the timer's
// re-list and plan, as every --resync-interval) of 10,000 in-sync bindings:
// two list calls answered by an emulator in another process, the plan, the
// metrics. Target: ≤ 100 ms of CPU. Idle CPU between passes is included (it
// rounds to 0).
func BenchmarkResync10k(b *testing.B) {
	_, url, path := tenThousand(b)
	p := startBinary(b, nil, "run", "-f", path, "--endpoint", url, "--listen-address", "127.0.0.1:0", "--admin-address", "", "--log-format", "json", "--resync-interval", "1s")
	eventually(b, "first pass", func() bool { return passesLogged(p) >= 2 })
	const passes = 5 // ~1 s apart: within eventually's 10 s deadline
	var total time.Duration
	for range b.N {
		start := passesLogged(p)
		cpu0, _ := procStat(b, p.cmd.Process.Pid)
		eventually(b, "five resyncs", func() bool { return passesLogged(p) >= start+passes })
		cpu1, _ := procStat(b, p.cmd.Process.Pid)
		total += cpu1 - cpu0
	}
	per := total / time.Duration(b.N*passes)
	b.ReportMetric(float64(per.Milliseconds()), "CPU-ms/resync")
	b.ReportMetric(float64(per)/float64(100*time.Millisecond), "ratio-to-100ms")
}

// capSizedFile writes the largest desired-state file the parser accepts:
// bindings of a realistic size up to desired.MaxFileSize.
func capSizedFile(b *testing.B, path string) int {
	b.Helper()
	var sb strings.Builder
	sb.WriteString("version: 1\nregionId: cn-hangzhou\nbindings:\n")
	n := 0
	for {
		line := fmt.Sprintf("  - cloudCode: hcloud\n    accountId: \"%d\"\n    accountName: \"team-%06d-production-account\"\n    accessId: \"HPUA%016d\"\n", 1000000000+n, n, n)
		if sb.Len()+len(line) > desired.MaxFileSize {
			break
		}
		sb.WriteString(line)
		n++
	}
	writeFile(b, path, sb.String())
	return n
}

// BenchmarkLoadCapSizedFile: the largest accepted file loads within the
// memory limit deploy/ ships (256 MiB), with margin. It reports the peak RSS
// (the kernel's maxrss of the process) of `validate`, and of the daemon after
// its first pass over as many in-sync bindings. Target: ≤ 0.6 of 256 MiB.
func BenchmarkLoadCapSizedFile(b *testing.B) {
	path := filepath.Join(b.TempDir(), "desired.yaml")
	n := capSizedFile(b, path)
	const limit = 256 << 20
	for range b.N {
		peak := validatePeak(b, path)
		b.ReportMetric(float64(n), "bindings")
		b.ReportMetric(peak/(1<<20), "validate-peak-MB")
		b.ReportMetric(peak/limit, "validate-ratio-to-256MiB")

		emu, url := startEmulator(b, emulator.Config{})
		st, err := desired.Load(path)
		if err != nil {
			b.Fatal(err)
		}
		emu.Seed(seedsFrom(st)...)
		p := startBinary(b, nil, "run", "-f", path, "--endpoint", url, "--listen-address", "127.0.0.1:0", "--admin-address", "", "--log-format", "json")
		eventuallyWithin(b, 2*time.Minute, "the first pass", func() bool { return strings.Contains(p.stderr.String(), `"msg":"reconcile pass done"`) })
		peak = float64(vmHWM(b, p.cmd.Process.Pid)) // the daemon's own high-water mark
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			b.Fatal(err)
		}
		p.wait(b, time.Minute)
		b.ReportMetric(peak/(1<<20), "daemon-peak-MB")
		b.ReportMetric(peak/limit, "daemon-ratio-to-256MiB")
	}
}

// validatePeak is the peak RSS of `bindsync validate -f path`, in bytes,
// through /usr/bin/time (GNU time, Debian's "time"): the kernel's maxrss of
// a child forked straight from this large test process counts this
// process's pages from before the exec.
func validatePeak(b *testing.B, path string) float64 {
	out, err := exec.Command("/usr/bin/time", "-f", "%M", bindsyncBinary(b), "validate", "-f", path).CombinedOutput()
	if err != nil {
		b.Fatalf("validate: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	kb, err := strconv.ParseFloat(lines[len(lines)-1], 64)
	if err != nil {
		b.Fatalf("/usr/bin/time said %q", out)
	}
	return kb * 1024
}

// BenchmarkValidate10k: `validate` of a 10,000-binding file peaks under
// 32 MB.
func BenchmarkValidate10k(b *testing.B) {
	_, _, path := tenThousand(b)
	for range b.N {
		peak := validatePeak(b, path)
		b.ReportMetric(peak/1e6, "peak-MB")
		b.ReportMetric(peak/32e6, "ratio-to-32MB")
	}
}

// BenchmarkEditToFirstCall10k: the edit latency of a 10,000-binding file
// beside a one-binding file, in the same run on the same machine. Target:
// the 10,000-binding p50 within 1.3 × the one-binding p50.
func BenchmarkEditToFirstCall10k(b *testing.B) {
	measure := func(emu *emulator.Emulator, url, path string, edit func(n int) string) time.Duration {
		p := startBinary(b, nil, "run", "-f", path, "--endpoint", url, "--listen-address", "127.0.0.1:0", "--admin-address", "", "--log-format", "json", "--resync-interval", "10m")
		eventually(b, "first pass", func() bool { return passesLogged(p) >= 1 })
		lat := editLatencies(b, emu, path, 11, edit)
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		p.wait(b, 30*time.Second)
		slices.Sort(lat)
		return lat[len(lat)/2]
	}
	for range b.N {
		emu1, url1 := startEmulator(b, emulator.Config{})
		emu1.Seed(seed("hcloud", "1", "v0", "HPUA0000000001"))
		path1 := filepath.Join(b.TempDir(), "desired.yaml")
		writeFile(b, path1, file(binding("hcloud", "1", "v0", "HPUA0000000001")))
		one := measure(emu1, url1, path1, func(n int) string { return file(binding("hcloud", "1", fmt.Sprintf("v%d", n), "HPUA0000000001")) })

		emu, url, path := tenThousand(b)
		data := string(mustRead(b, path))
		first := "account-000000000000"
		ten := measure(emu, url, path, func(n int) string { return strings.Replace(data, first, fmt.Sprintf("renamed-%d", n), 1) })

		b.ReportMetric(float64(one.Milliseconds()), "1-binding-p50-ms")
		b.ReportMetric(float64(ten.Milliseconds()), "10k-p50-ms")
		b.ReportMetric(float64(ten)/float64(one)/1.3, "ratio-to-target")
	}
}
