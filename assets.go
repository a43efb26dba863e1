// Package bindsync holds what the commands share from the repository root:
// the example desired-state file, embedded so that `bindsync demo` runs
// anywhere without a checkout.
package bindsync

import (
	"bytes"
	_ "embed"
)

//go:embed desired-state.example.yaml
var example []byte

// ExampleDesiredState returns a copy of desired-state.example.yaml.
func ExampleDesiredState() []byte { return bytes.Clone(example) }
