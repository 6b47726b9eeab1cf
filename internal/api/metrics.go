package api

// Prometheus metric names SGLang exports on /metrics (--enable-metrics). All
// carry the labels model_name and engine_type (scheduler metrics also tp_rank,
// pp_rank and moe_ep_rank).
const (
	MetricNumRunningReqs    = "sglang:num_running_reqs"
	MetricNumQueueReqs      = "sglang:num_queue_reqs"
	MetricTokenUsage        = "sglang:token_usage"
	MetricNumUsedTokens     = "sglang:num_used_tokens"
	MetricGenThroughput     = "sglang:gen_throughput"
	MetricCacheHitRate      = "sglang:cache_hit_rate"
	MetricMaxTotalNumTokens = "sglang:max_total_num_tokens"
	MetricPromptTokens      = "sglang:prompt_tokens_total"
	MetricGenerationTokens  = "sglang:generation_tokens_total"
	MetricCachedTokens      = "sglang:cached_tokens_total"
	MetricNumRequests       = "sglang:num_requests_total"
	MetricRealtimeTokens    = "sglang:realtime_tokens_total"
	MetricTTFT              = "sglang:time_to_first_token_seconds"
	MetricITL               = "sglang:inter_token_latency_seconds"
	MetricE2E               = "sglang:e2e_request_latency_seconds"
	MetricQueueTime         = "sglang:queue_time_seconds"
)

// MetricSimStepLateness is sgltest's simulator's own histogram of how late
// each engine step ended against its step-time model, in seconds; real
// SGLang has no such family. When many steps are late, the simulator could
// not keep up in real time and its latencies measure its host.
const MetricSimStepLateness = "sgltest:sim_step_lateness_seconds"
