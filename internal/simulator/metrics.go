package simulator

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/sgltest/sgltest/internal/api"
)

// writeMetrics writes /metrics as SGLang's prometheus_client does: text
// format 0.0.4, a HELP and a TYPE line per family, counters named with their
// _total suffix on every line, and floats in Python's repr ("1.0", not "1").
//
// Scheduler metrics carry model_name, engine_type, tp_rank, pp_rank and
// moe_ep_rank; front-end (tokenizer) metrics carry model_name and
// engine_type (sglang-reference.md s4).
func (s *Server) writeMetrics(w io.Writer) {
	_, m := s.driver.snapshot()
	model := escapeLabel(s.cfg.ServedModelName)
	sched := fmt.Sprintf(`model_name="%s",engine_type="unified",tp_rank="0",pp_rank="0",moe_ep_rank="0"`, model)
	front := fmt.Sprintf(`model_name="%s",engine_type="unified"`, model)

	family := func(name, typ, help string) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	sample := func(name, labels string, v float64) {
		fmt.Fprintf(w, "%s{%s} %s\n", name, labels, pyFloat(v))
	}
	gauge := func(name, help string, v float64) {
		family(name, "gauge", help)
		sample(name, sched, v)
	}

	gauge(api.MetricNumRunningReqs, "The number of running requests.", float64(m.NumRunningReqs))
	gauge(api.MetricNumQueueReqs, "The number of requests in the waiting queue.", float64(m.NumQueueReqs))
	gauge(api.MetricGenThroughput, "The generation throughput (token/s).", m.GenThroughput)
	gauge(api.MetricCacheHitRate, "The prefix cache hit rate.", m.CacheHitRate)
	gauge(api.MetricTokenUsage, "The token usage.", m.TokenUsage)
	gauge(api.MetricNumUsedTokens, "The number of used tokens.", float64(m.NumUsedTokens))
	gauge(api.MetricMaxTotalNumTokens, "Maximum total number of tokens in the KV cache pool.", float64(s.lim.MaxTotalTokens))

	family(api.MetricRealtimeTokens, "counter", "Number of tokens processed, by mode.")
	sample(api.MetricRealtimeTokens, sched+`,mode="prefill_compute"`, float64(m.PrefillComputeTokens))
	sample(api.MetricRealtimeTokens, sched+`,mode="prefill_cache"`, float64(m.PrefillCacheTokens))
	sample(api.MetricRealtimeTokens, sched+`,mode="decode"`, float64(m.DecodeTokens))

	family(api.MetricPromptTokens, "counter", "Number of prefill tokens processed.")
	sample(api.MetricPromptTokens, front, float64(s.promptTokens.Load()))
	family(api.MetricGenerationTokens, "counter", "Number of generation tokens processed.")
	sample(api.MetricGenerationTokens, front, float64(s.generationTokens.Load()))
	// SGLang increments cached_tokens_total only for requests with cache
	// hits, so the family has no sample until the first hit.
	family(api.MetricCachedTokens, "counter", "Number of cached prompt tokens by source (device/host/storage).")
	if c := s.cachedTokens.Load(); c > 0 {
		sample(api.MetricCachedTokens, front+`,cache_source="total"`, float64(c))
	}
	family(api.MetricNumRequests, "counter", "Number of requests processed.")
	sample(api.MetricNumRequests, front, float64(s.numRequests.Load()))
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
