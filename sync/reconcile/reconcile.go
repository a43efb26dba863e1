package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bindsync/bindsync/cloudsiem"
	"github.com/bindsync/bindsync/internal/redact"
	"github.com/bindsync/bindsync/metrics"
	"github.com/bindsync/bindsync/sync/plan"
	"golang.org/x/sync/errgroup"
)

// API is the part of the Threat Analysis API the reconciler uses;
// *cloudsiem.Client satisfies it.
type API interface {
	ListBindAccount(ctx context.Context, req cloudsiem.ListBindAccountRequest) ([]cloudsiem.BoundAccount, error)
	BindAccount(ctx context.Context, req cloudsiem.BindAccountRequest) (requestID string, err error)
	ModifyBindAccount(ctx context.Context, req cloudsiem.ModifyBindAccountRequest) (requestID string, err error)
	DeleteBindAccount(ctx context.Context, req cloudsiem.DeleteBindAccountRequest) (requestID string, err error)
	ListAccountAccessID(ctx context.Context, req cloudsiem.ListAccountAccessIDRequest) ([]cloudsiem.KnownAccessKey, error)
}

var _ API = (*cloudsiem.Client)(nil)

// Config configures a Reconciler. API and Metrics are required.
type Config struct {
	API     API
	Metrics *metrics.Metrics
	Logger  *slog.Logger
	Plan    plan.Options
	// Concurrency bounds the changes in flight. Zero: DefaultConcurrency,
	// and then the requests in flight follow the rate and the latency by
	// themselves (the limiter paces the starts, so rate × latency are in
	// flight); a positive value pins it.
	Concurrency int
	DryRun      bool
	Backoff     Backoff
	// RegionIDParam, when set, is sent as the RegionId parameter instead of
	// the file's regionId (the data-center/RegionId pairing is inferred, not
	// documented; see the README).
	RegionIDParam string
	// AfterPass, if set, is called after every pass (demo output, tests).
	AfterPass func(Result, error)
	// SkipKeyCheck plans without listing the AccessKeys Threat Analysis
	// knows: creates and accessId changes are attempted whatever the key.
	SkipKeyCheck bool
	// ListReuse is how long after a list a pass that follows an edit of the
	// desired state plans from it (kept up to date with bindsync's own
	// changes) instead of listing again. Zero: every pass lists (the
	// daemon's --list-reuse defaults to DefaultListReuse).
	ListReuse time.Duration
	// Approvable says a person can approve a blocked plan (the daemon's
	// admin endpoints); the log line of a blocked plan says how. Otherwise
	// (a one-shot apply) it says to re-run with --force or a saved plan.
	Approvable bool
}

// DefaultConcurrency bounds the changes in flight when Config.Concurrency is
// zero: enough for 200 requests a second at 300 ms of latency.
const DefaultConcurrency = 64

// Reconciler runs passes. A Reconciler is not safe for concurrent RunOnce
// calls; Run never overlaps them.
type Reconciler struct {
	api      API
	m        *metrics.Metrics
	log      *slog.Logger
	opts     plan.Options
	workers  int
	dryRun   bool
	regionID string
	// checkKeys: list the known AccessKeys when a pass binds one (see planWith).
	checkKeys  bool
	approvable bool
	backoffs   *backoffs
	failed     int // consecutive failed passes
	// trusted is how many bindings the last list that was not collapsed
	// showed: the baseline of the collapse gate (plan.Options.ObservedBefore).
	trusted int
	// list is the last list, for passes that follow an edit (observed.go).
	list      lastList
	listReuse time.Duration

	afterPass func(Result, error)
	rev       review

	lastProgress atomic.Int64 // unix nanoseconds of the last pass start or finished change
	listedOK     atomic.Bool  // a pass has listed the bindings successfully
}

