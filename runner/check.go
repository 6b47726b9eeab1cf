package runner

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/sgltest/sgltest/internal/metrics"
)

// Comparison is how a measured figure must relate to its bound.
type Comparison string

// The comparisons a scenario can state.
const (
	Below   Comparison = "below"
	AtMost  Comparison = "at most"
	Above   Comparison = "above"
	AtLeast Comparison = "at least"
)

func (c Comparison) holds(v, bound float64) (bool, error) {
	switch c {
	case Below:
		return v < bound, nil
	case AtMost:
		return v <= bound, nil
	case Above:
		return v > bound, nil
	case AtLeast:
		return v >= bound, nil
	}
	return false, fmt.Errorf("unknown comparison %q: expected below, at most, above or at least", c)
}

// latencies names the latency distributions a scenario can bound, as a QA
// engineer writes them (lower case).
var latencies = map[string]func(*metrics.Summary) metrics.Distribution{
	"server latency": func(s *metrics.Summary) metrics.Distribution { return s.ServerLatencyMS },
	"total latency":  func(s *metrics.Summary) metrics.Distribution { return s.TotalLatencyMS },
	"queue time":     func(s *metrics.Summary) metrics.Distribution { return s.QueueTimeMS },
	"e2e latency":    func(s *metrics.Summary) metrics.Distribution { return s.E2ELatencyMS },
	"ttft":           func(s *metrics.Summary) metrics.Distribution { return s.TTFTMS },
	"itl":            func(s *metrics.Summary) metrics.Distribution { return s.ITLMS },
	"tpot":           func(s *metrics.Summary) metrics.Distribution { return s.TPOTMS },
}

// throughputs names the throughputs a scenario can bound, with their units.
var throughputs = map[string]struct {
	unit string
	get  func(*metrics.Summary) float64
}{
	"request":      {"req/s", func(s *metrics.Summary) float64 { return s.RequestThroughput }},
	"input token":  {"tok/s", func(s *metrics.Summary) float64 { return s.InputThroughput }},
	"output token": {"tok/s", func(s *metrics.Summary) float64 { return s.OutputThroughput }},
	"total token":  {"tok/s", func(s *metrics.Summary) float64 { return s.TotalThroughput }},
}

// LatencyNames lists the latency names Check accepts, sorted.
func LatencyNames() []string { return sortedKeys(latencies) }

// ThroughputNames lists the throughput names CheckThroughput accepts, sorted.
func ThroughputNames() []string { return sortedKeys(throughputs) }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// CheckLatency judges one statistic (mean, median, p90, p95, p99, min, max)
// of a latency against a bound given in unit ("ms" or "s"). The error of a
// failed check states the measured value, the bound and the run directory.
func (t *Test) CheckLatency(stat, name string, c Comparison, bound float64, unit string) error {
	r, err := t.Result()
	if err != nil {
		return err
	}
	get, ok := latencies[strings.ToLower(name)]
	if !ok {
		return fmt.Errorf("unknown latency %q: expected one of %s", name, strings.Join(LatencyNames(), ", "))
	}
	scale := map[string]float64{"ms": 1, "s": 1000}[unit]
	if scale == 0 {
		return fmt.Errorf("unknown unit %q: expected ms or s", unit)
	}
	d := get(&r.Summary)
	if d.Count == 0 {
		return fmt.Errorf("%s %s has no samples (no successful request produced one) (run: %s)", stat, name, r.Dir)
	}
	v, ok := d.Get(strings.ToLower(stat))
	if !ok {
		return fmt.Errorf("unknown statistic %q: expected mean, median, min, max, p90, p95 or p99", stat)
	}
	pass, err := c.holds(v, bound*scale)
	if err != nil {
		return err
	}
	if !pass {
		return fmt.Errorf("%s %s is %s, expected %s %g %s (run: %s)",
			stat, name, formatMS(v, unit), c, bound, unit, r.Dir)
	}
	return nil
}

func formatMS(v float64, unit string) string {
	if unit == "s" {
		return fmt.Sprintf("%.3f s (%.1f ms)", v/1000, v)
	}
	return fmt.Sprintf("%.1f ms", v)
}

// CheckThroughput judges a throughput (request, input token, output token,
// total token) against a bound in its unit (req/s or tok/s).
func (t *Test) CheckThroughput(name string, c Comparison, bound float64, unit string) error {
	r, err := t.Result()
	if err != nil {
		return err
	}
	tp, ok := throughputs[strings.ToLower(name)]
	if !ok {
		return fmt.Errorf("unknown throughput %q: expected one of %s", name, strings.Join(ThroughputNames(), ", "))
	}
	if unit != tp.unit {
		return fmt.Errorf("%s throughput is measured in %s, not %s", name, tp.unit, unit)
	}
	v := tp.get(&r.Summary)
	pass, err := c.holds(v, bound)
	if err != nil {
		return err
	}
	if !pass {
		return fmt.Errorf("%s throughput is %.2f %s, expected %s %g %s (run: %s)", name, v, unit, c, bound, unit, r.Dir)
	}
	return nil
}

// CheckAllSucceeded fails unless every measured request succeeded, listing
// the failures by reason.
func (t *Test) CheckAllSucceeded() error {
	r, err := t.Result()
	if err != nil {
		return err
	}
	s := r.Summary
	if s.Requests == 0 {
		return fmt.Errorf("no request was sent (run: %s)", r.Dir)
	}
	if s.Failed == 0 {
		return nil
	}
	reasons := make([]string, 0, len(s.Errors))
	for _, k := range sortedKeys(s.Errors) {
		reasons = append(reasons, fmt.Sprintf("%d× %s", s.Errors[k], k))
	}
	return fmt.Errorf("%d of %d requests failed: %s (run: %s)", s.Failed, s.Requests, strings.Join(reasons, "; "), r.Dir)
}

