package simulator

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sgltest/sgltest/internal/api"
)

// writeMetrics writes /metrics as SGLang's prometheus_client does: text
// format 0.0.4, a HELP and a TYPE line per family, counters named with their
// _total suffix on every line, and floats in Python's repr ("1.0", not "1").
//
// Scheduler metrics carry model_name, engine_type, tp_rank, pp_rank and
// moe_ep_rank, and dp_rank on a DP server (one sample per rank);
// front-end (tokenizer) metrics carry model_name and engine_type
// (sglang-reference.md s4).
func (s *Server) writeMetrics(w io.Writer) {
	model := escapeLabel(s.cfg.ServedModelName)
	sched := fmt.Sprintf(`model_name="%s",engine_type="%s",tp_rank="0",pp_rank="0",moe_ep_rank="0"`, model, s.engineType())
	front := fmt.Sprintf(`model_name="%s",engine_type="%s"`, model, s.engineType())

	family := func(name, typ, help string) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	sample := func(name, labels string, v float64) {
		fmt.Fprintf(w, "%s{%s} %s\n", name, labels, pyFloat(v))
	}
	// Scheduler families have one sample per DP rank, labelled dp_rank on
	// a DP server.
	ms := make([]EngineMetrics, len(s.ranks))
	for r, d := range s.ranks {
		_, ms[r] = d.snapshot()
	}
	perRank := func(name, typ, help string, v func(m EngineMetrics) float64) {
		family(name, typ, help)
		for r, m := range ms {
			sample(name, sched+s.dpLabel(r), v(m))
		}
	}
	gauge := func(name, help string, v func(m EngineMetrics) float64) { perRank(name, "gauge", help, v) }

	gauge(api.MetricNumRunningReqs, "The number of running requests.", func(m EngineMetrics) float64 { return float64(m.NumRunningReqs) })
	gauge(api.MetricNumQueueReqs, "The number of requests in the waiting queue.", func(m EngineMetrics) float64 { return float64(m.NumQueueReqs) })
	gauge(api.MetricGenThroughput, "The generation throughput (token/s).", func(m EngineMetrics) float64 { return m.GenThroughput })
	gauge(api.MetricCacheHitRate, "The prefix cache hit rate.", func(m EngineMetrics) float64 { return m.CacheHitRate })
	gauge(api.MetricTokenUsage, "The token usage.", func(m EngineMetrics) float64 { return m.TokenUsage })
	gauge(api.MetricNumUsedTokens, "The number of used tokens.", func(m EngineMetrics) float64 { return float64(m.NumUsedTokens) })
	gauge(api.MetricMaxTotalNumTokens, "Maximum total number of tokens in the KV cache pool.", func(EngineMetrics) float64 { return float64(s.lim.MaxTotalTokens) })
	gauge(metricNumRetractedReqs, "The number of retracted requests.", func(m EngineMetrics) float64 { return float64(m.NumRetractedReqs) })
	gauge(metricNewTokenRatio, "The new token ratio.", func(m EngineMetrics) float64 { return m.NewTokenRatio })
	counter := func(name, help string, v func(m EngineMetrics) int64) {
		perRank(name, "counter", help, func(m EngineMetrics) float64 { return float64(v(m)) })
	}
	counter(metricRetractedRequests, "Total number of retracted requests.", func(m EngineMetrics) int64 { return m.RetractedRequests })
	counter(metricRetractedInputTokens, "Total number of input tokens of retracted requests.", func(m EngineMetrics) int64 { return m.RetractedInputTokens })
	counter(metricRetractedOutputTokens, "Total number of output tokens of retracted requests.", func(m EngineMetrics) int64 { return m.RetractedOutputTokens })

	s.writePDMetrics(w, sched)

	family(api.MetricRealtimeTokens, "counter", "Number of tokens processed, by mode.")
	for r, m := range ms {
		l := sched + s.dpLabel(r)
		sample(api.MetricRealtimeTokens, l+`,mode="prefill_compute"`, float64(m.PrefillComputeTokens))
		sample(api.MetricRealtimeTokens, l+`,mode="prefill_cache"`, float64(m.PrefillCacheTokens))
		sample(api.MetricRealtimeTokens, l+`,mode="decode"`, float64(m.DecodeTokens))
	}

	family(api.MetricQueueTime, "histogram", "Histogram of queueing time in seconds.")
	for r, d := range s.ranks {
		d.queueTime.write(w, api.MetricQueueTime, sched+s.dpLabel(r))
	}

	f := s.front

	// Families split by is_streaming have a sample only for the label values
	// seen so far, as prometheus_client's labelled metrics do.
	byStreaming := func(each func(sm *streamMetrics, labels string)) {
		for i, sm := range f.byStreaming {
			if sm.used.Load() {
				each(sm, front+`,is_streaming="`+[2]string{"false", "true"}[i]+`"`)
			}
		}
	}
	family(api.MetricPromptTokens, "counter", "Number of prefill tokens processed.")
	byStreaming(func(sm *streamMetrics, l string) { sample(api.MetricPromptTokens, l, float64(sm.promptTokens.Load())) })
	family(api.MetricGenerationTokens, "counter", "Number of generation tokens processed.")
	byStreaming(func(sm *streamMetrics, l string) {
		sample(api.MetricGenerationTokens, l, float64(sm.generationTokens.Load()))
	})
	// SGLang increments cached_tokens_total only for requests with cache
	// hits, so the family has no sample until the first hit.
	family(api.MetricCachedTokens, "counter", "Number of cached prompt tokens by source (device/host/storage).")
	if c := f.cachedTokens.Load(); c > 0 {
		sample(api.MetricCachedTokens, front+`,cache_source="total"`, float64(c))
	}
	family(api.MetricNumRequests, "counter", "Number of requests processed.")
	byStreaming(func(sm *streamMetrics, l string) { sample(api.MetricNumRequests, l, float64(sm.numRequests.Load())) })
	family(metricNumAbortedRequests, "counter", "Number of requests aborted.")
	sample(metricNumAbortedRequests, front, float64(f.aborted.Load()))

	family(api.MetricTTFT, "histogram", "Histogram of time to first token in seconds.")
	byStreaming(func(sm *streamMetrics, l string) { sm.ttft.write(w, api.MetricTTFT, l) })
	family(api.MetricITL, "histogram", "Histogram of inter-token latency in seconds.")
	f.itl.write(w, api.MetricITL, front)
	family(api.MetricE2E, "histogram", "Histogram of End-to-end request latency in seconds")
	byStreaming(func(sm *streamMetrics, l string) { sm.e2e.write(w, api.MetricE2E, l) })
	family(MetricStepLateness, "histogram", "sgltest simulator: how late each engine step ended in real time.")
	f.lateness.write(w, MetricStepLateness, front)
	s.writeGPUMetrics(w)
}

