package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/bindsync/bindsync/cloudsiem"
	"github.com/bindsync/bindsync/metrics"
	"github.com/bindsync/bindsync/sync/desired"
	"github.com/bindsync/bindsync/sync/plan"
	"github.com/prometheus/client_golang/prometheus"
)

// cmdImport lists the live bindings of one view and writes them as a valid
// desired-state file: the first file of a team adopting bindsync. The order
// is deterministic and the formatting stable; nothing secret is written
// (AccessKey IDs are identifiers, not secrets, and the file needs them).
func cmdImport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, h hooks) error {
	fs := newFlagSet("import", stderr)
	var c common
	c.register(fs, false, connects)
	var (
		regionID, codes, out string
		roleFor              int64
		roleType             int
	)
	fs.StringVar(&regionID, "region-id", plan.DefaultRegionID, "data center to import from: cn-hangzhou | ap-southeast-1")
	fs.StringVar(&codes, "cloud-code", strings.Join(desired.CloudCodes, ","), "cloud codes to import, comma-separated")
	fs.Int64Var(&roleFor, "role-for", 0, "import a member account's view (its user ID)")
	fs.IntVar(&roleType, "role-type", 0, "view type: 0 current account, 1 whole enterprise")
	fs.StringVar(&out, "out", "", "write the file here (default, or -: standard output); an existing file is not overwritten")
	fs.StringVar(&out, "o", "", "shorthand for --out")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if err := c.validateFlags(); err != nil {
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

	client, _, err := newClient(&c, regionID, c.logger(stderr), h.creds, metrics.New(prometheus.NewRegistry()))
	if err != nil {
		return err
	}
	view := cloudsiem.View{RegionID: regionID, RoleFor: roleFor, RoleType: int32(roleType)}
	if c.regionIDParam != "" {
		view.RegionID = c.regionIDParam
	}
	var bound []cloudsiem.BoundAccount
	for _, cc := range cloudCodes {
		got, err := client.ListBindAccount(ctx, cloudsiem.ListBindAccountRequest{View: view, CloudCode: cc})
		if err != nil {
			return fmt.Errorf("list %s bindings: %w", cc, err)
		}
		bound = append(bound, got...)
	}
	if len(bound) == 0 {
		fmt.Fprintf(stderr, "bindsync import: no binding found in data center %s%s at %s (cloud codes %s). "+
			"If you expected some: check --region-id and the view flags; the pairing of the data center with its endpoint "+
			"and RegionId is inferred, not documented (see --endpoint and --region-id-param).\n",
			regionID, viewText(roleFor, roleType), client.Endpoint(), strings.Join(cloudCodes, ","))
	}
	header := fmt.Sprintf("Imported by bindsync %s on %s from data center %s (%s)%s, cloud codes %s.\nReview before committing: this file is now the desired state.",
		version, time.Now().UTC().Format(time.RFC3339), regionID, client.Endpoint(), viewText(roleFor, roleType), strings.Join(cloudCodes, ","))
	footer := unusedKeysComment(ctx, client, view, cloudCodes, bound)
	data, warnings := desired.Render(header, footer, plan.Scope{RegionID: regionID, RoleFor: roleFor, RoleType: int32(roleType)}, toBindings(bound))
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

// toBindings converts listed bindings for desired.Render.
func toBindings(bound []cloudsiem.BoundAccount) []plan.Binding {
	out := make([]plan.Binding, 0, len(bound))
	for _, b := range bound {
		out = append(out, plan.Binding{Key: plan.Key{CloudCode: b.CloudCode, AccountID: b.AccountID},
			AccountName: b.AccountName, AccessID: b.AccessID, BindID: b.BindID, DataSourceCount: b.DataSourceCount})
	}
	return out
}

// unusedKeysComment lists, for the file's footer, the AccessKeys Threat
// Analysis knows that no binding uses: registered, bindable, unbound. It is
// empty when there are none or the list cannot be read.
func unusedKeysComment(ctx context.Context, client *cloudsiem.Client, view cloudsiem.View, cloudCodes []string, bound []cloudsiem.BoundAccount) string {
	known := plan.NewKnownKeys()
	for _, cc := range cloudCodes {
		keys, err := client.ListAccountAccessID(ctx, cloudsiem.ListAccountAccessIDRequest{View: view, CloudCode: cc})
		if err != nil {
			return ""
		}
		for _, k := range keys {
			known.Add(plan.KnownKey{AccessID: k.AccessID, AccessIDMd5: k.AccessIDMd5, AccountID: k.AccountID, CloudCode: cc, Bound: k.Bound == 1})
		}
	}
	var ids []string
	for _, b := range bound {
		ids = append(ids, b.AccessID)
	}
	unused := known.Unused(ids)
	if len(unused) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("AccessKeys registered in Security Center for Threat Analysis that no binding here uses\n(a rotation's new key, or an old one to retire):")
	for _, k := range unused {
		fmt.Fprintf(&b, "\n  %s %s (account %s)", k.CloudCode, k.AccessID, k.AccountID)
	}
	return b.String()
}
