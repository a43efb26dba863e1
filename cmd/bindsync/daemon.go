package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/bindsync/bindsync/sync/desired"
	"github.com/bindsync/bindsync/sync/plan"
	"github.com/bindsync/bindsync/sync/reconcile"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"
)

// daemonFlags are the flags of `run` (and `demo`).
type daemonFlags struct {
	common
	listen          string
	admin           string
	adminTokenFile  string
	resync          time.Duration
	poll            time.Duration
	debounce        time.Duration
	shutdownTimeout time.Duration
	webConfigFile   string
	keyRecheck      time.Duration
	listReuse       time.Duration
}

func (d *daemonFlags) register(fs *flag.FlagSet, withFile bool) {
	d.common.register(fs, withFile, applies)
	fs.StringVar(&d.listen, "listen-address", ":9810", "address of /metrics, /healthz and /readyz")
	fs.StringVar(&d.admin, "admin-address", "127.0.0.1:9811", "address of the endpoints that change behaviour (POST /-/reload, GET /-/plan, POST /-/approve); loopback by default, empty disables")
	fs.StringVar(&d.adminTokenFile, "admin-token-file", "", "file holding a bearer token the admin endpoints require (needed when --admin-address is not loopback)")
	fs.DurationVar(&d.resync, "resync-interval", 5*time.Minute, "re-list and repair drift this often (±10% jitter)")
	fs.DurationVar(&d.poll, "poll-interval", 30*time.Second, "re-read the file this often even without file events")
	fs.DurationVar(&d.keyRecheck, "key-recheck-interval", 30*time.Second, "while a binding awaits its AccessKey's registration, list the known keys again this often")
	fs.DurationVar(&d.listReuse, "list-reuse", reconcile.DefaultListReuse, "a pass that follows an edit of the file plans from a list at most this old (kept up to date with bindsync's own changes) instead of listing again; 0: always list first")
	fs.DurationVar(&d.debounce, "debounce", 100*time.Millisecond, "quiet time after a file event before reading")
	fs.DurationVar(&d.shutdownTimeout, "shutdown-timeout", 25*time.Second, "on SIGTERM, how long in-flight calls may take to finish (longer than --request-timeout)")
	fs.StringVar(&d.webConfigFile, "web.config.file", "", "TLS and basic auth for both listeners, in the Prometheus exporter-toolkit web configuration format")
}

func (d *daemonFlags) validate() error {
	var errs []error
	if err := d.common.validate(); err != nil {
		errs = append(errs, err)
	}
	if d.resync < time.Second || d.poll < 100*time.Millisecond || d.debounce <= 0 || d.shutdownTimeout <= 0 || d.keyRecheck < time.Second {
		errs = append(errs, errors.New("--resync-interval must be at least 1s, --poll-interval at least 100ms, --debounce and --shutdown-timeout positive, --key-recheck-interval at least 1s"))
	}
	if d.listReuse < 0 {
		errs = append(errs, errors.New("--list-reuse must not be negative (0 lists before every pass)"))
	}
	if d.shutdownTimeout > 0 && d.reqTimeout > 0 && d.shutdownTimeout <= d.reqTimeout {
		// A mutation on the wire at SIGTERM may take a whole attempt; cut
		// off sooner, its outcome would be unknown.
		errs = append(errs, fmt.Errorf("--shutdown-timeout %s must be longer than --request-timeout %s, so a call in flight can finish", d.shutdownTimeout, d.reqTimeout))
	}
	return errors.Join(errs...)
}

func cmdRun(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, h hooks) error {
	fs := newFlagSet("run", stderr)
	var d daemonFlags
	d.register(fs, true)
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if err := d.validate(); err != nil {
		return err
	}
	return runDaemon(ctx, &d, d.logger(stderr), h)
}

