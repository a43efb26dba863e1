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
var version = "0.1.0" // a release sets it: -ldflags "-X main.version=..."

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

// commands lists every command with its synopsis, for help and for "did
// you mean".
var commands = []struct{ name, synopsis string }{
	{"validate", "check the file (no credentials, no network)"},
	{"plan", "list the real bindings and show what would change"},
	{"apply", "one pass: list, plan, apply (or exactly a saved plan)"},
	{"run", "the daemon: watch the file, resync, metrics, health"},
	{"demo", "the daemon against a built-in emulator (no cloud account)"},
	{"import", "write the live bindings of a view as a desired-state file"},
	{"approve", "show the daemon's plan, or approve a blocked one"},
	{"emulator", "serve the local emulator of the API"},
	{"version", "print version, commit and build date"},
	{"help", "help for a command: bindsync help COMMAND"},
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
		fmt.Fprintf(stdout, "bindsync %s (commit %s, built %s, %s)\n", version, revision(), buildDate(), runtime.Version())
		return exitOK
	case "help", "-h", "--help", "-help":
		if len(rest) > 0 && rest[0] != "help" && knownCommand(rest[0]) {
			// The command prints its own help: its flags, its defaults.
			return runWith(ctx, []string{args[0], rest[0], "--help"}, getenv, stdout, stderr, h)
		}
		usage(stdout)
		return exitOK
	default:
		fmt.Fprintf(stderr, "bindsync: unknown command %q%s; run 'bindsync help' for the list\n", cmd, didYouMean(cmd, commandNames()))
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
	fmt.Fprint(w, "bindsync keeps Alibaba Cloud Threat Analysis multicloud account bindings in line with a YAML file.\n\nUsage: bindsync COMMAND [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.synopsis)
	}
	fmt.Fprint(w, `
'bindsync help COMMAND' (or 'bindsync COMMAND --help') shows a command's flags.
Every flag can also be set from the environment as BINDSYNC_<FLAG> (e.g. BINDSYNC_QPS=2,
BINDSYNC_DRY_RUN=true). Credentials come from the Alibaba Cloud credentials chain, never from
flags. Documentation: docs/ (getting-started.md first).
`)
}

func commandNames() []string {
	var out []string
	for _, c := range commands {
		out = append(out, c.name)
	}
	return out
}

func knownCommand(name string) bool {
	for _, c := range commands {
		if c.name == name {
			return true
		}
	}
	return false
}