// LastProgress returns when the loop last showed life: a pass started or a
// change finished. A long apply at a low rate keeps it fresh.
func (r *Reconciler) LastProgress() time.Time {
	if n := r.lastProgress.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// HasListed reports whether any pass has listed the observed bindings.
func (r *Reconciler) HasListed() bool { return r.listedOK.Load() }

// New returns a Reconciler.
func New(cfg Config) *Reconciler {
	r := &Reconciler{
		api:        cfg.API,
		m:          cfg.Metrics,
		log:        cfg.Logger,
		opts:       cfg.Plan,
		workers:    cfg.Concurrency,
		dryRun:     cfg.DryRun,
		regionID:   cfg.RegionIDParam,
		checkKeys:  !cfg.SkipKeyCheck,
		approvable: cfg.Approvable,
		backoffs:   newBackoffs(cfg.Backoff),
		afterPass:  cfg.AfterPass,
		listReuse:  cfg.ListReuse,
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.workers < 1 {
		r.workers = DefaultConcurrency
	}
	if r.opts.Policy == "" {
		r.opts.Policy = plan.UpdateOnly
	}
	return r
}

// Outcome of one change.
type Outcome string

// The outcomes.
const (
	Applied   Outcome = "applied"
	Failed    Outcome = "failed"
	DryRun    Outcome = "dry-run"
	Deferred  Outcome = "deferred"  // in backoff after earlier failures
	Cancelled Outcome = "cancelled" // not started: shutting down
)

// ChangeResult is what happened to one change.
type ChangeResult struct {
	Change    plan.Change
	Outcome   Outcome
	Class     string // failure class (metric label) when Failed
	RequestID string // of the answer that applied or refused it
	Err       error
	RetryAt   time.Time // when Deferred or Failed: the next attempt
}

// Result is one pass.
type Result struct {
	Plan     plan.Plan
	Digest   string // plan.Digest of the plan
	Changes  []ChangeResult
	Blocked  bool
	Duration time.Duration
	// ReusedList: the pass planned from the last list (it followed an edit
	// of the desired state) instead of listing.
	ReusedList bool
}

// Count returns how many changes of op ended with outcome.
func (r Result) Count(op plan.Op, o Outcome) int {
	n := 0
	for _, c := range r.Changes {
		if c.Change.Op == op && c.Outcome == o {
			n++
		}
	}
	return n
}

// Failures returns the failed changes.
func (r Result) Failures() []ChangeResult {
	var out []ChangeResult
	for _, c := range r.Changes {
		if c.Outcome == Failed {
			out = append(out, c)
		}
	}
	return out
}

// view is one list call's target: a managed scope and a cloud code.
type view struct {
	scope plan.Scope
	code  string
}

// listEach calls list once per managed view and cloud code, all at once
// (through the limiter: on a slow API a pass does not wait for them one after
// another). The first failure cancels the others and is returned.
func listEach[T any](ctx context.Context, d plan.Desired, list func(context.Context, view) ([]T, error)) ([]view, [][]T, error) {
	var views []view
	for _, scope := range d.ManagedScopes() {
		for _, code := range cloudsiem.CloudCodes {
			views = append(views, view{scope, code})
		}
	}
	lists := make([][]T, len(views))
	g, gctx := errgroup.WithContext(ctx)
	for i, v := range views {
		g.Go(func() (err error) {
			lists[i], err = list(gctx, v)
			return err
		})
	}
	return views, lists, g.Wait()
}

// Observe lists the observed bindings of every managed scope. It makes only
// list calls, so `bindsync plan` can use it with read-only credentials.
func (r *Reconciler) Observe(ctx context.Context, d plan.Desired) ([]plan.Binding, error) {
	views, lists, err := listEach(ctx, d, func(ctx context.Context, v view) ([]cloudsiem.BoundAccount, error) {
		accounts, err := r.api.ListBindAccount(ctx, cloudsiem.ListBindAccountRequest{View: r.view(v.scope), CloudCode: v.code})
		if err != nil {
			return nil, fmt.Errorf("list %s bindings in [%s]: %w", v.code, v.scope, err)
		}
		return accounts, nil
	})
	if err != nil {
		return nil, err
	}
	n := 0
	for _, accounts := range lists {
		n += len(accounts)
	}
	out := make([]plan.Binding, 0, n)
	for i, accounts := range lists {
		for _, a := range accounts {
			out = append(out, fromAPI(views[i].scope, a))
		}
	}
	return out, nil
}

// KnownKeys lists, once per managed view and cloud code, the AccessKeys
// Threat Analysis knows (ListAccountAccessId). A failure is not fatal: the
// pass plans without the check, as before it existed, and says so.
func (r *Reconciler) KnownKeys(ctx context.Context, d plan.Desired) *plan.KnownKeys {
	views, lists, err := listEach(ctx, d, func(ctx context.Context, v view) ([]cloudsiem.KnownAccessKey, error) {
		keys, err := r.api.ListAccountAccessID(ctx, cloudsiem.ListAccountAccessIDRequest{View: r.view(v.scope), CloudCode: v.code})
		if err != nil {
			return nil, fmt.Errorf("list the %s AccessKeys in [%s]: %w", v.code, v.scope, err)
		}
		return keys, nil
	})
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("cannot list the AccessKeys Threat Analysis knows; planning without checking them (grant yundun-sas:ListAccountAccessId)", "err", err)
		}
		return nil
	}
	known := plan.NewKnownKeys()
	for i, keys := range lists {
		for _, k := range keys {
			known.Add(plan.KnownKey{AccessID: k.AccessID, AccessIDMd5: k.AccessIDMd5, AccountID: k.AccountID, CloudCode: views[i].code, Bound: k.Bound == 1})
		}
	}
	return known
}

