package load

import (
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sgltest/sgltest/internal/metrics"
)

// tick returns a clock that advances 1 ms each time it is read, so every
// read of a parsed stream gets a distinct, predictable timestamp.
func tick() func() time.Duration {
	var t time.Duration
	return func() time.Duration { t += time.Millisecond; return t }
}

// byEvent delivers s one SSE event (up to and with its blank line) per
// Read, as a server that flushes every event and a client that keeps up
// see it: with tick, the k-th event is read at k ms.
type byEvent struct{ s string }

func (e *byEvent) Read(p []byte) (int, error) {
	if e.s == "" {
		return 0, io.EOF
	}
	end := len(e.s)
	if i := strings.Index(e.s, "\n\n"); i >= 0 {
		end = i + 2
	}
	n := copy(p, e.s[:end])
	e.s = e.s[n:]
	return n, nil
}

func itoa(n int) string { return strconv.Itoa(n) }

// Native stream events in SGLang's layout (sglang-reference.md s2.6).
func chunk(text string, tokens int, finish string) string {
	fr := "null"
	if finish != "" {
		fr = finish
	}
	return `data: {"text":"` + text + `","output_ids":[],"meta_info":{"id":"r","finish_reason":` + fr +
		`,"prompt_tokens":4,"completion_tokens":` + itoa(tokens) + `,"cached_tokens":1}}` + "\n\n"
}

const length3 = `{"type":"length","length":3}`

// Chat and completions stream events in SGLang's layout
// (sglang-reference.md s2.7); u is the continuous usage, if any.
const (
	chatRole   = `data: {"id":"r","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"reasoning_content":null,"role":"assistant","content":""},"logprobs":null,"finish_reason":null,"matched_stop":null}]}` + "\n\n"
	chatFinish = `data: {"id":"r","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"reasoning_content":null},"logprobs":null,"finish_reason":"length","matched_stop":null}]}` + "\n\n"
	done       = "data: [DONE]\n\n"
)

func usageJSON(prompt, completion int) string {
	return `"usage":{"prompt_tokens":` + itoa(prompt) + `,"completion_tokens":` + itoa(completion) + `,"total_tokens":` + itoa(prompt+completion) + `,"reasoning_tokens":0,"prompt_tokens_details":null}`
}

func chatContent(text string) string {
	return `data: {"id":"r","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"reasoning_content":null,"content":"` + text + `"},"logprobs":null,"finish_reason":null,"matched_stop":null}]}` + "\n\n"
}

// withUsage adds continuous usage to a chat or completions event.
func withUsage(event string, prompt, completion int) string {
	return strings.TrimSuffix(event, "}\n\n") + "," + usageJSON(prompt, completion) + "}\n\n"
}

func usage(completion, cached int) string {
	return `data: {"id":"r","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":` + itoa(completion) +
		`,"total_tokens":9,"reasoning_tokens":0,"prompt_tokens_details":{"cached_tokens":` + itoa(cached) + `}}}` + "\n\n"
}

func completion(text, finish string) string {
	fr := "null"
	if finish != "" {
		fr = `"` + finish + `"`
	}
	return `data: {"id":"r","object":"text_completion","choices":[{"index":0,"text":"` + text + `","logprobs":null,"finish_reason":` + fr + `,"matched_stop":null}]}` + "\n\n"
}