// Metric names internal/api does not carry (sglang-reference.md s4):
// aborted requests (client gone, queue full), and the scheduler's
// retraction and admission figures.
const (
	metricNumAbortedRequests    = "sglang:num_aborted_requests_total"
	metricNumRetractedReqs      = "sglang:num_retracted_reqs"
	metricNewTokenRatio         = "sglang:new_token_ratio"
	metricRetractedRequests     = "sglang:num_retracted_requests_total"
	metricRetractedInputTokens  = "sglang:num_retracted_input_tokens_total"
	metricRetractedOutputTokens = "sglang:num_retracted_output_tokens_total"
)

// SGLang's default histogram buckets (python/sglang/srt/observability/
// metrics_collector.py, TokenizerMetricsCollector and
// SchedulerMetricsCollector).
var (
	ttftBuckets = []float64{0.1, 0.2, 0.4, 0.6, 0.8, 1, 2, 4, 6, 8, 10, 20, 40, 60, 80, 100, 200, 400}
	itlBuckets  = []float64{0.002, 0.004, 0.006, 0.008, 0.010, 0.015, 0.020, 0.025, 0.030, 0.035, 0.040,
		0.060, 0.080, 0.100, 0.200, 0.400, 0.600, 0.800, 1, 2, 4, 6, 8}
	e2eBuckets = []float64{0.1, 0.2, 0.4, 0.6, 0.8, 1, 2, 4, 6, 8, 10, 20, 40, 60, 80, 100, 200, 400,
		600, 1200, 1800, 2400}
	queueTimeBuckets = []float64{0, 0.001, 0.005, 0.010, 0.050, 0.100, 0.200, 0.500, 1, 2, 3, 4, 5, 10, 15,
		20, 30, 40, 50, 60, 70, 80, 90, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1200, 1400,
		1600, 1800, 2000, 2500, 3000}
)

// frontMetrics are the per-request metrics SGLang's tokenizer manager keeps,
// recorded by the drivers when each output becomes visible. They are the
// front end's, so a DP server has one set for all its ranks.
type frontMetrics struct {
	// byStreaming holds the figures SGLang labels is_streaming, for
	// requests that do not stream ([0]) and those that do ([1]).
	byStreaming  [2]*streamMetrics
	cachedTokens atomic.Int64
	aborted      atomic.Int64

	itl *histogram
	// lateness is the simulator's self-check: how late the driver woke
	// for each step's end. SGLang has no such figure, hence sgltest's name.
	lateness *histogram
}