// runDaemon is the daemon: it returns nil after a clean shutdown.
func runDaemon(ctx context.Context, d *daemonFlags, log *slog.Logger, h hooks) error {
	started := time.Now()
	// An invalid file at start-up is fatal: there is no last good state yet.
	// The entries read now are the watcher's to reuse on the first edit.
	caches := desired.EntryCaches{}
	st, err := desired.LoadCached(d.file, caches)
	if err != nil {
		return err
	}
	// The daemon is idle nearly all the time; a pass or a load of a large
	// file briefly needs megabytes (decoded lists, the YAML node tree). Hand
	// that memory back to the OS at once instead of letting the scavenger
	// trickle it out: a few ms of CPU per pass for a steady, small RSS.
	debug.FreeOSMemory()
	afterPass := func(res reconcile.Result, err error) {
		if h.pass != nil {
			h.pass(res, err)
		}
		debug.FreeOSMemory()
	}
	e, err := newEngine(&d.common, st, log, engineOpts{creds: h.creds, afterPass: afterPass, approvable: d.admin != "", listReuse: d.listReuse})
	if err != nil {
		return err
	}
	e.m.ReloadSucceeded(unixNow())
	rec := e.rec
	log.Info("bindsync starting", "version", version, "file", d.file, "hash", st.Hash[:12], "bindings", len(st.Desired.Bindings),
		"data_center", st.RegionID, "endpoint", e.client.Endpoint(), "policy", d.policy, "dry_run", d.dryRun, "qps", d.qps)

	// The newest valid desired state: the watcher replaces it, each pass
	// reads it just before planning.
	latest := desired.NewLatest(st)
	watcher := desired.NewWatcher(desired.WatchConfig{
		Path:     d.file,
		Caches:   caches,
		Debounce: d.debounce,
		Poll:     d.poll,
		Logger:   log.With("component", "watch"),
		Check: func(n *desired.State) error {
			// The client talks to one data center; switching needs a restart.
			if n.RegionID != st.RegionID {
				return fmt.Errorf("%s: regionId changed from %s to %s; restart bindsync to switch data centers", n.Path, st.RegionID, n.RegionID)
			}
			return nil
		},
		OnLoad: func(n *desired.State, err error) {
			if err != nil {
				e.m.ReloadFailed()
				log.Error("desired state rejected; the last good state stays in force", "component", "watch", "err", err)
				if h.rejected != nil {
					h.rejected(err)
				}
				return
			}
			e.m.ReloadSucceeded(unixNow())
			log.Info("desired state loaded", "component", "watch", "hash", n.Hash[:12], "bindings", len(n.Desired.Bindings))
			// No FreeOSMemory here: it would stop the world before the new
			// state is published; the pass it triggers frees memory after.
		},
	}, st)

	web, err := loadWebConfig(d)
	if err != nil {
		return err
	}
	token, err := adminToken(d, web)
	if err != nil {
		return err
	}
	mainLn, err := listen(d.listen, "--listen-address")
	if err != nil {
		return err
	}
	var adminLn net.Listener
	if d.admin != "" {
		if adminLn, err = listen(d.admin, "--admin-address"); err != nil {
			mainLn.Close()
			return err
		}
	}
	kick := make(chan struct{}, 1)
	mainSrv := &http.Server{Handler: mainMux(e, d, started), ReadHeaderTimeout: 5 * time.Second}
	adminAddr := ""
	var adminSrv *http.Server
	if adminLn != nil {
		adminAddr = adminLn.Addr().String()
		adminSrv = &http.Server{Handler: adminHandler(adminMux(watcher, rec, kick, log), token, adminHosts(adminAddr)), ReadHeaderTimeout: 5 * time.Second}
	}
	// SIGHUP is caught before anyone is told the daemon is up.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	log.Info("listening", "metrics", mainLn.Addr().String(), "admin", adminAddr, "tls", web.tls)
	if h.listening != nil {
		h.listening(mainLn.Addr().String(), adminAddr)
	}

	// The actors, each in one goroutine of the group; the first to fail
	// stops them all. Every event source and what it does:
	//   watcher   file events, polls, reloads  -> loads, publishes into latest
	//   loop      latest changed, kick, timer  -> passes (reconcile.Run)
	//   SIGHUP                                  -> a reload of the file
	//   servers   /metrics, /healthz; the admin endpoints -> reload, approve (kick)
	g, gctx := errgroup.WithContext(ctx)
	loopDone := make(chan struct{})
	g.Go(func() error { return watcher.Run(gctx, latest.Set) })
	g.Go(func() error {
		defer close(loopDone)
		return rec.Run(gctx, latest, kick, reconcile.Schedule{Resync: d.resync, KeyRecheck: d.keyRecheck})
	})
	g.Go(func() error {
		for {
			select {
			case <-gctx.Done():
				return nil
			case <-hup:
				log.Info("SIGHUP: reloading the desired state")
				if watcher.Reload(gctx) == nil { // the outcome is logged by OnLoad
					requestPass(kick)
				}
			}
		}
	})
	serve := func(srv *http.Server, ln net.Listener) {
		g.Go(func() error {
			if err := web.serve(srv, ln, log); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("http server on %s: %w", ln.Addr(), err)
			}
			return nil
		})
		g.Go(func() error {
			// Keep serving /metrics until the last pass has wound down.
			<-loopDone
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		})
	}
	serve(mainSrv, mainLn)
	if adminSrv != nil {
		serve(adminSrv, adminLn)
	}

	<-gctx.Done()
	if ctx.Err() != nil {
		log.Info("shutting down: no new changes start; waiting for calls in flight", "timeout", d.shutdownTimeout)
	}
	// Calls in flight are bounded by --request-timeout, which is shorter
	// than --shutdown-timeout (checked at start); past it, main exits and
	// whatever still runs ends with the process.
	waited := make(chan error, 1)
	go func() { waited <- g.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			return err
		}
	case <-time.After(d.shutdownTimeout):
		return fmt.Errorf("shutdown did not finish within %s", d.shutdownTimeout)
	}
	log.Info("stopped")
	return nil
}

