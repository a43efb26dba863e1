package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bindsync/bindsync/cloudsiem"
	"github.com/bindsync/bindsync/internal/redact"
	"github.com/bindsync/bindsync/sync/desired"
	"github.com/bindsync/bindsync/sync/plan"
	"go.yaml.in/yaml/v3"
)

// cmdImport lists the live bindings of one view and writes them as a valid
// desired-state file: the first file of a team adopting bindsync. The order
// is deterministic and the formatting stable; nothing secret is written
// (AccessKey IDs are identifiers, not secrets, and the file needs them).
func cmdImport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, h hooks) error {
	fs := newFlagSet("import", stderr)
	var c common
	c.register(fs, false)
	var (
		regionID, codes, out string
		roleFor              int64
		roleType             int
	)
	fs.StringVar(&regionID, "region-id", plan.DefaultRegionID, "data center to import from: cn-hangzhou | ap-southeast-1")
	fs.StringVar(&codes, "cloud-code", strings.Join(desired.CloudCodes, ","), "cloud codes to import, comma-separated")
	fs.Int64Var(&roleFor, "role-for", 0, "import a member account's view (its user ID)")
	fs.IntVar(&roleType, "role-type", 0, "view type: 0 current account, 1 whole enterprise")
	fs.StringVar(&out, "o", "", "write the file here (default, or -: standard output); an existing file is not overwritten")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	c.file = "(import)" // the shared checks want a file; import writes one instead
	if err := c.validate(); err != nil {
		return err
	}
	if !slices.Contains(desired.RegionIDs, regionID) {
		return fmt.Errorf("--region-id %q: want one of %s", regionID, strings.Join(desired.RegionIDs, ", "))
	}
	if roleType != 0 && roleType != 1 || roleFor < 0 {
		return errors.New("--role-type must be 0 or 1 and --role-for not negative")
	}
	var cloudCodes []string
	for _, cc := range strings.Split(codes, ",") {
		cc = strings.TrimSpace(cc)
		if !slices.Contains(desired.CloudCodes, cc) {
			return fmt.Errorf("--cloud-code %q: want %s", cc, strings.Join(desired.CloudCodes, ", "))
		}
		cloudCodes = append(cloudCodes, cc)
	}
	slices.Sort(cloudCodes)
	cloudCodes = slices.Compact(cloudCodes)

	e, err := newEngine(&c, &desired.State{RegionID: regionID}, c.logger(stderr), h.creds, nil)
	if err != nil {
		return err
	}
	view := cloudsiem.View{RegionID: regionID, RoleFor: roleFor, RoleType: int32(roleType)}
	if c.regionIDParam != "" {
		view.RegionID = c.regionIDParam
	}
	var bound []cloudsiem.BoundAccount
	for _, cc := range cloudCodes {
		got, err := e.client.ListBindAccount(ctx, cloudsiem.ListBindAccountRequest{View: view, CloudCode: cc})
		if err != nil {
			return fmt.Errorf("list %s bindings: %w", cc, err)
		}
		bound = append(bound, got...)
	}
	header := fmt.Sprintf("Imported by bindsync %s on %s from data center %s (%s)%s, cloud codes %s.\nReview before committing: this file is now the desired state.",
		version, time.Now().UTC().Format(time.RFC3339), regionID, e.client.Endpoint(), viewText(roleFor, roleType), strings.Join(cloudCodes, ","))
	data, warnings := renderImport(header, regionID, roleFor, int32(roleType), bound)
	for _, w := range warnings {
		fmt.Fprintf(stderr, "bindsync import: warning: %s\n", w)
	}
	// What import writes must be what validate accepts.
	if _, err := desired.Parse("(import)", data); err != nil {
		return fmt.Errorf("the imported file would not be valid, not written: %w", err)
	}
	if out == "" || out == "-" {
		_, err := stdout.Write(data)
		return err
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("%w (import never overwrites a file)", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "bindsync import: wrote %d bindings to %s\n", bytes.Count(data, []byte("- cloudCode:")), out)
	return nil
}

func viewText(roleFor int64, roleType int) string {
	if roleFor == 0 && roleType == 0 {
		return ""
	}
	return fmt.Sprintf(", view roleFor=%d roleType=%d", roleFor, roleType)
}

// renderImport writes the bindings as a desired-state file, sorted by cloud
// code and account. Strings are quoted so YAML never reinterprets them
// (an accountId of 0123, a name of "yes").
func renderImport(header, regionID string, roleFor int64, roleType int32, bound []cloudsiem.BoundAccount) ([]byte, []string) {
	var warnings []string
	slices.SortStableFunc(bound, func(a, b cloudsiem.BoundAccount) int {
		return strings.Compare(a.CloudCode+"/"+a.AccountID, b.CloudCode+"/"+b.AccountID)
	})
	str := func(v string, quoted bool) *yaml.Node {
		n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}
		if quoted {
			n.Style = yaml.DoubleQuotedStyle
		}
		return n
	}
	num := func(v int64) *yaml.Node {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(v, 10)}
	}
	seq := &yaml.Node{Kind: yaml.SequenceNode}
	seenKey, seenAK := map[string]bool{}, map[string]bool{}
	for _, b := range bound {
		key := b.CloudCode + "/" + b.AccountID
		switch {
		case seenKey[key]:
			warnings = append(warnings, fmt.Sprintf("%s is bound twice (BindId %d): kept the first; resolve the conflict", key, b.BindID))
			continue
		case seenAK[b.AccessID]:
			warnings = append(warnings, fmt.Sprintf("%s uses an AccessKey (%s) already bound to another account: left out", key, redact.AccessID(b.AccessID)))
			continue
		}
		seenKey[key], seenAK[b.AccessID] = true, true
		name := strings.TrimSpace(b.AccountName)
		if name == "" {
			name = b.AccountID
			warnings = append(warnings, fmt.Sprintf("%s has no accountName; wrote its accountId (the first pass will set it)", key))
		}
		m := &yaml.Node{Kind: yaml.MappingNode}
		m.Content = append(m.Content, str("cloudCode", false), str(b.CloudCode, false),
			str("accountId", false), str(b.AccountID, true),
			str("accountName", false), str(name, true),
			str("accessId", false), str(b.AccessID, true))
		if roleFor != 0 {
			m.Content = append(m.Content, str("roleFor", false), num(roleFor))
		}
		if roleType != 0 {
			m.Content = append(m.Content, str("roleType", false), num(int64(roleType)))
		}
		if b.DataSourceCount > 0 {
			m.HeadComment = fmt.Sprintf("%d data sources", b.DataSourceCount)
		}
		seq.Content = append(seq.Content, m)
	}
	root := &yaml.Node{Kind: yaml.MappingNode}
	root.Content = append(root.Content, str("version", false), num(desired.SchemaVersion), str("regionId", false), str(regionID, false))
	if len(seq.Content) == 0 {
		// Nothing is bound: say so explicitly, or the file would be refused.
		root.Content = append(root.Content, str("allowEmpty", false), &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"})
		seq.Style = yaml.FlowStyle
	}
	root.Content = append(root.Content, str("bindings", false), seq)
	doc := &yaml.Node{Kind: yaml.DocumentNode, HeadComment: header, Content: []*yaml.Node{root}}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		panic(fmt.Sprintf("encoding a YAML node tree built here cannot fail: %v", err))
	}
	_ = enc.Close()
	return buf.Bytes(), warnings
}
