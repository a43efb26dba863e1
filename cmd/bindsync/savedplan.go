package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/bindsync/bindsync/sync/plan"
)

// savedPlan is the file `plan --out` writes and `apply --plan` applies. It
// holds the plan as people review it (AccessKey IDs masked) and the hashes
// that bind it to what it was made from: apply re-reads the file, lists
// again, plans again, and applies only if the digest is unchanged. The
// changes themselves are recomputed, so the file needs no unmasked key.
type savedPlan struct {
	Version   int             `json:"version"`
	CreatedAt time.Time       `json:"createdAt"`
	File      string          `json:"file"`
	FileHash  string          `json:"fileHash"`
	Options   savedOptions    `json:"options"`
	Digest    string          `json:"digest"`
	Changes   []savedChange   `json:"changes"`
	Text      string          `json:"text"` // what `bindsync plan` prints
	Plan      json.RawMessage `json:"plan"`
}

type savedOptions struct {
	Policy                string  `json:"policy"`
	MaxChangeRatio        float64 `json:"maxChangeRatio"`
	Force                 bool    `json:"force"`
	DeleteWithDataSources bool    `json:"deleteWithDataSources"`
	Digest                string  `json:"digest"`
}

type savedChange struct {
	Op     plan.Op `json:"op"`
	Key    string  `json:"key"`
	Digest string  `json:"digest"` // plan.ChangeDigest: the change and the binding it touches
}

func newSavedPlan(file, fileHash string, opts plan.Options, p plan.Plan, digest string) (savedPlan, error) {
	rendered, err := json.Marshal(p)
	if err != nil {
		return savedPlan{}, err
	}
	sp := savedPlan{
		Version: 1, CreatedAt: time.Now().UTC().Truncate(time.Second), File: file, FileHash: fileHash,
		Options: savedOptions{Policy: string(opts.Policy), MaxChangeRatio: opts.MaxChangeRatio, Force: opts.Force,
			DeleteWithDataSources: opts.DeleteWithDataSources, Digest: plan.OptionsDigest(opts)},
		Digest: digest, Changes: []savedChange{}, Text: p.Text(), Plan: rendered,
	}
	for _, c := range p.Changes {
		sp.Changes = append(sp.Changes, savedChange{Op: c.Op, Key: c.Key.String(), Digest: plan.ChangeDigest(c)})
	}
	return sp, nil
}

func writeSavedPlan(path string, sp savedPlan) error {
	data, err := json.MarshalIndent(sp, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

func readSavedPlan(path string) (savedPlan, error) {
	var sp savedPlan
	data, err := os.ReadFile(path)
	if err != nil {
		return sp, fmt.Errorf("saved plan: %w", err)
	}
	if err := json.Unmarshal(data, &sp); err != nil {
		return sp, fmt.Errorf("saved plan %s: %w", path, err)
	}
	if sp.Version != 1 || sp.Digest == "" || sp.FileHash == "" {
		return sp, fmt.Errorf("saved plan %s: not a bindsync plan file (version %d)", path, sp.Version)
	}
	return sp, nil
}

// errStalePlan is a saved plan that no longer matches.
var errStalePlan = errors.New("the saved plan is stale; nothing applied")

// staleness says why a saved plan no longer matches a fresh one, or nil.
func staleness(sp savedPlan, fileHash string, opts plan.Options, fresh plan.Plan, digest string) error {
	var why []string
	if fileHash != sp.FileHash {
		why = append(why, fmt.Sprintf("the desired-state file changed since the plan (hash %s, now %s)", short(sp.FileHash), short(fileHash)))
	}
	if d := plan.OptionsDigest(opts); d != sp.Options.Digest {
		why = append(why, fmt.Sprintf("the policy or safety options changed (plan: --policy %s --max-change-ratio %g --force=%t --delete-with-data-sources=%t; now: --policy %s --max-change-ratio %g --force=%t --delete-with-data-sources=%t)",
			sp.Options.Policy, sp.Options.MaxChangeRatio, sp.Options.Force, sp.Options.DeleteWithDataSources,
			opts.Policy, opts.MaxChangeRatio, opts.Force, opts.DeleteWithDataSources))
	}
	if len(why) == 0 && digest != sp.Digest {
		saved := map[string]savedChange{}
		for _, c := range sp.Changes {
			saved[c.Key] = c
		}
		seen := map[string]bool{}
		for _, c := range fresh.Changes {
			k := c.Key.String()
			seen[k] = true
			old, ok := saved[k]
			switch {
			case !ok:
				why = append(why, fmt.Sprintf("%s: the plan now also has a %s (a binding changed on the server)", k, c.Op))
			case old.Op != c.Op || old.Digest != plan.ChangeDigest(c):
				why = append(why, fmt.Sprintf("%s: the binding changed on the server since the plan", k))
			}
		}
		for _, c := range sp.Changes {
			if !seen[c.Key] {
				why = append(why, fmt.Sprintf("%s: the %s is no longer needed (a binding changed on the server)", c.Key, c.Op))
			}
		}
		if len(why) == 0 {
			why = append(why, "the plan's outcome changed (for example the safety gate now decides differently)")
		}
	}
	if len(why) == 0 {
		return nil
	}
	return fmt.Errorf("%w:\n  - %s\nRun bindsync plan again and review the new plan", errStalePlan, strings.Join(why, "\n  - "))
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
