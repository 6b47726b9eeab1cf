package live

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/timeline"
	"github.com/sgltest/sgltest/internal/workerstate"
)

// Exporter serves the running test's figures in Prometheus's text format
// at /metrics. Counters and histograms add up over every run of the
// process (rate() and histogram_quantile() over a window give the current
// run's figures); the sgltest_run_* gauges describe the run in progress
// and are reset when it ends. It is a timeline.Observer, safe for
// concurrent use, fed between Begin and End.
type Exporter struct {
	reg *prometheus.Registry
	ln  net.Listener
	srv *http.Server

	mu      sync.Mutex
	servers []string

	runInfo                 *prometheus.GaugeVec
	planned, finished       prometheus.Gauge
	requests                *prometheus.CounterVec
	inputTokens, outputToks prometheus.Counter
	ttft, itl, server, tot  prometheus.Histogram
	queue                   prometheus.Histogram
	running, queued         *prometheus.GaugeVec
	kvUsage, hitRate, genTp *prometheus.GaugeVec
	events                  *prometheus.CounterVec
}

// latencyBuckets span 1 ms to about 2 minutes, doubling.
var latencyBuckets = prometheus.ExponentialBuckets(0.001, 2, 18)

// NewExporter listens on addr (host:port; port 0 picks a free one) and
// serves /metrics until Close.
func NewExporter(addr string) (*Exporter, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	e := &Exporter{reg: prometheus.NewRegistry(), ln: ln}
	hist := func(name, help string) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: latencyBuckets})
	}
	perServer := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, []string{"server"})
	}
	e.runInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sgltest_run_info",
		Help: "1 while a run is in progress, labelled with the scenario and run name."}, []string{"run"})
	e.planned = prometheus.NewGauge(prometheus.GaugeOpts{Name: "sgltest_run_requests_planned",
		Help: "Measured requests the run in progress will send (0 between runs)."})
	e.finished = prometheus.NewGauge(prometheus.GaugeOpts{Name: "sgltest_run_requests_finished",
		Help: "Requests of the run in progress that ended: succeeded, failed or cancelled (0 between runs)."})
	e.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sgltest_requests_total",
		Help: "Measured requests that ended, by outcome (succeeded, failed, cancelled)."}, []string{"outcome"})
	e.inputTokens = prometheus.NewCounter(prometheus.CounterOpts{Name: "sgltest_input_tokens_total",
		Help: "Prompt tokens of successful requests."})
	e.outputToks = prometheus.NewCounter(prometheus.CounterOpts{Name: "sgltest_output_tokens_total",
		Help: "Output tokens of successful requests, as the server reported them."})
	e.ttft = hist("sgltest_ttft_seconds", "Time to first token of successful streamed requests (first token − sent).")
	e.itl = hist("sgltest_itl_seconds", "Inter-token latency: each later chunk's gap divided over its tokens, one observation per token.")
	e.server = hist("sgltest_server_latency_seconds", "Server (E2E) latency of successful requests (done − sent).")
	e.tot = hist("sgltest_total_latency_seconds", "Total latency of successful requests (done − arrival).")
	e.queue = hist("sgltest_queue_time_seconds", "Client-side queue time of successful requests (sent − arrival).")
	e.running = perServer("sgltest_server_running_requests", "sglang:num_running_reqs at the latest scrape.")
	e.queued = perServer("sgltest_server_queued_requests", "sglang:num_queue_reqs at the latest scrape.")
	e.kvUsage = perServer("sgltest_server_token_usage_ratio", "sglang:token_usage (fraction of the KV cache in use) at the latest scrape.")
	e.hitRate = perServer("sgltest_server_cache_hit_ratio", "sglang:cache_hit_rate at the latest scrape.")
	e.genTp = perServer("sgltest_server_gen_throughput", "sglang:gen_throughput (output tokens per second) at the latest scrape.")
	e.events = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sgltest_events_total",
		Help: "Events of the runs' timelines (killed, restored, exited, ...), by kind and target."}, []string{"kind", "target"})
	e.reg.MustRegister(e.runInfo, e.planned, e.finished, e.requests, e.inputTokens, e.outputToks, e.ttft, e.itl,
		e.server, e.tot, e.queue, e.running, e.queued, e.kvUsage, e.hitRate, e.genTp, e.events)
	for _, o := range []string{"succeeded", "failed", "cancelled"} {
		e.requests.WithLabelValues(o) // every outcome from 0, so rate() has a series
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(e.reg, promhttp.HandlerOpts{}))
	e.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go e.srv.Serve(ln) //nolint:errcheck // Serve returns ErrServerClosed after Close
	return e, nil
}

// Addr is the address the exporter listens on.
func (e *Exporter) Addr() string { return e.ln.Addr().String() }

// Close stops serving.
func (e *Exporter) Close() error {
	if err := e.srv.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Begin starts a run called name of total requests over servers (named
// in the plan's order).
func (e *Exporter) Begin(name string, total int, servers []string) {
	e.mu.Lock()
	e.servers = servers
	e.mu.Unlock()
	e.runInfo.Reset()
	e.runInfo.WithLabelValues(name).Set(1)
	e.planned.Set(float64(total))
	e.finished.Set(0)
	for _, g := range []*prometheus.GaugeVec{e.running, e.queued, e.kvUsage, e.hitRate, e.genTp} {
		g.Reset()
	}
}

// End ends the run in progress.
func (e *Exporter) End() {
	e.runInfo.Reset()
	e.planned.Set(0)
	e.finished.Set(0)
}

// Add implements timeline.Observer.
func (e *Exporter) Add(r metrics.Record) {
	if r.Warmup {
		return
	}
	e.finished.Inc()
	switch {
	case r.Cancelled:
		e.requests.WithLabelValues("cancelled").Inc()
		return
	case !r.OK():
		e.requests.WithLabelValues("failed").Inc()
		return
	}
	e.requests.WithLabelValues("succeeded").Inc()
	e.inputTokens.Add(float64(r.InputTokens))
	e.outputToks.Add(float64(r.OutputTokens))
	e.server.Observe((r.Done - r.Sent).Seconds())
	e.tot.Observe((r.Done - r.Arrival).Seconds())
	e.queue.Observe((r.Sent - r.Arrival).Seconds())
	if r.FirstToken > 0 {
		e.ttft.Observe((r.FirstToken - r.Sent).Seconds())
	}
	for j := 1; j < len(r.Chunks); j++ {
		c := r.Chunks[j]
		if c.Tokens <= 0 {
			continue
		}
		per := (c.At - r.Chunks[j-1].At).Seconds() / float64(c.Tokens)
		for range c.Tokens {
			e.itl.Observe(per)
		}
	}
}

// Event implements timeline.Observer.
func (e *Exporter) Event(ev timeline.Event) {
	e.events.WithLabelValues(string(ev.Kind), ev.Target).Inc()
}

// Sample implements timeline.Observer.
func (e *Exporter) Sample(i int, s workerstate.Sample) {
	e.mu.Lock()
	name := fmt.Sprintf("server-%d", i+1)
	if i < len(e.servers) {
		name = e.servers[i]
	}
	e.mu.Unlock()
	e.running.WithLabelValues(name).Set(float64(s.Running))
	e.queued.WithLabelValues(name).Set(float64(s.Queued))
	e.kvUsage.WithLabelValues(name).Set(s.TokenUsage)
	e.hitRate.WithLabelValues(name).Set(s.CacheHitRate)
	e.genTp.WithLabelValues(name).Set(s.Throughput)
}
