package load

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sgltest/sgltest/internal/api"
	"github.com/sgltest/sgltest/internal/metrics"
)

// maxLine bounds one SSE line. A cumulative /generate chunk repeats all text
// so far, so lines grow with output length; 16 MiB covers any real output.
const maxLine = 16 << 20

// ParseStream reads a /generate SSE stream, timestamping each line with now
// as soon as it is read. It appends a Chunk for every event whose
// meta_info.completion_tokens grew (the count is cumulative whether the
// server streams cumulative or incremental text, and one chunk may carry
// several tokens), sets FirstToken at the first such chunk, and sets Done
// when [DONE] is read or the stream fails. It returns an error for anything
// but a complete, successful stream: a malformed line, a chunk without
// meta_info, an error object or an abort inside the stream, a count that
// goes backwards, data after the finishing chunk, a stream that ends before
// [DONE], or one that ends without a finish reason.
func ParseStream(body io.Reader, now func() time.Duration, rec *metrics.Record) error {
	lr := getLineReader(body)
	defer lr.release()
	var (
		tokens   int
		finished bool
		ch       nativeFields
	)
	fail := func(format string, a ...any) error {
		rec.Done = now()
		rec.OutputTokens = tokens
		return fmt.Errorf(format, a...)
	}
	for {
		payload, at, err := lr.event(now)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return fail("stream ended before [DONE] after %d tokens", tokens)
			}
			return fail("reading stream: %v", err)
		}
		lineNo := lr.lineNo
		if string(payload) == api.DonePayload {
			rec.Done = at
			rec.OutputTokens = tokens
			if !finished {
				return fmt.Errorf("stream reached [DONE] without a finish_reason after %d tokens", tokens)
			}
			return nil
		}
		if finished {
			return fail("stream line %d: data after the finishing chunk", lineNo)
		}
		if err := scanNative(payload, &ch); err != nil {
			return fail("stream line %d: malformed chunk: %v", lineNo, err)
		}
		if hasValue(ch.errRaw) {
			return fail("error in stream: %s", describeError(ch.errRaw))
		}
		if !ch.hasMeta {
			return fail("stream line %d: chunk without meta_info", lineNo)
		}
		if n := ch.completion - tokens; n > 0 {
			if rec.FirstToken == 0 {
				rec.FirstToken = at
			}
			rec.Chunks = append(rec.Chunks, metrics.Chunk{At: at, Tokens: n})
			tokens = ch.completion
		} else if n < 0 {
			return fail("stream line %d: completion_tokens went back from %d to %d", lineNo, tokens, ch.completion)
		}
		rec.CachedTokens = ch.cached
		if ch.finish {
			if ch.finishType == api.FinishAbort {
				return fail("aborted by server: %s", ch.finishMsg)
			}
			finished = true
		}
	}
}

// openAIChunk is one /v1/completions or /v1/chat/completions SSE payload.
type openAIChunk struct {
	Choices []openAIChoice  `json:"choices"`
	Usage   *openAIUsage    `json:"usage"`
	Error   json.RawMessage `json:"error"`
}

type openAIChoice struct {
	Index int     `json:"index"`
	Text  *string `json:"text"`
	Delta *struct {
		Content          *string `json:"content"`
		ReasoningContent *string `json:"reasoning_content"`
		Reasoning        *string `json:"reasoning"`
	} `json:"delta"`
	Message *struct {
		Content          *string `json:"content"`
		ReasoningContent *string `json:"reasoning_content"`
	} `json:"message"`
	FinishReason *string `json:"finish_reason"`
}

type openAIUsage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	PromptTokensDetails *struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
}

// content is the text a choice carries: completions text, or a chat
// delta's content plus reasoning (bench_serving counts both).
func (c *openAIChoice) content() int {
	n := 0
	add := func(s *string) {
		if s != nil {
			n += len(*s)
		}
	}
	add(c.Text)
	if c.Delta != nil {
		add(c.Delta.Content)
		add(c.Delta.ReasoningContent)
		add(c.Delta.Reasoning)
	}
	if c.Message != nil {
		add(c.Message.Content)
		add(c.Message.ReasoningContent)
	}
	return n
}

