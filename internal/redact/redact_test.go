package redact

import "testing"

func TestAccessID(t *testing.T) {
	for in, want := range map[string]string{
		"HPUAEXAMPLE0000001": "HPUA****0001",
		"123456789":          "1234****6789",
		"12345678":           "****",
		"":                   "****",
		"ÄÖÜßabcdeÄÖÜß":      "ÄÖÜß****ÄÖÜß",
	} {
		if got := AccessID(in); got != want {
			t.Errorf("AccessID(%q) = %q, want %q", in, got, want)
		}
	}
}
