package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/bindsync/bindsync/sync/plan"
)

// writeSavedPlan writes a saved plan (plan.Saved) as indented JSON.
func writeSavedPlan(path string, sp plan.Saved) error {
	data, err := json.MarshalIndent(sp, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// readSavedPlan reads a saved plan.
func readSavedPlan(path string) (plan.Saved, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return plan.Saved{}, fmt.Errorf("saved plan: %w", err)
	}
	return plan.ParseSaved(path, data)
}
