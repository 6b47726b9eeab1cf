package workerstate

import (
	"fmt"
	"io"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sgltest/sgltest/internal/api"
	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/router"
)

// Sample is one scrape of one worker. Gauges are instantaneous; counters
// are cumulative since the worker started, so figures over a run are
// differences of two samples (Sub).
type Sample struct {
	// At is when the scrape's response was read, on the caller's clock.
	At time.Duration

	Running, Queued int     // sglang:num_running_reqs, sglang:num_queue_reqs
	UsedTokens      int     // sglang:num_used_tokens
	TokenUsage      float64 // sglang:token_usage
	Throughput      float64 // sglang:gen_throughput, tokens/s
	CacheHitRate    float64 // sglang:cache_hit_rate

	Counters
}

// Counters are a worker's cumulative counters.
type Counters struct {
	Requests         float64 // sglang:num_requests_total
	PromptTokens     float64 // sglang:prompt_tokens_total
	GenerationTokens float64 // sglang:generation_tokens_total
	// CachedTokens is sglang:cached_tokens_total{cache_source="total"}, or
	// the sum over sources when no total is exported; SGLang exports no
	// sample before the first cache hit, which counts as 0.
	CachedTokens float64
	// E2ESum and E2ECount are sglang:e2e_request_latency_seconds's _sum
	// and _count.
	E2ESum, E2ECount float64
	// StepLateness is a simulator's step-lateness histogram
	// (api.MetricSimStepLateness); empty for a real SGLang server.
	StepLateness Lateness
	// Ranks are each DP rank's own counters on a server running SGLang's
	// data parallelism (ranks.go); nil without it.
	Ranks []RankCounters
	// KVTransferMS and KVTransfers are a PD prefill server's
	// sglang:kv_transfer_latency_ms _sum (in ms) and _count; zero on
	// other servers.
	KVTransferMS, KVTransfers float64
}

// Sub returns c − prev, the counts between two scrapes.
func (c Counters) Sub(prev Counters) Counters {
	return Counters{
		Requests: c.Requests - prev.Requests, PromptTokens: c.PromptTokens - prev.PromptTokens,
		GenerationTokens: c.GenerationTokens - prev.GenerationTokens, CachedTokens: c.CachedTokens - prev.CachedTokens,
		E2ESum: c.E2ESum - prev.E2ESum, E2ECount: c.E2ECount - prev.E2ECount,
		StepLateness: c.StepLateness.Sub(prev.StepLateness),
		Ranks:        subRanks(c.Ranks, prev.Ranks),
		KVTransferMS: c.KVTransferMS - prev.KVTransferMS, KVTransfers: c.KVTransfers - prev.KVTransfers,
	}
}

// Add returns c + d.
func (c Counters) Add(d Counters) Counters {
	return Counters{
		Requests: c.Requests + d.Requests, PromptTokens: c.PromptTokens + d.PromptTokens,
		GenerationTokens: c.GenerationTokens + d.GenerationTokens, CachedTokens: c.CachedTokens + d.CachedTokens,
		E2ESum: c.E2ESum + d.E2ESum, E2ECount: c.E2ECount + d.E2ECount,
		Ranks:        addRanks(c.Ranks, d.Ranks),
		KVTransferMS: c.KVTransferMS + d.KVTransferMS, KVTransfers: c.KVTransfers + d.KVTransfers,
	}
}

// Routing returns the counters the routing metrics take
// (metrics.SharesFromCounters).
func (c Counters) Routing() metrics.WorkerCounters {
	return metrics.WorkerCounters{Requests: c.Requests, PromptTokens: c.PromptTokens,
		GenerationTokens: c.GenerationTokens, CachedTokens: c.CachedTokens}
}

// required are the families every SGLang server with --enable-metrics
// exports from its start; a scrape missing one is not an SGLang worker's.
// The request and token counters carry labels (is_streaming), so SGLang
// exports them only once a request has finished: before that they read 0.
var required = []string{api.MetricNumRunningReqs, api.MetricNumQueueReqs}

// Parse reads one Prometheus text exposition. It fails on malformed text
// and when a required SGLang family is missing. Samples of one family with
// several label sets (several DP ranks) are summed, except that the cached
// tokens prefer the cache_source="total" series and the ratios (token
// usage, cache hit rate) take the largest rank's; Ranks keeps each DP
// rank's own counters.
func Parse(r io.Reader) (Sample, error) {
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return Sample{}, fmt.Errorf("parsing metrics: %w", err)
	}
	for _, name := range required {
		if _, ok := fams[name]; !ok {
			return Sample{}, fmt.Errorf("parsing metrics: %s is missing (is --enable-metrics on?)", name)
		}
	}
	var s Sample
	s.Running = int(sum(fams[api.MetricNumRunningReqs]))
	s.Queued = int(sum(fams[api.MetricNumQueueReqs]))
	s.UsedTokens = int(sum(fams[api.MetricNumUsedTokens]))
	s.TokenUsage = maxOf(fams[api.MetricTokenUsage])
	s.Throughput = sum(fams[api.MetricGenThroughput])
	s.CacheHitRate = maxOf(fams[api.MetricCacheHitRate])
	s.Requests = sum(fams[api.MetricNumRequests])
	s.PromptTokens = sum(fams[api.MetricPromptTokens])
	s.GenerationTokens = sum(fams[api.MetricGenerationTokens])
	s.CachedTokens = cached(fams[api.MetricCachedTokens])
	s.StepLateness = lateness(fams[api.MetricSimStepLateness])
	s.Ranks = ranks(fams)
	if f := fams[api.MetricE2E]; f != nil {
		for _, m := range f.GetMetric() {
			s.E2ESum += m.GetHistogram().GetSampleSum()
			s.E2ECount += float64(m.GetHistogram().GetSampleCount())
		}
	}
	for _, m := range fams[api.MetricKVTransferLatency].GetMetric() {
		s.KVTransferMS += m.GetHistogram().GetSampleSum()
		s.KVTransfers += float64(m.GetHistogram().GetSampleCount())
	}
	return s, nil
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

func sum(f *dto.MetricFamily) float64 {
	var v float64
	for _, m := range f.GetMetric() {
		v += value(m)
	}
	return v
}

// maxOf is used for ratios, which do not add across ranks.
func maxOf(f *dto.MetricFamily) float64 {
	var v float64
	for i, m := range f.GetMetric() {
		if x := value(m); i == 0 || x > v {
			v = x
		}
	}
	return v
}

func cached(f *dto.MetricFamily) float64 {
	var total, all float64
	haveTotal := false
	for _, m := range f.GetMetric() {
		source := ""
		for _, l := range m.GetLabel() {
			if l.GetName() == "cache_source" {
				source = l.GetValue()
			}
		}
		if source == "total" {
			total += value(m)
			haveTotal = true
		} else {
			all += value(m)
		}
	}
	if haveTotal {
		return total
	}
	return all
}

// Fill copies the sample into w for a routing policy. prev, the sample
// before it, gives the recent latency: the mean end-to-end latency of the
// requests that finished between the two (zero when none did).
func (s Sample) Fill(w *router.Worker, prev Sample) {
	w.Scraped = true
	w.ScrapedAt = s.At
	w.Running, w.Queued = s.Running, s.Queued
	w.UsedTokens, w.TokenUsage = s.UsedTokens, s.TokenUsage
	w.Throughput, w.CacheHitRate = s.Throughput, s.CacheHitRate
	w.Latency = 0
	if d := s.Counters.Sub(prev.Counters); d.E2ECount > 0 {
		w.Latency = time.Duration(d.E2ESum / d.E2ECount * float64(time.Second))
	}
}
