package desired

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/bindsync/bindsync/internal/redact"
	"github.com/bindsync/bindsync/sync/plan"
	"go.yaml.in/yaml/v3"
)

// Render is the inverse of Parse: it writes bindings of one view as a valid
// desired-state file, deterministic and stably formatted (what `bindsync
// import` writes). header and footer become YAML comments. Bindings that
// could not be declared together (an identity bound twice, an AccessKey
// bound to two accounts) are left out with a warning each. Bindings are
// sorted by cloud code and account; strings are quoted so YAML never
// reinterprets them (an accountId of 0123, a name of "yes").
func Render(header, footer string, scope plan.Scope, bound []plan.Binding) ([]byte, []string) {
	regionID, roleFor, roleType := scope.RegionID, scope.RoleFor, scope.RoleType
	var warnings []string
	slices.SortStableFunc(bound, func(a, b plan.Binding) int {
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
	root.Content = append(root.Content, str("version", false), num(SchemaVersion), str("regionId", false), str(regionID, false))
	if len(seq.Content) == 0 {
		// Nothing is bound: say so explicitly, or the file would be refused.
		root.Content = append(root.Content, str("allowEmpty", false), &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"})
		seq.Style = yaml.FlowStyle
	}
	root.Content = append(root.Content, str("bindings", false), seq)
	doc := &yaml.Node{Kind: yaml.DocumentNode, HeadComment: header, FootComment: footer, Content: []*yaml.Node{root}}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		panic(fmt.Sprintf("encoding a YAML node tree built here cannot fail: %v", err))
	}
	_ = enc.Close()
	return buf.Bytes(), warnings
}
