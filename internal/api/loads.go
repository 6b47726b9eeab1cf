package api

// Loads is the body of GET /v1/loads (sglang-reference.md s2.5): one entry
// per DP rank.
type Loads struct {
	// Timestamp is when the response was made, UTC ISO 8601.
	Timestamp string `json:"timestamp"`
	Version   string `json:"version"`
	Loads     []Load `json:"loads"`
}

// Load is one DP rank's entry of Loads. The core fields are always present;
// Memory and Queues only when the include parameter asks for them.
type Load struct {
	Timestamp      string `json:"timestamp"`
	DPRank         int    `json:"dp_rank"`
	NumRunningReqs int    `json:"num_running_reqs"`
	NumWaitingReqs int    `json:"num_waiting_reqs"`
	// NumWaitingUncachedTokens are the prompt tokens still waiting for
	// prefill compute.
	NumWaitingUncachedTokens int `json:"num_waiting_uncached_tokens"`
	NumUsedTokens            int `json:"num_used_tokens"`
	// NumTotalTokens is NumUsedTokens plus the tokens of queued requests:
	// the one scalar routers compare.
	NumTotalTokens     int     `json:"num_total_tokens"`
	MaxTotalNumTokens  int     `json:"max_total_num_tokens"`
	MaxRunningRequests int     `json:"max_running_requests"`
	TokenUsage         float64 `json:"token_usage"`
	GenThroughput      float64 `json:"gen_throughput"`
	CacheHitRate       float64 `json:"cache_hit_rate"`
	Utilization        float64 `json:"utilization"`

	Memory *LoadMemory `json:"memory,omitempty"`
	Queues *LoadQueues `json:"queues,omitempty"`
}

// LoadMemory is Load's memory section, sizes in GB.
type LoadMemory struct {
	WeightGB      float64 `json:"weight_gb"`
	KVCacheGB     float64 `json:"kv_cache_gb"`
	GraphGB       float64 `json:"graph_gb"`
	TokenCapacity int     `json:"token_capacity"`
}

// LoadQueues is Load's queues section: request counts per queue.
type LoadQueues struct {
	Waiting   int `json:"waiting"`
	Grammar   int `json:"grammar"`
	Paused    int `json:"paused"`
	Retracted int `json:"retracted"`
}

// LegacyLoad is one element of GET /get_load's array, the deprecated shape
// the sglang-router 0.3.2 power_of_two policy reads (it sums NumTokens).
type LegacyLoad struct {
	DPRank         int `json:"dp_rank"`
	NumReqs        int `json:"num_reqs"`
	NumWaitingReqs int `json:"num_waiting_reqs"`
	// NumTokens is used KV tokens plus the tokens of queued requests.
	NumTokens        int `json:"num_tokens"`
	NumPendingTokens int `json:"num_pending_tokens"`
	// TsTic is SGLang's time.perf_counter() reading: seconds on a monotonic
	// clock with an arbitrary origin.
	TsTic float64 `json:"ts_tic"`
}