// Plan lists and plans without applying anything.
func (r *Reconciler) Plan(ctx context.Context, d plan.Desired) (plan.Plan, error) {
	p, _, err := r.planWith(ctx, d, r.opts, false)
	return p, err
}

// planWith lists the bindings and plans. Only a plan that would bind an
// AccessKey (a create, or a change of a binding's key) needs the keys Threat
// Analysis knows; then they are listed and the plan made again with them.
// A pass with nothing to bind, which is most passes, lists no key: at
// 10,000 bindings the key lists cost as much CPU as the binding lists, and
// they take from the same API quota. A pass that binds pays one more round
// trip.
//
// With reuse, a list younger than the reuse window (see lastList) is
// planned from instead of listing; reused says it was.
func (r *Reconciler) planWith(ctx context.Context, d plan.Desired, opts plan.Options, reuse bool) (p plan.Plan, reused bool, err error) {
	scopes := d.ManagedScopes()
	var observed []plan.Binding
	if reused = reuse && r.list.usable(scopes, time.Now(), r.listReuse); reused {
		observed = r.list.bindings
	} else {
		listedAt := time.Now()
		if observed, err = r.Observe(ctx, d); err != nil {
			r.list.drop()
			return plan.Plan{}, false, err
		}
		r.list.keep(observed, scopes, listedAt)
	}
	p = plan.Compute(d, observed, opts)
	if !r.checkKeys || !p.BindsKeys() {
		return p, reused, nil
	}
	if opts.Known = r.KnownKeys(ctx, d); opts.Known == nil {
		return p, reused, nil
	}
	return plan.Compute(d, observed, opts), reused, nil
}

// Options returns the plan options the reconciler plans with.
func (r *Reconciler) Options() plan.Options { return r.opts }

// RunOnce lists, plans and applies. The error joins every failure; a
// blocked plan is not an error (Result.Blocked says so).
func (r *Reconciler) RunOnce(ctx context.Context, d plan.Desired) (Result, error) {
	return r.runOnce(ctx, d, false)
}

