package simulator

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/sgltest/sgltest/internal/api"
)

// SGLang's /health submits a one-token generation and answers once an
// output reaches the front end, looking once a second: on an idle server
// the check runs one prompt token through the scheduler and answers after
// a second, and it is not counted as a request.
func TestHealth_RunsAOneTokenGenerationWhenIdleAndAnswersAfterASecond(t *testing.T) {
	clock := &stepClock{}
	srv, ts := startServer(t, Config{SkipServerWarmup: true, EnableMetrics: true, HealthPoll: time.Second}, mustProfile(t, fastProfile), clock)
	waitFor(t, "readiness", srv.ready.Load)
	resp, _ := getAdvancing(t, ts, "/health", clock)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/health = %d", resp.StatusCode)
	}
	if now := clock.Now(); now < time.Second {
		t.Errorf("answered at %v on the server clock, before its first one-second look", now)
	}
	_, m := srv.ranks[0].snapshot()
	if m.PrefillComputeTokens != 1 || m.DecodeTokens != 0 {
		t.Errorf("the check computed %d prompt and %d decode tokens, want its one prompt token", m.PrefillComputeTokens, m.DecodeTokens)
	}
	for _, sm := range srv.front.byStreaming {
		if sm.used.Load() {
			t.Error("the health check's generation was counted in the front end's metrics")
		}
	}
}

// While requests run, the scheduler answers a health check without running
// it: their outputs prove liveness.
func TestHealth_RunsNothingWhileRequestsRun(t *testing.T) {
	clock := &stepClock{}
	srv, ts := startServer(t, Config{SkipServerWarmup: true, HealthPoll: time.Millisecond}, mustProfile(t, fastProfile), clock)
	waitFor(t, "readiness", srv.ready.Load)
	release := holdOne(t, ts.URL, `{"input_ids":[1,2,3],"sampling_params":{"max_new_tokens":1500,"ignore_eos":true}}`)
	defer release()
	waitFor(t, "the running request", func() bool { return srv.ranks[0].liveStreams() == 1 })
	clock.advance(t) // t_fe_in
	clock.advance(t) // its prefill
	waitFor(t, "the request to run", func() bool { u, _ := srv.ranks[0].snapshot(); return u.Running == 1 })
	if resp, _ := getAdvancing(t, ts, "/health", clock); resp.StatusCode != http.StatusOK {
		t.Fatalf("/health = %d", resp.StatusCode)
	}
	if _, m := srv.ranks[0].snapshot(); m.PrefillComputeTokens != 3 {
		t.Errorf("prompt tokens computed = %d, want only the running request's 3", m.PrefillComputeTokens)
	}
}

// Text prompts are tokenized deterministically, so a repeated prefix hits
// the radix cache on /generate and on chat completions alike.
func TestTextPrompts_HitTheRadixCacheOnEveryAPI(t *testing.T) {
	_, ts := startServer(t, Config{SkipServerWarmup: true, EnableCacheReport: true}, mustProfile(t, "llama-3.1-8b-h100"), nil)
	system := "You are a meticulous assistant who answers questions about geography with care and precision."
	generate := func(text string) int {
		body, _ := json.Marshal(map[string]any{"text": text, "sampling_params": map[string]any{"max_new_tokens": 1, "ignore_eos": true}})
		resp, out := post(t, ts, string(body))
		var got api.GenerateResponse
		if err := json.Unmarshal([]byte(out), &got); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("generate: %d %s", resp.StatusCode, out)
		}
		return got.MetaInfo.CachedTokens
	}
	if n := generate(system + " What is the capital of France?"); n != 0 {
		t.Errorf("first prompt hit %d cached tokens", n)
	}
	if n := generate(system + " Which river runs through Vienna?"); n < 15 {
		t.Errorf("a prompt sharing the system text hit %d cached tokens, want its shared prefix", n)
	}
	chat := func(user string) int {
		body, _ := json.Marshal(map[string]any{"messages": []map[string]string{{"role": "system", "content": system}, {"role": "user", "content": user}},
			"max_tokens": 1, "ignore_eos": true})
		resp, out := postPath(t, ts.URL+"/v1/chat/completions", "application/json", string(body))
		var got api.ChatCompletionResponse
		if err := json.Unmarshal([]byte(out), &got); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("chat: %d %s", resp.StatusCode, out)
		}
		if got.Usage.PromptTokensDetails == nil {
			return 0
		}
		return got.Usage.PromptTokensDetails.CachedTokens
	}
	chat("Hello")
	if n := chat("And the capital of Peru?"); n < 30 {
		t.Errorf("a chat sharing the system message hit %d cached tokens, want the template and system prefix", n)
	}
}

// Without ignore_eos a /generate request ends at its natural length with
// finish_reason stop, matched to the EOS token, the last of its output_ids;
// max_new_tokens still caps it.
func TestGenerate_StopsAtEOSWithoutIgnoreEOS(t *testing.T) {
	prof := mustProfile(t, fastProfile)
	_, ts := startServer(t, Config{SkipServerWarmup: true}, prof, nil)
	tests := []struct {
		name, body string
		tokens     int
		finish     api.FinishReason
	}{
		{"reference length", `{"input_ids":[5,6],"sampling_params":{"max_new_tokens":50,"custom_params":{"sgltest_eos_after":4}}}`, 4,
			api.FinishReason{Type: api.FinishStop, Matched: 2.0}},
		{"capped by max_new_tokens", `{"input_ids":[5,6],"sampling_params":{"max_new_tokens":3,"custom_params":{"sgltest_eos_after":9}}}`, 3,
			api.FinishReason{Type: api.FinishLength, Length: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, out := post(t, ts, tt.body)
			var got struct {
				OutputIDs []int `json:"output_ids"`
				MetaInfo  struct {
					CompletionTokens int              `json:"completion_tokens"`
					FinishReason     api.FinishReason `json:"finish_reason"`
				} `json:"meta_info"`
			}
			if err := json.Unmarshal([]byte(out), &got); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("%d %s", resp.StatusCode, out)
			}
			if got.MetaInfo.CompletionTokens != tt.tokens || got.MetaInfo.FinishReason != tt.finish || len(got.OutputIDs) != tt.tokens {
				t.Errorf("got %s", out)
			}
			eos := int(prof.Tokenizer.EOSTokenID.Value)
			if ends := slices.Index(got.OutputIDs, eos) == len(got.OutputIDs)-1; ends != (tt.finish.Type == api.FinishStop) {
				t.Errorf("output_ids %v: ends with EOS %d = %v", got.OutputIDs, eos, ends)
			}
		})
	}
	if resp, out := post(t, ts, `{"input_ids":[5],"sampling_params":{"custom_params":{"sgltest_eos_after":0}}}`); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("sgltest_eos_after 0: %d %s", resp.StatusCode, out)
	}
}
