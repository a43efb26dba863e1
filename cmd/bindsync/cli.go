package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/bindsync/bindsync/cloudsiem"
	"github.com/bindsync/bindsync/sync/plan"
	"github.com/bindsync/bindsync/sync/reconcile"
)

// version is the release; the VCS revision comes from the build info.
const version = "0.1.0"

// Exit codes.
const (
	exitOK          = 0
	exitError       = 1
	exitChanges     = 2 // plan: changes pending (or awaiting an AccessKey's registration)
	exitUnappliable = 3 // plan: conflicts, or entries no pass can apply as the file says
)

// errChanges makes `plan` exit 2, errUnappliable 3.
var (
	errChanges     = errors.New("changes pending")
	errUnappliable = errors.New("the plan has conflicts or entries that cannot be applied")
)

// hooks let tests and the demo observe a running daemon without parsing logs.
type hooks struct {
	listening func(metrics, admin string)
	pass      func(reconcile.Result, error)
	creds     cloudsiem.CredentialSource // overrides the credentials chain (demo)
	rejected  func(error)                // a reload was rejected (demo)
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	return runWith(ctx, args, getenv, stdout, stderr, hooks{})
}

func runWith(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, h hooks) int {
	if len(args) < 2 {
		usage(stderr)
		return exitError
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	cmd, rest := args[1], args[2:]
	var err error
	switch cmd {
	case "validate":
		err = cmdValidate(rest, getenv, stdout)
	case "plan":
		err = cmdPlan(ctx, rest, getenv, stdout, stderr, h)
	case "apply":
		err = cmdApply(ctx, rest, getenv, stdout, stderr, h)
	case "run":
		err = cmdRun(ctx, rest, getenv, stdout, stderr, h)
	case "demo":
		err = cmdDemo(ctx, rest, getenv, stdout, stderr, h)
	case "emulator":
		err = cmdEmulator(ctx, rest, getenv, stdout, stderr)
	case "approve":
		err = cmdApprove(ctx, rest, getenv, stdout, stderr)
	case "import":
		err = cmdImport(ctx, rest, getenv, stdout, stderr, h)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "bindsync %s (revision %s, %s)\n", version, revision(), runtime.Version())
		return exitOK
	case "help", "-h", "--help", "-help":
		usage(stdout)
		return exitOK
	default:
		fmt.Fprintf(stderr, "bindsync: unknown command %q\n", cmd)
		usage(stderr)
		return exitError
	}
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errChanges):
		return exitChanges
	case errors.Is(err, errUnappliable):
		fmt.Fprintf(stderr, "bindsync %s: %v (see the ! lines above)\n", cmd, err)
		return exitUnappliable
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	default:
		fmt.Fprintf(stderr, "bindsync %s: %v\n", cmd, err)
		return exitError
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `bindsync keeps Alibaba Cloud Threat Analysis multicloud account bindings in line with a YAML file.

Usage:
  bindsync validate -f FILE               check the file (no credentials, no network); exit 0 valid, 1 not
  bindsync plan -f FILE [--output json] [--out PLAN]
                                          list and plan; exit 0 no changes, 2 changes pending,
                                          3 conflicts or entries that cannot be applied, 1 error
  bindsync apply -f FILE | --plan PLAN    one pass, or exactly a saved plan; exit 0 all changes succeeded, 1 otherwise
  bindsync run -f FILE                    the daemon: watch, resync, metrics, health
  bindsync demo                           the daemon against a built-in emulator (no cloud account)
  bindsync import [--cloud-code C] [--role-for ID --role-type N] [-o FILE]
                                          write the live bindings as a desired-state file
  bindsync approve [--hash HASH]          show the daemon's plan, or approve a blocked one
  bindsync emulator --listen ADDR         serve the local emulator
  bindsync version

Run 'bindsync COMMAND -h' for the flags of a command. Every flag can also be set
from the environment as BINDSYNC_<FLAG> (e.g. BINDSYNC_QPS=2, BINDSYNC_DRY_RUN=true).
Credentials come from the Alibaba Cloud credentials chain, never from flags.
`)
}

func revision() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}

// parseFlags parses args, then fills every flag not given on the command
// line from BINDSYNC_<NAME> in the environment.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || len(f.Name) == 1 {
			return
		}
		env := envName(f.Name)
		if v := getenv(env); v != "" {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", env, v, err))
			}
		}
	})
	return errors.Join(errs...)
}

