package load

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/sgltest/sgltest/internal/api"
	"github.com/sgltest/sgltest/internal/metrics"
)

// Token accounting, the same on every API: output tokens are the server's
// count (meta_info.completion_tokens, usage.completion_tokens), input
// tokens too (meta_info.prompt_tokens, usage.prompt_tokens); where the
// server reports none the record keeps the client's figure and says so
// (InputTokensEstimated, OutputTokensEstimated). A successful request's
// chunks add up to its output tokens.

// readers recycles body readers for streams that do not come through the
// client's own connections (net/http bodies, tests): one per request in
// flight, not one per request sent.
var readers = sync.Pool{New: func() any { return newBodyReader() }}

func getBodyReader(body io.Reader, now func() time.Duration) *bodyReader {
	br := readers.Get().(*bodyReader)
	br.reset(body, now, bodyToEOF)
	return br
}

func putBodyReader(br *bodyReader) {
	br.src, br.now = nil, nil
	readers.Put(br)
}

// ParseStream reads a /generate SSE stream, timestamping each line with
// now when the read that delivered it returns. It appends a Chunk for every
// event whose meta_info.completion_tokens grew (the count is cumulative
// whether the server streams cumulative or incremental text, and one chunk
// may carry several tokens), sets FirstToken at the first such chunk, and
// sets Done when [DONE] is read or the stream fails; InputTokens comes from
// meta_info.prompt_tokens. It returns an error for anything but a
// complete, successful stream: a malformed line, a chunk without
// meta_info, an error object or an abort inside the stream, a count that
// goes backwards, data after the finishing chunk, a stream that ends before
// [DONE], or one that ends without a finish reason (an object with a
// non-empty type).
func ParseStream(body io.Reader, now func() time.Duration, rec *metrics.Record) error {
	br := getBodyReader(body, now)
	defer putBodyReader(br)
	return parseNativeStream(br, rec)
}

// streamEnded reports whether err is a stream that stopped early rather
// than one that broke.
func streamEnded(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, errNoResponse)
}

// promptCount is the server's prompt count, if it sent one.
type promptCount struct {
	n  int
	ok bool
}

// set writes the input count into rec: the server's, or the client's
// flagged as such.
func (p promptCount) set(rec *metrics.Record) {
	if p.ok {
		rec.InputTokens, rec.InputTokensEstimated = p.n, false
	} else {
		rec.InputTokensEstimated = true
	}
}

func parseNativeStream(br *bodyReader, rec *metrics.Record) error {
	return br.newStream(false, 0, rec).parse(br)
}

// stream is one streamed response's accounting as its events arrive,
// event by event (parse feeds it from a body reader).
type stream struct {
	openAI    bool
	requested int // OpenAI: the output length asked for, the fallback count
	rec       *metrics.Record
	now       func() time.Duration

	tokens   int // in recorded chunks
	finished bool
	prompt   promptCount
	native   nativeFields
	oa       openAIFields

	// OpenAI accounting (see ParseOpenAIStream).
	counted   int  // the server's count that recorded chunks account for
	lastUsage int  // the server's latest count
	hasUsage  bool // some event carried usage
	estimated bool // some chunk had no usage and counted 1
	pendingAt time.Duration
	cached    int
}

// parse feeds every event of br to st until the stream ends.
func (st *stream) parse(br *bodyReader) error {
	for {
		payload, at, err := br.event()
		if err != nil {
			return st.cut(err)
		}
		if done, err := st.event(payload, at, br.lineNo); done {
			return err
		}
	}
}

// fail ends the stream with an error at the time it is noticed.
func (st *stream) fail(format string, a ...any) error {
	st.rec.Done = st.now()
	st.rec.OutputTokens = st.tokens
	st.prompt.set(st.rec)
	return fmt.Errorf(format, a...)
}

// cut ends a stream whose body ended or broke before [DONE].
func (st *stream) cut(err error) error {
	if streamEnded(err) {
		if st.openAI {
			return st.fail("stream ended before [DONE] after %d chunks", len(st.rec.Chunks))
		}
		return st.fail("stream ended before [DONE] after %d tokens", st.tokens)
	}
	return st.fail("reading stream: %v", err)
}

