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
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bindsync/bindsync/sync/desired"
	"github.com/bindsync/bindsync/sync/plan"
	"github.com/bindsync/bindsync/sync/reconcile"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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
}

func (d *daemonFlags) register(fs *flag.FlagSet, withFile bool) {
	d.common.register(fs, withFile)
	fs.StringVar(&d.listen, "listen-address", ":9810", "address of /metrics, /healthz and /readyz")
	fs.StringVar(&d.admin, "admin-address", "127.0.0.1:9811", "address of the endpoints that change behaviour (POST /-/reload, GET /-/plan, POST /-/approve); loopback by default, empty disables")
	fs.StringVar(&d.adminTokenFile, "admin-token-file", "", "file holding a bearer token the admin endpoints require (needed when --admin-address is not loopback)")
	fs.DurationVar(&d.resync, "resync-interval", 5*time.Minute, "re-list and repair drift this often (±10% jitter)")
	fs.DurationVar(&d.poll, "poll-interval", 30*time.Second, "re-read the file this often even without file events")
	fs.DurationVar(&d.debounce, "debounce", 100*time.Millisecond, "quiet time after a file event before reading")
	fs.DurationVar(&d.shutdownTimeout, "shutdown-timeout", 25*time.Second, "on SIGTERM, how long in-flight calls may take to finish")
}

func (d *daemonFlags) validate() error {
	var errs []error
	if err := d.common.validate(); err != nil {
		errs = append(errs, err)
	}
	if d.resync < time.Second || d.poll < 100*time.Millisecond || d.debounce <= 0 || d.shutdownTimeout <= 0 {
		errs = append(errs, errors.New("--resync-interval must be at least 1s, --poll-interval at least 100ms, --debounce and --shutdown-timeout positive"))
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
	st, err := desired.Load(d.file)
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
	e, err := newEngine(&d.common, st, log, h.creds, afterPass)
	if err != nil {
		return err
	}
	e.m.ReloadSucceeded(unixNow())
	rec := e.rec
	log.Info("bindsync starting", "version", version, "file", d.file, "hash", st.Hash[:12], "bindings", len(st.Desired.Bindings),
		"data_center", st.RegionID, "endpoint", e.client.Endpoint(), "policy", d.policy, "dry_run", d.dryRun, "qps", d.qps)

	watcher := desired.NewWatcher(desired.WatchConfig{
		Path:     d.file,
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
				return
			}
			e.m.ReloadSucceeded(unixNow())
			log.Info("desired state loaded", "component", "watch", "hash", n.Hash[:12], "bindings", len(n.Desired.Bindings))
			debug.FreeOSMemory()
		},
	}, st)

	token, err := adminToken(d)
	if err != nil {
		return err
	}
	mainLn, err := listen(d.listen)
	if err != nil {
		return err
	}
	var adminLn net.Listener
	if d.admin != "" {
		if adminLn, err = listen(d.admin); err != nil {
			mainLn.Close()
			return err
		}
	}
	mainSrv := &http.Server{Handler: mainMux(e, d, started), ReadHeaderTimeout: 5 * time.Second}
	kick := make(chan struct{}, 1)
	adminSrv := &http.Server{Handler: adminMux(watcher, rec, kick, token, log), ReadHeaderTimeout: 5 * time.Second}
	adminAddr := ""
	if adminLn != nil {
		adminAddr = adminLn.Addr().String()
	}
	// SIGHUP is caught before anyone is told the daemon is up.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	log.Info("listening", "metrics", mainLn.Addr().String(), "admin", adminAddr)
	if h.listening != nil {
		h.listening(mainLn.Addr().String(), adminAddr)
	}

	loopCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var g group
	g.cancel = cancel
	states := make(chan *desired.State)
	updates := make(chan plan.Desired)
	g.Go(func() error { return watcher.Run(loopCtx, states) })
	g.Go(func() error {
		for {
			select {
			case <-loopCtx.Done():
				return nil
			case n := <-states:
				select {
				case updates <- n.Desired:
				case <-loopCtx.Done():
					return nil
				}
			}
		}
	})
	g.Go(func() error {
		for {
			select {
			case <-loopCtx.Done():
				return nil
			case <-hup:
				log.Info("SIGHUP: reloading the desired state")
				watcher.Reload()
			}
		}
	})
	reconcileDone := make(chan struct{})
	g.Go(func() error {
		defer close(reconcileDone)
		return rec.Run(loopCtx, st.Desired, updates, kick, reconcile.Schedule{Resync: d.resync})
	})
	serve := func(srv *http.Server, ln net.Listener) {
		g.Go(func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("http server on %s: %w", ln.Addr(), err)
			}
			return nil
		})
		g.Go(func() error {
			// Keep serving /metrics until the last pass has wound down.
			<-reconcileDone
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		})
	}
	serve(mainSrv, mainLn)
	if adminLn != nil {
		serve(adminSrv, adminLn)
	}

	<-loopCtx.Done()
	if ctx.Err() != nil {
		log.Info("shutting down: no new changes start; waiting for calls in flight", "timeout", d.shutdownTimeout)
	}
	if err := g.WaitFor(d.shutdownTimeout); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
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
// must be loopback: nobody who can reach the network may approve a plan.
func adminToken(d *daemonFlags) (string, error) {
	if d.adminTokenFile == "" {
		if d.admin != "" && !loopbackAddr(d.admin) {
			return "", fmt.Errorf("--admin-address %s is not loopback: set --admin-token-file so that approving and reloading need a token", d.admin)
		}
		return "", nil
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

// adminMux serves the endpoints that change behaviour, on their own address
// (loopback by default) and behind the bearer token when one is set.
func adminMux(w *desired.Watcher, rec *reconcile.Reconciler, kick chan<- struct{}, token string, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /-/reload", func(rw http.ResponseWriter, r *http.Request) {
		w.Reload()
		rw.WriteHeader(http.StatusAccepted)
		fmt.Fprintln(rw, "reload requested")
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
		select {
		case kick <- struct{}{}:
		default:
		}
		rw.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(rw, "approved %s; the next pass applies it if the plan is still the same\n", hash)
	})
	if token == "" {
		return mux
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			rw.Header().Set("WWW-Authenticate", "Bearer")
			http.Error(rw, "unauthorized", http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(rw, r)
	})
}

// group runs goroutines, cancels on the first error and waits for all.
type group struct {
	wg     sync.WaitGroup
	once   sync.Once
	err    error
	cancel func()
}

func (g *group) Go(f func() error) {
	g.wg.Go(func() {
		if err := f(); err != nil {
			g.once.Do(func() {
				g.err = err
				g.cancel()
			})
		}
	})
}

// WaitFor waits for every goroutine, at most timeout.
func (g *group) WaitFor(timeout time.Duration) error {
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
		return g.err
	case <-time.After(timeout):
		return fmt.Errorf("shutdown did not finish within %s", timeout)
	}
}
