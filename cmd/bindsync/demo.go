package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bindsync/bindsync"
	"github.com/bindsync/bindsync/cloudsiem"
	"github.com/bindsync/bindsync/cloudsiem/emulator"
	"github.com/bindsync/bindsync/internal/redact"
	"github.com/bindsync/bindsync/sync/desired"
	"github.com/bindsync/bindsync/sync/plan"
	"github.com/bindsync/bindsync/sync/reconcile"
)

// demoCredential is what the in-process emulator accepts in the demo. It is
// not a real key and never leaves the process.
var demoCredential = cloudsiem.Credential{AccessKeyID: "LTAIdemo0000000000", AccessKeySecret: "demo-secret-not-a-real-key"}

// cmdDemo runs the daemon against an in-process emulator seeded so that it
// drifts from the example file: no cloud account, no network.
func cmdDemo(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, h hooks) error {
	fs := newFlagSet("demo", stderr)
	var d daemonFlags
	d.register(fs, false)
	var dir string
	fs.StringVar(&dir, "dir", "", "directory for the demo's desired-state file (default: a new temporary directory); a file already there is never overwritten")
	// Defaults that suit a demo on a laptop: free loopback ports (a second
	// demo, or one beside a running daemon, never fails on a taken port),
	// quick drift repair, and only the demo's own narrative on the terminal.
	setDefault(fs, "listen-address", "127.0.0.1:0")
	setDefault(fs, "admin-address", "127.0.0.1:0")
	setDefault(fs, "resync-interval", "30s")
	setDefault(fs, "backoff-base", "5s")
	setDefault(fs, "log-level", "warn")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	file, err := demoFile(dir)
	if err != nil {
		return err
	}
	d.file = file
	if err := d.validate(); err != nil {
		return err
	}
	st, err := desired.Load(d.file)
	if err != nil {
		return err
	}

	emu := emulator.New(emulator.Config{Credentials: []cloudsiem.Credential{demoCredential}, Faults: emulator.Faults{Latency: 20 * time.Millisecond},
		Keys: keysFrom(st)}) // the file's keys are registered in Security Center's multi-cloud assets
	drift := demoDrift(st)
	emu.Seed(drift.seeds...)
	emuCtx, stopEmu := context.WithCancel(context.WithoutCancel(ctx))
	defer stopEmu()
	emuAddr := make(chan net.Addr, 1)
	emuErr := make(chan error, 1)
	go func() { emuErr <- emu.Serve(emuCtx, "127.0.0.1:0", func(a net.Addr) { emuAddr <- a }) }()
	var addr net.Addr
	select {
	case addr = <-emuAddr:
	case err := <-emuErr:
		return err
	}
	defer func() { stopEmu(); <-emuErr }()
	d.endpoint = "http://" + addr.String()

	fmt.Fprintf(stdout, `bindsync demo: the daemon against a local emulator of Threat Analysis (no cloud account, no network)
  desired-state file  %s (a fresh copy of desired-state.example.yaml)
  emulator            %s   (its state: %s/_emulator/state)
  policy              %s, resync every %s
The emulator starts out drifted from the file:
%s`, d.file, d.endpoint, d.endpoint, d.policy, d.resync, drift.describe)

	first := true
	metricsURL := ""
	h.creds = cloudsiem.StaticCredentials(demoCredential)
	listening := h.listening
	h.listening = func(metricsAddr, admin string) {
		metricsURL = "http://" + metricsAddr + "/metrics"
		fmt.Fprintf(stdout, "  metrics             %s\n\n", metricsURL)
		if listening != nil {
			listening(metricsAddr, admin)
		}
	}
	h.rejected = func(err error) {
		// Readable lines, not one log line with escaped newlines.
		fmt.Fprintf(stdout, "%s edit rejected; the last good state stays in force:\n", time.Now().Format("15:04:05"))
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stdout, "    %s\n", line)
		}
	}
	userPass := h.pass
	h.pass = func(res reconcile.Result, err error) {
		printPass(stdout, res, err)
		if first && err == nil {
			first = false
			fmt.Fprintf(stdout, `converged with the file.
Try next:
  - edit %s (say, an accountName) and save: bindsync applies it within a second
  - change a binding behind bindsync's back; the next resync (%s) repairs it:
      curl -X POST %s/_emulator/seed -d '[{"RegionID":"cn-hangzhou","CloudCode":"qcloud","AccountId":"100012345678","AccountName":"renamed-by-hand","AccessId":"AKIDEXAMPLE0000002","BindId":1002}]'
  - rotate a key: set huawei-prod's accessId to HPUAEXAMPLE0000009 in the file; bindsync waits
    ("awaiting key") until the key is registered in Security Center, which here is:
      curl -X POST %s/_emulator/keys -d '[{"regionId":"cn-hangzhou","cloudCode":"hcloud","accessId":"HPUAEXAMPLE0000009","accountId":"0123456789"}]'
  - curl -s %s | grep ^bindsync_
`, d.file, d.resync, d.endpoint, d.endpoint, metricsURL)
			if missing := countKind(res.Plan, plan.KindMissing); missing > 0 {
				fmt.Fprintf(stdout, "  - %d binding(s) of the file are not bound: re-run with --policy upsert to create them (or --policy sync to also delete what the file does not list)\n", missing)
			}
			fmt.Fprintln(stdout, "Ctrl-C stops the demo.")
		}
		if userPass != nil {
			userPass(res, err)
		}
	}
	log := d.logger(stderr)
	err = runDaemon(ctx, &d, log, h)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	fmt.Fprintln(stdout, "demo stopped.")
	return err
}