// event takes one event's payload, read at at from line lineNo; done is
// set when the stream is over, err then saying whether it failed.
func (st *stream) event(payload []byte, at time.Duration, lineNo int) (done bool, err error) {
	if st.openAI {
		return st.openAIEvent(payload, at, lineNo)
	}
	rec, ch := st.rec, &st.native
	if string(payload) == api.DonePayload {
		rec.Done = at
		rec.OutputTokens = st.tokens
		st.prompt.set(rec)
		if !st.finished {
			return true, fmt.Errorf("stream reached [DONE] without a finish_reason after %d tokens", st.tokens)
		}
		return true, nil
	}
	if st.finished {
		return true, st.fail("stream line %d: data after the finishing chunk", lineNo)
	}
	if err := scanNative(payload, ch); err != nil {
		return true, st.fail("stream line %d: malformed chunk: %v", lineNo, err)
	}
	if hasValue(ch.errRaw) {
		return true, st.fail("error in stream: %s", describeError(ch.errRaw))
	}
	if !ch.hasMeta {
		return true, st.fail("stream line %d: chunk without meta_info", lineNo)
	}
	if ch.hasPrompt {
		st.prompt = promptCount{ch.prompt, true}
	}
	if n := ch.completion - st.tokens; n > 0 {
		if rec.FirstToken == 0 {
			rec.FirstToken = at
		}
		rec.Chunks = append(rec.Chunks, metrics.Chunk{At: at, Tokens: n})
		st.tokens = ch.completion
	} else if n < 0 {
		return true, st.fail("stream line %d: completion_tokens went back from %d to %d", lineNo, st.tokens, ch.completion)
	}
	rec.CachedTokens = ch.cached
	if ch.finish && ch.finishType != "" {
		if ch.finishType == api.FinishAbort {
			return true, st.fail("aborted by server: %s", ch.finishMsg)
		}
		st.finished = true
	}
	return false, nil
}

// ParseOpenAIStream reads a completions or chat SSE stream (deltas, not
// cumulative text). Only choice 0 is measured, and a chunk is recorded
// when its text (or chat content or reasoning) is not empty, so the
// role-only first chat event and the empty finishing event carry no
// chunk, and the first token is the first text (bench_serving's
// definition).
//
// Token counts come from usage, which the client asks for on every chunk
// (stream_options.continuous_usage_stats) and at the end (include_usage):
// a chunk carries the growth of usage.completion_tokens since the last
// recorded chunk, so tokens counted on an event without text (the role
// event's usage) go to the next chunk that has text, and tokens that no
// later text event took (the finishing event's) make a chunk of their own
// at the event where the count grew. A chunk without usage counts 1 and
// the request's chunks are then re-split evenly over its output tokens
// (ChunkTokensEstimated). OutputTokens and InputTokens are the final
// usage's; without usage OutputTokens is requested, the length asked for
// (exact with ignore_eos), and OutputTokensEstimated is set.
//
// An error object, a finish_reason "abort", a malformed line, a chunk with
// neither choices, usage nor error, a usage count that goes back, a stream
// that ends before [DONE] or reaches it without a finish_reason (a
// non-empty string) are failures with their reason.
func ParseOpenAIStream(body io.Reader, requested int, now func() time.Duration, rec *metrics.Record) error {
	br := getBodyReader(body, now)
	defer putBodyReader(br)
	return parseOpenAIStream(br, requested, rec)
}

func parseOpenAIStream(br *bodyReader, requested int, rec *metrics.Record) error {
	return br.newStream(true, requested, rec).parse(br)
}

func (st *stream) openAIEvent(payload []byte, at time.Duration, lineNo int) (done bool, err error) {
	rec, ch := st.rec, &st.oa
	if string(payload) == api.DonePayload {
		rec.Done = at
		st.prompt.set(rec)
		if !st.finished {
			rec.OutputTokens = st.tokens
			return true, fmt.Errorf("stream reached [DONE] without a finish_reason after %d chunks", len(rec.Chunks))
		}
		total := st.requested
		if st.hasUsage {
			total = st.lastUsage
			rec.CachedTokens = st.cached
		} else {
			rec.OutputTokensEstimated = true
		}
		if st.pendingAt == 0 {
			st.pendingAt = at
		}
		settleChunks(rec, st.tokens, total, st.estimated || !st.hasUsage, st.pendingAt)
		rec.OutputTokens = total
		return true, nil
	}
	if err := scanOpenAI(payload, ch); err != nil {
		return true, st.fail("stream line %d: malformed chunk: %v", lineNo, err)
	}
	if hasValue(ch.errRaw) {
		return true, st.fail("error in stream: %s", describeError(ch.errRaw))
	}
	if !ch.hasChoices && !ch.hasUsage {
		return true, st.fail("stream line %d: chunk with neither choices nor usage", lineNo)
	}
	if ch.hasUsage {
		if ch.completion < st.lastUsage {
			return true, st.fail("stream line %d: usage.completion_tokens went back from %d to %d", lineNo, st.lastUsage, ch.completion)
		}
		st.hasUsage, st.lastUsage, st.cached = true, ch.completion, ch.cached
		if ch.hasPrompt {
			st.prompt = promptCount{ch.prompt, true}
		}
	}
	recorded := false
	for i := range ch.choices {
		c := &ch.choices[i]
		if c.index != 0 {
			continue
		}
		if c.content() && !recorded {
			n := 1
			if ch.hasUsage {
				n = max(ch.completion-st.counted, 0)
				st.counted = ch.completion
			} else {
				st.estimated = true
				st.counted++
			}
			if rec.FirstToken == 0 {
				rec.FirstToken = at
			}
			rec.Chunks = append(rec.Chunks, metrics.Chunk{At: at, Tokens: n})
			st.tokens += n
			recorded, st.pendingAt = true, 0
		}
		if c.finish && c.finishStr != "" {
			if c.finishStr == "abort" {
				return true, st.fail("aborted by server (finish_reason abort)")
			}
			st.finished = true
		}
	}
	if !recorded && st.lastUsage > st.counted && st.pendingAt == 0 {
		st.pendingAt = at
	}
	return false, nil
}

