package api

// Prometheus metric names of SGLang's PD disaggregation (sglang-reference.md
// s4.1 and s4.2): a prefill server's bootstrap and inflight queues, a decode
// server's prealloc and transfer queues, and the KV transfer histograms and
// failure counters. The prefill server observes the transfer histograms.
const (
	MetricPrefillBootstrapQueue     = "sglang:num_prefill_bootstrap_queue_reqs"
	MetricPrefillInflightQueue      = "sglang:num_prefill_inflight_queue_reqs"
	MetricDecodePreallocQueue       = "sglang:num_decode_prealloc_queue_reqs"
	MetricDecodeTransferQueue       = "sglang:num_decode_transfer_queue_reqs"
	MetricPendingPreallocTokenUsage = "sglang:pending_prealloc_token_usage"
	MetricKVTransferLatency         = "sglang:kv_transfer_latency_ms"
	MetricKVTransferSpeed           = "sglang:kv_transfer_speed_gb_s"
	MetricKVTransferTotalMB         = "sglang:kv_transfer_total_mb"
	MetricKVTransferBootstrap       = "sglang:kv_transfer_bootstrap_ms"
	MetricKVTransferAlloc           = "sglang:kv_transfer_alloc_ms"
	MetricBootstrapFailed           = "sglang:num_bootstrap_failed_reqs_total"
	MetricTransferFailed            = "sglang:num_transfer_failed_reqs_total"
	MetricPrefillRetries            = "sglang:num_prefill_retries_total"
)
