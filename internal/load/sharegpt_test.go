package load

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const shareGPTFixture = "../../fixtures/sharegpt/sample.json"

func TestShareGPTAppliesBenchServingFilters(t *testing.T) {
	tests := []struct {
		name      string
		d         ShareGPT
		want      ShareGPTStats
		wantFixed int // every output length, when OutputLen is set
	}{
		{
			name: "default rules drop short and single-turn samples",
			d:    ShareGPT{Path: shareGPTFixture},
			want: ShareGPTStats{Conversations: 12, TooFewTurns: 2, TooShort: 3, Kept: 7},
		},
		{
			name: "a context cap drops the long prompt",
			d:    ShareGPT{Path: shareGPTFixture, ContextLen: 100},
			want: ShareGPTStats{Conversations: 12, TooFewTurns: 2, TooShort: 3, OverContext: 1, Kept: 6},
		},
		{
			name:      "a fixed output length replaces the completion's and keeps the 1-token reply",
			d:         ShareGPT{Path: shareGPTFixture, OutputLen: 8},
			want:      ShareGPTStats{Conversations: 12, TooFewTurns: 2, TooShort: 2, Kept: 8},
			wantFixed: 8,
		},
		{
			name: "a count samples that many of the kept",
			d:    ShareGPT{Path: shareGPTFixture, Count: 3, Seed: 5},
			want: ShareGPTStats{Conversations: 12, TooFewTurns: 2, TooShort: 3, Kept: 7},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reqs, st, err := tc.d.Requests()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, st); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
			wantN := st.Kept
			if tc.d.Count > 0 {
				wantN = tc.d.Count
			}
			if len(reqs) != wantN {
				t.Fatalf("%d requests, want %d", len(reqs), wantN)
			}
			for i, r := range reqs {
				if r.Index != i || r.Prompt == "" || r.InputTokens != ApproxTokens(r.Prompt) || r.InputTokens < 2 || r.OutputTokens < 2 {
					t.Errorf("request %d: %+v", i, r)
				}
				if tc.wantFixed > 0 && r.OutputTokens != tc.wantFixed {
					t.Errorf("request %d: output %d, want the fixed %d", i, r.OutputTokens, tc.wantFixed)
				}
				if tc.d.ContextLen > 0 && r.InputTokens+r.OutputTokens > tc.d.ContextLen {
					t.Errorf("request %d: %d+%d tokens over the cap", i, r.InputTokens, r.OutputTokens)
				}
			}
			again, _, _ := tc.d.Requests()
			if !cmp.Equal(reqs, again) {
				t.Error("same seed, different selection")
			}
		})
	}
}

func TestShareGPTReportsMalformedFilesWithTheirOffset(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ name, body, want string }{
		{"not an array", `{"id":"x"}`, "want a JSON array"},
		{"a broken element", `[{"id":"a","conversations":[]}, {"id":`, "conversation 2"},
		{"conversations of the wrong type", `[{"id":"a","conversations":"hello"}]`, "conversation 1"},
		{"an unterminated array", `[{"id":"a","conversations":[]}`, "closing ']'"},
		{"too few samples for the count", `[]`, "want 5 requests but only 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".json")
			if err := os.WriteFile(path, []byte(tc.body), 0o644); err != nil {
				t.Fatal(err)
			}
			_, _, err := ShareGPT{Path: path, Count: 5}.Requests()
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %v, want it to name %s and contain %q", err, path, tc.want)
			}
		})
	}
}

func TestApproxTokensCountsWordPieces(t *testing.T) {
	tests := []struct {
		text string
		want int
	}{
		{"", 0},
		{"Hi", 1},
		{"What is the capital of France?", 7}, // 6 words + "?"
		{"internationalization", 3},           // 20 letters: ⌈20/8⌉
		{"12345", 2},                          // digits in threes
		{"a1b2", 4},                           // letters and digits alternate
		{"func add(a, b int) int { return a - b }", 15}, // 9 words + ( , ) { - }
		{"请解释一下量子计算。", 10},                              // one per ideograph and punctuation
		{"  spaces\tand\nnewlines  ", 3},                // whitespace is free
		{"Ünïcödé wörds", 2},                            // non-ASCII letters are letters
	}
	for _, tc := range tests {
		if got := ApproxTokens(tc.text); got != tc.want {
			t.Errorf("ApproxTokens(%q) = %d, want %d", tc.text, got, tc.want)
		}
	}
}