// listen opens a listener; "address in use" says which flag moves it.
func listen(addr, flagName string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("listen on %s: the address is in use (another bindsync?); choose another with %s", addr, flagName)
		}
		return nil, fmt.Errorf("listen on %s (%s): %w", addr, flagName, err)
	}
	return ln, nil
}

func unixNow() float64 { return float64(time.Now().UnixNano()) / 1e9 }

// mainMux serves what anyone who can scrape may see.
func mainMux(e *engine, d *daemonFlags, started time.Time) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(e.reg, promhttp.HandlerOpts{Registry: e.reg}))
	mux.HandleFunc("GET /healthz", healthz(e.rec.LastProgress, started, 3*d.resync+time.Minute))
	// Ready once the file loaded (start-up) and a pass listed the bindings.
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !e.rec.HasListed() {
			http.Error(w, "waiting for the first successful ListBindAccount", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "bindsync %s\n/metrics /healthz /readyz\n", version)
	})
	return mux
}

// healthz is alive while the loop makes progress: a pass started or a change
// finished within stale (a long apply keeps it fresh). Before the first pass
// the process start counts as progress.
func healthz(lastProgress func() time.Time, started time.Time, stale time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		last := lastProgress()
		if last.IsZero() {
			last = started
		}
		if age := time.Since(last); age > stale {
			http.Error(w, fmt.Sprintf("no reconcile progress for %s", age.Round(time.Second)), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	}
}

// adminToken reads the admin bearer token. Without one, the admin address
// must be loopback: nobody who can reach the network may approve a plan. A
// token off loopback needs TLS (--web.config.file), or it would cross the
// network in clear; a token file others can read is refused.
func adminToken(d *daemonFlags, web webConfig) (string, error) {
	offLoopback := d.admin != "" && !loopbackAddr(d.admin)
	if d.adminTokenFile == "" {
		if offLoopback && !web.auth {
			return "", fmt.Errorf("--admin-address %s is not loopback: set --admin-token-file (with TLS in --web.config.file) or basic auth in --web.config.file, so that approving and reloading need a credential", d.admin)
		}
		return "", nil
	}
	if offLoopback && !web.tls {
		return "", fmt.Errorf("--admin-token-file with --admin-address %s off loopback needs TLS: configure tls_server_config in --web.config.file, or the token crosses the network in clear", d.admin)
	}
	fi, err := os.Stat(d.adminTokenFile)
	if err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	if fi.Mode().Perm()&0o004 != 0 {
		return "", fmt.Errorf("admin token file %s is readable by others (mode %s): chmod o-r it", d.adminTokenFile, fi.Mode().Perm())
	}
	data, err := os.ReadFile(d.adminTokenFile)
	if err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	token := strings.TrimSpace(string(data))
	if len(token) < 16 {
		return "", fmt.Errorf("admin token in %s: want at least 16 characters", d.adminTokenFile)
	}
	return token, nil
}

func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// adminMux serves the endpoints that change behaviour.
// requestPass asks the loop for a pass that lists first (a reload or an
// approval is a person asking to look again), without waiting for it.
func requestPass(kick chan<- struct{}) {
	select {
	case kick <- struct{}{}:
	default:
	}
}

func adminMux(w *desired.Watcher, rec *reconcile.Reconciler, kick chan<- struct{}, log *slog.Logger) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /-/reload", func(rw http.ResponseWriter, r *http.Request) {
		// The outcome, as alertmanager answers it: 200 when the file
		// loaded, 400 and why when it did not (the last good state stays).
		if err := w.Reload(r.Context()); err != nil {
			http.Error(rw, "reload failed; the last good desired state stays in force:\n"+err.Error(), http.StatusBadRequest)
			return
		}
		requestPass(kick)
		fmt.Fprintln(rw, "reloaded")
	})
	mux.HandleFunc("GET /-/plan", func(rw http.ResponseWriter, r *http.Request) {
		last, ok := rec.LastPlan()
		if !ok {
			http.Error(rw, "no plan yet", http.StatusNotFound)
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(rw).Encode(struct {
			Hash    string    `json:"hash"`
			Blocked bool      `json:"blocked"`
			At      time.Time `json:"at"`
			Text    string    `json:"text"`
			Plan    plan.Plan `json:"plan"`
		}{last.Digest, last.Plan.Blocked, last.At, last.Plan.Text(), last.Plan})
	})
	mux.HandleFunc("POST /-/approve", func(rw http.ResponseWriter, r *http.Request) {
		hash := r.URL.Query().Get("plan")
		if hash == "" {
			http.Error(rw, "want ?plan=HASH (see GET /-/plan)", http.StatusBadRequest)
			return
		}
		if err := rec.Approve(hash); err != nil {
			http.Error(rw, err.Error(), http.StatusConflict)
			return
		}
		log.Warn("plan approved over the admin endpoint", "hash", hash, "remote", r.RemoteAddr)
		requestPass(kick)
		rw.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(rw, "approved %s; the next pass applies it if the plan is still the same\n", hash)
	})
	return mux
}

