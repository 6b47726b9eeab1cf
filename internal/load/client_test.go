package load

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sgltest/sgltest/internal/metrics"
)

// tick returns a clock that advances 1 ms each time it is read, so every
// line of a parsed stream gets a distinct, predictable timestamp.
func tick() func() time.Duration {
	var t time.Duration
	return func() time.Duration { t += time.Millisecond; return t }
}

func chunk(text string, tokens int, finish string) string {
	fr := "null"
	if finish != "" {
		fr = finish
	}
	return `data: {"text":"` + text + `","output_ids":[],"meta_info":{"id":"r","finish_reason":` + fr +
		`,"prompt_tokens":4,"completion_tokens":` + itoa(tokens) + `,"cached_tokens":1}}` + "\n\n"
}

func itoa(n int) string { return strconv.Itoa(n) }

const length3 = `{"type":"length","length":3}`

func TestParseStream(t *testing.T) {
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
			want: metrics.Record{FirstToken: 1 * ms, Done: 7 * ms, OutputTokens: 3, CachedTokens: 1,
				Chunks: []metrics.Chunk{{At: 1 * ms, Tokens: 1}, {At: 3 * ms, Tokens: 1}, {At: 5 * ms, Tokens: 1}}},
		},
		{
			name:   "a chunk carrying several tokens counts them all from completion_tokens",
			stream: chunk("a", 1, "") + chunk("abc", 3, length3) + done,
			want: metrics.Record{FirstToken: 1 * ms, Done: 5 * ms, OutputTokens: 3, CachedTokens: 1,
				Chunks: []metrics.Chunk{{At: 1 * ms, Tokens: 1}, {At: 3 * ms, Tokens: 2}}},
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
			var rec metrics.Record
			err := ParseStream(strings.NewReader(tc.stream), tick(), &rec)
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
