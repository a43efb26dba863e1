package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bindsync/bindsync/cloudsiem/emulator"
	"golang.org/x/crypto/bcrypt"
)

// adminCall sends one request to the admin address of a running binary.
func adminCall(t *testing.T, method, url string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAdminPortRefusesBrowsers: a cross-site form POST, a DNS-rebinding Host
// and a guessed hash are refused on the real binary; a tool's POST (no
// Origin) works; /-/reload answers the outcome of the load.
func TestAdminPortRefusesBrowsers(t *testing.T) {
	t.Parallel()
	emu, url, path := blockedWorld(t)
	p := startBinary(t, nil, "run", "-f", path, "--endpoint", url, "--policy", "sync",
		"--listen-address", "127.0.0.1:0", "--admin-address", "127.0.0.1:0", "--log-format", "json")
	eventually(t, "the gate blocks", func() bool { return gauge(t, p.metrics, "bindsync_safety_gate_blocked") == 1 })
	_, planJSON := adminCall(t, http.MethodGet, "http://"+p.admin+"/-/plan", nil)
	hash := between(planJSON, `"hash":"`, `"`)
	if len(hash) < 32 {
		t.Fatalf("no hash in %s", planJSON)
	}
	approve := "http://" + p.admin + "/-/approve?plan=" + hash

	for name, h := range map[string]map[string]string{
		"cross-site form POST":         {"Origin": "https://evil.example"},
		"null origin (sandboxed page)": {"Origin": "null"},
		"DNS rebinding":                {"Host": "evil.example:" + portOf(p.admin)},
		"rebinding with an origin":     {"Host": "evil.example:" + portOf(p.admin), "Origin": "http://evil.example:" + portOf(p.admin)},
		"cross-site fetch metadata":    {"Sec-Fetch-Site": "cross-site"},
	} {
		if code, body := adminCall(t, http.MethodPost, approve, h); code != http.StatusForbidden {
			t.Errorf("%s: %d %s, want 403", name, code, body)
		}
	}
	if code, body := adminCall(t, http.MethodPost, "http://"+p.admin+"/-/approve?plan=0000", nil); code != http.StatusConflict || strings.Contains(body, hash) {
		t.Errorf("wrong hash: %d %q (must not reveal the current hash)", code, body)
	}
	if n := len(emu.Bindings()); n != 10 {
		t.Fatalf("a refused approval changed the bindings (%d left)", n)
	}

	// /-/reload answers the outcome.
	good, _ := os.ReadFile(path)
	writeFile(t, path, string(good)+"  - {cloudCode: hcloud, accountId: \"\", accountName: x, accessId: HPUA0000000099}\n")
	code, body := adminCall(t, http.MethodPost, "http://"+p.admin+"/-/reload", nil)
	if code != http.StatusBadRequest || !strings.Contains(body, "desired.yaml:9") || !strings.Contains(body, "accountId") {
		t.Errorf("reload of a bad file: %d %q", code, body)
	}
	writeFile(t, path, string(good))
	if code, body := adminCall(t, http.MethodPost, "http://"+p.admin+"/-/reload", nil); code != http.StatusOK {
		t.Errorf("reload of a good file: %d %q", code, body)
	}

	// Same origin, and a tool with no Origin, work.
	if code, body := adminCall(t, http.MethodPost, approve, map[string]string{"Origin": "http://" + p.admin}); code != http.StatusAccepted {
		t.Fatalf("same-origin approve: %d %s", code, body)
	}
	eventually(t, "the approved plan applied", func() bool { return len(emu.Bindings()) == 5 })
}

func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	s = s[i+len(from):]
	if j := strings.Index(s, to); j >= 0 {
		return s[:j]
	}
	return ""
}

func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