// runOnce is RunOnce; reuse lets it plan from the last list (a pass that
// follows an edit of the file).
func (r *Reconciler) runOnce(ctx context.Context, d plan.Desired, reuse bool) (Result, error) {
	return r.pass(func() (Result, error) {
		opts := r.opts
		opts.ObservedBefore = r.trusted
		p, reused, err := r.planWith(ctx, d, opts, reuse)
		if err != nil {
			return Result{}, err
		}
		r.listedOK.Store(true)
		digest := plan.Digest(d.Source, r.opts, p)
		p = r.review(p, digest)
		if !p.Blocked {
			// A list that is whole (or a collapse a person let through)
			// becomes the baseline; a blocked one keeps the old baseline, so
			// a service that keeps answering nothing stays blocked.
			r.trusted = p.Counts.Observed
		}
		res, err := r.execute(ctx, p, digest)
		res.ReusedList = reused
		r.list.fold(res.Changes)
		return res, err
	})
}

// ApplyPlan applies a plan made earlier, whose digest the caller has checked
// against a fresh plan (a reviewed, saved plan). A blocked plan applies nothing.
func (r *Reconciler) ApplyPlan(ctx context.Context, p plan.Plan, digest string) (Result, error) {
	return r.pass(func() (Result, error) { return r.execute(ctx, p, digest) })
}

// pass wraps one pass with its timestamps, metrics and hook.
func (r *Reconciler) pass(run func() (Result, error)) (Result, error) {
	start := time.Now()
	r.lastProgress.Store(start.UnixNano())
	r.m.LastAttempt.Set(float64(start.UnixNano()) / 1e9)
	res, err := run()
	res.Duration = time.Since(start)
	r.record(res, err)
	if r.afterPass != nil {
		r.afterPass(res, err)
	}
	return res, err
}

func (r *Reconciler) execute(ctx context.Context, p plan.Plan, digest string) (Result, error) {
	res := Result{Plan: p, Blocked: p.Blocked, Digest: digest}
	r.backoffs.keep(p)
	if p.Blocked {
		next := "review the plan, then re-run with --force, or save it with 'bindsync plan --out FILE' and apply exactly it with 'bindsync apply --plan FILE'"
		if r.approvable {
			next = "review it with 'bindsync approve' (GET /-/plan on the admin address), then: bindsync approve --hash " + digest
		}
		r.log.Warn("safety gate blocked the plan; nothing applied", "reason", p.BlockReason, "hash", digest,
			"create", p.Count(plan.OpCreate), "update", p.Count(plan.OpUpdate), "delete", p.Count(plan.OpDelete), "next", next)
		return res, nil
	}
	for _, f := range p.Findings {
		// Conflicts and protected bindings need a person; a binding
		// awaiting its key is a rotation under way (said once a pass, at
		// info); missing and unmanaged ones are the policy at work, counted
		// in the summary line, and would repeat every pass.
		level := slog.LevelDebug
		switch f.Kind {
		case plan.KindConflict, plan.KindProtected:
			level = slog.LevelWarn
		case plan.KindAwaitingKey:
			level = slog.LevelInfo
		}
		r.log.Log(ctx, level, "not changed", "kind", f.Kind, "binding", f.Key.String(), "reason", f.Reason)
	}
	res.Changes = r.apply(ctx, p.Changes)
	var errs []error
	for _, c := range res.Changes {
		switch c.Outcome {
		case Failed:
			errs = append(errs, fmt.Errorf("%s %s: %w", c.Change.Op, c.Change.Key, c.Err))
		case Deferred:
			// Not converged: a pass that skips a failing binding is not a success.
			errs = append(errs, fmt.Errorf("%s %s: deferred until %s after earlier failures", c.Change.Op, c.Change.Key, c.RetryAt.Format(time.RFC3339)))
		}
	}
	if ctx.Err() != nil {
		errs = append(errs, ctx.Err())
	}
	return res, errors.Join(errs...)
}