// CheckCacheHitRate judges the overall prefix-cache hit rate of the last
// run (Σ cached / Σ prompt tokens over every server, from their counters)
// against a bound in percent.
func (t *Test) CheckCacheHitRate(c Comparison, percent float64) error {
	r, err := t.Result()
	if err != nil {
		return err
	}
	rate, err := cacheHitRate(r)
	if err != nil {
		return err
	}
	pass, err := c.holds(100*rate, percent)
	if err != nil {
		return err
	}
	if !pass {
		return fmt.Errorf("cache hit rate is %.1f%%, expected %s %g%% (run: %s)", 100*rate, c, percent, r.Dir)
	}
	return nil
}

func cacheHitRate(r *Result) (float64, error) {
	if r.Routing == nil || !r.Routing.HasCache {
		return 0, fmt.Errorf("no cache hit rate: the servers counted no prompt tokens (run: %s)", r.Dir)
	}
	return r.Routing.CacheHitRate, nil
}

// CheckCacheHitRateBeats fails unless the run labelled better had a higher
// cache hit rate than the run labelled worse.
func (t *Test) CheckCacheHitRateBeats(better, worse string) error {
	b, err := t.Run(better)
	if err != nil {
		return err
	}
	w, err := t.Run(worse)
	if err != nil {
		return err
	}
	rb, err := cacheHitRate(b)
	if err != nil {
		return err
	}
	rw, err := cacheHitRate(w)
	if err != nil {
		return err
	}
	if rb <= rw {
		return fmt.Errorf("cache hit rate with %s is %.1f%%, not higher than %.1f%% with %s (runs: %s, %s)",
			better, 100*rb, 100*rw, worse, b.Dir, w.Dir)
	}
	return nil
}

// CheckEveryServerServed fails unless every server got at least n of the
// last run's requests (counted by the servers themselves).
func (t *Test) CheckEveryServerServed(n int) error {
	r, err := t.Result()
	if err != nil {
		return err
	}
	if r.Routing == nil {
		return fmt.Errorf("no per-server counts for this run (run: %s)", r.Dir)
	}
	var short []string
	for _, w := range r.Routing.Workers {
		if w.Requests < float64(n) {
			short = append(short, fmt.Sprintf("%s served %.0f", w.Worker, w.Requests))
		}
	}
	if len(short) > 0 {
		return fmt.Errorf("expected every server to serve at least %d requests, but %s (run: %s)", n, strings.Join(short, ", "), r.Dir)
	}
	return nil
}

// CheckRequestBalance judges the coefficient of variation of requests per
// server (0 is perfectly even).
func (t *Test) CheckRequestBalance(c Comparison, bound float64) error {
	r, err := t.Result()
	if err != nil {
		return err
	}
	if r.Routing == nil || math.IsNaN(r.Routing.RequestBalance) {
		return fmt.Errorf("no request balance for this run: no server counted a request (run: %s)", r.Dir)
	}
	v := r.Routing.RequestBalance
	pass, err := c.holds(v, bound)
	if err != nil {
		return err
	}
	if !pass {
		return fmt.Errorf("request imbalance across servers (coefficient of variation) is %.3f, expected %s %g (run: %s)", v, c, bound, r.Dir)
	}
	return nil
}

// CheckServerServed judges how many of the last run's requests server i
// (1-based, in declaration order) served, by its own counter.
func (t *Test) CheckServerServed(i int, c Comparison, n int) error {
	r, err := t.Result()
	if err != nil {
		return err
	}
	if r.Routing == nil {
		return fmt.Errorf("no per-server counts for this run (run: %s)", r.Dir)
	}
	if i < 1 || i > len(r.Routing.Workers) {
		return fmt.Errorf("server %d: the scenario has servers 1 to %d", i, len(r.Routing.Workers))
	}
	w := r.Routing.Workers[i-1]
	pass, err := c.holds(w.Requests, float64(n))
	if err != nil {
		return err
	}
	if !pass {
		return fmt.Errorf("server %d (%s) served %.0f requests, expected %s %d (run: %s)", i, w.Worker, w.Requests, c, n, r.Dir)
	}
	return nil
}

// CheckRouterOverhead judges what the router added to a latency statistic:
// the statistic of run "router" minus that of run "direct" (see
// SendDirectAndRouted and metrics.RouterOverhead).
func (t *Test) CheckRouterOverhead(stat, name string, c Comparison, bound float64, unit string) error {
	direct, err := t.Run("direct")
	if err != nil {
		return err
	}
	routed, err := t.Run("router")
	if err != nil {
		return err
	}
	o, err := metrics.RouterOverhead(routed.Records, direct.Records)
	if err != nil {
		return err
	}
	var d metrics.Distribution
	switch strings.ToLower(name) {
	case "server latency", "e2e latency":
		d = o.ServerLatencyMS
	case "ttft":
		d = o.TTFTMS
	default:
		return fmt.Errorf("router overhead is measured on server latency, E2E latency or TTFT, not %q", name)
	}
	v, ok := d.Get(strings.ToLower(stat))
	if !ok {
		return fmt.Errorf("unknown statistic %q: expected mean, median, min, max, p90, p95 or p99", stat)
	}
	scale := map[string]float64{"ms": 1, "s": 1000}[unit]
	if scale == 0 {
		return fmt.Errorf("unknown unit %q: expected ms or s", unit)
	}
	pass, err := c.holds(v, bound*scale)
	if err != nil {
		return err
	}
	if !pass {
		return fmt.Errorf("the router adds %.2f ms to the %s %s, expected %s %g %s (runs: %s, %s)", v, stat, name, c, bound, unit, direct.Dir, routed.Dir)
	}
	return nil
}