// TestWebConfigFile: basic auth and TLS through the exporter-toolkit web
// configuration file, on both listeners of the real binary.
func TestWebConfigFile(t *testing.T) {
	t.Parallel()
	_, url, path := blockedWorld(t)
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, dir)
	hashed, err := bcrypt.GenerateFromPassword([]byte("scrape-pass"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "web.yml")
	writeFile(t, cfg, fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  prometheus: %s\n", certFile, keyFile, hashed))
	p := startBinary(t, nil, "run", "-f", path, "--endpoint", url, "--web.config.file", cfg,
		"--listen-address", "127.0.0.1:0", "--admin-address", "127.0.0.1:0", "--log-format", "json")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 5 * time.Second}
	get := func(u, user, pass string) int {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, addr := range []string{p.metrics + "/metrics", p.admin + "/-/plan"} {
		if code := get("https://"+addr, "", ""); code != http.StatusUnauthorized {
			t.Errorf("%s without credentials: %d", addr, code)
		}
		if code := get("https://"+addr, "prometheus", "scrape-pass"); code >= 300 && code != http.StatusNotFound {
			t.Errorf("%s with credentials: %d", addr, code)
		}
	}
	if resp, err := http.Get("http://" + p.metrics + "/metrics"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain http still served the metrics")
		}
	}
}

// TestAdminTokenNeedsTLSOffLoopback: a bearer token is not sent over plain
// HTTP off loopback.
func TestAdminTokenNeedsTLSOffLoopback(t *testing.T) {
	setCredentials(t)
	_, url, path := blockedWorld(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	writeFile(t, tokenFile, "s3cret-admin-token-0123456789\n")
	if err := os.Chmod(tokenFile, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "run", "-f", path, "--endpoint", url, "--listen-address", "127.0.0.1:0", "--admin-address", "0.0.0.0:0", "--admin-token-file", tokenFile)
	if code != 1 || !strings.Contains(errOut, "needs TLS") {
		t.Errorf("exit %d: %s", code, errOut)
	}
}

// selfSigned writes a throwaway certificate for 127.0.0.1.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bindsync-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeFile(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	writeFile(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})))
	return certFile, keyFile
}

// TestNewestFileWins: versions A then B of the file land while a pass runs
// on the real binary; the next pass plans from B and no request ever carries
// A's values (the emulator's request log is the witness).
func TestNewestFileWins(t *testing.T) {
	t.Parallel()
	emu, url := startEmulator(t, emulator.Config{Faults: emulator.Faults{Latency: 300 * time.Millisecond}})
	version := func(name string) string {
		var lines []string
		for i := range 12 {
			lines = append(lines, binding("hcloud", fmt.Sprint(i), name, fmt.Sprintf("HPUA%010d", i)))
		}
		return file(lines...)
	}
	for i := range 12 {
		emu.Seed(seed("hcloud", fmt.Sprint(i), "old", fmt.Sprintf("HPUA%010d", i)))
	}
	path := filepath.Join(t.TempDir(), "desired.yaml")
	writeFile(t, path, version("v0"))
	p := startBinary(t, nil, "run", "-f", path, "--endpoint", url, "--concurrency", "1", "--qps", "100", "--max-change-ratio", "1",
		"--debounce", "20ms", "--listen-address", "127.0.0.1:0", "--admin-address", "", "--log-format", "json")
	eventually(t, "the first pass under way", func() bool { return emu.Counts()["ModifyBindAccount"]["ok"] >= 1 })
	writeFile(t, path, version("A"))
	eventually(t, "A loaded", func() bool { return strings.Count(p.stderr.String(), `"msg":"desired state loaded"`) >= 1 })
	writeFile(t, path, version("B"))
	eventually(t, "B loaded", func() bool { return strings.Count(p.stderr.String(), `"msg":"desired state loaded"`) >= 2 })
	if done := emu.Counts()["ModifyBindAccount"]["ok"]; done >= 12 {
		t.Fatalf("the first pass ended (%d modifies) before both edits landed; the test proves nothing", done)
	}
	eventually(t, "convergence to B", func() bool {
		for _, b := range emu.Bindings() {
			if b.AccountName != "B" {
				return false
			}
		}
		return true
	})
	for _, r := range emu.Requests() {
		if r.Params["AccountName"] == "A" {
			t.Fatalf("a request carried the superseded version A: %+v", r)
		}
	}
}
