package load

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sgltest/sgltest/internal/api"
)

// Stub is a zero-latency SGLang stand-in for measuring load generators,
// this one and others: it answers /generate, /v1/completions and
// /v1/chat/completions at once with exactly max_new_tokens (max_tokens)
// tokens, in the wire format of SGLang and of sgltest's simulator
// (sglang-reference.md s2.6, s2.7): /generate events with cumulative text,
// output_ids and meta_info, e2e_latency on the last; chat events with
// their object and created fields, the role-only first event, content
// events, a separate finishing event and the usage event when
// include_usage is asked for (usage on every event with
// continuous_usage_stats); completions likewise; one JSON body when
// stream is off. Every event is written and flushed on its own, as SGLang
// sends them. It does no generation work, so what a client measures
// against it is the client's own cost and the loopback's.
//
// Prompt lengths (prompt_tokens) are the simulator's: exact for token
// ids, one token per 4 bytes of text otherwise. A chat request without
// max_tokens gets 128 tokens.
//
// StreamInterval, as SGLang's --stream-interval, sends an event after
// tokens 1, k+1, 2k+1, ... and at the last token; 0 or 1 sends one per
// token.
type Stub struct {
	StreamInterval int
}

// stubRequest is what the stub reads from every API's body.
type stubRequest struct {
	Stream         bool              `json:"stream"`
	RID            string            `json:"rid"`
	Model          string            `json:"model"`
	Text           string            `json:"text"`
	InputIDs       []int             `json:"input_ids"`
	Prompt         json.RawMessage   `json:"prompt"`
	Messages       []api.ChatMessage `json:"messages"`
	SamplingParams *struct {
		MaxNewTokens *int `json:"max_new_tokens"`
	} `json:"sampling_params"`
	MaxTokens           *int               `json:"max_tokens"`
	MaxCompletionTokens *int               `json:"max_completion_tokens"`
	StreamOptions       *api.StreamOptions `json:"stream_options"`
}

// stubWords is the stub's output vocabulary: token id i is stubWords[i%32],
// as in the simulator, so text grows by a word per token.
var stubWords = [32]string{
	" the", " of", " and", " to", " in", " a", " is", " that",
	" for", " it", " as", " was", " with", " be", " by", " on",
	" not", " he", " this", " are", " or", " his", " from", " at",
	" which", " but", " have", " an", " had", " they", " you", " were",
}

// stubID is token i's id: a fixed pseudo-random sequence.
func stubID(i int) int { return (i*7919 + 101) % 32000 }

var (
	stubBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}
	stubRIDs atomic.Uint64
)

// stubCall is one request being answered.
type stubCall struct {
	api        API
	rid, model string
	created    int64
	prompt     int
	n          int // tokens to generate
	usage      bool
	continuous bool
	received   time.Time
	// The cumulative /generate text and output_ids of the first done
	// tokens (see nativeBody).
	text, ids []byte
	done      int
}

