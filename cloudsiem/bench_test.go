package cloudsiem_test

import (
	"net/http"
	"testing"

	"github.com/bindsync/bindsync/cloudsiem"
	"github.com/bindsync/bindsync/cloudsiem/emulator"
)

// BenchmarkClientCall measures one ModifyBindAccount and one ListBindAccount
// (100 bindings) through the real client against the in-process emulator:
// form encoding, V3 signing, the emulator's verification and state, and
// response decoding. No network, so the figure is CPU cost per call.
func BenchmarkClientCall(b *testing.B) {
	emu := emulator.New(emulator.Config{Credentials: []cloudsiem.Credential{testCred}})
	for i := range 100 {
		emu.Seed(emulator.Binding{BoundAccount: cloudsiem.BoundAccount{CloudCode: "hcloud", AccountID: string(rune('a'+i%26)) + string(rune('a'+i/26)), AccountName: "n", AccessID: "HPUAEXAMPLE" + string(rune('A'+i%26)) + string(rune('A'+i/26))}})
	}
	c, err := cloudsiem.New(cloudsiem.Config{Endpoint: "http://127.0.0.1:1", Credentials: cloudsiem.StaticCredentials(testCred), HTTPClient: &http.Client{Transport: emu.Transport()}})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("ModifyBindAccount", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.ModifyBindAccount(b.Context(), cloudsiem.ModifyBindAccountRequest{View: cloudsiem.View{RegionID: "cn-hangzhou"}, BindID: 1000, CloudCode: "hcloud", AccountID: "aa", AccountName: "renamed", AccessID: "HPUAEXAMPLEAA"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ListBindAccount-100", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			got, err := c.ListBindAccount(b.Context(), cloudsiem.ListBindAccountRequest{View: cloudsiem.View{RegionID: "cn-hangzhou"}, CloudCode: "hcloud"})
			if err != nil || len(got) != 100 {
				b.Fatal(err, len(got))
			}
		}
	})
}

// BenchmarkSign is the signature alone (the client's own share of a call).
func BenchmarkSign(b *testing.B) {
	in := cloudsiem.SignInput{Method: "POST", Path: "/", Headers: map[string]string{
		"host": "cloud-siem.cn-shanghai.aliyuncs.com", "content-type": "application/x-www-form-urlencoded",
		"x-acs-action": "ModifyBindAccount", "x-acs-version": "2022-06-16", "x-acs-date": "2023-10-26T10:22:32Z",
		"x-acs-signature-nonce": "3156853299f313e23d1673dc12e1703d", "x-acs-content-sha256": cloudsiem.EmptyPayloadHash,
	}, PayloadHash: cloudsiem.EmptyPayloadHash}
	b.ReportAllocs()
	for b.Loop() {
		_ = cloudsiem.Sign(in, "YourAccessKeyId", "YourAccessKeySecret")
	}
}
