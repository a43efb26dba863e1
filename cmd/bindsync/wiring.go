package main

import (
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"time"

	"github.com/bindsync/bindsync/cloudsiem"
	"github.com/bindsync/bindsync/metrics"
	"github.com/bindsync/bindsync/sync/desired"
	"github.com/bindsync/bindsync/sync/reconcile"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// engine is the client, limiter, metrics and reconciler wired together.
type engine struct {
	reg    *prometheus.Registry
	m      *metrics.Metrics
	lim    *reconcile.AdaptiveLimiter
	client *cloudsiem.Client
	rec    *reconcile.Reconciler
}

// engineOpts are what differs between the commands that build an engine.
type engineOpts struct {
	creds      cloudsiem.CredentialSource // nil: the credentials chain
	afterPass  func(reconcile.Result, error)
	approvable bool // the daemon's admin endpoints can approve a blocked plan
	listReuse  time.Duration
}

func newEngine(c *common, st *desired.State, log *slog.Logger, o engineOpts) (*engine, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg)
	m.SetBuildInfo(version, revision(), runtime.Version())
	m.SetMode(c.policy, c.dryRun)
	client, lim, err := newClient(c, st.RegionID, log, o.creds, m)
	if err != nil {
		return nil, err
	}
	rec := reconcile.New(reconcile.Config{
		API:           client,
		Metrics:       m,
		Logger:        log.With("component", "reconcile"),
		Plan:          c.planOptions(),
		Concurrency:   c.concurrency,
		DryRun:        c.dryRun,
		Backoff:       reconcile.Backoff{Base: c.backoffBase, Max: c.backoffMax},
		RegionIDParam: c.regionIDParam,
		AfterPass:     o.afterPass,
		Approvable:    o.approvable,
		ListReuse:     o.listReuse, // 0 (the one-shot commands): every pass lists
	})
	return &engine{reg: reg, m: m, lim: lim, client: client, rec: rec}, nil
}

// newClient is the API client with its adaptive limiter, reporting to m.
func newClient(c *common, regionID string, log *slog.Logger, creds cloudsiem.CredentialSource, m *metrics.Metrics) (*cloudsiem.Client, *reconcile.AdaptiveLimiter, error) {
	if creds == nil {
		chain, err := cloudsiem.NewChainCredentials()
		if err != nil {
			return nil, nil, err
		}
		creds = chain
	}
	logged := 0.0
	lim := reconcile.NewAdaptiveLimiter(reconcile.LimiterConfig{QPS: c.qps, Max: c.qpsMax, Burst: c.burst}, reconcile.LimiterHooks{
		Wait: func(d time.Duration) { m.RateLimitWait.Observe(d.Seconds()) },
		Rate: func(q float64) {
			m.RateLimitQPS.Set(q)
			// Said when it changes by half or more: the rate found is the
			// account's quota as bindsync sees it.
			if logged == 0 || q >= 1.5*logged || q <= logged/1.5 {
				log.Info("API rate limit adapted", "component", "limiter", "qps", math.Round(q*10)/10, "was", math.Round(logged*10)/10)
				logged = q
			}
		},
	})
	client, err := cloudsiem.New(cloudsiem.Config{
		Endpoint:    c.endpoint,
		RegionID:    regionID,
		Credentials: creds,
		HTTPClient:  cloudsiem.NewHTTPClient(c.reqTimeout),
		UserAgent:   fmt.Sprintf("bindsync/%s (cloud-siem %s; %s)", version, cloudsiem.APIVersion, runtime.Version()),
		Retry:       cloudsiem.RetryPolicy{MaxAttempts: c.retryAttempts},
		Limiter:     lim,
		Observe: func(a cloudsiem.Attempt) {
			lim.Observe(a)
			result := "ok"
			if a.Class != 0 {
				result = a.Class.String()
			}
			m.APIRequests.WithLabelValues(a.Action, result).Inc()
			m.APIDuration.WithLabelValues(a.Action).Observe(a.Duration.Seconds())
		},
	})
	if err != nil {
		return nil, nil, err
	}
	return client, lim, nil
}
