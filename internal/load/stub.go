package load

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
)

// Stub is a zero-latency SGLang stand-in for measuring the load generator
// itself: it answers /generate, /v1/completions and /v1/chat/completions at
// once with max_new_tokens (max_tokens) tokens, streamed one token per SSE
// event with a flush after each (or one JSON body when stream is off), in
// the exact layouts of sglang-reference.md s2.6 and s2.7: cumulative
// completion_tokens on /generate, a role-only first chat event, a separate
// finishing chat event, and a final usage event when include_usage is
// asked for (usage on every event with continuous_usage_stats). It does no
// generation work, so whatever latency a client measures against it is the
// client's and the loopback's own.
//
// StreamInterval, as SGLang's --stream-interval, sends an event after
// tokens 1, k+1, 2k+1, ... and at the last token; 0 or 1 sends one per token.
type Stub struct {
	StreamInterval int
}

type stubRequest struct {
	Stream         bool `json:"stream"`
	RID            string
	SamplingParams *struct {
		MaxNewTokens *int `json:"max_new_tokens"`
	} `json:"sampling_params"`
	MaxTokens     *int `json:"max_tokens"`
	StreamOptions *struct {
		IncludeUsage         bool `json:"include_usage"`
		ContinuousUsageStats bool `json:"continuous_usage_stats"`
	} `json:"stream_options"`
}

var stubBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func (st Stub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var api API
	switch r.URL.Path {
	case "/generate":
		api = Native
	case "/v1/completions":
		api = Completions
	case "/v1/chat/completions":
		api = Chat
	default:
		http.NotFound(w, r)
		return
	}
	var req stubRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, `{"error":{"message":`+strconv.Quote(err.Error())+`}}`, http.StatusBadRequest)
		return
	}
	n := 16
	switch {
	case api == Native && req.SamplingParams != nil && req.SamplingParams.MaxNewTokens != nil:
		n = *req.SamplingParams.MaxNewTokens
	case api != Native && req.MaxTokens != nil:
		n = *req.MaxTokens
	}
	usage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	continuous := req.StreamOptions != nil && req.StreamOptions.ContinuousUsageStats
	bp := stubBufs.Get().(*[]byte)
	defer stubBufs.Put(bp)
	b := (*bp)[:0]
	h := w.Header()
	if !req.Stream {
		h["Content-Type"] = []string{"application/json"}
		if api == Native {
			b = stubNative(b, req.RID, n, true)
		} else {
			b = append(b, `{"id":"`...)
			b = append(b, req.RID...)
			b = append(b, `","choices":[{"index":0,"text":"x","message":{"role":"assistant","content":"x"},"finish_reason":"length"}],`...)
			b = stubUsage(b, n)
			b = append(b, '}')
		}
		_, _ = w.Write(b)
		*bp = b
		return
	}
	h["Content-Type"] = []string{"text/event-stream"}
	fl, _ := w.(http.Flusher)
	send := func() bool {
		_, err := w.Write(b)
		if fl != nil {
			fl.Flush()
		}
		b = b[:0]
		return err == nil
	}
	every := max(st.StreamInterval, 1)
	for k := 1; k <= n; k++ {
		if k != n && (k-1)%every != 0 {
			continue
		}
		b = append(b, "data: "...)
		switch api {
		case Native:
			b = stubNative(b, req.RID, k, k == n)
		case Completions, Chat:
			b = append(b, `{"id":"`...)
			b = append(b, req.RID...)
			b = append(b, `","choices":[{"index":0,`...)
			if api == Completions {
				b = append(b, `"text":"x","finish_reason":`...)
				if k == n {
					b = append(b, `"length"`...)
				} else {
					b = append(b, `null`...)
				}
			} else {
				if k == 1 {
					b = append(b, `"delta":{"reasoning_content":null,"role":"assistant","content":""},"finish_reason":null}]}`...)
					b = append(b, "\n\ndata: "...)
					b = append(b, `{"id":"`...)
					b = append(b, req.RID...)
					b = append(b, `","choices":[{"index":0,`...)
				}
				b = append(b, `"delta":{"reasoning_content":null,"content":"x"},"finish_reason":null`...)
			}
			b = append(b, "}]"...)
			if continuous {
				b = append(b, ',')
				b = stubUsage(b, k)
			}
			b = append(b, '}')
		}
		b = append(b, "\n\n"...)
		if !send() {
			return
		}
	}
	if api == Chat {
		b = append(b, `data: {"id":"`...)
		b = append(b, req.RID...)
		b = append(b, `","choices":[{"index":0,"delta":{"reasoning_content":null},"finish_reason":"length"}]}`+"\n\n"...)
	}
	if api != Native && usage {
		b = append(b, `data: {"id":"`...)
		b = append(b, req.RID...)
		b = append(b, `","choices":[],`...)
		b = stubUsage(b, n)
		b = append(b, "}\n\n"...)
	}
	b = append(b, "data: [DONE]\n\n"...)
	send()
	*bp = b
}

func stubNative(b []byte, rid string, k int, last bool) []byte {
	b = append(b, `{"text":"","output_ids":[],"meta_info":{"id":"`...)
	b = append(b, rid...)
	b = append(b, `","finish_reason":`...)
	if last {
		b = append(b, `{"type":"length","length":`...)
		b = strconv.AppendInt(b, int64(k), 10)
		b = append(b, '}')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"prompt_tokens":1,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(k), 10)
	return append(b, `,"cached_tokens":0}}`...)
}

func stubUsage(b []byte, k int) []byte {
	b = append(b, `"usage":{"prompt_tokens":1,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(k), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(k+1), 10)
	return append(b, '}')
}
