// Command bindsync keeps the multicloud account bindings of Alibaba Cloud
// Threat Analysis (cloud-siem) in line with a YAML file kept in git.
//
//	bindsync validate -f FILE          check the file; no credentials, no network
//	bindsync plan     -f FILE          show what would change (exit 2 when something would)
//	bindsync apply    -f FILE          one pass
//	bindsync run      -f FILE          the daemon: watch, resync, metrics, health
//	bindsync demo                      the daemon against a built-in emulator
//	bindsync emulator --listen ADDR    serve the emulator standalone
//	bindsync version
//
// main is the only place that exits; everything else returns errors.
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr))
}
