package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strconv"
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
	// HTTP sends the requests. With a *Transport (NewHTTPClient), or nil
	// for a shared default one, they go through the client's own HTTP/1.1
	// connections, and only the Transport of HTTP is used; any other
	// transport (a proxy, HTTP/2) is used through net/http's Client.Do.
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
	headLines  []byte
}

// NewHTTPClient returns an http.Client suited to a load generator: its
// Transport is the client's own HTTP/1.1 transport (see Transport), no
// overall timeout (a stream lasts as long as generation does; cancellation
// comes from the context), no compression, and enough idle connections per
// host that an open-loop burst reuses connections instead of dialling anew.
func NewHTTPClient() *http.Client {
	return &http.Client{Transport: NewTransport()}
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
// transport never modifies a request's header map. headLines are the same
// fields as HTTP/1.1 header lines, for the client's own transport.
func (c *Client) headers() (http.Header, []byte) {
	c.headerOnce.Do(func() {
		h := http.Header{"Content-Type": {"application/json"}, "User-Agent": {"sgltest"}}
		if !c.NoStream {
			h.Set("Accept", "text/event-stream")
		}
		if c.APIKey != "" {
			h.Set("Authorization", "Bearer "+c.APIKey)
		}
		c.header = h
		var b strings.Builder
		_ = h.Write(&b)
		c.headLines = []byte(b.String())
	})
	return c.header, c.headLines
}

// Wire returns what c sends for req: the API path, the body and the header
// fields, so that another tool (wrk in cmd/loadbench) can send the same.
func (c *Client) Wire(req Request, rid string) (path string, body []byte, header map[string]string, err error) {
	p, err := c.prepare(req, rid)
	if err != nil {
		return "", nil, nil, err
	}
	h, _ := c.headers()
	header = make(map[string]string, len(h))
	for k, v := range h {
		header[k] = v[0]
	}
	return c.API.path(), p.body, header, nil
}

// defaultTransport serves Clients whose HTTP is nil.
var defaultTransport = NewTransport()

// do sends p to target and fills rec. now reads the run's monotonic clock.
// Every failure is recorded in rec.Error; do itself never fails.
//
// Sent is read before the connection is taken, so when the request has to
// open a new one its TTFT and latency include the connect; rec.Connect
// says how long that took, and is zero when a kept-alive connection was
// reused.
func (c *Client) do(ctx context.Context, target string, p *prepared, now func() time.Duration, rec *metrics.Record) {
	if rec.Chunks == nil && !c.NoStream {
		// One allocation for the whole stream instead of a growing slice.
		rec.Chunks = make([]metrics.Chunk, 0, min(p.req.OutputTokens+1, 4096))
	}
	t := defaultTransport
	if c.HTTP != nil {
		var ok bool
		if t, ok = c.HTTP.Transport.(*Transport); !ok {
			c.doNetHTTP(ctx, target, p, now, rec)
			return
		}
	}
	c.doOwn(ctx, t, target, p, now, rec)
}

// doOwn sends p over t's own connections.
func (c *Client) doOwn(ctx context.Context, t *Transport, target string, p *prepared, now func() time.Duration, rec *metrics.Record) {
	h, err := t.host(target)
	rec.Sent = now()
	if err != nil {
		rec.Done = rec.Sent
		rec.Error = "building request: " + err.Error()
		rec.InputTokensEstimated = true
		return
	}
	for attempt := 0; ; attempt++ {
		cn, connect, err := t.get(ctx, h, now, attempt > 0)
		rec.Connect += connect
		if err != nil {
			rec.Done = now()
			rec.Error = "transport: " + err.Error()
			rec.InputTokensEstimated = true
			return
		}
		var stop func() bool
		if ctx.Done() != nil {
			stop = context.AfterFunc(ctx, func() { _ = cn.nc.SetDeadline(longAgo) })
		}
		reuse, retry := c.exchange(cn, h, p, now, rec, cn.uses > 0)
		cn.uses++
		if stop != nil && !stop() {
			reuse = false // the deadline was set
			if rec.Error != "" && ctx.Err() != nil {
				rec.Error = "transport: " + ctx.Err().Error()
			}
		}
		if reuse {
			t.put(h, cn)
		} else {
			_ = cn.nc.Close()
		}
		if !retry {
			return
		}
	}
}

// exchange writes p on cn and reads the response into rec. It reports
// whether cn can carry another request, and whether the request should
// be sent again on a new connection: only when cn was a kept-alive one
// that the server had closed before reading anything from it.
func (c *Client) exchange(cn *conn, h *host, p *prepared, now func() time.Duration, rec *metrics.Record, reused bool) (reuse, retry bool) {
	_, lines := c.headers()
	w := append(cn.wbuf[:0], "POST "...)
	w = append(w, h.prefix...)
	w = append(w, c.API.path()...)
	w = append(w, " HTTP/1.1\r\nHost: "...)
	w = append(w, h.header...)
	w = append(w, "\r\n"...)
	w = append(w, lines...)
	w = append(w, "Content-Length: "...)
	w = strconv.AppendInt(w, int64(len(p.body)), 10)
	w = append(w, "\r\n\r\n"...)
	w = append(w, p.body...)
	cn.wbuf = w
	if cap(cn.wbuf) > 1<<20 {
		cn.wbuf = nil
	}
	br := cn.rd
	br.reset(cn.nc, now, bodyResponseHead)
	if _, err := cn.nc.Write(w); err != nil {
		if reused && isConnReset(err) {
			return false, true
		}
		rec.Done = now()
		rec.Error = "transport: " + err.Error()
		rec.InputTokensEstimated = true
		return false, false
	}
	head, err := br.readHead()
	if err != nil {
		if reused && errors.Is(err, errNoResponse) {
			return false, true
		}
		rec.Done = now()
		rec.Error = "transport: " + err.Error()
		rec.InputTokensEstimated = true
		return false, false
	}
	rec.Status = head.status
	if head.status != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(br, 4096))
		rec.Done = now()
		rec.Error = fmt.Sprintf("HTTP %d: %s", head.status, strings.TrimSpace(string(msg)))
		rec.InputTokensEstimated = true
		return head.keepAlive && br.drain(0), false
	}
	switch {
	case c.NoStream:
		err = ParseBody(c.API, br, p.req.OutputTokens, now, rec)
	case c.API == Native:
		err = parseNativeStream(br, rec)
	default:
		err = parseOpenAIStream(br, p.req.OutputTokens, rec)
	}
	if err != nil {
		rec.Error = err.Error()
		return false, false
	}
	return head.keepAlive && br.drain(64<<10), false
}

