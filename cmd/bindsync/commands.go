package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/bindsync/bindsync/sync/desired"
	"github.com/bindsync/bindsync/sync/plan"
	"github.com/bindsync/bindsync/sync/reconcile"
)

// cmdValidate checks a file without credentials or network.
func cmdValidate(args []string, getenv func(string) string, stdout io.Writer) error {
	fs := newFlagSet("validate", stdout)
	var file string
	fs.StringVar(&file, "file", "", "desired-state YAML file (required)")
	fs.StringVar(&file, "f", "", "shorthand for --file")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if file == "" {
		return errors.New("--file is required")
	}
	st, err := desired.Load(file)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: valid, %d bindings in %d scopes, data center %s\n", file, len(st.Desired.Bindings), len(st.Desired.ManagedScopes()), st.RegionID)
	return nil
}

// start checks the flags, then the file (before anything touches the
// network), then wires the engine: the common start of plan and apply.
func start(c *common, stderr io.Writer, h hooks) (*desired.State, *engine, error) {
	if err := c.validate(); err != nil {
		return nil, nil, err
	}
	st, err := desired.Load(c.file)
	if err != nil {
		return nil, nil, err
	}
	e, err := newEngine(c, st, c.logger(stderr), engineOpts{creds: h.creds})
	if err != nil {
		return nil, nil, err
	}
	return st, e, nil
}

// cmdPlan lists and plans. It needs only ListBindAccount permission.
func cmdPlan(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, h hooks) error {
	fs := newFlagSet("plan", stderr)
	var c common
	c.register(fs, true, plans)
	var output, out string
	fs.StringVar(&output, "output", "text", "format of the plan on standard output: text or json")
	fs.StringVar(&out, "out", "", "also write the plan to this file, for 'bindsync apply --plan FILE'")
	fs.StringVar(&out, "o", "", "shorthand for --out")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if output != "text" && output != "json" {
		return errors.New("--output must be text or json")
	}
	st, e, err := start(&c, stderr, h)
	if err != nil {
		return err
	}
	p, err := e.rec.Plan(ctx, st.Desired)
	if err != nil {
		return err
	}
	if out != "" {
		digest := plan.Digest(st.Desired.Source, e.rec.Options(), p)
		abs, err := filepath.Abs(c.file)
		if err != nil {
			return err
		}
		sp, err := plan.Save(abs, st.Hash, e.client.Endpoint(), c.regionIDParam, e.rec.Options(), p, digest, time.Now())
		if err == nil {
			err = writeSavedPlan(out, sp)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "plan saved to %s (hash %s); it records the file, policy, gate and endpoint: apply exactly it, from anywhere, with: bindsync apply --plan %s\n", out, digest, out)
	}
	if output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(p); err != nil {
			return err
		}
	} else {
		fmt.Fprint(stdout, p.Text())
	}
	switch {
	case p.Counts.Conflict > 0:
		// A pull request that adds an entry no pass can apply fails its check.
		return errUnappliable
	case !p.Empty() || p.Counts.AwaitingKey > 0:
		return errChanges
	}
	return nil
}