func TestParseStreamCountsTokensFromMetaInfo(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name    string
		stream  string
		want    metrics.Record
		wantErr string
	}{
		{
			name:   "one token per chunk records each chunk and ends at DONE",
			stream: chunk("a", 1, "") + chunk("ab", 2, "") + chunk("abc", 3, length3) + done,
			want: metrics.Record{FirstToken: 1 * ms, Done: 4 * ms, OutputTokens: 3, InputTokens: 4, CachedTokens: 1,
				Chunks: []metrics.Chunk{{At: 1 * ms, Tokens: 1}, {At: 2 * ms, Tokens: 1}, {At: 3 * ms, Tokens: 1}}},
		},
		{
			name:   "a chunk carrying several tokens counts them all from completion_tokens",
			stream: chunk("a", 1, "") + chunk("abc", 3, length3) + done,
			want: metrics.Record{FirstToken: 1 * ms, Done: 3 * ms, OutputTokens: 3, InputTokens: 4, CachedTokens: 1,
				Chunks: []metrics.Chunk{{At: 1 * ms, Tokens: 1}, {At: 2 * ms, Tokens: 2}}},
		},
		{
			name:   "a server that reports no prompt_tokens leaves the client's count, flagged",
			stream: `data: {"meta_info":{"completion_tokens":1,"finish_reason":{"type":"stop"}}}` + "\n\n" + done,
			want: metrics.Record{FirstToken: 1 * ms, Done: 2 * ms, OutputTokens: 1, InputTokens: 99, InputTokensEstimated: true,
				Chunks: []metrics.Chunk{{At: 1 * ms, Tokens: 1}}},
		},
		{
			name:    "an error object inside a 200 stream fails the request",
			stream:  chunk("a", 1, "") + `data: {"error":{"message":"boom","code":400}}` + "\n\ndata: [DONE]\n\n",
			wantErr: "error in stream: boom",
		},
		{
			name:    "an abort finish reason fails the request",
			stream:  chunk("a", 1, `{"type":"abort","message":"The request queue is full.","status_code":503}`) + done,
			wantErr: "aborted by server: The request queue is full.",
		},
		{
			name:    "a stream cut before DONE fails",
			stream:  chunk("a", 1, ""),
			wantErr: "stream ended before [DONE] after 1 tokens",
		},
		{
			name:    "DONE without a finish reason fails",
			stream:  chunk("a", 1, "") + done,
			wantErr: "without a finish_reason",
		},
		{
			name:    "a finish reason without a type is none",
			stream:  chunk("a", 1, `{"type":""}`) + done,
			wantErr: "without a finish_reason",
		},
		{
			name:    "case-folded keys are not SGLang's",
			stream:  `data: {"META_INFO":{"completion_tokens":1,"finish_reason":{"type":"stop"}}}` + "\n\n" + done,
			wantErr: "stream line 1: chunk without meta_info",
		},
		{
			name:    "malformed JSON names the line",
			stream:  chunk("a", 1, "") + "data: {not json\n\n",
			wantErr: "stream line 3: malformed chunk",
		},
		{
			name:    "completion_tokens going backwards fails",
			stream:  chunk("ab", 2, "") + chunk("a", 1, "") + done,
			wantErr: "went back from 2 to 1",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := metrics.Record{InputTokens: 99}
			err := ParseStream(&byEvent{tc.stream}, tick(), &rec)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
				}
				if rec.Done == 0 {
					t.Errorf("failed stream left Done unset")
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if diff := cmp.Diff(tc.want, rec); diff != "" {
				t.Errorf("record mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseOpenAIStreamCountsTokensFromUsage(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name    string
		stream  string
		want    metrics.Record
		wantErr string
	}{
		{
			name: "chat with continuous usage: the role event's usage goes to the first content chunk",
			stream: withUsage(chatRole, 5, 1) + withUsage(chatContent("Hel"), 5, 1) + withUsage(chatContent("lo"), 5, 3) +
				withUsage(chatFinish, 5, 3) + usage(3, 2) + done,
			want: metrics.Record{FirstToken: 2 * ms, Done: 6 * ms, OutputTokens: 3, InputTokens: 5, CachedTokens: 2,
				Chunks: []metrics.Chunk{{At: 2 * ms, Tokens: 1}, {At: 3 * ms, Tokens: 2}}},
		},
		{
			name: "tokens counted on the finishing event without text make a chunk there",
			stream: withUsage(chatRole, 5, 1) + withUsage(chatContent("a"), 5, 1) + withUsage(chatContent("b"), 5, 2) +
				withUsage(chatFinish, 5, 3) + usage(3, 0) + done,
			want: metrics.Record{FirstToken: 2 * ms, Done: 6 * ms, OutputTokens: 3, InputTokens: 5,
				Chunks: []metrics.Chunk{{At: 2 * ms, Tokens: 1}, {At: 3 * ms, Tokens: 1}, {At: 4 * ms, Tokens: 1}}},
		},
		{
			name:   "chat with usage only at the end: chunks are estimated and re-split over the total",
			stream: chatRole + chatContent("Hel") + chatContent("lo") + chatFinish + usage(3, 2) + done,
			want: metrics.Record{FirstToken: 2 * ms, Done: 6 * ms, OutputTokens: 3, InputTokens: 5, CachedTokens: 2, ChunkTokensEstimated: true,
				Chunks: []metrics.Chunk{{At: 2 * ms, Tokens: 2}, {At: 3 * ms, Tokens: 1}}},
		},
		{
			name: "completions with continuous usage",
			stream: withUsage(completion("a", ""), 7, 2) + withUsage(completion("b", "length"), 7, 3) +
				`data: {"id":"r","object":"text_completion","choices":[],` + usageJSON(7, 3) + "}\n\n" + done,
			want: metrics.Record{FirstToken: 1 * ms, Done: 4 * ms, OutputTokens: 3, InputTokens: 7,
				Chunks: []metrics.Chunk{{At: 1 * ms, Tokens: 2}, {At: 2 * ms, Tokens: 1}}},
		},
		{
			name:   "completions without usage fall back to the requested length, flagged",
			stream: completion("a", "") + completion("b", "length") + done,
			want: metrics.Record{FirstToken: 1 * ms, Done: 3 * ms, OutputTokens: 7, OutputTokensEstimated: true,
				InputTokens: 99, InputTokensEstimated: true, ChunkTokensEstimated: true,
				Chunks: []metrics.Chunk{{At: 1 * ms, Tokens: 4}, {At: 2 * ms, Tokens: 3}}},
		},
		{
			name:    "an error object inside a 200 stream fails the request",
			stream:  completion("a", "") + `data: {"error":{"object":"error","message":"boom","type":"BadRequest","param":null,"code":400}}` + "\n\n" + done,
			wantErr: "error in stream: boom",
		},
		{
			name:    "finish_reason abort fails the request",
			stream:  completion("a", "") + completion("", "abort") + done,
			wantErr: "aborted by server",
		},
		{
			name:    "DONE without a finish reason fails",
			stream:  chatRole + chatContent("a") + done,
			wantErr: "without a finish_reason",
		},
		{
			name:    "an empty finish_reason is none",
			stream:  completion("a", "") + `data: {"choices":[{"text":"0","finish_reason":""}]}` + "\n\n" + done,
			wantErr: "without a finish_reason",
		},
		{
			name:    "case-folded keys are not SGLang's (the fuzz finding)",
			stream:  `data:{"ChoiCes":[{"teXt":"0","finish_reAson":""}]}` + "\n\n" + `data:[DONE]`,
			wantErr: "neither choices nor usage",
		},
		{
			name:    "usage going backwards fails",
			stream:  withUsage(completion("a", ""), 1, 2) + withUsage(completion("b", "length"), 1, 1) + done,
			wantErr: "went back from 2 to 1",
		},
		{
			name:    "a cut stream fails",
			stream:  chatRole + chatContent("a"),
			wantErr: "stream ended before [DONE]",
		},
		{
			name:    "a chunk with neither choices nor usage fails",
			stream:  "data: {}\n\n" + done,
			wantErr: "neither choices nor usage",
		},
		{
			name:    "malformed JSON names the line",
			stream:  completion("a", "") + "data: {\"choices\":[{\"text\":3}]}\n\n",
			wantErr: "stream line 3: malformed chunk",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := metrics.Record{InputTokens: 99}
			err := ParseOpenAIStream(&byEvent{tc.stream}, 7, tick(), &rec)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
				}
				if rec.Done == 0 {
					t.Errorf("failed stream left Done unset")
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if diff := cmp.Diff(tc.want, rec); diff != "" {
				t.Errorf("record mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEventsReadTogetherShareTheirReadTime(t *testing.T) {
	var rec metrics.Record
	stream := chunk("a", 1, "") + chunk("ab", 2, "") + chunk("abc", 3, length3) + done
	if err := ParseStream(strings.NewReader(stream), tick(), &rec); err != nil {
		t.Fatal(err)
	}
	ms := time.Millisecond
	want := []metrics.Chunk{{At: ms, Tokens: 1}, {At: ms, Tokens: 1}, {At: ms, Tokens: 1}}
	if diff := cmp.Diff(want, rec.Chunks); diff != "" || rec.Done != ms {
		t.Errorf("one read of the whole stream: Done %v, chunks (-want +got):\n%s", rec.Done, diff)
	}
}

func TestParseBodyTakesTTFTAsTheWholeLatency(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name    string
		api     API
		body    string
		want    metrics.Record
		wantErr string
	}{
		{
			name: "native",
			api:  Native,
			body: `{"text":"abc","output_ids":[1,2,3],"meta_info":{"id":"r","finish_reason":{"type":"length","length":3},"prompt_tokens":4,"completion_tokens":3,"cached_tokens":2}}`,
			want: metrics.Record{FirstToken: ms, Done: ms, OutputTokens: 3, InputTokens: 4, CachedTokens: 2,
				Chunks: []metrics.Chunk{{At: ms, Tokens: 3}}},
		},
		{
			name: "chat with usage",
			api:  Chat,
			body: `{"id":"r","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"length"}],"usage":{"prompt_tokens":1,"completion_tokens":4,"total_tokens":5}}`,
			want: metrics.Record{FirstToken: ms, Done: ms, OutputTokens: 4, InputTokens: 1,
				Chunks: []metrics.Chunk{{At: ms, Tokens: 4}}},
		},
		{
			name: "completions without usage",
			api:  Completions,
			body: `{"choices":[{"index":0,"text":"hi","finish_reason":"length"}]}`,
			want: metrics.Record{FirstToken: ms, Done: ms, OutputTokens: 9, OutputTokensEstimated: true, InputTokens: 99, InputTokensEstimated: true,
				Chunks: []metrics.Chunk{{At: ms, Tokens: 9}}},
		},
		{name: "native abort", api: Native, body: `{"meta_info":{"finish_reason":{"type":"abort","message":"queue full"}}}`, wantErr: "aborted by server: queue full"},
		{name: "completions without choices", api: Completions, body: `{"choices":[]}`, wantErr: "without a choice"},
		{name: "an empty finish_reason", api: Completions, body: `{"choices":[{"text":"x","finish_reason":""}]}`, wantErr: "without a choice and its finish_reason"},
		{name: "truncated body", api: Completions, body: `{"choices":[`, wantErr: "malformed response"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := metrics.Record{InputTokens: 99}
			err := ParseBody(tc.api, strings.NewReader(tc.body), 9, tick(), &rec)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, rec); diff != "" {
				t.Errorf("record mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
