package load

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sgltest/sgltest/internal/api"
	"github.com/sgltest/sgltest/internal/metrics"
)

// API is the HTTP API requests are sent to.
type API int

// The APIs: SGLang's native /generate and the OpenAI-compatible ones.
const (
	Native API = iota
	Completions
	Chat
)

func (a API) String() string {
	switch a {
	case Native:
		return "generate"
	case Completions:
		return "completions"
	case Chat:
		return "chat"
	}
	return fmt.Sprintf("API(%d)", int(a))
}

func (a API) path() string {
	switch a {
	case Completions:
		return "/v1/completions"
	case Chat:
		return "/v1/chat/completions"
	}
	return "/generate"
}

// Client sends one request at a time to an SGLang-compatible server and
// records what happens. It is safe for concurrent use once configured.
type Client struct {
	HTTP *http.Client
	// APIKey, when set, is sent as "Authorization: Bearer <key>".
	APIKey string
	API    API
	// NoStream sends non-streaming requests; TTFT is then the whole
	// latency and the request has one chunk (bench_serving's convention).
	NoStream bool
	// Model is the OpenAI "model" field; empty sends "default".
	Model string
	// Sampling is passed through as sampling_params (native) or as the
	// matching top-level fields (OpenAI); MaxNewTokens is always replaced by
	// the request's OutputTokens. Nil means temperature 0 and ignore_eos,
	// so output lengths are exact.
	Sampling *api.SamplingParams
	// Extra fields are added to every request body's top level (for
	// example "priority", "lora_path", "return_logprob"). They must not
	// repeat a field the client sets itself.
	Extra map[string]any

	headerOnce sync.Once
	header     http.Header
}

// NewHTTPClient returns an http.Client suited to a load generator: no
// overall timeout (a stream lasts as long as generation does; cancellation
// comes from the context), no compression, and enough idle connections per
// host that an open-loop burst reuses connections instead of dialling anew.
func NewHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: 4096,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}}
}

// prepared is a request whose body is encoded before the run starts, so that
// nothing but the send itself happens between arrival and Sent.
type prepared struct {
	req  Request
	rid  string
	body []byte
}

func (c *Client) sampling() api.SamplingParams {
	if c.Sampling != nil {
		return *c.Sampling
	}
	temp := 0.0
	return api.SamplingParams{Temperature: &temp, IgnoreEOS: true}
}

// openAIBody is the body of /v1/completions and /v1/chat/completions:
// OpenAI fields plus SGLang's extras, mapped from api.SamplingParams.
type openAIBody struct {
	Model             string         `json:"model"`
	Prompt            any            `json:"prompt,omitempty"`
	Messages          []Message      `json:"messages,omitempty"`
	MaxTokens         int            `json:"max_tokens"`
	Stream            bool           `json:"stream,omitempty"`
	StreamOptions     *streamOptions `json:"stream_options,omitempty"`
	RID               string         `json:"rid,omitempty"`
	MinTokens         *int           `json:"min_tokens,omitempty"`
	Temperature       *float64       `json:"temperature,omitempty"`
	TopP              *float64       `json:"top_p,omitempty"`
	TopK              *int           `json:"top_k,omitempty"`
	MinP              *float64       `json:"min_p,omitempty"`
	FrequencyPenalty  *float64       `json:"frequency_penalty,omitempty"`
	PresencePenalty   *float64       `json:"presence_penalty,omitempty"`
	RepetitionPenalty *float64       `json:"repetition_penalty,omitempty"`
	Stop              []string       `json:"stop,omitempty"`
	StopTokenIDs      []int          `json:"stop_token_ids,omitempty"`
	IgnoreEOS         bool           `json:"ignore_eos,omitempty"`
	SkipSpecialTokens *bool          `json:"skip_special_tokens,omitempty"`
	N                 *int           `json:"n,omitempty"`
	StreamInterval    *int           `json:"stream_interval,omitempty"`
}

// streamOptions asks for usage at the end (include_usage) and, where the
// server supports it (SGLang does), cumulative usage on every chunk, which
// gives exact per-chunk token counts.
type streamOptions struct {
	IncludeUsage         bool `json:"include_usage"`
	ContinuousUsageStats bool `json:"continuous_usage_stats"`
}