func TestWordTextIsOneWordPerID(t *testing.T) {
	text := WordText([]int{0, 1, 2, len(words)})
	if text != " the of and the" {
		t.Errorf("WordText = %q", text)
	}
	if got := len(strings.Fields(WordText(make([]int, 300)))); got != 300 {
		t.Errorf("%d words for 300 ids", got)
	}
}

func TestLoadJSONL(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.jsonl", `{"prompt": "Tell me a story", "output_len": 64}`+"\n\n"+`{"input_ids": [1, 2, 3], "output_len": 8}`+"\n")
	reqs, err := LoadJSONL(good)
	if err != nil {
		t.Fatal(err)
	}
	want := []Request{
		{Index: 0, Prompt: "Tell me a story", InputTokens: 4, OutputTokens: 64},
		{Index: 1, InputIDs: []int{1, 2, 3}, OutputTokens: 8},
	}
	if diff := cmp.Diff(want, reqs); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	bad := []struct{ name, body, want string }{
		{"both forms", `{"prompt":"x","input_ids":[1],"output_len":1}`, ":1: give either"},
		{"no prompt", `{"output_len":1}`, ":1: missing"},
		{"no output", "{\"prompt\":\"ok\",\"output_len\":1}\n{\"prompt\":\"x\"}", `:2: "output_len" must be`},
		{"unknown field", `{"prompt":"x","output_len":1,"max_tokens":3}`, `:1: json: unknown field "max_tokens"`},
		{"not json", `prompt=x`, ":1: invalid character"},
		{"negative id", `{"input_ids":[1,-2],"output_len":1}`, ":1: input_ids[1] is negative"},
		{"empty file", "\n", "no requests"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			p := write(strings.ReplaceAll(tc.name, " ", "_")+".jsonl", tc.body)
			_, err := LoadJSONL(p)
			if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to name %s and contain %q", err, p, tc.want)
			}
		})
	}
}

func TestLoadTraceReplaysTimestampsAndSharesHashedPrefixes(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "trace.jsonl")
	body := `{"timestamp": 1000, "input_length": 600, "output_length": 10, "hash_ids": [7, 8]}
{"timestamp": 1500, "input_length": 700, "output_length": 20, "hash_ids": [7, 9]}
{"timestamp": 4000, "input_length": 100, "output_length": 5, "hash_ids": [1]}
`
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	tr, err := LoadTrace(p, 2, 32000)
	if err != nil {
		t.Fatal(err)
	}
	if want := []time.Duration{0, time.Second, 6 * time.Second}; !cmp.Equal(tr.Arrivals, want) {
		t.Errorf("arrivals %v, want %v (ms timestamps from the first, ×2)", tr.Arrivals, want)
	}
	r0, r1 := tr.Requests[0], tr.Requests[1]
	if len(r0.InputIDs) != 600 || len(r1.InputIDs) != 700 || r1.OutputTokens != 20 {
		t.Fatalf("lengths %d, %d, output %d", len(r0.InputIDs), len(r1.InputIDs), r1.OutputTokens)
	}
	if !cmp.Equal(r0.InputIDs[:TraceBlockTokens], r1.InputIDs[:TraceBlockTokens]) {
		t.Error("requests sharing hash id 7 do not share their first block")
	}
	if cmp.Equal(r0.InputIDs[TraceBlockTokens:], r1.InputIDs[TraceBlockTokens:600]) {
		t.Error("different second hash ids gave the same second block")
	}
	for _, tc := range []struct{ name, body, want string }{
		{"missing timestamp", `{"input_length":1,"output_length":1,"hash_ids":[]}`, ":1: timestamp"},
		{"backwards", "{\"timestamp\":5,\"input_length\":1,\"output_length\":1}\n{\"timestamp\":1,\"input_length\":1,\"output_length\":1}", ":2: timestamp 1 ms goes back"},
		{"zero output", `{"timestamp":5,"input_length":1,"output_length":0}`, ":1: output_length"},
	} {
		q := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
		_ = os.WriteFile(q, []byte(tc.body), 0o644)
		if _, err := LoadTrace(q, 1, 100); err == nil || !strings.Contains(err.Error(), q+tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, q+tc.want)
		}
	}
}