// settleChunks makes a successful stream's chunks add up to its total
// output tokens. Exact counts leave only tokens that no text event took:
// they become a chunk at pendingAt, the event where the server's count
// grew past the chunks. Estimated counts are re-split evenly over the
// chunks (and the record says so).
func settleChunks(rec *metrics.Record, tokens, total int, estimated bool, pendingAt time.Duration) {
	switch {
	case len(rec.Chunks) == 0:
		if total > 0 {
			rec.FirstToken = pendingAt
			rec.Chunks = append(rec.Chunks, metrics.Chunk{At: pendingAt, Tokens: total})
			rec.ChunkTokensEstimated = estimated
		}
	case estimated:
		rec.ChunkTokensEstimated = true
		k := len(rec.Chunks)
		for i := range rec.Chunks {
			rec.Chunks[i].Tokens = total / k
			if i < total%k {
				rec.Chunks[i].Tokens++
			}
		}
	case total > tokens:
		rec.Chunks = append(rec.Chunks, metrics.Chunk{At: pendingAt, Tokens: total - tokens})
	}
}

// ParseBody reads a non-streamed response. TTFT equals the whole latency
// (FirstToken = Done, bench_serving's convention) and the request has one
// chunk carrying every output token. Counts come from meta_info or usage
// as in the stream parsers; for OpenAI APIs without usage the output falls
// back to requested.
func ParseBody(a API, body io.Reader, requested int, now func() time.Duration, rec *metrics.Record) error {
	b, err := io.ReadAll(io.LimitReader(body, 64<<20))
	at := now()
	rec.Done = at
	if err != nil {
		rec.InputTokensEstimated = true
		return fmt.Errorf("reading response: %v", err)
	}
	var tokens int
	var prompt promptCount
	defer func() { prompt.set(rec) }()
	if a == Native {
		var r nativeFields
		if err := scanNative(b, &r); err != nil {
			return fmt.Errorf("malformed response: %v", err)
		}
		if hasValue(r.errRaw) {
			return fmt.Errorf("error in response: %s", describeError(r.errRaw))
		}
		if !r.hasMeta {
			return errors.New("response without meta_info")
		}
		prompt = promptCount{r.prompt, r.hasPrompt}
		if !r.finish || r.finishType == "" {
			return errors.New("response without a finish_reason")
		}
		if r.finishType == api.FinishAbort {
			return fmt.Errorf("aborted by server: %s", r.finishMsg)
		}
		tokens = r.completion
		rec.CachedTokens = r.cached
	} else {
		var r openAIFields
		if err := scanOpenAI(b, &r); err != nil {
			return fmt.Errorf("malformed response: %v", err)
		}
		if hasValue(r.errRaw) {
			return fmt.Errorf("error in response: %s", describeError(r.errRaw))
		}
		if r.hasUsage {
			prompt = promptCount{r.prompt, r.hasPrompt}
		}
		if len(r.choices) == 0 || !r.choices[0].finish || r.choices[0].finishStr == "" {
			return errors.New("response without a choice and its finish_reason")
		}
		if r.choices[0].finishStr == "abort" {
			return errors.New("aborted by server (finish_reason abort)")
		}
		if r.hasUsage {
			tokens = r.completion
			rec.CachedTokens = r.cached
		} else {
			tokens = requested
			rec.OutputTokensEstimated = true
		}
	}
	rec.OutputTokens = tokens
	if tokens > 0 {
		rec.FirstToken = at
		rec.Chunks = append(rec.Chunks, metrics.Chunk{At: at, Tokens: tokens})
	}
	return nil
}

func hasValue(raw []byte) bool {
	return len(raw) > 0 && string(raw) != "null"
}

// describeError renders an in-stream error: {"message": ...} objects (with
// or without OpenAI's "object":"error" wrapper fields) by their message, a
// bare string as itself, anything else as its JSON.
func describeError(raw []byte) string {
	var obj struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &obj) == nil && obj.Message != "" {
		return obj.Message
	}
	var s string
	if json.Unmarshal(raw, &s) == nil && s != "" {
		return s
	}
	if len(raw) > 200 {
		raw = raw[:200]
	}
	return string(raw)
}
