package metrics

import (
	"fmt"
	"math"
	"slices"
)

// WorkerShare is what one worker served in a routed run.
type WorkerShare struct {
	// Worker names the worker ("server-2"); URL is where it answered,
	// when it ran as a process.
	Worker       string  `json:"worker"`
	URL          string  `json:"url,omitempty"`
	Requests     float64 `json:"requests"`
	InputTokens  float64 `json:"input_tokens"`
	OutputTokens float64 `json:"output_tokens"`
	CachedTokens float64 `json:"cached_tokens"`
	// Role is the worker's PD role (prefill or decode); empty for a
	// regular server.
	Role string `json:"role,omitempty"`
	// KVTransfers and KVTransferMS are the KV transfers a PD prefill
	// server reported over the run (sglang:kv_transfer_latency_ms _count)
	// and their latencies' sum in ms (its _sum).
	KVTransfers  float64 `json:"kv_transfers,omitempty"`
	KVTransferMS float64 `json:"kv_transfer_ms_sum,omitempty"`
	// Ranks are the worker's data-parallel ranks when it runs SGLang's
	// in-process data parallelism (--dp-size N), from each rank's own
	// scheduler counters; empty otherwise.
	Ranks []RankShare `json:"ranks,omitempty"`
}

// RankShare is what one DP rank of a worker served over a run, by its
// scheduler's counters (SGLang counts requests per server, not per rank).
type RankShare struct {
	Rank int `json:"dp_rank"`
	// Requests are the requests the rank admitted from its waiting queue
	// (its sglang:queue_time_seconds count): over a run whose requests all
	// finished, the requests it served.
	Requests float64 `json:"requests"`
	// PrefillTokens and DecodeTokens are its sglang:realtime_tokens_total
	// (prefill computed or cached, and decoded).
	PrefillTokens float64 `json:"prefill_tokens"`
	DecodeTokens  float64 `json:"decode_tokens"`
}

// Label names the worker by name and URL, e.g. "server-2
// (http://127.0.0.1:41234)".
func (s WorkerShare) Label() string {
	if s.URL == "" {
		return s.Worker
	}
	return s.Worker + " (" + s.URL + ")"
}

// CacheHitRate is CachedTokens / InputTokens; ok is false when the worker
// had no input.
func (s WorkerShare) CacheHitRate() (rate float64, ok bool) {
	if s.InputTokens == 0 {
		return 0, false
	}
	return s.CachedTokens / s.InputTokens, true
}

// WorkerCounters are one worker's SGLang counters diffed across a run
// (sglang:num_requests_total, prompt_tokens_total, generation_tokens_total,
// cached_tokens_total): the per-worker figures when the client sees only a
// router.
type WorkerCounters struct {
	Requests, PromptTokens, GenerationTokens, CachedTokens float64
}

// SharesFromRecords counts each worker's successful, non-warmup requests
// by Record.Target (the worker, in a dispatcher run), in the order of
// workers; a worker listed but never chosen has zero counts, and a Target
// not in workers is an error.
func SharesFromRecords(records []Record, workers []string) ([]WorkerShare, error) {
	return storeOf(records).Shares(workers)
}

