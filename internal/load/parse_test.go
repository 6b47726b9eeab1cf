package load

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sgltest/sgltest/internal/metrics"
)

// Chat stream events in SGLang's layout (sglang-reference.md s2.7).
const (
	chatRole   = `data: {"id":"r","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"reasoning_content":null,"role":"assistant","content":""},"logprobs":null,"finish_reason":null,"matched_stop":null}]}` + "\n\n"
	chatFinish = `data: {"id":"r","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"reasoning_content":null},"logprobs":null,"finish_reason":"length","matched_stop":null}]}` + "\n\n"
	done       = "data: [DONE]\n\n"
)

func chatContent(text string) string {
	return `data: {"id":"r","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"reasoning_content":null,"content":"` + text + `"},"logprobs":null,"finish_reason":null,"matched_stop":null}]}` + "\n\n"
}

func chatContentUsage(text string, completion int) string {
	return `data: {"id":"r","choices":[{"index":0,"delta":{"content":"` + text + `"},"finish_reason":null}],"usage":{"prompt_tokens":5,"completion_tokens":` + itoa(completion) + `,"total_tokens":0}}` + "\n\n"
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

func TestParseOpenAIStream(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name    string
		stream  string
		want    metrics.Record
		wantErr string
	}{
		{
			name:   "chat: the role-only first event is not a token and usage at the end gives the count",
			stream: chatRole + chatContent("Hel") + chatContent("lo") + chatFinish + usage(3, 2) + done,
			// lines: role 1, blank 2, "Hel" 3, blank 4, "lo" 5, blank 6, finish 7, blank 8, usage 9, blank 10, DONE 11
			want: metrics.Record{FirstToken: 3 * ms, Done: 11 * ms, OutputTokens: 3, CachedTokens: 2,
				Chunks: []metrics.Chunk{{At: 3 * ms, Tokens: 1}, {At: 5 * ms, Tokens: 1}}},
		},
		{
			name:   "continuous usage gives exact tokens per chunk",
			stream: chatRole + chatContentUsage("a b", 2) + chatContentUsage("c d e", 5) + chatFinish + usage(5, 0) + done,
			want: metrics.Record{FirstToken: 3 * ms, Done: 11 * ms, OutputTokens: 5,
				Chunks: []metrics.Chunk{{At: 3 * ms, Tokens: 2}, {At: 5 * ms, Tokens: 3}}},
		},
		{
			name:   "completions without usage fall back to the requested length",
			stream: completion("a", "") + completion("b", "length") + done,
			want: metrics.Record{FirstToken: 1 * ms, Done: 5 * ms, OutputTokens: 7, OutputTokensEstimated: true,
				Chunks: []metrics.Chunk{{At: 1 * ms, Tokens: 1}, {At: 3 * ms, Tokens: 1}}},
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
			var rec metrics.Record
			err := ParseOpenAIStream(strings.NewReader(tc.stream), 7, tick(), &rec)
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

func TestParseBodyTakesTTFTAsTheWholeLatency(t *testing.T) {
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
			want: metrics.Record{FirstToken: time.Millisecond, Done: time.Millisecond, OutputTokens: 3, CachedTokens: 2,
				Chunks: []metrics.Chunk{{At: time.Millisecond, Tokens: 3}}},
		},
		{
			name: "chat with usage",
			api:  Chat,
			body: `{"id":"r","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"length"}],"usage":{"prompt_tokens":1,"completion_tokens":4,"total_tokens":5}}`,
			want: metrics.Record{FirstToken: time.Millisecond, Done: time.Millisecond, OutputTokens: 4,
				Chunks: []metrics.Chunk{{At: time.Millisecond, Tokens: 4}}},
		},
		{name: "native abort", api: Native, body: `{"meta_info":{"finish_reason":{"type":"abort","message":"queue full"}}}`, wantErr: "aborted by server: queue full"},
		{name: "completions without choices", api: Completions, body: `{"choices":[]}`, wantErr: "without a choice"},
		{name: "truncated body", api: Completions, body: `{"choices":[`, wantErr: "malformed response"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rec metrics.Record
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
