package plan

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/bindsync/bindsync/internal/redact"
)

// Text renders the plan for people: "+" create, "~" update, "-" delete, "!"
// findings, then a summary line.
func (p Plan) Text() string {
	var b strings.Builder
	for _, c := range p.Changes {
		switch c.Op {
		case OpCreate:
			fmt.Fprintf(&b, "+ create %s\n    accountName: %q\n    accessId:    %s\n", c.Key, c.New.AccountName, redact.AccessID(c.New.AccessID))
		case OpUpdate:
			fmt.Fprintf(&b, "~ update %s (bindId %d)\n", c.Key, c.Old.BindID)
			if c.Old.AccountName != c.New.AccountName {
				fmt.Fprintf(&b, "    accountName: %q -> %q\n", c.Old.AccountName, c.New.AccountName)
			}
			if c.Old.AccessID != c.New.AccessID {
				fmt.Fprintf(&b, "    accessId:    %s -> %s\n", redact.AccessID(c.Old.AccessID), redact.AccessID(c.New.AccessID))
			}
		case OpDelete:
			fmt.Fprintf(&b, "- delete %s (bindId %d)\n    accountName: %q\n    accessId:    %s\n", c.Key, c.Old.BindID, c.Old.AccountName, redact.AccessID(c.Old.AccessID))
		}
	}
	for _, f := range p.Findings {
		fmt.Fprintf(&b, "! %s %s: %s\n", f.Kind, f.Key, f.Reason)
	}
	fmt.Fprintf(&b, "Plan (policy %s): %d to create, %d to update, %d to delete; %d in sync, %d reported",
		p.Policy, p.Count(OpCreate), p.Count(OpUpdate), p.Count(OpDelete), p.Counts.InSync, len(p.Findings))
	if p.Counts.AwaitingKey > 0 {
		fmt.Fprintf(&b, ", %d awaiting their AccessKey", p.Counts.AwaitingKey)
	}
	b.WriteString(".\n")
	if p.Blocked {
		fmt.Fprintf(&b, "BLOCKED by the safety gate: %s. Nothing will be applied; re-run with --force after review.\n", p.BlockReason)
	} else if p.BlockReason != "" {
		fmt.Fprintf(&b, "Safety gate overridden: %s.\n", p.BlockReason)
	}
	return b.String()
}

// JSON types: a stable, machine-readable rendering with AccessIds masked.
type (
	jsonKey struct {
		RegionID  string `json:"regionId"`
		RoleFor   int64  `json:"roleFor,omitempty"`
		RoleType  int32  `json:"roleType,omitempty"`
		CloudCode string `json:"cloudCode"`
		AccountID string `json:"accountId"`
	}
	jsonBinding struct {
		AccountName     string `json:"accountName"`
		AccessID        string `json:"accessId"`
		BindID          int64  `json:"bindId,omitempty"`
		DataSourceCount int64  `json:"dataSourceCount,omitempty"`
		Origin          string `json:"origin,omitempty"`
	}
	jsonChange struct {
		Op  Op           `json:"op"`
		Key jsonKey      `json:"key"`
		Old *jsonBinding `json:"old,omitempty"`
		New *jsonBinding `json:"new,omitempty"`
	}
	jsonFinding struct {
		Kind     Kind          `json:"kind"`
		Key      jsonKey       `json:"key"`
		Reason   string        `json:"reason"`
		Desired  *jsonBinding  `json:"desired,omitempty"`
		Observed []jsonBinding `json:"observed,omitempty"`
	}
	jsonPlan struct {
		Policy      Policy         `json:"policy"`
		Changes     []jsonChange   `json:"changes"`
		Findings    []jsonFinding  `json:"findings"`
		Summary     map[string]int `json:"summary"`
		Blocked     bool           `json:"blocked"`
		BlockReason string         `json:"blockReason,omitempty"`
	}
)

func toJSONKey(k Key) jsonKey {
	return jsonKey{RegionID: k.RegionID, RoleFor: k.RoleFor, RoleType: k.RoleType, CloudCode: k.CloudCode, AccountID: k.AccountID}
}

func toJSONBinding(b *Binding) *jsonBinding {
	if b == nil {
		return nil
	}
	return &jsonBinding{AccountName: b.AccountName, AccessID: redact.AccessID(b.AccessID), BindID: b.BindID, DataSourceCount: b.DataSourceCount, Origin: b.Origin}
}

// MarshalJSON renders the plan for machines (CI bots, dashboards).
func (p Plan) MarshalJSON() ([]byte, error) {
	out := jsonPlan{
		Policy:   p.Policy,
		Changes:  []jsonChange{},
		Findings: []jsonFinding{},
		Summary: map[string]int{
			"create": p.Count(OpCreate), "update": p.Count(OpUpdate), "delete": p.Count(OpDelete),
			"inSync": p.Counts.InSync, "desired": p.Counts.Desired, "observed": p.Counts.Observed,
			"missing": p.Counts.Missing, "unmanaged": p.Counts.Unmanaged, "conflict": p.Counts.Conflict,
			"awaitingKey": p.Counts.AwaitingKey,
		},
		Blocked:     p.Blocked,
		BlockReason: p.BlockReason,
	}
	for _, c := range p.Changes {
		out.Changes = append(out.Changes, jsonChange{Op: c.Op, Key: toJSONKey(c.Key), Old: toJSONBinding(c.Old), New: toJSONBinding(c.New)})
	}
	for _, f := range p.Findings {
		jf := jsonFinding{Kind: f.Kind, Key: toJSONKey(f.Key), Reason: f.Reason, Desired: toJSONBinding(f.Desired)}
		for i := range f.Observed {
			jf.Observed = append(jf.Observed, *toJSONBinding(&f.Observed[i]))
		}
		out.Findings = append(out.Findings, jf)
	}
	return json.Marshal(out)
}