// apply runs the changes on a bounded pool. Only a cancelled context stops
// the rest; every other failure is per change.
func (r *Reconciler) apply(ctx context.Context, changes []plan.Change) []ChangeResult {
	results := make([]ChangeResult, len(changes))
	now := time.Now()
	jobs := make(chan int)
	var wg sync.WaitGroup
	var done atomic.Int64
	for range min(r.workers, len(changes)) {
		wg.Go(func() {
			for i := range jobs {
				results[i] = r.applyOne(ctx, changes[i])
				r.lastProgress.Store(time.Now().UnixNano())
				done.Add(1)
			}
		})
	}
	if len(changes) >= progressFrom {
		stop := r.reportProgress(&done, len(changes), now)
		defer stop()
	}
	for i, c := range changes {
		switch {
		case ctx.Err() != nil:
			results[i] = ChangeResult{Change: c, Outcome: Cancelled}
		case !r.backoffs.due(c, now):
			results[i] = ChangeResult{Change: c, Outcome: Deferred, RetryAt: r.backoffs.entries[c.Key].next}
			r.log.Debug("change deferred after earlier failures", "op", c.Op, "binding", c.Key.String(), "retry_at", results[i].RetryAt)
		default:
			select {
			case jobs <- i:
			case <-ctx.Done():
				results[i] = ChangeResult{Change: c, Outcome: Cancelled}
			}
		}
	}
	close(jobs)
	wg.Wait()
	for i := range results {
		switch results[i].Outcome {
		case Applied:
			r.backoffs.succeeded(results[i].Change.Key)
		case Failed:
			results[i].RetryAt = r.backoffs.failed(results[i].Change, time.Now())
		}
	}
	return results
}

// progressFrom is the number of changes from which a pass reports its
// progress while it applies (a long apply is not silent).
const progressFrom = 20

// progressEvery is how often it does.
const progressEvery = 5 * time.Second

// reportProgress logs done/total and the rate every progressEvery until the
// returned stop is called.
func (r *Reconciler) reportProgress(done *atomic.Int64, total int, start time.Time) (stop func()) {
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case now := <-t.C:
				n := done.Load()
				rate := float64(n) / now.Sub(start).Seconds()
				left := time.Duration(0)
				if rate > 0 {
					left = time.Duration(float64(int64(total)-n) / rate * float64(time.Second)).Round(time.Second)
				}
				r.log.Info("applying", "done", n, "total", total, "per_second", fmt.Sprintf("%.1f", rate), "eta", left)
			}
		}
	}()
	return func() { close(quit); <-finished }
}

func (r *Reconciler) applyOne(ctx context.Context, c plan.Change) ChangeResult {
	res := ChangeResult{Change: c}
	if ctx.Err() != nil {
		res.Outcome = Cancelled
		return res
	}
	attrs := []any{"op", c.Op, "cloud_code", c.Key.CloudCode, "account_id", c.Key.AccountID, "scope", c.Key.Scope.String()}
	if c.New != nil {
		attrs = append(attrs, "access_id", redact.AccessID(c.New.AccessID))
	}
	// Dry-run stops here and only here: everything before ran for real.
	if r.dryRun {
		res.Outcome = DryRun
		r.log.Info("dry-run: would apply", append(attrs, "outcome", DryRun)...)
		return res
	}
	requestID, err := r.call(ctx, c)
	if err == nil {
		res.Outcome, res.RequestID = Applied, requestID
		r.m.ChangesApplied.WithLabelValues(string(c.Op), "success").Inc()
		r.log.Info("change applied", append(attrs, "outcome", Applied, "request_id", requestID)...)
		return res
	}
	if ctx.Err() != nil && cloudsiem.ClassOf(err) == 0 {
		// Cancelled while waiting for the limiter or a backoff: never sent.
		res.Outcome, res.Err = Cancelled, err
		return res
	}
	res.Outcome, res.Err = Failed, err
	res.Class = "unknown"
	var ae *cloudsiem.APIError
	if errors.As(err, &ae) {
		res.Class, res.RequestID = ae.Class.String(), ae.RequestID
	}
	r.m.ChangesApplied.WithLabelValues(string(c.Op), "failure").Inc()
	r.log.Warn("change failed", append(attrs, "outcome", Failed, "class", res.Class, "request_id", res.RequestID, "err", err)...)
	return res
}

