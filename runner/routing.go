package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sgltest/sgltest/internal/dispatch"
	"github.com/sgltest/sgltest/internal/launcher"
	"github.com/sgltest/sgltest/internal/load"
	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/report"
	"github.com/sgltest/sgltest/internal/workerstate"
	"github.com/sgltest/sgltest/router"
)

// Routing says how requests are spread over several servers.
type Routing struct {
	// Via is who routes: ViaDispatcher (sgltest's own, in the load
	// generator), ViaSGLangRouter (sglang-router 0.3.2) or ViaSMG (smg 1.9.0).
	Via string `json:"via"`
	// Policy is the policy's name as Via knows it.
	Policy string `json:"policy"`
}

// Who routes.
const (
	ViaDispatcher   = "dispatcher"
	ViaSGLangRouter = "sglang-router"
	ViaSMG          = "smg"
)

func (r Routing) validate() error {
	switch r.Via {
	case ViaDispatcher:
		if _, err := router.New(r.Policy, router.Options{}); err != nil {
			return fmt.Errorf("dispatcher policy %q: %w (known: %s)", r.Policy, err, strings.Join(router.Names(), ", "))
		}
	case ViaSGLangRouter, ViaSMG:
		if r.Policy == "" {
			return fmt.Errorf("%s needs a policy name", r.Via)
		}
	default:
		return fmt.Errorf("unknown router %q: expected %s, %s or %s", r.Via, ViaDispatcher, ViaSGLangRouter, ViaSMG)
	}
	return nil
}

// scrapeInterval is how often workers' /metrics are read during a routed
// run: the state dispatcher policies see, and the per-worker time series.
const scrapeInterval = 250 * time.Millisecond

// RoutingResult is what a run measured about how requests were spread,
// from each server's own counters diffed across the run (so it holds
// whoever routed): requests, tokens and cache hits per server, their
// balance, and per-server latency when sgltest's dispatcher chose.
type RoutingResult struct {
	Routing *Routing                `json:"routing,omitempty"`
	Workers []metrics.WorkerShare   `json:"workers"`
	Latency []metrics.WorkerLatency `json:"latency_by_worker,omitempty"`
	// RequestBalance is the coefficient of variation of requests per
	// server: 0 is perfectly even.
	RequestBalance float64 `json:"request_balance"`
	// CacheHitRate is Σ cached / Σ prompt tokens over all servers, from
	// sglang:cached_tokens_total and sglang:prompt_tokens_total; HasCache is
	// false when no prompt tokens were counted.
	CacheHitRate float64 `json:"cache_hit_rate"`
	HasCache     bool    `json:"has_cache_hit_rate"`
}

// Text renders the routing figures for the printed summary.
func (r *RoutingResult) Text() string {
	var b strings.Builder
	via := "direct"
	if r.Routing != nil {
		via = fmt.Sprintf("%s, policy %s", r.Routing.Via, r.Routing.Policy)
	}
	fmt.Fprintf(&b, "Routing (%s):\n", via)
	for _, w := range r.Workers {
		rate := "n/a"
		if h, ok := w.CacheHitRate(); ok {
			rate = fmt.Sprintf("%.1f%%", 100*h)
		}
		fmt.Fprintf(&b, "- %s: %.0f requests, %.0f input tokens, cache hit rate %s\n", w.Worker, w.Requests, w.InputTokens, rate)
	}
	if r.HasCache {
		fmt.Fprintf(&b, "- Overall Cache Hit Rate: %.1f%%\n", 100*r.CacheHitRate)
	}
	if !math.IsNaN(r.RequestBalance) {
		fmt.Fprintf(&b, "- Request Balance (CV): %.3f\n", r.RequestBalance)
	}
	return b.String()
}

// MarshalJSON writes NaN balance as null: JSON has no NaN.
func (r RoutingResult) MarshalJSON() ([]byte, error) {
	type plain RoutingResult
	var bal *float64
	if !math.IsNaN(r.RequestBalance) {
		bal = &r.RequestBalance
	}
	return json.Marshal(struct {
		plain
		RequestBalance *float64 `json:"request_balance"`
	}{plain(r), bal})
}

