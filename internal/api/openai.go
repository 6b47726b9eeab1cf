package api

import "encoding/json"

// OpenAIParams are the fields /v1/completions and /v1/chat/completions
// share: the model, the output limit, sampling, streaming, and SGLang's
// extensions (repetition_penalty, min_tokens, ignore_eos, rid).
type OpenAIParams struct {
	Model             string          `json:"model,omitempty"`
	MaxTokens         *int            `json:"max_tokens,omitempty"`
	Temperature       *float64        `json:"temperature,omitempty"`
	TopP              *float64        `json:"top_p,omitempty"`
	TopK              *int            `json:"top_k,omitempty"`
	MinP              *float64        `json:"min_p,omitempty"`
	N                 *int            `json:"n,omitempty"`
	Stop              json.RawMessage `json:"stop,omitempty"`
	Stream            bool            `json:"stream,omitempty"`
	StreamOptions     *StreamOptions  `json:"stream_options,omitempty"`
	Seed              *int64          `json:"seed,omitempty"`
	FrequencyPenalty  *float64        `json:"frequency_penalty,omitempty"`
	PresencePenalty   *float64        `json:"presence_penalty,omitempty"`
	RepetitionPenalty *float64        `json:"repetition_penalty,omitempty"`
	MinTokens         *int            `json:"min_tokens,omitempty"`
	IgnoreEOS         bool            `json:"ignore_eos,omitempty"`
	RID               string          `json:"rid,omitempty"`
}

// CompletionRequest is the body of POST /v1/completions, restricted to the
// fields that change what a server does with one prompt. Prompt stays raw:
// it may be a string or a list of token ids.
type CompletionRequest struct {
	OpenAIParams
	Prompt json.RawMessage `json:"prompt"`
}

// ChatCompletionRequest is the body of POST /v1/chat/completions, restricted
// like CompletionRequest. MaxCompletionTokens wins over MaxTokens; both
// absent (or null) mean "until EOS or the context limit".
type ChatCompletionRequest struct {
	OpenAIParams
	Messages            []ChatMessage `json:"messages"`
	MaxCompletionTokens *int          `json:"max_completion_tokens,omitempty"`
}

// ChatMessage is one entry of ChatCompletionRequest.Messages. Content is a
// string or a list of parts ({"type":"text","text":...}); it stays raw.
type ChatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content,omitempty"`
}

// StreamOptions is the stream_options object of both OpenAI requests.
type StreamOptions struct {
	IncludeUsage         bool `json:"include_usage,omitempty"`
	ContinuousUsageStats bool `json:"continuous_usage_stats,omitempty"`
}

// DefaultCompletionMaxTokens is /v1/completions' max_tokens default.
const DefaultCompletionMaxTokens = 16

// Object names of OpenAI responses and stream chunks.
const (
	ObjectCompletion          = "text_completion"
	ObjectChatCompletion      = "chat.completion"
	ObjectChatCompletionChunk = "chat.completion.chunk"
)

// Usage is the usage object of OpenAI responses and of the final usage
// chunk of a stream. PromptTokensDetails is null unless the server runs
// with --enable-cache-report and some prompt tokens were cached.
type Usage struct {
	PromptTokens        int                  `json:"prompt_tokens"`
	CompletionTokens    int                  `json:"completion_tokens"`
	TotalTokens         int                  `json:"total_tokens"`
	ReasoningTokens     int                  `json:"reasoning_tokens"`
	PromptTokensDetails *PromptTokensDetails `json:"prompt_tokens_details"`
}

// PromptTokensDetails is Usage's prompt_tokens_details.
type PromptTokensDetails struct {
	CachedTokens int `json:"cached_tokens"`
}

// CompletionResponse is a non-streamed /v1/completions response, and also
// the shape of its stream chunks (Text is then a delta, Usage absent except
// on the final usage chunk, whose Choices is empty).
type CompletionResponse struct {
	ID      string             `json:"id"`
	Object  string             `json:"object"`
	Created int64              `json:"created"`
	Model   string             `json:"model"`
	Choices []CompletionChoice `json:"choices"`
	Usage   *Usage             `json:"usage,omitempty"`
}

// CompletionChoice is one choice of a CompletionResponse. FinishReason is
// "stop", "length", "abort" or null.
type CompletionChoice struct {
	Index        int     `json:"index"`
	Text         string  `json:"text"`
	Logprobs     any     `json:"logprobs"`
	FinishReason *string `json:"finish_reason"`
	MatchedStop  any     `json:"matched_stop"`
}

// ChatCompletionResponse is a non-streamed /v1/chat/completions response.
type ChatCompletionResponse struct {
	ID      string       `json:"id"`
	Object  string       `json:"object"`
	Created int64        `json:"created"`
	Model   string       `json:"model"`
	Choices []ChatChoice `json:"choices"`
	Usage   Usage        `json:"usage"`
}

// ChatChoice is one choice of a ChatCompletionResponse.
type ChatChoice struct {
	Index        int               `json:"index"`
	Message      ChatOutputMessage `json:"message"`
	Logprobs     any               `json:"logprobs"`
	FinishReason *string           `json:"finish_reason"`
	MatchedStop  any               `json:"matched_stop"`
}

// ChatOutputMessage is the assistant message of a ChatChoice.
type ChatOutputMessage struct {
	Role             string  `json:"role"`
	Content          *string `json:"content"`
	ReasoningContent *string `json:"reasoning_content"`
	ToolCalls        any     `json:"tool_calls"`
}

// ChatCompletionChunk is one event of a streamed chat completion. Usage is
// present only on the final usage chunk, whose Choices is empty.
type ChatCompletionChunk struct {
	ID      string            `json:"id"`
	Object  string            `json:"object"`
	Created int64             `json:"created"`
	Model   string            `json:"model"`
	Choices []ChatChunkChoice `json:"choices"`
	Usage   *Usage            `json:"usage,omitempty"`
}

// ChatChunkChoice is one choice of a ChatCompletionChunk; every key is
// always present, possibly null.
type ChatChunkChoice struct {
	Index        int       `json:"index"`
	Delta        ChatDelta `json:"delta"`
	Logprobs     any       `json:"logprobs"`
	FinishReason *string   `json:"finish_reason"`
	MatchedStop  any       `json:"matched_stop"`
}

// ChatDelta is a chunk's delta. SGLang always writes reasoning_content (null
// without a reasoning parser) and omits role and content when absent: the
// first event carries role "assistant" with empty content, content events
// carry content only, and the finish event neither.
type ChatDelta struct {
	ReasoningContent *string `json:"reasoning_content"`
	Role             string  `json:"role,omitempty"`
	Content          *string `json:"content,omitempty"`
}

// Error types of OpenAI error bodies (ErrorResponse.Type).
const (
	ErrorTypeBadRequest = "BadRequest"
)