func (st Stub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var c stubCall
	switch r.URL.Path {
	case "/generate":
		c.api = Native
	case "/v1/completions":
		c.api = Completions
	case "/v1/chat/completions":
		c.api = Chat
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"detail":"Not Found"}`))
		return
	}
	c.received = time.Now()
	var req stubRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		stubError(w, err.Error())
		return
	}
	c.rid, c.model = req.RID, req.Model
	if c.rid == "" {
		c.rid = strconv.FormatUint(stubRIDs.Add(1), 16)
	}
	if c.model == "" {
		c.model = "default"
	}
	c.created = c.received.Unix()
	c.prompt = stubPromptTokens(&req)
	switch c.api {
	case Native:
		c.n = api.DefaultMaxNewTokens
		if sp := req.SamplingParams; sp != nil && sp.MaxNewTokens != nil {
			c.n = *sp.MaxNewTokens
		}
	case Completions:
		c.n = api.DefaultCompletionMaxTokens
		if req.MaxTokens != nil {
			c.n = *req.MaxTokens
		}
	case Chat:
		c.n = api.DefaultMaxNewTokens
		if req.MaxCompletionTokens != nil {
			c.n = *req.MaxCompletionTokens
		} else if req.MaxTokens != nil {
			c.n = *req.MaxTokens
		}
	}
	if c.n < 1 {
		stubError(w, "max_new_tokens must be at least 1, got "+strconv.Itoa(c.n))
		return
	}
	if o := req.StreamOptions; o != nil {
		c.usage, c.continuous = o.IncludeUsage, o.ContinuousUsageStats
	}
	bp := stubBufs.Get().(*[]byte)
	defer stubBufs.Put(bp)
	if c.api == Native {
		tp := stubBufs.Get().(*[]byte)
		ip := stubBufs.Get().(*[]byte)
		c.text, c.ids = (*tp)[:0], (*ip)[:0]
		defer func() { *tp, *ip = c.text, c.ids; stubBufs.Put(tp); stubBufs.Put(ip) }()
	}
	if !req.Stream {
		w.Header()["Content-Type"] = []string{"application/json"}
		*bp = c.final((*bp)[:0])
		_, _ = w.Write(*bp)
		return
	}
	w.Header()["Content-Type"] = []string{"text/event-stream; charset=utf-8"}
	fl, _ := w.(http.Flusher)
	b := (*bp)[:0]
	send := func() bool {
		_, err := w.Write(b)
		if fl != nil {
			fl.Flush()
		}
		b = b[:0]
		return err == nil
	}
	every := max(st.StreamInterval, 1)
	sent := 0
	for k := 1; k <= c.n; k++ {
		if k != c.n && (k-1)%every != 0 {
			continue
		}
		if c.api == Chat && sent == 0 {
			b = c.chatEvent(b, k, 0, 0, true, false)
			if !send() {
				return
			}
		}
		switch c.api {
		case Native:
			b = c.nativeEvent(b, k)
		case Completions:
			b = c.completionEvent(b, k, sent)
		case Chat:
			b = c.chatEvent(b, k, sent, k, false, false)
		}
		if !send() {
			return
		}
		sent = k
	}
	if c.api == Chat {
		b = c.chatEvent(b, c.n, c.n, c.n, false, true)
		if !send() {
			return
		}
	}
	if c.api != Native && c.usage {
		b = c.usageEvent(b)
		if !send() {
			return
		}
	}
	// [DONE] leaves with the end of the chunked body, in one write.
	b = append(b, "data: [DONE]\n\n"...)
	_, _ = w.Write(b)
	*bp = b
}

func stubError(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	b, _ := json.Marshal(api.ErrorResponse{Object: "error", Message: msg, Type: api.ErrorTypeBadRequest, Code: http.StatusBadRequest})
	_, _ = w.Write(b)
}

// stubPromptTokens counts a prompt as the simulator does: token ids
// exactly, text at one token per 4 bytes (at least one).
func stubPromptTokens(req *stubRequest) int {
	text := func(n int) int { return max(1, (n+3)/4) }
	switch {
	case len(req.InputIDs) > 0:
		return len(req.InputIDs)
	case req.Text != "":
		return text(len(req.Text))
	case len(req.Prompt) > 0:
		var ids []int
		if json.Unmarshal(req.Prompt, &ids) == nil {
			return len(ids)
		}
		var s string
		_ = json.Unmarshal(req.Prompt, &s)
		return text(len(s))
	}
	n := 0
	for _, m := range req.Messages {
		var s string
		if json.Unmarshal(m.Content, &s) == nil {
			n += len(s)
			continue
		}
		var parts []struct {
			Text string `json:"text"`
		}
		_ = json.Unmarshal(m.Content, &parts)
		for _, p := range parts {
			n += len(p.Text)
		}
	}
	return text(n)
}

// text appends the output's text of tokens from..to-1, JSON-quoted.
func stubText(b []byte, from, to int) []byte {
	b = append(b, '"')
	for i := from; i < to; i++ {
		b = append(b, stubWords[stubID(i)%len(stubWords)]...)
	}
	return append(b, '"')
}

func (c *stubCall) head(b []byte, object string) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendQuote(b, c.rid)
	b = append(b, `,"object":"`...)
	b = append(b, object...)
	b = append(b, `","created":`...)
	b = strconv.AppendInt(b, c.created, 10)
	b = append(b, `,"model":`...)
	return strconv.AppendQuote(b, c.model)
}