func writeRouting(run *report.Run, r *RoutingResult) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(run.Path("routing.json"), append(b, '\n'), 0o644)
}

// send drives the load at the servers (urls) directly, through sgltest's
// dispatcher, or through a real router started here, and measures how the
// servers shared it.
func (t *Test) send(ctx context.Context, run *report.Run, log *slog.Logger, gen *load.Generator, urls []string,
	reqs []load.Request, sched load.Schedule, sink load.Sink, rc *runConfig) (load.Result, *RoutingResult, error) {
	start := time.Now()
	scr, err := workerstate.New(urls, scrapeInterval, func() time.Duration { return time.Since(start) }, log)
	if err != nil {
		return load.Result{}, nil, err
	}
	if err := scr.ScrapeOnce(ctx); err != nil {
		return load.Result{}, nil, fmt.Errorf("reading the servers' /metrics before the run: %w", err)
	}

	switch {
	case t.routing == nil:
		gen.Target = urls[0]
	case t.routing.Via == ViaDispatcher:
		policy, err := router.New(t.routing.Policy, router.Options{Seed: t.seed})
		if err != nil {
			return load.Result{}, nil, err
		}
		d, err := dispatch.New(policy, urls, log)
		if err != nil {
			return load.Result{}, nil, err
		}
		d.State = scr
		gen.Route = d.Route
	default:
		r, err := t.startRouter(ctx, run, urls)
		if err != nil {
			return load.Result{}, nil, err
		}
		argv, _, _ := r.Config().Command()
		rc.Router = argv
		if err := run.WriteConfig(rc); err != nil {
			return load.Result{}, nil, err
		}
		gen.Target = r.URL()
	}

	scrapeCtx, stopScrape := context.WithCancel(ctx)
	scraped := make(chan error, 1)
	go func() { scraped <- scr.Run(scrapeCtx) }()
	res, loadErr := gen.Play(ctx, reqs, sched, sink)
	stopScrape()
	<-scraped // Run's error is the cancellation we caused; a failed scrape shows in ScrapeOnce below

	routed, err := t.routingResult(ctx, scr, urls, res.Records)
	return res, routed, errors.Join(loadErr, err)
}

// routingResult diffs the servers' counters across the run.
func (t *Test) routingResult(ctx context.Context, scr *workerstate.Scraper, urls []string, recs []metrics.Record) (*RoutingResult, error) {
	if err := scr.ScrapeOnce(ctx); err != nil {
		return nil, fmt.Errorf("reading the servers' /metrics after the run: %w", err)
	}
	diffs, err := scr.Diff()
	if err != nil {
		return nil, err
	}
	counters := make(map[string]metrics.WorkerCounters, len(diffs))
	for u, c := range diffs {
		counters[u] = c.Routing()
	}
	shares, err := metrics.SharesFromCounters(counters, urls)
	if err != nil {
		return nil, err
	}
	r := &RoutingResult{Routing: t.routing, Workers: shares, RequestBalance: metrics.RequestBalance(shares)}
	r.CacheHitRate, r.HasCache = metrics.OverallCacheHitRate(shares)
	if t.routing != nil && t.routing.Via == ViaDispatcher {
		r.Latency = metrics.LatencyByWorker(recs, urls)
	}
	return r, nil
}

// startRouter starts the real router in front of urls.
func (t *Test) startRouter(ctx context.Context, run *report.Run, urls []string) (*launcher.Router, error) {
	pkg, module := "sglang-router", launcher.RouterModuleSGLang
	if t.routing.Via == ViaSMG {
		pkg, module = "smg", launcher.RouterModuleSMG
	}
	py := filepath.Join(t.suite.Settings.Venv, pkg, "bin", "python")
	if _, err := os.Stat(py); err != nil {
		return nil, fmt.Errorf("the real router (%s) is not installed at %s: run `make venv`, or set %s to the directory holding %s/", pkg, py, EnvVenv, pkg)
	}
	r, err := t.running.StartRouter(ctx, launcher.RouterConfig{
		Name: "router", Python: py, Module: module, Workers: urls, Policy: t.routing.Policy,
	})
	if err != nil {
		return nil, fmt.Errorf("starting the router: %w", err)
	}
	return r, nil
}