// prepare encodes req's body for c.API.
func (c *Client) prepare(req Request, rid string) (prepared, error) {
	sp := c.sampling()
	maxNew := req.OutputTokens
	sp.MaxNewTokens = &maxNew
	var v any
	switch c.API {
	case Native:
		g := api.GenerateRequest{SamplingParams: &sp, Stream: !c.NoStream, RID: rid}
		switch {
		case len(req.InputIDs) > 0:
			g.InputIDs = req.InputIDs
		case req.Prompt != "":
			g.Text = req.Prompt
		default:
			return prepared{}, fmt.Errorf("request %d: /generate needs input_ids or a text prompt (chat messages need the chat API)", req.Index)
		}
		v = g
	case Completions, Chat:
		b := openAIBody{
			Model: c.Model, MaxTokens: maxNew, Stream: !c.NoStream, RID: rid,
			MinTokens: sp.MinNewTokens, Temperature: sp.Temperature, TopP: sp.TopP, TopK: sp.TopK, MinP: sp.MinP,
			FrequencyPenalty: sp.FrequencyPenalty, PresencePenalty: sp.PresencePenalty, RepetitionPenalty: sp.RepetitionPenalty,
			Stop: sp.Stop, StopTokenIDs: sp.StopTokenIDs, IgnoreEOS: sp.IgnoreEOS, SkipSpecialTokens: sp.SkipSpecialTokens,
			N: sp.N, StreamInterval: sp.StreamInterval,
		}
		if b.Model == "" {
			b.Model = "default"
		}
		if b.Stream {
			b.StreamOptions = &streamOptions{IncludeUsage: true, ContinuousUsageStats: true}
		}
		if c.API == Completions {
			switch {
			case len(req.InputIDs) > 0:
				b.Prompt = req.InputIDs // exact: completions accept token ids
			case req.Prompt != "":
				b.Prompt = req.Prompt
			default:
				return prepared{}, fmt.Errorf("request %d: /v1/completions needs input_ids or a text prompt", req.Index)
			}
		} else {
			switch {
			case len(req.Messages) > 0:
				b.Messages = req.Messages
			case req.Prompt != "":
				b.Messages = []Message{{Role: "user", Content: req.Prompt}}
			case len(req.InputIDs) > 0:
				b.Messages = []Message{{Role: "user", Content: WordText(req.InputIDs)}}
			default:
				return prepared{}, fmt.Errorf("request %d: /v1/chat/completions needs messages or a prompt", req.Index)
			}
		}
		v = b
	default:
		return prepared{}, fmt.Errorf("unknown API %v", c.API)
	}
	body, err := json.Marshal(v)
	if err != nil {
		return prepared{}, err
	}
	if len(c.Extra) > 0 {
		extra, err := json.Marshal(c.Extra)
		if err != nil {
			return prepared{}, fmt.Errorf("encoding extra fields: %w", err)
		}
		body = append(append(body[:len(body)-1], ','), extra[1:]...)
	}
	return prepared{req: req, rid: rid, body: body}, nil
}

// headers are built once and shared read-only by every request: the
// transport never modifies a request's header map.
func (c *Client) headers() http.Header {
	c.headerOnce.Do(func() {
		h := http.Header{"Content-Type": {"application/json"}}
		if !c.NoStream {
			h.Set("Accept", "text/event-stream")
		}
		if c.APIKey != "" {
			h.Set("Authorization", "Bearer "+c.APIKey)
		}
		c.header = h
	})
	return c.header
}

// do sends p to target and fills rec. now reads the run's monotonic clock.
// Every failure is recorded in rec.Error; do itself never fails.
func (c *Client) do(ctx context.Context, target string, p *prepared, now func() time.Duration, rec *metrics.Record) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, target+c.API.path(), bytes.NewReader(p.body))
	if err != nil {
		rec.Sent = now()
		rec.Done = rec.Sent
		rec.Error = "building request: " + err.Error()
		return
	}
	hreq.Header = c.headers()
	if rec.Chunks == nil && !c.NoStream {
		// One allocation for the whole stream instead of a growing slice.
		rec.Chunks = make([]metrics.Chunk, 0, min(p.req.OutputTokens, 4096))
	}
	rec.Sent = now()
	resp, err := c.HTTP.Do(hreq)
	if err != nil {
		rec.Done = now()
		rec.Error = "transport: " + err.Error()
		return
	}
	defer resp.Body.Close()
	rec.Status = resp.StatusCode
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		rec.Done = now()
		rec.Error = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(msg)))
		return
	}
	if c.NoStream {
		err = ParseBody(c.API, resp.Body, p.req.OutputTokens, now, rec)
	} else if c.API == Native {
		err = ParseStream(resp.Body, now, rec)
	} else {
		err = ParseOpenAIStream(resp.Body, p.req.OutputTokens, now, rec)
	}
	if err != nil {
		rec.Error = err.Error()
	}
}

// readers recycles the stream readers: one per request in flight, not one
// per request sent.
var readers = sync.Pool{New: func() any { return &lineReader{br: bufio.NewReaderSize(nil, 16<<10)} }}

// lineReader reads SSE lines, reusing its buffers across requests.
type lineReader struct {
	br     *bufio.Reader
	line   []byte
	lineNo int          // of the last line read, from 1
	openAI openAIFields // reused by ParseOpenAIStream
}

func getLineReader(r io.Reader) *lineReader {
	lr := readers.Get().(*lineReader)
	lr.br.Reset(r)
	lr.lineNo = 0
	return lr
}

// event reads lines up to the next SSE data line and returns its payload
// (valid until the next call) and when that line was read, on the run's
// clock. Blank lines and other fields are skipped. At the stream's end it
// returns io.EOF.
func (lr *lineReader) event(now func() time.Duration) (payload []byte, at time.Duration, err error) {
	for {
		lr.line, err = readLine(lr.br, lr.line[:0])
		at = now()
		if err != nil {
			return nil, at, err
		}
		lr.lineNo++
		if payload, ok := api.EventPayload(lr.line); ok {
			return payload, at, nil
		}
	}
}

func (lr *lineReader) release() {
	lr.br.Reset(nil)
	if cap(lr.line) > 1<<20 {
		lr.line = nil // do not pin a huge cumulative-text line
	}
	readers.Put(lr)
}