// cmdApply runs one pass, or applies a saved plan if it is still current.
func cmdApply(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, h hooks) error {
	fs := newFlagSet("apply", stderr)
	var c common
	c.register(fs, true, applies)
	var planFile string
	fs.StringVar(&planFile, "plan", "", "apply exactly this saved plan (from 'bindsync plan --out FILE'), or nothing if it is stale")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	var sp plan.Saved
	if planFile != "" {
		var err error
		if sp, err = readSavedPlan(planFile); err != nil {
			return err
		}
		if err := fromSavedPlan(fs, &c, sp, getenv); err != nil {
			return err
		}
	}
	st, e, err := start(&c, stderr, h)
	if err != nil {
		return err
	}
	var res reconcile.Result
	if planFile != "" {
		fresh, perr := e.rec.Plan(ctx, st.Desired)
		if perr != nil {
			return perr
		}
		digest := plan.Digest(st.Desired.Source, e.rec.Options(), fresh)
		if serr := plan.Stale(sp, st.Hash, e.rec.Options(), fresh, digest); serr != nil {
			return serr
		}
		res, err = e.rec.ApplyPlan(ctx, fresh, digest)
	} else {
		res, err = e.rec.RunOnce(ctx, st.Desired)
	}
	if err != nil && res.Plan.Policy == "" {
		// No plan was made: the list (or the credentials) failed, and
		// nothing was sent.
		return fmt.Errorf("no change applied: could not list the current bindings: %w", err)
	}
	fmt.Fprint(stdout, res.Plan.Text())
	if err != nil {
		fmt.Fprintf(stdout, "Apply failed: %d of %d changes failed.\n", len(res.Failures()), len(res.Changes))
		return err
	}
	if res.Blocked {
		return fmt.Errorf("the safety gate blocked the plan (%s); nothing applied. Review the plan above, then either re-run with --force, or save it with 'bindsync plan --out FILE' and apply exactly it with 'bindsync apply --plan FILE'", res.Plan.BlockReason)
	}
	verb := "applied"
	if c.dryRun {
		verb = "would apply (dry-run)"
	}
	done := reconcile.Applied
	if c.dryRun {
		done = reconcile.DryRun
	}
	fmt.Fprintf(stdout, "Apply complete: %s %d create, %d update, %d delete.\n", verb,
		res.Count(plan.OpCreate, done), res.Count(plan.OpUpdate, done), res.Count(plan.OpDelete, done))
	return nil
}

// fromSavedPlan sets what a saved plan records (file, policy, gate options,
// endpoint, RegionId) so that `apply --plan` applies it as reviewed without
// re-typing flags, from any directory. A flag (or BINDSYNC_ variable) that
// contradicts the plan is refused, named.
func fromSavedPlan(fs *flag.FlagSet, c *common, sp plan.Saved, getenv func(string) string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	fs.VisitAll(func(f *flag.Flag) {
		if getenv(envName(f.Name)) != "" {
			given[f.Name] = true
		}
	})
	if given["f"] {
		given["file"] = true
	}
	o := sp.Options
	recorded := []struct {
		flag      string
		now, plan string
		set       func()
	}{
		{"file", c.file, sp.File, func() { c.file = sp.File }},
		{"policy", c.policy, o.Policy, func() { c.policy = o.Policy }},
		{"max-change-ratio", fmt.Sprint(c.maxRatio), fmt.Sprint(o.MaxChangeRatio), func() { c.maxRatio = o.MaxChangeRatio }},
		{"force", fmt.Sprint(c.force), fmt.Sprint(o.Force), func() { c.force = o.Force }},
		{"delete-with-data-sources", fmt.Sprint(c.deleteWithDS), fmt.Sprint(o.DeleteWithDataSources), func() { c.deleteWithDS = o.DeleteWithDataSources }},
		{"endpoint", c.endpoint, sp.Endpoint, func() { c.endpoint = sp.Endpoint }},
		{"region-id-param", c.regionIDParam, sp.RegionIDParam, func() { c.regionIDParam = sp.RegionIDParam }},
	}
	var contradict []string
	for _, r := range recorded {
		if given[r.flag] && r.now != r.plan {
			if r.flag == "file" {
				if abs, err := filepath.Abs(r.now); err == nil && abs == r.plan {
					continue
				}
			}
			contradict = append(contradict, fmt.Sprintf("--%s %s (the plan was made with %q)", r.flag, r.now, r.plan))
			continue
		}
		r.set()
	}
	if len(contradict) > 0 {
		return fmt.Errorf("these flags contradict the saved plan; leave them out (the plan records them) or make a new plan: %s", strings.Join(contradict, ", "))
	}
	return nil
}
