package simulator

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func postPath(t *testing.T, url, contentType, body string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Post(url, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(data)
}

// streamEvents returns a stream's event payloads decoded as generic JSON,
// failing unless it ends with [DONE]. For OpenAI streams it checks that
// every event has a numeric "created" and removes it (it is wall-clock
// time).
func streamEvents(t *testing.T, body string, openAI bool) []map[string]any {
	t.Helper()
	var events []map[string]any
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if line == "[DONE]" {
			return events
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("event %q: %v", line, err)
		}
		if openAI {
			if _, ok := ev["created"].(float64); !ok {
				t.Errorf("event %q has no numeric created", line)
			}
			delete(ev, "created")
		}
		events = append(events, ev)
	}
	t.Fatalf("stream did not end with [DONE]:\n%s", body)
	return nil
}

func TestChatCompletions_StreamIsRoleChunkDeltasSeparateFinishThenUsage(t *testing.T) {
	_, ts := startServer(t, Config{SkipServerWarmup: true, RandomSeed: 1}, mustProfile(t, fastProfile), nil)
	resp, body := postPath(t, ts.URL+"/v1/chat/completions", "application/json",
		`{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":2,"stream":true,"rid":"r1","stream_options":{"include_usage":true}}`)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream; charset=utf-8" {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// The handler coalesces what a slow reader has not taken, so the two
	// tokens may come as one or two content events; join them.
	events := streamEvents(t, body, true)
	choice := func(delta map[string]any, finish any) map[string]any {
		return map[string]any{"id": "r1", "object": "chat.completion.chunk", "model": "m", "choices": []any{
			map[string]any{"index": 0.0, "delta": delta, "logprobs": nil, "finish_reason": finish, "matched_stop": nil}}}
	}
	if diff := cmp.Diff(choice(map[string]any{"reasoning_content": nil, "role": "assistant", "content": ""}, nil), events[0]); diff != "" {
		t.Errorf("first event (-want +got):\n%s", diff)
	}
	var content strings.Builder
	for _, ev := range events[1 : len(events)-2] {
		delta := ev["choices"].([]any)[0].(map[string]any)["delta"].(map[string]any)
		content.WriteString(delta["content"].(string))
		if diff := cmp.Diff(choice(map[string]any{"reasoning_content": nil, "content": delta["content"]}, nil), ev); diff != "" {
			t.Errorf("content event (-want +got):\n%s", diff)
		}
	}
	if got := len(strings.Fields(content.String())); got != 2 {
		t.Errorf("content %q holds %d words, want one per token, 2", content.String(), got)
	}
	if diff := cmp.Diff(choice(map[string]any{"reasoning_content": nil}, "length"), events[len(events)-2]); diff != "" {
		t.Errorf("finish event (-want +got):\n%s", diff)
	}
	// The prompt is "hi" in Llama 3.1's template: BOS, the dated system
	// header and preamble, the user header, "hi", and the assistant header.
	prompt := float64(len(newTokenizer(mustProfile(t, fastProfile)).chat([]chatMessage{{"user", "hi"}})))
	wantUsage := map[string]any{"id": "r1", "object": "chat.completion.chunk", "model": "m", "choices": []any{},
		"usage": map[string]any{"prompt_tokens": prompt, "completion_tokens": 2.0, "total_tokens": prompt + 2, "reasoning_tokens": 0.0, "prompt_tokens_details": nil}}
	if diff := cmp.Diff(wantUsage, events[len(events)-1]); diff != "" {
		t.Errorf("usage event (-want +got):\n%s", diff)
	}
}

func TestCompletions_StreamCarriesDeltasFinishOnLastChunkAndUsageWithoutNulls(t *testing.T) {
	_, ts := startServer(t, Config{SkipServerWarmup: true}, mustProfile(t, fastProfile), nil)
	_, body := postPath(t, ts.URL+"/v1/completions", "application/json",
		`{"model":"m","prompt":[1,2,3,4],"max_tokens":3,"stream":true,"stream_options":{"include_usage":true}}`)
	events := streamEvents(t, body, true)
	last := events[len(events)-1]
	id, _ := last["id"].(string)
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
		t.Errorf("id %q is not a bare 32-hex rid", id)
	}
	wantUsage := map[string]any{"id": id, "object": "text_completion", "model": "m", "choices": []any{},
		"usage": map[string]any{"prompt_tokens": 4.0, "completion_tokens": 3.0, "total_tokens": 7.0, "reasoning_tokens": 0.0}}
	if diff := cmp.Diff(wantUsage, last); diff != "" {
		t.Errorf("usage event (-want +got):\n%s", diff)
	}
	var text strings.Builder
	for i, ev := range events[:len(events)-1] {
		c := ev["choices"].([]any)[0].(map[string]any)
		text.WriteString(c["text"].(string))
		wantFinish := any(nil)
		if i == len(events)-2 {
			wantFinish = "length"
		}
		if c["finish_reason"] != wantFinish || ev["object"] != "text_completion" {
			t.Errorf("chunk %d = %v, want finish_reason %v", i, ev, wantFinish)
		}
	}
	if got := len(strings.Fields(text.String())); got != 3 {
		t.Errorf("deltas join to %q, %d words; want 3", text.String(), got)
	}
}

