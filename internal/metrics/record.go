package metrics

import "time"

// Record is everything measured about one request. Every time is an offset
// from the run's start instant, read from Go's monotonic clock at the moment
// the event happened, so records of one run share one time base and are
// immune to wall-clock steps.
type Record struct {
	// Index is the request's position in the workload (0-based).
	Index int `json:"index"`
	// RID is the rid sent to the server, which echoes it as meta_info.id.
	RID string `json:"rid"`
	// Target is the base URL the request was sent to.
	Target string `json:"target"`
	// Warmup marks a request that is sent but kept out of every figure.
	Warmup bool `json:"warmup,omitempty"`

	// InputTokens is the prompt length the server reported
	// (meta_info.prompt_tokens, usage.prompt_tokens); when it reported none,
	// the client's own figure (exact for token ids, the dataset's
	// approximation for text) and InputTokensEstimated is set.
	InputTokens int `json:"input_tokens"`
	// InputTokensEstimated is set when the server reported no prompt count
	// and InputTokens is the client's figure.
	InputTokensEstimated bool `json:"input_tokens_estimated,omitempty"`
	// RequestedOutputTokens is max_new_tokens as sent.
	RequestedOutputTokens int `json:"requested_output_tokens"`
	// OutputTokens is the server's final meta_info.completion_tokens.
	OutputTokens int `json:"output_tokens"`
	// OutputTokensEstimated is set when the server reported no output
	// count (an OpenAI stream without usage) and OutputTokens is the
	// requested length instead.
	OutputTokensEstimated bool `json:"output_tokens_estimated,omitempty"`
	// ChunkTokensEstimated is set when the server reported no per-chunk
	// counts (an OpenAI stream without continuous usage) and the output
	// tokens were spread evenly over the chunks that carried text.
	ChunkTokensEstimated bool `json:"chunk_tokens_estimated,omitempty"`
	// CachedTokens is the server's meta_info.cached_tokens (prefix-cache hits).
	CachedTokens int `json:"cached_tokens"`

	// Scheduled is when the arrival process planned the request to arrive.
	Scheduled time.Duration `json:"scheduled_ns"`
	// Arrival is when the request actually arrived (the scheduler woke up).
	Arrival time.Duration `json:"arrival_ns"`
	// Routed is when sgltest's dispatcher chose this request's Target (zero
	// when no dispatcher ran); it lies between Arrival and Sent.
	Routed time.Duration `json:"routed_ns,omitempty"`
	// Sent is just before the HTTP request was written, or before its
	// connection was opened when it needed a new one: TTFT and E2E latency
	// start here, so they include Connect.
	Sent time.Duration `json:"sent_ns"`
	// Connect is how long the request waited for a new connection (TCP
	// connect, and TLS handshake for https) before it could be written;
	// zero when it reused a kept-alive connection.
	Connect time.Duration `json:"connect_ns,omitempty"`
	// FirstToken is when the first chunk carrying generated tokens arrived;
	// zero if none did.
	FirstToken time.Duration `json:"first_token_ns"`
	// Done is when the last byte of the response (the [DONE] line for a
	// stream) was read, or when the request failed.
	Done time.Duration `json:"done_ns"`
	// Chunks lists every streamed chunk that carried new tokens, in order.
	Chunks []Chunk `json:"chunks,omitempty"`

	// Status is the HTTP status code; 0 if no response head arrived.
	Status int `json:"status"`
	// Error is empty for a successful request and otherwise says why it
	// failed (transport error, non-200 status, error or abort in the stream).
	Error string `json:"error,omitempty"`
	// Cancelled marks a request the run itself gave up on because it
	// stopped early (interrupted, past its deadline, a server's unplanned
	// exit); Error then says why the run stopped. It is neither a success
	// nor a failure of the server.
	Cancelled bool `json:"cancelled,omitempty"`
}

// Chunk is one streamed chunk: when it arrived and how many new tokens it
// carried (the growth of meta_info.completion_tokens or of the continuous
// usage.completion_tokens). A request's chunks add up to its OutputTokens.
type Chunk struct {
	At     time.Duration `json:"at_ns"`
	Tokens int           `json:"tokens"`
}

// OK reports whether the request succeeded: HTTP 200, a complete stream, and
// no error or abort inside it.
func (r *Record) OK() bool { return r.Error == "" && r.Status == 200 }