// didYouMean suggests the closest candidate to a mistyped word, as
// "; did you mean X?", or "".
func didYouMean(got string, candidates []string) string {
	best, bestDist := "", 3 // suggest only within two edits
	for _, c := range candidates {
		if d := editDistance(got, c); d < bestDist || strings.HasPrefix(c, got) && len(got) >= 3 && bestDist > 1 {
			best, bestDist = c, min(d, 1)
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// editDistance is the Levenshtein distance of two short words.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// Set at build time (-ldflags "-X main.commit=... -X main.date=..."), as the
// release configuration and the Dockerfile do; otherwise read from the VCS
// stamp Go records in the binary.
var (
	commit = ""
	date   = ""
)

func buildDate() string { return stamped(date, "vcs.time") }

func revision() string { return stamped(commit, "vcs.revision") }

// stamped is the value set at link time, else the VCS stamp Go recorded as
// the build setting key, else "unknown".
func stamped(linked, key string) string {
	if linked != "" {
		return linked
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == key && s.Value != "" {
				return s.Value
			}
		}
	}
	return "unknown"
}

// parseFlags parses args, then fills every flag not given on the command
// line from BINDSYNC_<NAME> in the environment.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	out := fs.Output()
	fs.SetOutput(io.Discard) // the flag package's own error line: flagError says it better
	err := fs.Parse(args)
	fs.SetOutput(out)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printHelp(fs)
			return err
		}
		return flagError(fs, err)
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

// The flag groups a command registers: every command connects; plan also
// plans; apply, run and demo also apply.
type flagGroups int

const (
	connects flagGroups = iota // endpoint, rate, timeouts, logs
	plans                      // + policy and the safety gate
	applies                    // + concurrency, dry-run, backoff
)

func (c *common) register(fs *flag.FlagSet, withFile bool, groups flagGroups) {
	if withFile {
		fs.StringVar(&c.file, "file", "", "desired-state YAML file, or a directory of them (required)")
		fs.StringVar(&c.file, "f", "", "shorthand for --file")
	}
	fs.StringVar(&c.endpoint, "endpoint", "", "API endpoint URL; default from the file's regionId (https only, http for loopback)")
	fs.StringVar(&c.regionIDParam, "region-id-param", "", "RegionId value to send instead of the file's regionId (the data-center pairing is inferred; see docs/api-facts.md)")
	fs.Float64Var(&c.qps, "qps", 0, "the API quota in requests per second, when known: the rate never exceeds it (0: find it, from 5 up to --qps-max)")
	fs.Float64Var(&c.qpsMax, "qps-max", reconcile.DefaultQPSMax, "the highest rate the limiter may find (other tools of the account share the quota)")
	fs.IntVar(&c.burst, "burst", reconcile.DefaultBurst, "rate limiter burst")
	fs.StringVar(&c.logFormat, "log-format", "text", "text | json")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug | info | warn | error")
	fs.DurationVar(&c.reqTimeout, "request-timeout", cloudsiem.DefaultRequestTimeout, "timeout of one HTTP attempt, end to end: connecting, waiting for the answer and reading it")
	fs.IntVar(&c.retryAttempts, "retry-attempts", cloudsiem.DefaultRetryPolicy.MaxAttempts, "attempts per API call for 5xx and network errors (throttled ones do not count)")
	c.policy, c.maxRatio = string(plan.UpdateOnly), plan.DefaultMaxChangeRatio
	if groups >= plans {
		fs.StringVar(&c.policy, "policy", string(plan.UpdateOnly), "update-only | upsert | sync")
		fs.Float64Var(&c.maxRatio, "max-change-ratio", plan.DefaultMaxChangeRatio, "safety gate: share of observed bindings a plan may update or delete, or a list may lose (gate applies from 10 observed)")
		fs.BoolVar(&c.force, "force", false, "let a plan through the safety gate")
		fs.BoolVar(&c.deleteWithDS, "delete-with-data-sources", false, "under sync, allow deleting bindings that still have data sources")
	}
	c.backoffBase, c.backoffMax = reconcile.DefaultBackoff.Base, reconcile.DefaultBackoff.Max
	if groups >= applies {
		fs.IntVar(&c.concurrency, "concurrency", 0, "changes in flight at most (0: as many as the rate and the API's latency need, up to 64)")
		fs.BoolVar(&c.dryRun, "dry-run", false, "list and plan for real, but send no mutating request")
		fs.DurationVar(&c.backoffBase, "backoff-base", reconcile.DefaultBackoff.Base, "first retry delay of a failing binding, across passes")
		fs.DurationVar(&c.backoffMax, "backoff-max", reconcile.DefaultBackoff.Max, "longest retry delay of a failing binding")
	}
}

// validate checks every flag, the file included.
func (c *common) validate() error {
	var errs []error
	if c.file == "" {
		errs = append(errs, errors.New("--file is required"))
	}
	return errors.Join(append(errs, c.validateFlags())...)
}

// validateFlags checks the flags other than the file (import has none).
func (c *common) validateFlags() error {
	var errs []error
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
// fatal, in one line (see flagError); --help prints the command's own flags
// (see printHelp) on out.
func newFlagSet(name string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {} // the flag package's 40-line dump on every typo: see flagError
	return fs
}

// flagError turns the flag package's error into one line with a "did you
// mean" and where the help is.
func flagError(fs *flag.FlagSet, err error) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		return fmt.Errorf("unknown flag --%s%s; run 'bindsync help %s' for its flags", name, didYouMean(name, names), fs.Name())
	}
	return fmt.Errorf("%s; run 'bindsync help %s' for its flags", msg, fs.Name())
}

// printHelp prints one command's synopsis and flags, with the defaults that
// command really uses.
func printHelp(fs *flag.FlagSet) {
	w := fs.Output()
	for _, c := range commands {
		if c.name == fs.Name() {
			fmt.Fprintf(w, "bindsync %s: %s\n\nFlags:\n", c.name, c.synopsis)
		}
	}
	short := map[string]string{} // long name -> its one-letter alias
	fs.VisitAll(func(f *flag.Flag) {
		if long, ok := strings.CutPrefix(f.Usage, "shorthand for --"); ok && len(f.Name) == 1 {
			short[long] = f.Name
		}
	})
	fs.VisitAll(func(f *flag.Flag) {
		if len(f.Name) == 1 {
			return // shown with its long form
		}
		name := "--" + f.Name
		if s, ok := short[f.Name]; ok {
			name = "-" + s + ", " + name
		}
		def := ""
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && f.DefValue != "0s" {
			def = " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(w, "  %s\n      %s%s\n", name, f.Usage, def)
	})
	fmt.Fprintf(w, "\nEvery flag can also be set as BINDSYNC_<FLAG> (e.g. %s).\n", envName("dry-run")+"=true")
}

// setDefault changes a flag's default for one command (the demo's), so that
// its help shows the default it really uses.
func setDefault(fs *flag.FlagSet, name, value string) {
	if err := fs.Set(name, value); err != nil {
		panic(fmt.Sprintf("default %s=%q of a flag defined here: %v", name, value, err))
	}
	fs.Lookup(name).DefValue = value
}