// MetricStepLateness is the simulator's own histogram of how late each
// engine step ended against the step-time model: when it grows past a few
// milliseconds, the simulator process could not keep up in real time and
// its latencies are inflated by its host, not by the modelled GPU.
const MetricStepLateness = "sgltest:sim_step_lateness_seconds"

var latenessBuckets = []float64{0.0001, 0.0005, 0.001, 0.002, 0.005, 0.010, 0.020, 0.050, 0.100, 0.500, 1}

// streamMetrics are the per-request figures of one is_streaming label
// value; used says a request with it has been observed.
type streamMetrics struct {
	used                                        atomic.Bool
	promptTokens, generationTokens, numRequests atomic.Int64
	ttft, e2e                                   *histogram
}

func newFrontMetrics() *frontMetrics {
	f := &frontMetrics{
		itl: newHistogram(itlBuckets), lateness: newHistogram(latenessBuckets),
	}
	for i := range f.byStreaming {
		f.byStreaming[i] = &streamMetrics{ttft: newHistogram(ttftBuckets), e2e: newHistogram(e2eBuckets)}
	}
	return f
}

// observe records one output of st made visible at now, as SGLang's
// collect_metrics does: the first output is the TTFT; each later output
// with n new tokens adds its gap divided by n to the ITL histogram n times
// (the sum gets the whole gap); a finished request adds its counters and
// its E2E latency. Counters are updated before the output is published, so
// a client holding its response already sees it counted.
func (f *frontMetrics) observe(st *stream, o Output, now time.Duration) {
	sm := f.byStreaming[0]
	if st.streaming {
		sm = f.byStreaming[1]
	}
	if !st.seen {
		st.seen = true
		sm.ttft.observe((now - st.received).Seconds(), 1)
		sm.used.Store(true)
	} else if n := o.Generated - st.lastGenerated; n > 0 {
		gap := (now - st.lastOut).Seconds()
		f.itl.observeSpread(gap, n)
	}
	st.lastOut, st.lastGenerated = now, o.Generated
	if o.Finished {
		sm.promptTokens.Add(int64(st.promptTokens))
		sm.generationTokens.Add(int64(o.Generated))
		f.cachedTokens.Add(int64(o.CachedTokens))
		sm.numRequests.Add(1)
		sm.e2e.observe((now - st.received).Seconds(), 1)
	}
}

// histogram is a Prometheus histogram with fixed upper bounds.
type histogram struct {
	bounds []float64
	mu     sync.Mutex
	counts []uint64 // per bucket, not cumulative; the last is +Inf
	sum    float64
}

func newHistogram(bounds []float64) *histogram {
	return &histogram{bounds: bounds, counts: make([]uint64, len(bounds)+1)}
}

func (h *histogram) bucket(v float64) int {
	for i, b := range h.bounds {
		if v <= b {
			return i
		}
	}
	return len(h.bounds)
}

// observe adds v n times.
func (h *histogram) observe(v float64, n int) {
	i := h.bucket(v)
	h.mu.Lock()
	h.counts[i] += uint64(n)
	h.sum += v * float64(n)
	h.mu.Unlock()
}

// observeSpread adds gap/n n times but gap once to the sum, as SGLang's
// observe_inter_token_latency does.
func (h *histogram) observeSpread(gap float64, n int) {
	i := h.bucket(gap / float64(n))
	h.mu.Lock()
	h.counts[i] += uint64(n)
	h.sum += gap
	h.mu.Unlock()
}

// write writes the family's samples as prometheus_client does: cumulative
// buckets with le last among the labels, then _count and _sum.
func (h *histogram) write(w io.Writer, name, labels string) {
	h.mu.Lock()
	counts := append([]uint64(nil), h.counts...)
	sum := h.sum
	h.mu.Unlock()
	var cum uint64
	for i, c := range counts {
		cum += c
		le := "+Inf"
		if i < len(h.bounds) {
			le = pyFloat(h.bounds[i])
		}
		fmt.Fprintf(w, "%s_bucket{%s,le=\"%s\"} %s\n", name, labels, le, pyFloat(float64(cum)))
	}
	fmt.Fprintf(w, "%s_count{%s} %s\n", name, labels, pyFloat(float64(cum)))
	fmt.Fprintf(w, "%s_sum{%s} %s\n", name, labels, pyFloat(sum))
}

// pyFloat formats v as Python's repr(float) does for the values metrics take.
func pyFloat(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case v == math.Trunc(v) && math.Abs(v) < 1e16:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func escapeLabel(v string) string { return labelEscaper.Replace(v) }
