package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"

	"github.com/prometheus/exporter-toolkit/web"
	"go.yaml.in/yaml/v3"
)

// webConfig is the Prometheus ecosystem's web configuration file
// (--web.config.file, github.com/prometheus/exporter-toolkit): TLS and basic
// auth for both listeners, in the format exporters and Prometheus share.
type webConfig struct {
	path string
	tls  bool // tls_server_config is set
	auth bool // basic_auth_users is set
}

func loadWebConfig(d *daemonFlags) (webConfig, error) {
	w := webConfig{path: d.webConfigFile}
	if w.path == "" {
		return w, nil
	}
	if err := web.Validate(w.path); err != nil {
		return w, fmt.Errorf("--web.config.file %s: %w", w.path, err)
	}
	data, err := os.ReadFile(w.path)
	if err != nil {
		return w, fmt.Errorf("--web.config.file: %w", err)
	}
	var doc struct {
		TLS   map[string]any    `yaml:"tls_server_config"`
		Users map[string]string `yaml:"basic_auth_users"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return w, fmt.Errorf("--web.config.file %s: %w", w.path, err)
	}
	w.tls, w.auth = len(doc.TLS) > 0, len(doc.Users) > 0
	return w, nil
}

// serve serves srv on ln, with the web configuration when one is set.
func (w webConfig) serve(srv *http.Server, ln net.Listener, log *slog.Logger) error {
	if w.path == "" {
		return srv.Serve(ln)
	}
	path := w.path
	return web.Serve(ln, srv, &web.FlagConfig{WebConfigFile: &path}, log.With("component", "web"))
}