// demoFile writes the example desired state for the demo: into a new
// temporary directory, or into dir (created if needed) when no
// desired-state.yaml is there yet. It never overwrites a file.
func demoFile(dir string) (string, error) {
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "bindsync-demo-"); err != nil {
			return "", err
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "desired-state.yaml")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("%s exists and the demo never overwrites a file: remove it, or give another --dir (or none, for a new temporary directory)", path)
	}
	if err != nil {
		return "", err
	}
	if _, err := f.Write(bindsync.ExampleDesiredState()); err != nil {
		f.Close()
		return "", err
	}
	return path, f.Close()
}

type demoWorld struct {
	seeds    []emulator.Binding
	describe string
}

// demoDrift seeds the emulator with the example's bindings, drifted: the
// first renamed, the second bound with an older AccessKey, one extra binding
// that the file does not know, the rest in sync.
func demoDrift(st *desired.State) demoWorld {
	var w demoWorld
	var b strings.Builder
	seeds := seedsFrom(st)
	for i, s := range seeds {
		k := plan.Key{Scope: plan.Scope{RegionID: s.RegionID, RoleFor: s.RoleFor, RoleType: s.RoleType}, CloudCode: s.CloudCode, AccountID: s.AccountID}
		switch i {
		case 0:
			fmt.Fprintf(&b, "  ~ %s is named %q, the file says %q\n", k, s.AccountName+"-old", s.AccountName)
			s.AccountName += "-old"
		case 1:
			old := s.AccessID[:len(s.AccessID)-4] + "OLD9"
			fmt.Fprintf(&b, "  ~ %s is bound with AccessKey %s, the file says %s\n", k, redact.AccessID(old), redact.AccessID(s.AccessID))
			s.AccessID = old
		}
		w.seeds = append(w.seeds, s)
	}
	extra := emulator.Binding{Scope: emulator.Scope{RegionID: st.RegionID}, BoundAccount: cloudsiem.BoundAccount{
		CloudCode: "hcloud", AccountID: "0999999999", AccountName: "bound-by-hand", AccessID: "HPUAEXAMPLE0009999"}}
	fmt.Fprintf(&b, "  ? hcloud/0999999999 is bound but not in the file (reported; deleted only under --policy sync)\n")
	w.seeds = append(w.seeds, extra)
	w.describe = b.String()
	return w
}

func countKind(p plan.Plan, k plan.Kind) int {
	n := 0
	for _, f := range p.Findings {
		if f.Kind == k {
			n++
		}
	}
	return n
}

func printPass(w io.Writer, res reconcile.Result, err error) {
	for _, c := range res.Changes {
		line := fmt.Sprintf("  %s %s: %s", c.Change.Op, c.Change.Key, c.Outcome)
		if c.Err != nil {
			line += " (" + c.Class + ")"
		}
		fmt.Fprintln(w, line)
	}
	switch {
	case err != nil:
		fmt.Fprintf(w, "%s pass failed: %v\n", time.Now().Format("15:04:05"), err)
	case res.Blocked:
		fmt.Fprintf(w, "%s pass blocked by the safety gate: %s\n", time.Now().Format("15:04:05"), res.Plan.BlockReason)
	default:
		fmt.Fprintf(w, "%s pass ok: %d changed, %d in sync, %d reported\n", time.Now().Format("15:04:05"),
			len(res.Changes), res.Plan.Counts.InSync, len(res.Plan.Findings))
		for _, f := range res.Plan.Findings {
			if f.Kind == plan.KindAwaitingKey {
				fmt.Fprintf(w, "  awaiting key %s: %s\n", f.Key, f.Reason)
			}
		}
	}
}
