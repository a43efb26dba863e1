package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/bindsync/bindsync/cloudsiem"
	"github.com/bindsync/bindsync/cloudsiem/emulator"
	"github.com/bindsync/bindsync/sync/desired"
)

// cmdEmulator serves the emulator standalone. It accepts the AccessKey pair
// in ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET (and
// ALIBABA_CLOUD_SECURITY_TOKEN when set), so a bindsync started with the same
// environment talks to it as it would to the cloud.
func cmdEmulator(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("emulator", stderr)
	var (
		listen, seedFile, registerFile string
		quota                          int
		faults                         emulator.Faults
		answers                        emulator.Answers
		anyKey                         bool
	)
	fs.StringVar(&listen, "listen", "127.0.0.1:8787", "address to listen on")
	fs.StringVar(&seedFile, "seed", "", "desired-state YAML whose bindings start out bound (each gets a BindId; their keys are registered)")
	fs.StringVar(&registerFile, "register", "", "desired-state YAML whose AccessKeys start out registered in Security Center (bindable), not bound")
	fs.BoolVar(&anyKey, "any-key", false, "bind AccessKeys that are not registered (the service refuses them)")
	fs.BoolVar(&answers.Envelope, "envelope", false, "send the documented success envelope (Code 200, Success, Message) on every answer")
	fs.BoolVar(&answers.OmitEmptyData, "omit-empty-data", false, "leave Data out of answers whose list is empty")
	fs.BoolVar(&answers.MaskAccessID, "mask-access-id", false, "ListAccountAccessId shows AccessIds masked")
	fs.IntVar(&quota, "quota", 0, "API requests per second before answering Throttling.User (0: unlimited)")
	fs.DurationVar(&faults.Latency, "latency", 0, "latency added to every API request")
	fs.Float64Var(&faults.InternalError, "internal-error-rate", 0, "share of requests answered 500 InternalError")
	fs.Float64Var(&faults.Unavailable, "unavailable-rate", 0, "share of requests answered 503 ServiceUnavailable")
	fs.Float64Var(&faults.Drop, "drop-rate", 0, "share of connections dropped before the request is processed")
	fs.Float64Var(&faults.DropAfterApply, "drop-after-apply-rate", 0, "share of applied mutations whose connection is dropped before the answer")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	cred := cloudsiem.Credential{
		AccessKeyID:     getenv("ALIBABA_CLOUD_ACCESS_KEY_ID"),
		AccessKeySecret: getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
		SecurityToken:   getenv("ALIBABA_CLOUD_SECURITY_TOKEN"),
	}
	if cred.AccessKeyID == "" || cred.AccessKeySecret == "" {
		return errors.New("set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET to the pair the emulator should accept")
	}
	emu := emulator.New(emulator.Config{Credentials: []cloudsiem.Credential{cred}, QuotaPerSecond: quota, Faults: faults, Seed: time.Now().UnixNano(),
		AnyKey: anyKey, Answers: answers})
	if seedFile != "" {
		st, err := desired.Load(seedFile)
		if err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		emu.Seed(seedsFrom(st)...)
	}
	if registerFile != "" {
		st, err := desired.Load(registerFile)
		if err != nil {
			return fmt.Errorf("register: %w", err)
		}
		emu.Register(keysFrom(st)...)
	}
	return emu.Serve(ctx, listen, func(a net.Addr) {
		fmt.Fprintf(stdout, "emulator listening on http://%s (accepting AccessKey %s; inspect at /_emulator/state)\n", a, cloudsiem.MaskAccessID(cred.AccessKeyID))
	})
}

// seedsFrom turns the bindings of a desired state into emulator bindings.
func seedsFrom(st *desired.State) []emulator.Binding {
	var out []emulator.Binding
	for _, b := range st.Desired.Bindings {
		out = append(out, emulator.Binding{
			Scope:        emulator.Scope{RegionID: b.RegionID, RoleFor: b.RoleFor, RoleType: b.RoleType},
			BoundAccount: cloudsiem.BoundAccount{CloudCode: b.CloudCode, AccountID: b.AccountID, AccountName: b.AccountName, AccessID: b.AccessID},
		})
	}
	return out
}

// keysFrom turns the bindings of a desired state into registered keys.
func keysFrom(st *desired.State) []emulator.Key {
	var out []emulator.Key
	for _, b := range st.Desired.Bindings {
		out = append(out, emulator.Key{RegionID: b.RegionID, CloudCode: b.CloudCode, AccessID: b.AccessID, AccountID: b.AccountID, AccountName: b.AccountName})
	}
	return out
}
