package api

// ServerInfo is the part of GET /server_info (and the deprecated
// /get_server_info) that sgltest reads or the simulator writes. SGLang merges
// every ServerArgs field, scheduler facts and internal_states into one
// object; a client decoding into this struct ignores the rest.
//
// Traps (sglang-reference.md s1.3, s2.4): MaxRunningRequests and
// MaxTotalTokens are the CLI values and may be null; the effective values are
// InternalStates[i].EffectiveMaxRunningRequestsPerDP and MaxTotalNumTokens.
type ServerInfo struct {
	ModelPath                  string          `json:"model_path"`
	TokenizerPath              string          `json:"tokenizer_path"`
	ServedModelName            string          `json:"served_model_name"`
	Host                       string          `json:"host"`
	Port                       int             `json:"port"`
	TPSize                     int             `json:"tp_size"`
	DPSize                     int             `json:"dp_size"`
	PPSize                     int             `json:"pp_size"`
	MaxRunningRequests         *int            `json:"max_running_requests"`
	MaxTotalTokens             *int            `json:"max_total_tokens"`
	MaxPrefillTokens           int             `json:"max_prefill_tokens"`
	ChunkedPrefillSize         int             `json:"chunked_prefill_size"`
	ContextLength              *int            `json:"context_length"`
	MemFractionStatic          float64         `json:"mem_fraction_static"`
	SchedulePolicy             string          `json:"schedule_policy"`
	StreamInterval             int             `json:"stream_interval"`
	IncrementalStreamingOutput bool            `json:"incremental_streaming_output"`
	EnableMetrics              bool            `json:"enable_metrics"`
	RandomSeed                 int64           `json:"random_seed"`
	PageSize                   int             `json:"page_size"`
	SkipServerWarmup           bool            `json:"skip_server_warmup"`
	Status                     string          `json:"status"`
	MaxTotalNumTokens          int             `json:"max_total_num_tokens"`
	MaxReqInputLen             int             `json:"max_req_input_len"`
	InternalStates             []InternalState `json:"internal_states"`
	Version                    string          `json:"version"`
	// Simulator is present only when the server is sgltest's simulator.
	Simulator *SimulatorInfo `json:"simulator,omitempty"`
}

// InternalState is one entry of ServerInfo.InternalStates, one per DP rank.
type InternalState struct {
	LastGenThroughput                float64     `json:"last_gen_throughput"`
	MemoryUsage                      MemoryUsage `json:"memory_usage"`
	EffectiveMaxRunningRequestsPerDP int         `json:"effective_max_running_requests_per_dp"`
}

// MemoryUsage is InternalState's memory_usage: sizes in GB (2^30 bytes) and
// the KV pool's capacity in tokens.
type MemoryUsage struct {
	Weight        float64 `json:"weight"`
	KVCache       float64 `json:"kvcache"`
	TokenCapacity int     `json:"token_capacity"`
	Graph         float64 `json:"graph"`
}

// SimulatorInfo says which profile a simulated server's numbers come from.
type SimulatorInfo struct {
	Profile     string `json:"profile"`
	GPU         string `json:"gpu"`
	Description string `json:"description"`
}