func (r *Reconciler) call(ctx context.Context, c plan.Change) (requestID string, err error) {
	view := r.view(c.Key.Scope)
	switch c.Op {
	case plan.OpCreate:
		return r.api.BindAccount(ctx, cloudsiem.BindAccountRequest{View: view, CloudCode: c.Key.CloudCode, AccountID: c.Key.AccountID, AccountName: c.New.AccountName, AccessID: c.New.AccessID})
	case plan.OpUpdate:
		return r.api.ModifyBindAccount(ctx, cloudsiem.ModifyBindAccountRequest{View: view, BindID: c.Old.BindID, CloudCode: c.Key.CloudCode, AccountID: c.Key.AccountID, AccountName: c.New.AccountName, AccessID: c.New.AccessID})
	case plan.OpDelete:
		return r.api.DeleteBindAccount(ctx, cloudsiem.DeleteBindAccountRequest{View: view, BindID: c.Old.BindID, CloudCode: c.Key.CloudCode, AccountID: c.Key.AccountID, AccessID: c.Old.AccessID})
	}
	return "", fmt.Errorf("unknown operation %q", c.Op)
}

func (r *Reconciler) view(s plan.Scope) cloudsiem.View {
	v := cloudsiem.View{RegionID: s.RegionID, RoleFor: s.RoleFor, RoleType: s.RoleType}
	if r.regionID != "" {
		v.RegionID = r.regionID
	}
	return v
}

func fromAPI(scope plan.Scope, a cloudsiem.BoundAccount) plan.Binding {
	return plan.Normalize(plan.Binding{
		Key:             plan.Key{Scope: scope, CloudCode: a.CloudCode, AccountID: a.AccountID},
		AccountName:     a.AccountName,
		AccessID:        a.AccessID,
		BindID:          a.BindID,
		DataSourceCount: a.DataSourceCount,
	})
}

// record updates the pass metrics and logs the summary line.
func (r *Reconciler) record(res Result, err error) {
	m := r.m
	m.ReconcileDuration.Observe(res.Duration.Seconds())
	result := "success"
	switch {
	case err != nil:
		result = "failure"
		r.failed++
	case res.Blocked:
		result = "blocked"
	default:
		r.failed = 0
		m.LastSuccess.Set(float64(time.Now().UnixNano()) / 1e9)
	}
	m.ReconcileRuns.WithLabelValues(result).Inc()
	m.ConsecutiveFailures.Set(float64(r.failed))
	gate := 0.0
	if res.Blocked {
		gate = 1
	}
	m.SafetyGateBlock.Set(gate)
	m.InBackoff.Set(float64(r.backoffs.waiting(time.Now())))

	if res.Plan.Policy != "" { // the plan was made: the gauges describe it
		c := res.Plan.Counts
		for state, n := range map[string]int{"desired": c.Desired, "observed": c.Observed, "in_sync": c.InSync,
			"drifted": c.Drifted, "missing": c.Missing, "unmanaged": c.Unmanaged, "conflict": c.Conflict, "awaiting_key": c.AwaitingKey} {
			m.Bindings.WithLabelValues(state).Set(float64(n))
		}
		for _, op := range plan.Ops {
			pending := res.Plan.Count(op)
			if !res.Blocked {
				pending -= res.Count(op, Applied)
			}
			m.PendingChanges.WithLabelValues(string(op)).Set(float64(pending))
		}
	}

	attrs := []any{"result", result, "duration", res.Duration.Round(time.Millisecond),
		"create", res.Count(plan.OpCreate, Applied), "update", res.Count(plan.OpUpdate, Applied), "delete", res.Count(plan.OpDelete, Applied),
		"failed", len(res.Failures()), "in_sync", res.Plan.Counts.InSync, "reported", len(res.Plan.Findings), "awaiting_key", res.Plan.Counts.AwaitingKey}
	if r.dryRun {
		attrs = append(attrs, "dry_run", true, "would_apply", len(res.Plan.Changes))
	}
	if res.ReusedList {
		attrs = append(attrs, "list", "reused")
	}
	if err != nil {
		attrs = append(attrs, "err", err)
		r.log.Error("reconcile pass failed", attrs...)
		return
	}
	r.log.Info("reconcile pass done", attrs...)
}
