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

func newEngine(c *common, st *desired.State, log *slog.Logger, creds cloudsiem.CredentialSource, afterPass func(reconcile.Result, error)) (*engine, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg)
	m.SetBuildInfo(version, revision(), runtime.Version())
	m.SetMode(c.policy, c.dryRun)

	if creds == nil {
		chain, err := cloudsiem.NewChainCredentials()
		if err != nil {
			return nil, err
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
	httpClient := cloudsiem.NewHTTPClient(c.reqTimeout)
	client, err := cloudsiem.New(cloudsiem.Config{
		Endpoint:    c.endpoint,
		RegionID:    st.RegionID,
		Credentials: creds,
		HTTPClient:  httpClient,
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
		AfterPass:     afterPass,
	})
	return &engine{reg: reg, m: m, lim: lim, client: client, rec: rec}, nil
}
