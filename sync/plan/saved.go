package plan

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Saved is a plan saved for review (`bindsync plan --out`) and applied later
// exactly as reviewed (`bindsync apply --plan`). It records everything the
// plan was made with: the desired state (absolute path and content hash),
// the policy and gate options, the endpoint and the RegionId sent. It holds
// the plan as people review it (AccessKey IDs masked) and the digests that
// bind it to what it was made from: apply re-reads the file, lists again,
// plans again, and applies only if Stale finds nothing. The changes
// themselves are recomputed, so the file needs no unmasked key.
type Saved struct {
	Version       int             `json:"version"`
	CreatedAt     time.Time       `json:"createdAt"`
	File          string          `json:"file"` // absolute
	FileHash      string          `json:"fileHash"`
	Endpoint      string          `json:"endpoint"`
	RegionIDParam string          `json:"regionIdParam,omitempty"`
	Options       SavedOptions    `json:"options"`
	Digest        string          `json:"digest"`
	Changes       []SavedChange   `json:"changes"`
	Text          string          `json:"text"` // what `bindsync plan` prints
	Plan          json.RawMessage `json:"plan"`
}

// SavedOptions are the options a saved plan was made with.
type SavedOptions struct {
	Policy                string  `json:"policy"`
	MaxChangeRatio        float64 `json:"maxChangeRatio"`
	Force                 bool    `json:"force"`
	DeleteWithDataSources bool    `json:"deleteWithDataSources"`
	Digest                string  `json:"digest"`
}

// Options returns the plan options recorded.
func (o SavedOptions) Options() Options {
	return Options{Policy: Policy(o.Policy), MaxChangeRatio: o.MaxChangeRatio, Force: o.Force, DeleteWithDataSources: o.DeleteWithDataSources}
}

// SavedChange is one change of a saved plan.
type SavedChange struct {
	Op     Op     `json:"op"`
	Key    string `json:"key"`
	Digest string `json:"digest"` // ChangeDigest: the change and the binding it touches
}

// SavedVersion is the format version Save writes and ReadSaved accepts.
const SavedVersion = 2

// Save records p, made from the file at absPath (content hash fileHash) with
// opts, against endpoint, sending regionIDParam (empty: the file's).
func Save(absPath, fileHash, endpoint, regionIDParam string, opts Options, p Plan, digest string, now time.Time) (Saved, error) {
	rendered, err := json.Marshal(p)
	if err != nil {
		return Saved{}, err
	}
	o := opts.withDefaults()
	sp := Saved{
		Version: SavedVersion, CreatedAt: now.UTC().Truncate(time.Second), File: absPath, FileHash: fileHash,
		Endpoint: endpoint, RegionIDParam: regionIDParam,
		Options: SavedOptions{Policy: string(o.Policy), MaxChangeRatio: o.MaxChangeRatio, Force: o.Force,
			DeleteWithDataSources: o.DeleteWithDataSources, Digest: OptionsDigest(opts)},
		Digest: digest, Changes: []SavedChange{}, Text: p.Text(), Plan: rendered,
	}
	for _, c := range p.Changes {
		sp.Changes = append(sp.Changes, SavedChange{Op: c.Op, Key: c.Key.String(), Digest: ChangeDigest(c)})
	}
	return sp, nil
}

// ParseSaved reads a saved plan, and says what a file is when it is not one
// (a `plan --output json` report is the usual mistake).
func ParseSaved(name string, data []byte) (Saved, error) {
	var report struct {
		Summary map[string]int `json:"summary"`
	}
	if json.Unmarshal(data, &report) == nil && report.Summary != nil {
		return Saved{}, fmt.Errorf("%s is a plan report ('bindsync plan --output json'), which cannot be applied: save a plan with 'bindsync plan -f FILE --out %s', review it, then 'bindsync apply --plan %s'", name, name, name)
	}
	var sp Saved
	if err := json.Unmarshal(data, &sp); err != nil {
		return sp, fmt.Errorf("%s is not a saved bindsync plan (%v); make one with 'bindsync plan -f FILE --out %s'", name, err, name)
	}
	if sp.Version == SavedVersion && sp.Digest != "" && sp.FileHash != "" && sp.File != "" {
		return sp, nil
	}
	if sp.Version != 0 && sp.Version != SavedVersion {
		return sp, fmt.Errorf("saved plan %s has format version %d, this bindsync reads %d: make the plan again with this version", name, sp.Version, SavedVersion)
	}
	return sp, fmt.Errorf("%s is not a saved bindsync plan (make one with 'bindsync plan -f FILE --out %s')", name, name)
}

// ErrStale is a saved plan that no longer matches.
var ErrStale = errors.New("the saved plan is stale; nothing applied")

// Stale says why a saved plan no longer matches a fresh plan made from the
// file with content hash fileHash and with opts, or nil when it still does.
func Stale(sp Saved, fileHash string, opts Options, fresh Plan, digest string) error {
	var why []string
	if fileHash != sp.FileHash {
		why = append(why, fmt.Sprintf("the desired-state file changed since the plan (hash %s, now %s)", short(sp.FileHash), short(fileHash)))
	}
	if d := OptionsDigest(opts); d != sp.Options.Digest {
		why = append(why, fmt.Sprintf("the policy or safety options changed (plan: --policy %s --max-change-ratio %g --force=%t --delete-with-data-sources=%t; now: --policy %s --max-change-ratio %g --force=%t --delete-with-data-sources=%t)",
			sp.Options.Policy, sp.Options.MaxChangeRatio, sp.Options.Force, sp.Options.DeleteWithDataSources,
			opts.Policy, opts.MaxChangeRatio, opts.Force, opts.DeleteWithDataSources))
	}
	if len(why) == 0 && digest != sp.Digest {
		saved := map[string]SavedChange{}
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
			case old.Op != c.Op || old.Digest != ChangeDigest(c):
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
	return fmt.Errorf("%w:\n  - %s\nRun bindsync plan again and review the new plan", ErrStale, strings.Join(why, "\n  - "))
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
