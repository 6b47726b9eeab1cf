package api

// GenerateRequest is the body of POST /generate (SGLang's GenerateReqInput),
// restricted to the single-prompt form: exactly one of Text or InputIDs is set.
type GenerateRequest struct {
	Text           string          `json:"text,omitempty"`
	InputIDs       []int           `json:"input_ids,omitempty"`
	SamplingParams *SamplingParams `json:"sampling_params,omitempty"`
	Stream         bool            `json:"stream,omitempty"`
	RID            string          `json:"rid,omitempty"`
}

// SamplingParams are the per-request sampling_params of /generate. Pointer
// fields are optional: nil means "the server's default", which differs from
// an explicit zero (temperature 0 is greedy decoding).
type SamplingParams struct {
	MaxNewTokens      *int     `json:"max_new_tokens,omitempty"`
	MinNewTokens      *int     `json:"min_new_tokens,omitempty"`
	Temperature       *float64 `json:"temperature,omitempty"`
	TopP              *float64 `json:"top_p,omitempty"`
	TopK              *int     `json:"top_k,omitempty"`
	MinP              *float64 `json:"min_p,omitempty"`
	FrequencyPenalty  *float64 `json:"frequency_penalty,omitempty"`
	PresencePenalty   *float64 `json:"presence_penalty,omitempty"`
	RepetitionPenalty *float64 `json:"repetition_penalty,omitempty"`
	Stop              []string `json:"stop,omitempty"`
	StopTokenIDs      []int    `json:"stop_token_ids,omitempty"`
	IgnoreEOS         bool     `json:"ignore_eos,omitempty"`
	SkipSpecialTokens *bool    `json:"skip_special_tokens,omitempty"`
	StreamInterval    *int     `json:"stream_interval,omitempty"`
	N                 *int     `json:"n,omitempty"`
}

// DefaultMaxNewTokens is SGLang's sampling-parameter default for /generate.
const DefaultMaxNewTokens = 128

// GenerateResponse is one non-streamed /generate response, and also the shape
// of every streamed chunk. In a stream, Text and OutputIDs are cumulative
// (everything generated so far) unless the server runs with
// --incremental-streaming-output.
type GenerateResponse struct {
	Text      string   `json:"text"`
	OutputIDs []int    `json:"output_ids"`
	MetaInfo  MetaInfo `json:"meta_info"`
}

// MetaInfo is the meta_info object of a /generate response or chunk.
type MetaInfo struct {
	ID               string        `json:"id"`
	FinishReason     *FinishReason `json:"finish_reason"`
	PromptTokens     int           `json:"prompt_tokens"`
	CompletionTokens int           `json:"completion_tokens"`
	CachedTokens     int           `json:"cached_tokens"`
	ReasoningTokens  int           `json:"reasoning_tokens"`
	WeightVersion    string        `json:"weight_version,omitempty"`
	NumRetractions   int           `json:"num_retractions"`
	// E2ELatency is the server-side seconds from receipt to finish; it is
	// present only on the final output.
	E2ELatency *float64 `json:"e2e_latency,omitempty"`
}

// Finish reason types of /generate (meta_info.finish_reason.type).
const (
	FinishStop   = "stop"
	FinishLength = "length"
	FinishAbort  = "abort"
)

// FinishReason is /generate's finish_reason object: {"type":"length","length":N},
// {"type":"stop","matched":...} or {"type":"abort","message":...}.
type FinishReason struct {
	Type       string `json:"type"`
	Length     int    `json:"length,omitempty"`
	Matched    any    `json:"matched,omitempty"`
	Message    string `json:"message,omitempty"`
	StatusCode int    `json:"status_code,omitempty"`
	ErrType    string `json:"err_type,omitempty"`
}

// StreamError is the body SGLang sends inside a 200 stream when a request
// fails after the stream has begun: data: {"error":{...}}.
type StreamError struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inner object of StreamError and of /generate's 400 body.
type ErrorDetail struct {
	Message   string `json:"message"`
	Type      string `json:"type,omitempty"`
	Code      int    `json:"code,omitempty"`
	Retryable *bool  `json:"retryable,omitempty"`
}

// ErrorResponse is the FastAPI/OpenAI-style error body SGLang returns for
// validation errors and for 503 "The request queue is full.".
type ErrorResponse struct {
	Object  string `json:"object"`
	Message string `json:"message"`
	Type    string `json:"type"`
	Param   any    `json:"param"`
	Code    int    `json:"code"`
}
