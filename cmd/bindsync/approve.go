package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// cmdApprove shows the daemon's last plan, or approves a blocked one:
//
//	bindsync approve --address 127.0.0.1:9811                  show the plan and its hash
//	bindsync approve --address 127.0.0.1:9811 --hash HASH      approve exactly that plan
func cmdApprove(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("approve", stderr)
	var address, hash, tokenFile string
	fs.StringVar(&address, "address", "127.0.0.1:9811", "the daemon's --admin-address: host:port, or a URL (https:// when it serves TLS)")
	fs.StringVar(&hash, "hash", "", "the hash of the blocked plan to approve (empty: show the plan)")
	fs.StringVar(&tokenFile, "token-file", "", "file holding the daemon's admin bearer token")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	var token string
	if tokenFile != "" {
		data, err := os.ReadFile(tokenFile)
		if err != nil {
			return err
		}
		token = strings.TrimSpace(string(data))
	}
	base, err := adminBase(address)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 10 * time.Second}
	call := func(method, path string) (string, int, error) {
		req, err := http.NewRequestWithContext(ctx, method, base+path, nil)
		if err != nil {
			return "", 0, err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return "", 0, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
		return string(body), resp.StatusCode, err
	}
	if hash == "" {
		body, status, err := call(http.MethodGet, "/-/plan")
		if err != nil {
			return err
		}
		if status != http.StatusOK {
			return fmt.Errorf("GET /-/plan: %d %s", status, strings.TrimSpace(body))
		}
		var shown struct {
			Hash    string `json:"hash"`
			Blocked bool   `json:"blocked"`
			Text    string `json:"text"`
		}
		if err := json.Unmarshal([]byte(body), &shown); err != nil {
			return err
		}
		fmt.Fprint(stdout, shown.Text)
		if shown.Blocked {
			fmt.Fprintf(stdout, "\nApprove exactly this plan with:\n  bindsync approve --address %s --hash %s\n", address, shown.Hash)
		} else {
			fmt.Fprintf(stdout, "\nplan %s is not blocked; nothing to approve\n", shown.Hash)
		}
		return nil
	}
	body, status, err := call(http.MethodPost, "/-/approve?plan="+url.QueryEscape(hash))
	if err != nil {
		return err
	}
	if status != http.StatusAccepted {
		return errors.New(strings.TrimSpace(body))
	}
	fmt.Fprint(stdout, body)
	return nil
}

// adminBase turns --address (host:port or a URL) into the base URL of the
// admin endpoints.
func adminBase(address string) (string, error) {
	if !strings.Contains(address, "://") {
		return "http://" + address, nil
	}
	u, err := url.Parse(address)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("--address %q: want host:port or http(s)://host:port", address)
	}
	return u.Scheme + "://" + u.Host, nil
}