// ParseOpenAIStream reads a completions or chat SSE stream (deltas, not
// cumulative text). Only choice 0 is measured. A chunk counts as carrying
// tokens when its text (or chat content or reasoning) is non-empty, so the
// role-only first chat event and the empty finishing event are skipped.
// Its token count is the growth of usage.completion_tokens when the server
// sends cumulative usage on every chunk (the client asks for it with
// stream_options.continuous_usage_stats), and otherwise 1 (an estimate:
// OpenAI chunks do not say how many tokens they carry). OutputTokens is the
// final usage.completion_tokens (asked for with include_usage); when no
// usage arrives it falls back to requested, the length asked for (exact
// with ignore_eos), and OutputTokensEstimated is set.
//
// An error object, a finish_reason "abort", a malformed line, a chunk with
// neither choices, usage nor error, a stream that ends before [DONE] or
// reaches it without a finish_reason are failures with their reason.
func ParseOpenAIStream(body io.Reader, requested int, now func() time.Duration, rec *metrics.Record) error {
	lr := getLineReader(body)
	defer lr.release()
	var (
		tokens    int // counted from chunks
		usage     usageFields
		finished  bool
		lastUsage int
	)
	fail := func(format string, a ...any) error {
		rec.Done = now()
		rec.OutputTokens = tokens
		return fmt.Errorf(format, a...)
	}
	for {
		payload, at, err := lr.event(now)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return fail("stream ended before [DONE] after %d chunks", len(rec.Chunks))
			}
			return fail("reading stream: %v", err)
		}
		lineNo := lr.lineNo
		if string(payload) == api.DonePayload {
			rec.Done = at
			if !finished {
				rec.OutputTokens = tokens
				return fmt.Errorf("stream reached [DONE] without a finish_reason after %d chunks", len(rec.Chunks))
			}
			if usage.set {
				rec.OutputTokens = usage.completion
				rec.CachedTokens = usage.cached
			} else {
				rec.OutputTokens = requested
				rec.OutputTokensEstimated = true
			}
			return nil
		}
		ch := &lr.openAI
		if err := scanOpenAI(payload, ch); err != nil {
			return fail("stream line %d: malformed chunk: %v", lineNo, err)
		}
		if hasValue(ch.errRaw) {
			return fail("error in stream: %s", describeError(ch.errRaw))
		}
		if !ch.hasChoices && !ch.hasUsage {
			return fail("stream line %d: chunk with neither choices nor usage", lineNo)
		}
		if ch.hasUsage {
			if ch.completion < lastUsage {
				return fail("stream line %d: usage.completion_tokens went back from %d to %d", lineNo, lastUsage, ch.completion)
			}
			usage = usageFields{set: true, completion: ch.completion, cached: ch.cached}
		}
		for i := range ch.choices {
			c := &ch.choices[i]
			if c.index != 0 {
				continue
			}
			if c.content() {
				n := 1
				if ch.hasUsage {
					n = ch.completion - lastUsage
				}
				if rec.FirstToken == 0 {
					rec.FirstToken = at
				}
				rec.Chunks = append(rec.Chunks, metrics.Chunk{At: at, Tokens: n})
				tokens += n
			}
			if c.finish {
				if c.finishStr == "abort" {
					return fail("aborted by server (finish_reason abort)")
				}
				finished = true
			}
		}
		if ch.hasUsage {
			lastUsage = ch.completion
		}
	}
}

type usageFields struct {
	set                bool
	completion, cached int
}

// ParseBody reads a non-streamed response. TTFT equals the whole latency
// (FirstToken = Done, bench_serving's convention) and the request has one
// chunk carrying every output token. For OpenAI APIs without usage the
// output falls back to requested, as in ParseOpenAIStream.
func ParseBody(a API, body io.Reader, requested int, now func() time.Duration, rec *metrics.Record) error {
	b, err := io.ReadAll(io.LimitReader(body, 64<<20))
	at := now()
	rec.Done = at
	if err != nil {
		return fmt.Errorf("reading response: %v", err)
	}
	var tokens int
	if a == Native {
		var r struct {
			MetaInfo *api.MetaInfo   `json:"meta_info"`
			Error    json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("malformed response: %v", err)
		}
		if hasValue(r.Error) {
			return fmt.Errorf("error in response: %s", describeError(r.Error))
		}
		if r.MetaInfo == nil {
			return errors.New("response without meta_info")
		}
		fr := r.MetaInfo.FinishReason
		if fr == nil {
			return errors.New("response without a finish_reason")
		}
		if fr.Type == api.FinishAbort {
			return fmt.Errorf("aborted by server: %s", fr.Message)
		}
		tokens = r.MetaInfo.CompletionTokens
		rec.CachedTokens = r.MetaInfo.CachedTokens
	} else {
		var r openAIChunk
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("malformed response: %v", err)
		}
		if hasValue(r.Error) {
			return fmt.Errorf("error in response: %s", describeError(r.Error))
		}
		if len(r.Choices) == 0 || r.Choices[0].FinishReason == nil {
			return errors.New("response without a choice and its finish_reason")
		}
		if *r.Choices[0].FinishReason == "abort" {
			return errors.New("aborted by server (finish_reason abort)")
		}
		if r.Usage != nil {
			tokens = r.Usage.CompletionTokens
			if d := r.Usage.PromptTokensDetails; d != nil {
				rec.CachedTokens = d.CachedTokens
			}
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

func hasValue(raw json.RawMessage) bool {
	return len(raw) > 0 && string(raw) != "null"
}

// describeError renders an in-stream error: {"message": ...} objects (with
// or without OpenAI's "object":"error" wrapper fields) by their message, a
// bare string as itself, anything else as its JSON.
func describeError(raw json.RawMessage) string {
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

// readLine reads one line of any length up to maxLine into buf.
func readLine(br *bufio.Reader, buf []byte) ([]byte, error) {
	for {
		frag, err := br.ReadSlice('\n')
		buf = append(buf, frag...)
		if len(buf) > maxLine {
			return buf, fmt.Errorf("line longer than %d bytes", maxLine)
		}
		if err == nil {
			return buf, nil
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) && len(buf) > 0 {
			// A final line without its newline still counts; EOF comes next call.
			return buf, nil
		}
		return buf, err
	}
}
