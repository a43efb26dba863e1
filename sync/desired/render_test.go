package desired

import (
	"strings"
	"testing"

	"github.com/bindsync/bindsync/sync/plan"
	"github.com/google/go-cmp/cmp"
)

// TestRenderRoundTrip: what Render writes, Parse reads back as the same
// bindings, for tricky values too; the footer is a comment.
func TestRenderRoundTrip(t *testing.T) {
	scope := plan.Scope{RegionID: "ap-southeast-1", RoleFor: 1130916744880000, RoleType: 1}
	in := []plan.Binding{
		{Key: plan.Key{CloudCode: "qcloud", AccountID: "0123"}, AccountName: "yes", AccessID: "AKID0000000002"},
		{Key: plan.Key{CloudCode: "hcloud", AccountID: "1"}, AccountName: "名前: with a colon", AccessID: "HPUA0000000001", DataSourceCount: 2},
		{Key: plan.Key{CloudCode: "hcloud", AccountID: "1"}, AccountName: "twice", AccessID: "HPUA0000000009"},
	}
	data, warnings := Render("header line", "footer line\n  hcloud HPUA0000000042 (account 7)", scope, in)
	if len(warnings) != 1 || !strings.Contains(warnings[0], "bound twice") {
		t.Errorf("warnings %v", warnings)
	}
	st, err := Parse("imported.yaml", data)
	if err != nil {
		t.Fatalf("Render wrote what Parse refuses: %v\n%s", err, data)
	}
	var got []string
	for _, b := range st.Desired.Bindings {
		got = append(got, b.Key.String()+" "+b.AccountName+" "+b.AccessID)
	}
	want := []string{
		"hcloud/1 [ap-southeast-1 roleFor=1130916744880000 roleType=1] 名前: with a colon HPUA0000000001",
		"qcloud/0123 [ap-southeast-1 roleFor=1130916744880000 roleType=1] yes AKID0000000002",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s\n%s", diff, data)
	}
	if !strings.Contains(string(data), "# footer line") || !strings.Contains(string(data), "# header line") {
		t.Errorf("comments missing:\n%s", data)
	}
}
