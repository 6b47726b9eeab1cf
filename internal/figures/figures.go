package figures

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/report"
	"github.com/sgltest/sgltest/internal/routermetrics"
	"github.com/sgltest/sgltest/internal/telemetry"
)

// Unit is what a figure's value is measured in.
type Unit string

// The units of figures.
const (
	MS      Unit = "ms"
	ReqPerS Unit = "req/s"
	TokPerS Unit = "tok/s"
	Percent Unit = "%"
	Count   Unit = "count"
	Ratio   Unit = "ratio"
	GiB     Unit = "GiB"
	Watts   Unit = "W"
	Joules  Unit = "J"
)

// Def is one figure of the registry.
type Def struct {
	// Name is the figure as QA writes it, lower case ("ttft", "request
	// throughput").
	Name string
	Unit Unit
	Doc  string
	// samples reads a distribution figure's samples, sorted, in its unit
	// (a Stat picks from them); nil for a plain figure, which value reads.
	samples func(q Query) ([]float64, error)
	value   func(q Query) (float64, error)
	// perServer and windowed say whether "on server N" and "in every N s
	// window" apply.
	perServer, windowed bool
}

// Latency reports whether the figure is a distribution that takes a Stat.
func (d *Def) Latency() bool { return d.samples != nil }

// Query says which part of a run a figure is read from.
type Query struct {
	Run *report.Result
	// Stat is the statistic of a latency figure.
	Stat Stat
	// Server, when positive, is the server (1-based, in declaration order).
	Server int
	// From and To bound a window of the run (To zero: to its end).
	From, To time.Duration
}

func (q Query) whole() bool { return q.From == 0 && q.To == 0 && q.Server == 0 }

var errNoSamples = errors.New("no samples: no successful request produced one")

func latency(name, sample, doc string) Def {
	read := func(q Query) ([]float64, error) {
		if q.Server > 0 {
			if err := clientSeesServers(q.Run); err != nil {
				return nil, err
			}
		}
		return q.Run.Store.Samples(sample, selection(q))
	}
	return Def{Name: name, Unit: MS, Doc: doc, samples: read, perServer: true, windowed: true}
}