func envName(flagName string) string {
	return "BINDSYNC_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// common holds the flags shared by plan, apply, run and demo.
type common struct {
	file          string
	endpoint      string
	regionIDParam string
	qps           float64
	qpsMax        float64
	burst         int
	concurrency   int
	policy        string
	dryRun        bool
	maxRatio      float64
	force         bool
	deleteWithDS  bool
	logFormat     string
	logLevel      string
	backoffBase   time.Duration
	backoffMax    time.Duration
	reqTimeout    time.Duration
	retryAttempts int
}

func (c *common) register(fs *flag.FlagSet, withFile bool) {
	if withFile {
		fs.StringVar(&c.file, "file", "", "desired-state YAML file (required)")
		fs.StringVar(&c.file, "f", "", "shorthand for --file")
	}
	fs.StringVar(&c.endpoint, "endpoint", "", "API endpoint URL; default from the file's regionId (https only, http for loopback)")
	fs.StringVar(&c.regionIDParam, "region-id-param", "", "RegionId value to send instead of the file's regionId (the data-center pairing is inferred; see README)")
	fs.Float64Var(&c.qps, "qps", 0, "the API quota in requests per second, when known: the rate never exceeds it (0: find it, from 5 up to --qps-max)")
	fs.Float64Var(&c.qpsMax, "qps-max", reconcile.DefaultQPSMax, "the highest rate the limiter may find (other tools of the account share the quota)")
	fs.IntVar(&c.burst, "burst", reconcile.DefaultBurst, "rate limiter burst")
	fs.IntVar(&c.concurrency, "concurrency", 0, "changes in flight at most (0: as many as the rate and the API's latency need, up to 64)")
	fs.StringVar(&c.policy, "policy", string(plan.UpdateOnly), "update-only | upsert | sync")
	fs.BoolVar(&c.dryRun, "dry-run", false, "list and plan for real, but send no mutating request")
	fs.Float64Var(&c.maxRatio, "max-change-ratio", plan.DefaultMaxChangeRatio, "safety gate: share of observed bindings a plan may update or delete (gate applies from 10 observed)")
	fs.BoolVar(&c.force, "force", false, "let a plan through the safety gate")
	fs.BoolVar(&c.deleteWithDS, "delete-with-data-sources", false, "under sync, allow deleting bindings that still have data sources")
	fs.StringVar(&c.logFormat, "log-format", "text", "text | json")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug | info | warn | error")
	fs.DurationVar(&c.backoffBase, "backoff-base", reconcile.DefaultBackoff.Base, "first retry delay of a failing binding, across passes")
	fs.DurationVar(&c.backoffMax, "backoff-max", reconcile.DefaultBackoff.Max, "longest retry delay of a failing binding")
	fs.DurationVar(&c.reqTimeout, "request-timeout", cloudsiem.DefaultRequestTimeout, "timeout of one HTTP attempt, end to end: connecting, waiting for the answer and reading it")
	fs.IntVar(&c.retryAttempts, "retry-attempts", cloudsiem.DefaultRetryPolicy.MaxAttempts, "attempts per API call for throttling, 5xx and network errors")
}

func (c *common) validate() error {
	var errs []error
	if c.file == "" {
		errs = append(errs, errors.New("--file is required"))
	}
	if _, err := plan.ParsePolicy(c.policy); err != nil {
		errs = append(errs, err)
	}
	if !(c.qps >= 0) || !(c.qpsMax > 0) || math.IsInf(c.qps, 0) || math.IsInf(c.qpsMax, 0) {
		errs = append(errs, errors.New("--qps must be 0 (find the quota) or positive, --qps-max positive"))
	}
	if c.burst < 1 || c.concurrency < 0 || c.retryAttempts < 1 {
		errs = append(errs, errors.New("--burst and --retry-attempts must be at least 1, --concurrency 0 (automatic) or more"))
	}
	if !(c.maxRatio > 0 && c.maxRatio <= 1) { // NaN and Inf fail too
		errs = append(errs, fmt.Errorf("--max-change-ratio %v: must be in (0, 1]", c.maxRatio))
	}
	if c.reqTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--request-timeout %s: must be positive", c.reqTimeout))
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		errs = append(errs, errors.New("--log-format must be text or json"))
	}
	if _, err := parseLevel(c.logLevel); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c *common) planOptions() plan.Options {
	p, _ := plan.ParsePolicy(c.policy)
	return plan.Options{Policy: p, MaxChangeRatio: c.maxRatio, Force: c.force, DeleteWithDataSources: c.deleteWithDS}
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

func (c *common) logger(w io.Writer) *slog.Logger {
	level, _ := parseLevel(c.logLevel)
	opts := &slog.HandlerOptions{Level: level}
	if c.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// newFlagSet is the flag set of one command: errors are returned, not
// fatal, and usage goes to the command's own output.
func newFlagSet(name string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	return fs
}