func TestOpenAI_NonStreamedShapesAndDefaults(t *testing.T) {
	_, ts := startServer(t, Config{SkipServerWarmup: true}, mustProfile(t, fastProfile), nil)
	tests := []struct {
		name, path, body string
		wantObject       string
		wantCompletion   float64
		wantFinish       string
	}{
		// max_tokens defaults to 16 for completions.
		{"completion default max_tokens", "/v1/completions", `{"prompt":"abcdefgh","ignore_eos":true}`, "text_completion", 16, "length"},
		{"completion with token ids", "/v1/completions", `{"prompt":[7,8],"max_tokens":4,"ignore_eos":true}`, "text_completion", 4, "length"},
		{"chat", "/v1/chat/completions", `{"messages":[{"role":"user","content":"abcd"}],"max_completion_tokens":3,"ignore_eos":true}`, "chat.completion", 3, "length"},
		// No max tokens: the engine clamps to what the context leaves
		// after the templated prompt.
		{"chat without max tokens", "/v1/chat/completions", `{"messages":[{"role":"user","content":[{"type":"text","text":"abcd"}]}],"ignore_eos":true}`, "chat.completion",
			float64(2048 - 1 - 1 - len(newTokenizer(mustProfile(t, fastProfile)).chat([]chatMessage{{"user", "abcd"}}))), "length"},
		// Without ignore_eos the response ends at EOS: the length custom_params gives.
		{"chat stopping at EOS", "/v1/chat/completions", `{"messages":[{"role":"user","content":"abcd"}],"custom_params":{"sgltest_eos_after":5}}`, "chat.completion", 5, "stop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := postPath(t, ts.URL+tt.path, "application/json", tt.body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatal(err)
			}
			usage := got["usage"].(map[string]any)
			if got["object"] != tt.wantObject || got["model"] != "default" || usage["completion_tokens"] != tt.wantCompletion ||
				usage["prompt_tokens_details"] != nil {
				t.Errorf("response %s: want object %s, model default, %v completion tokens, null prompt_tokens_details",
					body, tt.wantObject, tt.wantCompletion)
			}
			c := got["choices"].([]any)[0].(map[string]any)
			if c["finish_reason"] != tt.wantFinish {
				t.Errorf("finish_reason = %v, want %s", c["finish_reason"], tt.wantFinish)
			}
			if msg, ok := c["message"].(map[string]any); ok {
				if diff := cmp.Diff([]string{"content", "reasoning_content", "role", "tool_calls"}, keys(msg)); diff != "" {
					t.Errorf("message keys (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func TestOpenAI_InvalidRequestsGet400JSONBeforeAnyStream(t *testing.T) {
	_, ts := startServer(t, Config{SkipServerWarmup: true}, mustProfile(t, fastProfile), nil)
	long := strings.TrimSuffix(strings.Repeat("1,", 2048), ",")
	tests := []struct {
		name, path, contentType, body, wantMsg string
	}{
		{"prompt as long as the context", "/v1/completions", "application/json", `{"prompt":[` + long + `],"stream":true}`,
			"The input (2048 tokens) is longer than the model's context length (2048 tokens)."},
		{"prompt plus max_tokens over the context", "/v1/chat/completions", "application/json",
			`{"messages":[{"role":"user","content":"abcd"}],"max_tokens":2047,"stream":true}`, "Requested token count exceeds"},
		{"bad top_p", "/v1/completions", "application/json", `{"prompt":"a","top_p":2}`, "top_p must be in (0, 1], got 2."},
		{"not JSON content type", "/v1/completions", "text/plain", `{"prompt":"a"}`, "Unsupported Media Type"},
		{"batch prompt", "/v1/completions", "application/json", `{"prompt":["a","b"]}`, "batch requests are not simulated"},
		{"no messages", "/v1/chat/completions", "application/json", `{"messages":[]}`, "messages must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := postPath(t, ts.URL+tt.path, tt.contentType, tt.body)
			var got struct {
				Object, Message, Type string
				Code                  int
			}
			if err := json.Unmarshal([]byte(body), &got); err != nil || resp.StatusCode != http.StatusBadRequest ||
				resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("status %d, Content-Type %q, body %s: want a 400 JSON body", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			if got.Object != "error" || got.Type != "BadRequest" || got.Code != 400 || !strings.Contains(got.Message, tt.wantMsg) {
				t.Errorf("error body %s: want object error, type BadRequest, code 400, message containing %q", body, tt.wantMsg)
			}
		})
	}
}

// BenchmarkChatCompletions_Stream32Tokens measures the HTTP path of one
// streamed chat completion of 32 tokens on the fast profile, whose step
// times are negligible: the cost is the simulator's own per-request and
// per-chunk work.
func BenchmarkChatCompletions_Stream32Tokens(b *testing.B) {
	prof, err := LoadProfile(fastProfile)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := NewServer(Options{Config: Config{ModelPath: "m", SkipServerWarmup: true, EnableMetrics: true}, Profile: prof})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	body := `{"messages":[{"role":"user","content":"hello there"}],"max_tokens":32,"ignore_eos":true,"stream":true}`
	b.ReportAllocs()
	for b.Loop() {
		resp, err := http.Post(ts.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
}

func TestCompletions_ContinuousUsageStatsPutsCumulativeUsageOnEveryChunk(t *testing.T) {
	_, ts := startServer(t, Config{SkipServerWarmup: true}, mustProfile(t, fastProfile), nil)
	_, body := postPath(t, ts.URL+"/v1/completions", "application/json",
		`{"prompt":[1,2],"max_tokens":4,"stream":true,"stream_options":{"continuous_usage_stats":true}}`)
	words := 0
	for _, ev := range streamEvents(t, body, true) {
		words += len(strings.Fields(ev["choices"].([]any)[0].(map[string]any)["text"].(string)))
		usage, _ := ev["usage"].(map[string]any)
		if usage == nil || usage["completion_tokens"] != float64(words) || usage["prompt_tokens"] != 2.0 {
			t.Errorf("chunk %v: want usage with %d completion tokens so far", ev, words)
		}
	}
	if words != 4 {
		t.Errorf("stream carried %d tokens, want 4", words)
	}
}