// usageJSON appends the usage object after k tokens, with SGLang's key
// order.
func (c *stubCall) usageJSON(b []byte, k int) []byte {
	b = append(b, `"usage":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(c.prompt), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(k), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(c.prompt+k), 10)
	return append(b, `,"reasoning_tokens":0,"prompt_tokens_details":null}`...)
}

// nativeBody appends the /generate object after k tokens. The cumulative
// text and output_ids are kept between calls with growing k, so each event
// costs a copy of them rather than their formatting.
func (c *stubCall) nativeBody(b []byte, k int) []byte {
	for i := c.done; i < k; i++ {
		c.text = append(c.text, stubWords[stubID(i)%len(stubWords)]...)
		if i > 0 {
			c.ids = append(c.ids, ',')
		}
		c.ids = strconv.AppendInt(c.ids, int64(stubID(i)), 10)
	}
	c.done = k
	b = append(b, `{"text":"`...)
	b = append(b, c.text...)
	b = append(b, `","output_ids":[`...)
	b = append(b, c.ids...)
	b = append(b, `],"meta_info":{"id":`...)
	b = strconv.AppendQuote(b, c.rid)
	b = append(b, `,"finish_reason":`...)
	if k == c.n {
		b = append(b, `{"type":"length","length":`...)
		b = strconv.AppendInt(b, int64(k), 10)
		b = append(b, '}')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(c.prompt), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(k), 10)
	b = append(b, `,"cached_tokens":0,"reasoning_tokens":0,"weight_version":"default","num_retractions":0`...)
	if k == c.n {
		b = append(b, `,"e2e_latency":`...)
		b = strconv.AppendFloat(b, time.Since(c.received).Seconds(), 'f', -1, 64)
	}
	return append(b, "}}"...)
}

func (c *stubCall) nativeEvent(b []byte, k int) []byte {
	b = append(b, "data: "...)
	b = c.nativeBody(b, k)
	return append(b, "\n\n"...)
}

// completionEvent appends the completions event for tokens sent..k-1.
func (c *stubCall) completionEvent(b []byte, k, sent int) []byte {
	b = append(b, "data: "...)
	b = c.head(b, api.ObjectCompletion)
	b = append(b, `,"choices":[{"index":0,"text":`...)
	b = stubText(b, sent, k)
	b = append(b, `,"logprobs":null,"finish_reason":`...)
	if k == c.n {
		b = append(b, `"length"`...)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"matched_stop":null}]`...)
	if c.continuous {
		b = append(b, ',')
		b = c.usageJSON(b, k)
	}
	return append(b, "}\n\n"...)
}

// chatEvent appends a chat event after k tokens: the role event, a content
// event with tokens from..to-1, or the finishing event.
func (c *stubCall) chatEvent(b []byte, k, from, to int, role, finish bool) []byte {
	b = append(b, "data: "...)
	b = c.head(b, api.ObjectChatCompletionChunk)
	b = append(b, `,"choices":[{"index":0,"delta":{"reasoning_content":null`...)
	switch {
	case role:
		b = append(b, `,"role":"assistant","content":""`...)
	case !finish:
		b = append(b, `,"content":`...)
		b = stubText(b, from, to)
	}
	b = append(b, `},"logprobs":null,"finish_reason":`...)
	if finish {
		b = append(b, `"length"`...)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"matched_stop":null}]`...)
	if c.continuous {
		b = append(b, ',')
		b = c.usageJSON(b, k)
	}
	return append(b, "}\n\n"...)
}

// usageEvent appends the final usage event. SGLang writes the completions
// one with sorted keys and without null fields, the chat one like its
// other events.
func (c *stubCall) usageEvent(b []byte) []byte {
	b = append(b, "data: "...)
	if c.api == Chat {
		b = c.head(b, api.ObjectChatCompletionChunk)
		b = append(b, `,"choices":[],`...)
		b = c.usageJSON(b, c.n)
		return append(b, "}\n\n"...)
	}
	b = append(b, `{"choices":[],"created":`...)
	b = strconv.AppendInt(b, c.created, 10)
	b = append(b, `,"id":`...)
	b = strconv.AppendQuote(b, c.rid)
	b = append(b, `,"model":`...)
	b = strconv.AppendQuote(b, c.model)
	b = append(b, `,"object":"text_completion","usage":{"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(c.n), 10)
	b = append(b, `,"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(c.prompt), 10)
	b = append(b, `,"reasoning_tokens":0,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(c.prompt+c.n), 10)
	return append(b, "}}\n\n"...)
}

// final appends the non-streamed response.
func (c *stubCall) final(b []byte) []byte {
	switch c.api {
	case Native:
		return c.nativeBody(b, c.n)
	case Completions:
		b = c.head(b, api.ObjectCompletion)
		b = append(b, `,"choices":[{"index":0,"text":`...)
		b = stubText(b, 0, c.n)
		b = append(b, `,"logprobs":null,"finish_reason":"length","matched_stop":null}],`...)
	default:
		b = c.head(b, api.ObjectChatCompletion)
		b = append(b, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
		b = stubText(b, 0, c.n)
		b = append(b, `,"reasoning_content":null,"tool_calls":null},"logprobs":null,"finish_reason":"length","matched_stop":null}],`...)
	}
	b = c.usageJSON(b, c.n)
	return append(b, '}')
}
