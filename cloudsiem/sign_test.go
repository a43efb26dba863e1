package cloudsiem

import (
	"net/url"
	"testing"
)

// The vectors come from ../shared/docs/cloud-siem-api.md §5.1: the official
// RunInstances vector and the derived ModifyBindAccount vectors (plain and STS),
// which were cross-checked against darabonba-openapi.
func TestSignVectors(t *testing.T) {
	const (
		date  = "2023-10-26T10:22:32Z"
		nonce = "3156853299f313e23d1673dc12e1703d"
		body  = "AccessId=ABCXXXXXXXXX&AccountId=123xxxxxxx&AccountName=sas_account_xxx&BindId=123&CloudCode=hcloud&RegionId=cn-hangzhou"
	)
	modifyHeaders := func(extra map[string]string) map[string]string {
		h := map[string]string{
			"host":                  "cloud-siem.cn-shanghai.aliyuncs.com",
			"x-acs-action":          "ModifyBindAccount",
			"x-acs-version":         "2022-06-16",
			"x-acs-date":            date,
			"x-acs-signature-nonce": nonce,
			"x-acs-content-sha256":  HashPayload([]byte(body)),
			"content-type":          "application/x-www-form-urlencoded",
			"user-agent":            "not signed",
		}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	tests := []struct {
		name          string
		in            SignInput
		wantCanonHash string
		wantAuth      string
	}{
		{
			name: "official RunInstances",
			in: SignInput{
				Method: "POST", Path: "/",
				Query: url.Values{"ImageId": {"win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd"}, "RegionId": {"cn-shanghai"}},
				Headers: map[string]string{
					"host":                  "ecs.cn-shanghai.aliyuncs.com",
					"x-acs-action":          "RunInstances",
					"x-acs-version":         "2014-05-26",
					"x-acs-date":            date,
					"x-acs-signature-nonce": nonce,
					"x-acs-content-sha256":  EmptyPayloadHash,
				},
				PayloadHash: EmptyPayloadHash,
			},
			wantCanonHash: "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259",
			wantAuth:      "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0",
		},
		{
			name:          "derived ModifyBindAccount",
			in:            SignInput{Method: "POST", Path: "/", Headers: modifyHeaders(nil), PayloadHash: HashPayload([]byte(body))},
			wantCanonHash: "e420e2526fbfa803eaf5786c30b31d5adf482f855457196fdae83ec153abd197",
			wantAuth:      "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=content-type;host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=6b1dcaa7fa7156a78b67e69fb681bbe0cd597b346f5453d1aac130782b28e5b4",
		},
		{
			name:          "derived ModifyBindAccount with STS token",
			in:            SignInput{Method: "POST", Path: "/", Headers: modifyHeaders(map[string]string{"x-acs-security-token": "YourSecurityToken"}), PayloadHash: HashPayload([]byte(body))},
			wantCanonHash: "0c7e10be55430e334162b6c6bed5b4fa4aa4d0532e6a7d423ac0a540475e22ac",
			wantAuth:      "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=content-type;host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-security-token;x-acs-signature-nonce;x-acs-version,Signature=8bc591ee74731f4c0b0076092fd5c29e931a8bbdc14a6ae7ceda2eb5714b548d",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			canonical, _ := CanonicalRequest(tt.in)
			if got, want := StringToSign(canonical), Algorithm+"\n"+tt.wantCanonHash; got != want {
				t.Errorf("StringToSign = %q, want %q\ncanonical request:\n%s", got, want, canonical)
			}
			if got := Sign(tt.in, "YourAccessKeyId", "YourAccessKeySecret"); got != tt.wantAuth {
				t.Errorf("Sign =\n %s\nwant\n %s", got, tt.wantAuth)
			}
		})
	}
}

func TestDerivedBodyHash(t *testing.T) {
	body := "AccessId=ABCXXXXXXXXX&AccountId=123xxxxxxx&AccountName=sas_account_xxx&BindId=123&CloudCode=hcloud&RegionId=cn-hangzhou"
	if got, want := HashPayload([]byte(body)), "b7c0ed154381541f681f06b121e05ab8e8736f92d6cc7d797bea579f2223db20"; got != want {
		t.Errorf("HashPayload = %s, want %s", got, want)
	}
}

func TestPercentEncode(t *testing.T) {
	for in, want := range map[string]string{"a b": "a%20b", "a*b": "a%2Ab", "a~b": "a~b", "a/b=c": "a%2Fb%3Dc", "é": "%C3%A9"} {
		if got := PercentEncode(in); got != want {
			t.Errorf("PercentEncode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseAuthorization(t *testing.T) {
	id, signed, sig, ok := ParseAuthorization("ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host;x-acs-date,Signature=abc")
	if !ok || id != "AK" || signed != "host;x-acs-date" || sig != "abc" {
		t.Errorf("ParseAuthorization = %q %q %q %v", id, signed, sig, ok)
	}
	for _, bad := range []string{"", "ACS3-HMAC-SHA256 ", "HMAC Credential=a", "ACS3-HMAC-SHA256 Credential=AK,Foo=bar,Signature=x", "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=h"} {
		if _, _, _, ok := ParseAuthorization(bad); ok {
			t.Errorf("ParseAuthorization(%q) ok, want not ok", bad)
		}
	}
}