// gpu is a distribution over the run's GPU samples: every GPU's (or, on
// server N, the N-th GPU's) readings of one figure, in unit.
func gpu(name string, unit Unit, doc string, pick func(g telemetry.GPU) telemetry.Figure, scale float64) Def {
	read := func(q Query) ([]float64, error) {
		if why := q.Run.File.GPU.Unavailable; why != "" {
			return nil, fmt.Errorf("no GPU telemetry: %s", why)
		}
		var out []float64
		for _, g := range q.Run.GPUSamples {
			if q.Server > 0 && g.Index != q.Server-1 {
				continue
			}
			if f := pick(g); f.OK() {
				out = append(out, f.Value*scale)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("no GPU sample could read the %s", name)
		}
		slices.Sort(out)
		return out, nil
	}
	return Def{Name: name, Unit: unit, Doc: doc, samples: read, perServer: true}
}

// Defs is the registry, in the order the vocabulary lists it.
var Defs = []Def{
	latency("total latency", metrics.TotalLatency, "Done − Arrival: queue time plus server latency, what a user who arrived then waited."),
	latency("server latency", metrics.ServerLatency, "Done − Sent: from writing the request to reading its last byte; bench_serving's E2E latency."),
	latency("e2e latency", metrics.E2ELatency, "The same as server latency, under bench_serving's name."),
	latency("ttft", metrics.TTFT, "Time to first token: the first chunk carrying tokens − Sent (the whole latency when not streamed)."),
	latency("itl", metrics.ITL, "Inter-token latency per token: each chunk's gap to the previous, divided evenly over its tokens (streamed requests only)."),
	latency("itl per chunk", metrics.ITLPerChunk, "Each chunk's gap to the previous, once per chunk (bench_serving's OpenAI definition)."),
	latency("tpot", metrics.TPOT, "Time per output token: (server latency − TTFT) / (output tokens − 1), streamed requests with more than one token."),
	latency("queue time", metrics.QueueTime, "Sent − Arrival: the wait in the client (an in-flight cap, routing)."),
	latency("schedule lag", metrics.ScheduleLag, "Arrival − Scheduled: how late the load generator woke for a request (every request)."),
	gpu("gpu utilization", Percent, "Share of time the GPU was busy, per sample (NVML's utilization; the simulator's step time over the interval, marked simulated).",
		func(g telemetry.GPU) telemetry.Figure { return g.UtilizationPct }, 1),
	gpu("gpu memory", GiB, "GPU memory in use, per sample (the simulator: weights plus KV cache in use).",
		func(g telemetry.GPU) telemetry.Figure { return g.MemoryUsedBytes }, 1.0/(1<<30)),
	gpu("gpu power", Watts, "Board power, per sample (the simulator: idle + (TDP − idle) × busy fraction).",
		func(g telemetry.GPU) telemetry.Figure { return g.PowerWatts }, 1),
	{Name: "energy per output token", Unit: Joules, Doc: "Every GPU's energy over the measured window / the output tokens of successful requests.",
		value: func(q Query) (float64, error) {
			e := q.Run.File.GPU.EnergyPerOutputTokenJ
			if !e.OK() {
				return 0, fmt.Errorf("no energy per output token: %s", e.Missing)
			}
			return e.Value, nil
		}},
	{Name: "request throughput", Unit: ReqPerS, Doc: "Successful requests per second of the run (in a window: completed in it).", windowed: true,
		value: func(q Query) (float64, error) {
			return throughput(q, func(s *metrics.Summary) float64 { return s.RequestThroughput })
		}},
	{Name: "output token throughput", Unit: TokPerS, Doc: "Output tokens of successful requests per second (in a window: streamed in it).", windowed: true,
		value: func(q Query) (float64, error) {
			return throughput(q, func(s *metrics.Summary) float64 { return s.OutputThroughput })
		}},
	{Name: "input token throughput", Unit: TokPerS, Doc: "Input tokens of successful requests per second of the run.",
		value: func(q Query) (float64, error) {
			return throughput(q, func(s *metrics.Summary) float64 { return s.InputThroughput })
		}},
	{Name: "total token throughput", Unit: TokPerS, Doc: "Input plus output tokens of successful requests per second of the run.",
		value: func(q Query) (float64, error) {
			return throughput(q, func(s *metrics.Summary) float64 { return s.TotalThroughput })
		}},
	{Name: "error rate", Unit: Percent, Doc: "Failed requests / requests sent, in percent (cancelled requests are neither).", perServer: true, windowed: true,
		value: errorRate},
	{Name: "failed requests", Unit: Count, Doc: "Requests that ended in an error.", perServer: true, windowed: true,
		value: func(q Query) (float64, error) {
			_, _, failed, _ := q.Run.Store.Outcomes(selection(q))
			return float64(failed), nil
		}},
	{Name: "peak concurrency", Unit: Count, Doc: "The most successful requests in flight (Sent to Done) at any instant, exact.",
		value: func(q Query) (float64, error) { return float64(q.Run.Summary().PeakConcurrency), nil }},
	{Name: "max client queue depth", Unit: Count, Doc: "The most requests arrived but not yet sent, on the client side, at any instant.",
		value: func(q Query) (float64, error) { return float64(q.Run.Summary().MaxQueueDepth), nil }},
	{Name: "max queue depth", Unit: Count, Doc: "The most requests waiting in the servers' queues (sglang:num_queue_reqs, summed over servers at each scrape).",
		perServer: true, value: func(q Query) (float64, error) {
			return serverPeak(q, func(p report.ServerPoint) float64 { return float64(p.Queued) })
		}},
	{Name: "max running requests", Unit: Count, Doc: "The most requests running in the servers' batches (sglang:num_running_reqs, summed at each scrape).",
		perServer: true, value: func(q Query) (float64, error) {
			return serverPeak(q, func(p report.ServerPoint) float64 { return float64(p.Running) })
		}},
	{Name: "peak kv cache usage", Unit: Percent, Doc: "The highest KV-cache token usage of any server (sglang:token_usage), in percent.",
		perServer: true, value: func(q Query) (float64, error) {
			return serverMax(q, func(p report.ServerPoint) float64 { return 100 * float64(p.TokenUsage) })
		}},
	{Name: "cache hit rate", Unit: Percent, Doc: "Prefix-cache hits: cached / prompt tokens, from the servers' own counters over the run, in percent.",
		perServer: true, value: cacheHitRate},
	{Name: "mean kv transfer time", Unit: MS, Doc: "PD disaggregation: the prefill servers' own mean KV transfer time over the run, from the end of a request's prefill to its transfer's success (sglang:kv_transfer_latency_ms; SGLang reports no per-request split of TTFT).",
		perServer: true, value: meanKVTransfer},
	{Name: "request imbalance across servers", Unit: Ratio, Doc: "The coefficient of variation of requests per server (0 is perfectly even).",
		value: func(q Query) (float64, error) {
			r := q.Run.Routing
			if r == nil || math.IsNaN(r.RequestBalance) {
				return 0, errors.New("no request balance: no server counted a request")
			}
			return r.RequestBalance, nil
		}},
	{Name: "router retries", Unit: Count, Doc: "Attempts the real router made after a request's first (smg_worker_retries_total) over the run.",
		value: func(q Query) (float64, error) {
			m, err := routerFigures(q)
			return m.Retries, err
		}},
	{Name: "router errors", Unit: Count, Doc: "Requests the real router failed (smg_router_request_errors_total, every error type) over the run.",
		value: func(q Query) (float64, error) {
			m, err := routerFigures(q)
			var n float64
			for _, v := range m.RequestErrors {
				n += v
			}
			return n, err
		}},
	{Name: "requests served", Unit: Count, Doc: "Requests a server served, by its own counter (sglang:num_requests_total).", perServer: true,
		value: func(q Query) (float64, error) {
			r := q.Run.Routing
			if r == nil {
				return 0, errors.New("no per-server counts for this run")
			}
			if q.Server == 0 {
				var n float64
				for _, w := range r.Workers {
					n += w.Requests
				}
				return n, nil
			}
			return r.Workers[q.Server-1].Requests, nil
		}},
}

// Lookup finds a figure by name (any case; "E2E latency", "TTFT").
func Lookup(name string) (*Def, error) {
	l := strings.ToLower(strings.Join(strings.Fields(name), " "))
	for i := range Defs {
		if Defs[i].Name == l {
			return &Defs[i], nil
		}
	}
	return nil, fmt.Errorf("unknown figure %q: expected one of %s", name, strings.Join(Names(), ", "))
}

// Names lists every figure's name, sorted.
func Names() []string {
	out := make([]string, len(Defs))
	for i, d := range Defs {
		out[i] = d.Name
	}
	sort.Strings(out)
	return out
}

// Value reads the figure from the part of the run q says.
func (d *Def) Value(q Query) (float64, error) {
	if err := d.checkServer(q); err != nil {
		return 0, err
	}
	if d.samples == nil {
		if q.Stat != "" {
			return 0, fmt.Errorf("%s takes no statistic (%s)", d.Name, q.Stat)
		}
		return d.value(q)
	}
	if q.Stat == "" {
		return 0, fmt.Errorf("%s needs a statistic (mean, median, P99, ...)", d.Name)
	}
	samples, err := d.samples(q)
	if err != nil {
		return 0, err
	}
	return q.Stat.Of(samples)
}

// Samples returns a distribution figure's samples from the part of the run
// q says (its Stat is ignored), sorted, in the figure's unit: a caller that
// wants several statistics of one figure sorts its samples once.
func (d *Def) Samples(q Query) ([]float64, error) {
	if d.samples == nil {
		return nil, fmt.Errorf("%s is not a distribution", d.Name)
	}
	if err := d.checkServer(q); err != nil {
		return nil, err
	}
	return d.samples(q)
}

// checkServer checks that a query for one server can be answered.
func (d *Def) checkServer(q Query) error {
	if q.Server <= 0 {
		return nil
	}
	if !d.perServer {
		return fmt.Errorf("%s is a figure of the whole run, not of one server", d.Name)
	}
	if n := len(q.Run.File.Header.Servers); q.Server > n {
		return fmt.Errorf("server %d: the scenario has servers 1 to %d", q.Server, n)
	}
	return nil
}

// selection turns a query into the Store's selection of requests.
func selection(q Query) metrics.Selection {
	sel := metrics.Selection{From: q.From, To: q.To}
	if q.Server > 0 {
		s := q.Run.File.Header.Servers[q.Server-1]
		sel.Target = s.URL
		if s.URL == "" { // virtual time names engines by server name
			sel.Target = s.Name
		}
	}
	return sel
}

// clientSeesServers fails when the client did not know each request's
// server: behind a real router it sees only the router.
func clientSeesServers(r *report.Result) error {
	if h := r.File.Header; strings.HasPrefix(h.Routing, "sglang-router") || strings.HasPrefix(h.Routing, "smg") {
		return errors.New("per-server request figures need sgltest's dispatcher: behind a real router the client sees only the router (server counters still give requests served and cache hit rate)")
	}
	return nil
}

func throughput(q Query, whole func(*metrics.Summary) float64) (float64, error) {
	if q.whole() {
		return whole(q.Run.Summary()), nil
	}
	return 0, errors.New("this throughput is a figure of the whole run")
}

func errorRate(q Query) (float64, error) {
	if q.Server > 0 {
		if err := clientSeesServers(q.Run); err != nil {
			return 0, err
		}
	}
	sent, _, failed, _ := q.Run.Store.Outcomes(selection(q))
	if sent == 0 {
		return 0, errors.New("no request was sent")
	}
	return 100 * float64(failed) / float64(sent), nil
}

func cacheHitRate(q Query) (float64, error) {
	r := q.Run.Routing
	if r == nil {
		return 0, errors.New("no cache hit rate: the servers' counters were not read")
	}
	if q.Server > 0 {
		rate, ok := r.Workers[q.Server-1].CacheHitRate()
		if !ok {
			return 0, fmt.Errorf("no cache hit rate for server %d: it counted no prompt tokens", q.Server)
		}
		return 100 * rate, nil
	}
	if !r.HasCache {
		return 0, errors.New("no cache hit rate: the servers counted no prompt tokens")
	}
	return 100 * r.CacheHitRate, nil
}

// serverPeak is the largest sum over servers (or one server's value) of f
// at any scrape. Scrapes of different servers are matched by time: each
// server's latest value as of each scrape is summed.
func serverPeak(q Query, f func(report.ServerPoint) float64) (float64, error) {
	series := q.Run.Series
	if q.Server > 0 {
		series = series[q.Server-1 : q.Server]
	}
	type change struct {
		at    time.Duration
		k     int
		value float64
	}
	var ch []change
	for k, s := range series {
		for _, p := range s {
			ch = append(ch, change{p.At, k, f(p)})
		}
	}
	if len(ch) == 0 {
		return 0, errors.New("no scrape of the servers' /metrics during the run")
	}
	slices.SortStableFunc(ch, func(a, b change) int { return int(a.at - b.at) })
	cur := make([]float64, len(series))
	var peak, sum float64
	for _, c := range ch {
		sum += c.value - cur[c.k]
		cur[c.k] = c.value
		peak = max(peak, sum)
	}
	return peak, nil
}

// serverMax is the largest f of any server at any scrape.
func serverMax(q Query, f func(report.ServerPoint) float64) (float64, error) {
	series := q.Run.Series
	if q.Server > 0 {
		series = series[q.Server-1 : q.Server]
	}
	peak, any := 0.0, false
	for _, s := range series {
		for _, p := range s {
			peak, any = max(peak, f(p)), true
		}
	}
	if !any {
		return 0, errors.New("no scrape of the servers' /metrics during the run")
	}
	return peak, nil
}

// PerServer reports whether the figure can be read on one server.
func (d *Def) PerServer() bool { return d.perServer }

// Windowed reports whether the figure can be bounded in every window.
func (d *Def) Windowed() bool { return d.windowed }

// routerFigures is what the real router counted over the run.
func routerFigures(q Query) (routermetrics.Sample, error) {
	r := q.Run.Routing
	switch {
	case r == nil || (r.Router == nil && r.RouterNote == ""):
		return routermetrics.Sample{}, errors.New("the run had no real router (sglang-router or smg)")
	case r.Router == nil:
		return routermetrics.Sample{}, errors.New(r.RouterNote)
	}
	return *r.Router, nil
}