// doNetHTTP sends p through c.HTTP, a net/http client, measuring the
// connect with httptrace: from asking for a connection to getting one,
// unless it was idle in the pool already.
func (c *Client) doNetHTTP(ctx context.Context, target string, p *prepared, now func() time.Duration, rec *metrics.Record) {
	var getConn time.Duration
	trace := &httptrace.ClientTrace{
		GetConn: func(string) { getConn = now() },
		GotConn: func(info httptrace.GotConnInfo) {
			if !info.WasIdle && getConn != 0 {
				rec.Connect = now() - getConn
			}
		},
	}
	hreq, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, target+c.API.path(), bytes.NewReader(p.body))
	if err != nil {
		rec.Sent = now()
		rec.Done = rec.Sent
		rec.Error = "building request: " + err.Error()
		rec.InputTokensEstimated = true
		return
	}
	hreq.Header, _ = c.headers()
	rec.Sent = now()
	resp, err := c.HTTP.Do(hreq)
	if err != nil {
		rec.Done = now()
		rec.Error = "transport: " + err.Error()
		rec.InputTokensEstimated = true
		return
	}
	defer func() { _ = resp.Body.Close() }() // read or abandoned: nothing to report
	rec.Status = resp.StatusCode
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		rec.Done = now()
		rec.Error = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(msg)))
		rec.InputTokensEstimated = true
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
		return
	}
	// Read the body to its end so that net/http keeps the connection.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
}
