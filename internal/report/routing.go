package report

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/plan"
	"github.com/sgltest/sgltest/internal/routermetrics"
	"github.com/sgltest/sgltest/internal/workerstate"
)

// RoutingFile is the name of the routing figures' file in a run directory.
const RoutingFile = "routing.json"

// Routing is what a run measured about how requests were spread over its
// servers: requests, tokens and cache hits per server (in wall-clock runs
// from each server's own counters, so it holds whoever routed; in virtual
// time from the records), their balance, and per-server latency when the
// client knew each request's server (sgltest's dispatcher). It is
// routing.json.
type Routing struct {
	Routing *plan.Routing           `json:"routing,omitempty"`
	Workers []metrics.WorkerShare   `json:"workers"`
	Latency []metrics.WorkerLatency `json:"latency_by_worker,omitempty"`
	// RequestBalance is the coefficient of variation of requests per
	// server: 0 is perfectly even; NaN (written null) when none counted.
	RequestBalance float64 `json:"request_balance"`
	// CacheHitRate is Σ cached / Σ prompt tokens over all servers; HasCache
	// is false when no prompt tokens were counted.
	CacheHitRate float64 `json:"cache_hit_rate"`
	HasCache     bool    `json:"has_cache_hit_rate"`
	// Router is what the real router itself counted over the run (requests,
	// retries, errors, per-worker attempts and circuit breakers); RouterNote
	// says why it is missing or partial.
	Router     *routermetrics.Sample `json:"router,omitempty"`
	RouterNote string                `json:"router_note,omitempty"`
}

// Text renders the routing figures for the printed summary.
func (r *Routing) Text() string {
	var b strings.Builder
	via := "direct"
	if r.Routing != nil {
		via = fmt.Sprintf("%s, policy %s", r.Routing.Via, r.Routing.Policy)
		if pd := r.Routing.PD; pd != nil {
			via = fmt.Sprintf("%s in PD mode, prefill policy %s, decode policy %s", r.Routing.Via, pd.PrefillPolicy, pd.DecodePolicy)
		}
	}
	fmt.Fprintf(&b, "Routing (%s):\n", via)
	for _, w := range r.Workers {
		rate := "n/a"
		if h, ok := w.CacheHitRate(); ok {
			rate = fmt.Sprintf("%.1f%%", 100*h)
		}
		label := w.Label()
		if w.Role != "" {
			label += " [" + w.Role + "]"
		}
		fmt.Fprintf(&b, "- %s: %.0f requests, %.0f input tokens, cache hit rate %s%s\n", label, w.Requests, w.InputTokens, rate, kvTransferText(w))
		for _, r := range w.Ranks {
			fmt.Fprintf(&b, "  - DP rank %d: %.0f requests, %.0f prefill and %.0f decode tokens\n", r.Rank, r.Requests, r.PrefillTokens, r.DecodeTokens)
		}
	}
	if r.HasCache {
		fmt.Fprintf(&b, "- Overall Cache Hit Rate: %.1f%%\n", 100*r.CacheHitRate)
	}
	if !math.IsNaN(r.RequestBalance) {
		fmt.Fprintf(&b, "- Request Balance (CV): %.3f\n", r.RequestBalance)
	}
	if m := r.Router; m != nil {
		fmt.Fprintf(&b, "- Router: %.0f requests, %.0f retries, %.0f retries exhausted\n", m.Requests, m.Retries, m.RetriesExhausted)
	}
	if r.RouterNote != "" {
		fmt.Fprintf(&b, "- Router: %s\n", r.RouterNote)
	}
	return b.String()
}

// MarshalJSON writes NaN balance as null: JSON has no NaN.
func (r Routing) MarshalJSON() ([]byte, error) {
	type plain Routing
	var bal *float64
	if !math.IsNaN(r.RequestBalance) {
		bal = &r.RequestBalance
	}
	return json.Marshal(struct {
		plain
		RequestBalance *float64 `json:"request_balance"`
	}{plain(r), bal})
}

// counters adds up one server's counters over a run from its scrapes,
// across restarts: a counter that goes down started again from zero.
type counters struct {
	first, last workerstate.Counters
	total       workerstate.Counters
	samples     int
}

func (c *counters) add(s workerstate.Counters) {
	if c.samples == 0 {
		c.first, c.last = s, s
		c.samples = 1
		return
	}
	c.samples++
	if s.Requests < c.last.Requests || s.PromptTokens < c.last.PromptTokens {
		// A fresh process: what it counted since it started is all new.
		c.total = c.total.Add(s)
	} else {
		c.total = c.total.Add(s.Sub(c.last))
	}
	c.last = s
}

// rankShares are a DP server's per-rank counters over a run, for
// routing.json.
func rankShares(ranks []workerstate.RankCounters) []metrics.RankShare {
	if len(ranks) == 0 {
		return nil
	}
	out := make([]metrics.RankShare, len(ranks))
	for i, r := range ranks {
		out[i] = metrics.RankShare{Rank: r.Rank, Requests: r.Admitted, PrefillTokens: r.PrefillTokens, DecodeTokens: r.DecodeTokens}
	}
	return out
}
