package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
)

// Digest identifies a plan for review: it covers the desired content it was
// made from (Desired.Source), the options that shaped it (policy, gate,
// data-source protection), and every change with the observed binding it
// touches. If the file, the policy, or any binding a change touches differs,
// the digest differs; an untouched binding changing does not matter. A saved
// plan and a daemon approval apply only while the digest still matches.
func Digest(source string, opts Options, p Plan) string {
	h := sha256.New()
	fmt.Fprintf(h, "bindsync-plan-v1\nsource %s\n", source)
	writeOptions(h, opts)
	for _, c := range p.Changes {
		fmt.Fprintf(h, "%s\n", ChangeDigest(c))
	}
	fmt.Fprintf(h, "blocked %t\n", p.Blocked)
	return hex.EncodeToString(h.Sum(nil))
}

// OptionsDigest covers only the options, to tell "the policy changed" apart.
func OptionsDigest(opts Options) string {
	h := sha256.New()
	writeOptions(h, opts)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func writeOptions(h hash.Hash, opts Options) {
	o := opts.withDefaults()
	fmt.Fprintf(h, "policy %s\nratio %g\nmin %d\nforce %t\nds %t\n", o.Policy, o.MaxChangeRatio, o.GateMinObserved, o.Force, o.DeleteWithDataSources)
}

// ChangeDigest identifies one change together with the observed binding it
// touches.
func ChangeDigest(c Change) string {
	h := sha256.New()
	k := c.Key
	fmt.Fprintf(h, "%s|%s|%d|%d|%s|%s", c.Op, k.RegionID, k.RoleFor, k.RoleType, k.CloudCode, k.AccountID)
	if c.Old != nil {
		fmt.Fprintf(h, "|old %d %q %q %d", c.Old.BindID, c.Old.AccountName, c.Old.AccessID, c.Old.DataSourceCount)
	}
	if c.New != nil {
		fmt.Fprintf(h, "|new %q %q", c.New.AccountName, c.New.AccessID)
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}