// Shares is SharesFromRecords over the stored requests.
func (s *Store) Shares(workers []string) ([]WorkerShare, error) {
	shares := make([]WorkerShare, len(workers))
	for i, w := range workers {
		shares[i].Worker = w
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	w := walker{s: s}
	var r request
	for w.next(&r) {
		if !r.ok() {
			continue
		}
		k := slices.Index(workers, s.targets[r.target])
		if k < 0 {
			return nil, fmt.Errorf("request %d: target %q is not one of the workers %v", r.index, s.targets[r.target], workers)
		}
		sh := &shares[k]
		sh.Requests++
		sh.InputTokens += float64(r.in)
		sh.OutputTokens += float64(r.out)
		sh.CachedTokens += float64(r.cached)
	}
	return shares, nil
}

// SharesFromCounters turns each worker's counter differences into shares,
// in the order of workers; a worker without counters is an error.
func SharesFromCounters(diffs map[string]WorkerCounters, workers []string) ([]WorkerShare, error) {
	shares := make([]WorkerShare, len(workers))
	for i, w := range workers {
		d, ok := diffs[w]
		if !ok {
			return nil, fmt.Errorf("no counters for worker %s", w)
		}
		shares[i] = WorkerShare{Worker: w, Requests: d.Requests, InputTokens: d.PromptTokens,
			OutputTokens: d.GenerationTokens, CachedTokens: d.CachedTokens}
	}
	return shares, nil
}

// OverallCacheHitRate is Σ cached / Σ input tokens over all workers; ok
// is false when there was no input.
func OverallCacheHitRate(shares []WorkerShare) (rate float64, ok bool) {
	var all WorkerShare
	for _, s := range shares {
		all.CachedTokens += s.CachedTokens
		all.InputTokens += s.InputTokens
	}
	return all.CacheHitRate()
}

// Balance is the coefficient of variation (population standard deviation /
// mean) of the values, e.g. requests per worker: 0 is perfectly even. NaN
// for no values or a zero mean.
func Balance(values []float64) float64 {
	if len(values) == 0 {
		return math.NaN()
	}
	var sum float64
	for _, v := range values {
		sum += v
	}
	mean := sum / float64(len(values))
	if mean == 0 {
		return math.NaN()
	}
	var sq float64
	for _, v := range values {
		sq += (v - mean) * (v - mean)
	}
	return math.Sqrt(sq/float64(len(values))) / mean
}

// RequestBalance is Balance over the shares' request counts.
func RequestBalance(shares []WorkerShare) float64 {
	v := make([]float64, len(shares))
	for i, s := range shares {
		v[i] = s.Requests
	}
	return Balance(v)
}

// WorkerLatency is one worker's latency distributions in a dispatcher run.
type WorkerLatency struct {
	Worker          string       `json:"worker"`
	ServerLatencyMS Distribution `json:"server_latency_ms"`
	TTFTMS          Distribution `json:"ttft_ms"`
}

// LatencyByWorker computes server latency and TTFT distributions per worker
// (by Record.Target) over successful, non-warmup requests, in the order of
// workers. A worker that served nothing has Count 0 distributions.
func LatencyByWorker(records []Record, workers []string) []WorkerLatency {
	return storeOf(records).LatencyByWorker(workers)
}

// LatencyByWorker is the package function LatencyByWorker over the stored
// requests.
func (s *Store) LatencyByWorker(workers []string) []WorkerLatency {
	server := make([][]float64, len(workers))
	ttft := make([][]float64, len(workers))
	s.mu.Lock()
	w := walker{s: s}
	var r request
	for w.next(&r) {
		k := slices.Index(workers, s.targets[r.target])
		if !r.ok() || k < 0 {
			continue
		}
		server[k] = append(server[k], ms(r.done-r.sent))
		if r.first > 0 {
			ttft[k] = append(ttft[k], ms(r.first-r.sent))
		}
	}
	s.mu.Unlock()
	out := make([]WorkerLatency, len(workers))
	for i, w := range workers {
		out[i] = WorkerLatency{Worker: w, ServerLatencyMS: Distribute(server[i]), TTFTMS: Distribute(ttft[i])}
	}
	return out
}

// Overhead is what a router adds: each statistic of the latency measured
// through it minus the same statistic measured directly against the
// workers, in milliseconds, for the same workload.
type Overhead struct {
	ServerLatencyMS Distribution `json:"server_latency_ms"`
	TTFTMS          Distribution `json:"ttft_ms"`
}

// RouterOverhead compares the summaries of two runs of the same workload:
// one through the router, one sent directly (or by our dispatcher). Each field is the
// through-router statistic minus the direct one (Count is the through-router
// count); percentiles do not subtract like means, so this is a difference
// of distributions, not a distribution of per-request differences.
func RouterOverhead(throughRouter, direct Summary) (Overhead, error) {
	a, b := throughRouter, direct
	if a.Succeeded == 0 || b.Succeeded == 0 {
		return Overhead{}, fmt.Errorf("router overhead needs successful requests in both runs (through router %d, direct %d)", a.Succeeded, b.Succeeded)
	}
	return Overhead{ServerLatencyMS: subDist(a.ServerLatencyMS, b.ServerLatencyMS), TTFTMS: subDist(a.TTFTMS, b.TTFTMS)}, nil
}

func subDist(a, b Distribution) Distribution {
	return Distribution{Count: a.Count, Mean: a.Mean - b.Mean, Std: a.Std - b.Std, Min: a.Min - b.Min, Median: a.Median - b.Median,
		P90: a.P90 - b.P90, P95: a.P95 - b.P95, P99: a.P99 - b.P99, Max: a.Max - b.Max}
}