// adminHandler guards the admin endpoints against browsers and the network:
//   - a Host that is not a name or address this listener serves is refused
//     (a DNS-rebinding page reaches loopback under its own name);
//   - a POST whose Origin is present and is not the admin address itself is
//     refused (a cross-site form on any page could approve a plan); tools
//     (curl, bindsync approve) send no Origin;
//   - with a token, the bearer token is required.
func adminHandler(next http.Handler, token string, hosts func(string) bool) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if !hosts(hostOnly(r.Host)) {
			http.Error(rw, "forbidden: unexpected Host header", http.StatusForbidden)
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" && r.Method != http.MethodGet {
			u, err := url.Parse(origin)
			if err != nil || u.Host != r.Host {
				http.Error(rw, "forbidden: cross-origin request", http.StatusForbidden)
				return
			}
		}
		if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
			http.Error(rw, "forbidden: cross-site request", http.StatusForbidden)
			return
		}
		if token != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			rw.Header().Set("WWW-Authenticate", "Bearer")
			http.Error(rw, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(rw, r)
	})
}

// adminHosts returns the Host check of the admin listener at addr: its
// configured host, loopback names and addresses, and the machine's own
// addresses and name.
func adminHosts(addr string) func(string) bool {
	allowed := map[string]bool{"localhost": true}
	if host, _, err := net.SplitHostPort(addr); err == nil && host != "" {
		allowed[strings.ToLower(host)] = true
	}
	if name, err := os.Hostname(); err == nil {
		allowed[strings.ToLower(name)] = true
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				allowed[ipn.IP.String()] = true
			}
		}
	}
	return func(host string) bool {
		host = strings.ToLower(strings.TrimSuffix(host, "."))
		if ip := net.ParseIP(host); ip != nil {
			return ip.IsLoopback() || allowed[ip.String()]
		}
		return allowed[host] || strings.HasSuffix(host, ".localhost")
	}
}

// hostOnly strips the port (and IPv6 brackets) from a Host header.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}
