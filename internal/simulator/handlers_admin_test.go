package simulator

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sgltest/sgltest/internal/api"
)

func TestAPIKey_RequiredEverywhereButHealthAndMetrics(t *testing.T) {
	_, ts := startServer(t, Config{EnableMetrics: true, APIKey: "sekrit"}, mustProfile(t, fastProfile), nil)
	waitHealthy(t, ts)
	tests := []struct {
		name, method, path, auth string
		want                     int
	}{
		{"no key", "GET", "/v1/models", "", http.StatusUnauthorized},
		{"wrong key", "GET", "/v1/models", "Bearer nope", http.StatusUnauthorized},
		{"wrong scheme", "GET", "/v1/models", "Basic sekrit", http.StatusUnauthorized},
		{"right key", "GET", "/v1/models", "Bearer sekrit", http.StatusOK},
		{"scheme is case-insensitive", "GET", "/server_info", "bearer sekrit", http.StatusOK},
		{"generate needs it", "POST", "/generate", "", http.StatusUnauthorized},
		{"health is exempt", "GET", "/health", "", http.StatusOK},
		{"health_generate is exempt", "GET", "/health_generate", "", http.StatusOK},
		{"metrics is exempt", "GET", "/metrics", "", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, ts.URL+tt.path, strings.NewReader(`{"text":"a"}`))
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if tt.want == http.StatusUnauthorized && !cmp.Equal(body, map[string]any{"error": "Unauthorized"}) {
				t.Errorf("401 body = %v, want {\"error\":\"Unauthorized\"}", body)
			}
		})
	}
}

// holdOne submits one plain request on a step clock that nobody advances,
// so it stays in the server; the returned func lets it finish.
func holdOne(t *testing.T, ts string, body string) (release func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ts+"/generate", strings.NewReader(body))
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	return func() { cancel(); <-done }
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestFlushCache_200WhenIdle400WhileARequestIsIn(t *testing.T) {
	clock := &stepClock{}
	srv, ts := startServer(t, Config{SkipServerWarmup: true}, mustProfile(t, fastProfile), clock)
	for _, method := range []string{"GET", "POST"} {
		req, _ := http.NewRequest(method, ts.URL+"/flush_cache", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s /flush_cache when idle: %d, want 200", method, resp.StatusCode)
		}
	}
	release := holdOne(t, ts.URL, `{"input_ids":[1,2,3],"sampling_params":{"max_new_tokens":4}}`)
	defer release()
	waitFor(t, "the request to reach the driver", func() bool { return !srv.ranks[0].idle() })
	if resp, body := postPath(t, ts.URL+"/flush_cache", "", ""); resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(body, "Flush cache failed.") {
		t.Errorf("/flush_cache while busy: %d %q, want 400 Flush cache failed.", resp.StatusCode, body)
	}
}

func TestLoads_ReportQueuedAndRunningTokensInEveryShape(t *testing.T) {
	clock := &stepClock{}
	srv, ts := startServer(t, Config{SkipServerWarmup: true, MaxRunningRequests: 1}, mustProfile(t, fastProfile), clock)
	first := holdOne(t, ts.URL, `{"input_ids":[1,2,3,4,5,6,7,8,9,10],"sampling_params":{"max_new_tokens":50}}`)
	defer first()
	waitFor(t, "the first request", func() bool { return !srv.ranks[0].idle() })
	clock.advance(t) // its prefill ends; a decode step starts
	second := holdOne(t, ts.URL, `{"input_ids":[1,2,3,4,5,6],"sampling_params":{"max_new_tokens":50}}`)
	defer second()
	waitFor(t, "the second request", func() bool { _, _, pending := srv.ranks[0].loads(); return pending == 6 })
	// The engine takes the second in when the decode step ends and keeps
	// it waiting (max running 1); the next step's end publishes that.
	clock.advance(t)
	clock.advance(t)
	waitFor(t, "the second request to wait", func() bool { u, _, _ := srv.ranks[0].loads(); return u.Queued == 1 })

	_, body := get(t, ts, "/v1/loads")
	var loads api.Loads
	if err := json.Unmarshal([]byte(body), &loads); err != nil || len(loads.Loads) != 1 {
		t.Fatalf("/v1/loads %s: %v", body, err)
	}
	got := loads.Loads[0]
	if _, err := time.Parse(time.RFC3339Nano, loads.Timestamp); err != nil || loads.Version != version {
		t.Errorf("timestamp %q, version %q: want ISO 8601 and %q", loads.Timestamp, loads.Version, version)
	}
	used := got.NumUsedTokens
	if used < 10 {
		t.Errorf("num_used_tokens = %d, want at least the running request's 10 prompt tokens", used)
	}
	got.Timestamp, got.GenThroughput = "", 0
	want := api.Load{
		NumRunningReqs: 1, NumWaitingReqs: 1, NumWaitingUncachedTokens: 6, NumUsedTokens: used, NumTotalTokens: used + 6,
		MaxTotalNumTokens: 100_000, MaxRunningRequests: 1, TokenUsage: roundTo(float64(used)/100_000, 4),
		Memory: &api.LoadMemory{WeightGB: srv.weightGB(), KVCacheGB: srv.kvCacheGB(), TokenCapacity: 100_000},
		Queues: &api.LoadQueues{Waiting: 1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("/v1/loads (-want +got):\n%s", diff)
	}

	_, body = get(t, ts, "/v1/loads?include=core")
	if strings.Contains(body, `"memory"`) || strings.Contains(body, `"queues"`) {
		t.Errorf("include=core still has optional sections: %s", body)
	}
	if resp, _ := get(t, ts, "/v1/loads?include=bogus"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("include=bogus: %d, want 400", resp.StatusCode)
	}

	_, body = get(t, ts, "/v1/loads?format=prometheus")
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("prometheus loads: %v\n%s", err, body)
	}
	if g := families["sglang_num_total_tokens"]; g == nil || g.GetMetric()[0].GetGauge().GetValue() != float64(used+6) ||
		g.GetMetric()[0].GetLabel()[0].GetValue() != "0" {
		t.Errorf("sglang_num_total_tokens{dp_rank=\"0\"} missing or not %d in\n%s", used+6, body)
	}

	_, body = get(t, ts, "/get_load")
	var legacy []api.LegacyLoad
	if err := json.Unmarshal([]byte(body), &legacy); err != nil || len(legacy) != 1 {
		t.Fatalf("/get_load %s: %v", body, err)
	}
	legacy[0].TsTic = 0
	if diff := cmp.Diff(api.LegacyLoad{NumReqs: 2, NumWaitingReqs: 1, NumTokens: used + 6, NumPendingTokens: 6}, legacy[0]); diff != "" {
		t.Errorf("/get_load (-want +got):\n%s", diff)
	}
}

func TestMetrics_LatencyHistogramsCountEveryRequestAndToken(t *testing.T) {
	_, ts := startServer(t, Config{EnableMetrics: true, SkipServerWarmup: true, ServedModelName: "m"}, mustProfile(t, fastProfile), nil)
	const requests, tokens = 3, 5
	for range requests {
		if resp, body := post(t, ts, `{"input_ids":[1,2,3],"sampling_params":{"max_new_tokens":5,"ignore_eos":true},"stream":true}`); resp.StatusCode != 200 {
			t.Fatalf("generate: %d %s", resp.StatusCode, body)
		}
	}
	_, body := get(t, ts, "/metrics")
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("expfmt: %v\n%s", err, body)
	}
	tests := []struct {
		name    string
		buckets int
		count   uint64
	}{
		// SGLang's bounds plus +Inf.
		{api.MetricTTFT, 18 + 1, requests},
		// Every token after the first, however chunks group them.
		{api.MetricITL, 23 + 1, requests * (tokens - 1)},
		{api.MetricE2E, 22 + 1, requests},
		{api.MetricQueueTime, 40 + 1, requests},
	}
	for _, tt := range tests {
		f := families[tt.name]
		if f == nil || f.GetType().String() != "HISTOGRAM" {
			t.Errorf("%s missing or not a histogram", tt.name)
			continue
		}
		h := f.GetMetric()[0].GetHistogram()
		if h.GetSampleCount() != tt.count || len(h.GetBucket()) != tt.buckets || h.GetSampleSum() <= 0 && tt.name != api.MetricQueueTime {
			t.Errorf("%s: count %d, %d buckets, sum %v; want count %d, %d buckets, positive sum",
				tt.name, h.GetSampleCount(), len(h.GetBucket()), h.GetSampleSum(), tt.count, tt.buckets)
		}
	}
	for _, line := range []string{
		`sglang:time_to_first_token_seconds_bucket{model_name="m",engine_type="unified",is_streaming="true",le="0.1"} 3.0`,
		`sglang:num_requests_total{model_name="m",engine_type="unified",is_streaming="true"} 3.0`,
		`sglang:num_retracted_reqs{model_name="m",engine_type="unified",tp_rank="0",pp_rank="0",moe_ep_rank="0"} 0.0`,
		`sglang:new_token_ratio{model_name="m",engine_type="unified",tp_rank="0",pp_rank="0",moe_ep_rank="0"} 0.7`,
		`sglang:num_retracted_requests_total{model_name="m",engine_type="unified",tp_rank="0",pp_rank="0",moe_ep_rank="0"} 0.0`,
		`sglang:queue_time_seconds_bucket{model_name="m",engine_type="unified",tp_rank="0",pp_rank="0",moe_ep_rank="0",le="+Inf"} 3.0`,
		`sglang:num_aborted_requests_total{model_name="m",engine_type="unified"} 0.0`,
	} {
		if !strings.Contains(body, line+"\n") {
			t.Errorf("exposition lacks %q", line)
		}
	}
}

func TestGenerate_IncrementalStreamingOutputSendsDeltas(t *testing.T) {
	_, ts := startServer(t, Config{SkipServerWarmup: true, IncrementalStreamingOutput: true}, mustProfile(t, fastProfile), nil)
	_, body := post(t, ts, `{"input_ids":[1,2],"sampling_params":{"max_new_tokens":6},"stream":true}`)
	var ids []int
	var text strings.Builder
	last := 0
	for _, ev := range streamEvents(t, body, false) {
		var chunk api.GenerateResponse
		raw, _ := json.Marshal(ev)
		if err := json.Unmarshal(raw, &chunk); err != nil {
			t.Fatal(err)
		}
		if n := chunk.MetaInfo.CompletionTokens - last; len(chunk.OutputIDs) != n || len(strings.Fields(chunk.Text)) != n {
			t.Errorf("chunk %+v: want the %d new tokens only", chunk, n)
		}
		last = chunk.MetaInfo.CompletionTokens
		ids = append(ids, chunk.OutputIDs...)
		text.WriteString(chunk.Text)
	}
	if len(ids) != 6 || len(strings.Fields(text.String())) != 6 {
		t.Errorf("deltas join to %d ids and %q; want 6 tokens", len(ids), text.String())
	}
}

func (d *driver) liveStreams() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.streams)
}

func TestQueueFull_503OrAnAbortChunkOnEveryAPI(t *testing.T) {
	clock := &stepClock{}
	srv, ts := startServer(t, Config{SkipServerWarmup: true, MaxRunningRequests: 1, MaxQueuedRequests: 1},
		mustProfile(t, fastProfile), clock)
	running := holdOne(t, ts.URL, `{"input_ids":[1,2,3],"sampling_params":{"max_new_tokens":1000,"ignore_eos":true}}`)
	defer running()
	waitFor(t, "the running request", func() bool { return srv.ranks[0].liveStreams() == 1 })
	clock.advance(t) // its prefill ends
	queued := holdOne(t, ts.URL, `{"input_ids":[4,5,6],"sampling_params":{"max_new_tokens":10,"ignore_eos":true}}`)
	defer queued()
	waitFor(t, "the queued request", func() bool { return srv.ranks[0].liveStreams() == 2 })
	clock.advance(t) // the driver queues it: the queue is full
	clock.advance(t) // and the next step's end publishes that
	waitFor(t, "a full queue", func() bool { u, _, _ := srv.ranks[0].loads(); return u.Queued == 1 })

	tests := []struct {
		name, path, body string
		wantStatus       int
		want             string // the body, or for streams its first event
	}{
		{"generate", "/generate", `{"input_ids":[7],"sampling_params":{"max_new_tokens":2},"rid":"x1"}`, 503,
			`{"object":"error","message":"The request queue is full.","type":"503","param":null,"code":503}`},
		{"generate stream", "/generate", `{"input_ids":[7],"sampling_params":{"max_new_tokens":2},"rid":"x2","stream":true}`, 200,
			`{"text":"","output_ids":[],"meta_info":{"id":"x2","finish_reason":{"type":"abort","message":"The request queue is full.","status_code":503},"prompt_tokens":1,"completion_tokens":0,"cached_tokens":0,"reasoning_tokens":0,"weight_version":"default","num_retractions":0}}`},
		{"completions", "/v1/completions", `{"prompt":[7],"max_tokens":2}`, 503,
			`{"object":"error","message":"The request queue is full.","type":"503","param":null,"code":503}`},
		{"completions stream", "/v1/completions", `{"model":"m","prompt":[7],"max_tokens":2,"stream":true,"rid":"x3"}`, 200,
			`{"id":"x3","object":"text_completion","model":"m","choices":[{"index":0,"text":"","logprobs":null,"finish_reason":"abort","matched_stop":null}]}`},
		{"chat stream", "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"a"}],"stream":true,"rid":"x4"}`, 200,
			`{"id":"x4","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"reasoning_content":null,"role":"assistant","content":""},"logprobs":null,"finish_reason":null,"matched_stop":null}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			type result struct {
				resp *http.Response
				body string
			}
			got := make(chan result, 1)
			go func() {
				resp, body := postPath(t, ts.URL+tt.path, "application/json", tt.body)
				got <- result{resp, body}
			}()
			waitFor(t, "the request to reach the driver", func() bool { return srv.ranks[0].liveStreams() == 3 })
			clock.advance(t) // the driver tries to queue it
			r := <-got
			if r.resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.resp.StatusCode, tt.wantStatus, r.body)
			}
			body := r.body
			if tt.wantStatus == 200 {
				first, _, _ := strings.Cut(strings.TrimPrefix(body, "data: "), "\n")
				body = regexp.MustCompile(`"created":\d+,`).ReplaceAllString(first, "")
				if !strings.HasSuffix(r.body, "data: [DONE]\n\n") || !strings.Contains(r.body, `"abort"`) {
					t.Errorf("stream %q does not end in an abort and [DONE]", r.body)
				}
			}
			if body != tt.want {
				t.Errorf("got  %s\nwant %s", body, tt.want)
			}
		})
	}
}

func TestRadixCache_ReportsHitsForRepeatedTokenPromptsUntilFlushed(t *testing.T) {
	_, ts := startServer(t, Config{SkipServerWarmup: true, EnableCacheReport: true, EnableMetrics: true},
		mustProfile(t, fastProfile), nil)
	prompt := `[` + strings.TrimSuffix(strings.Repeat("11,", 64), ",") + `]`
	cached := func() (native int, details any) {
		t.Helper()
		_, body := post(t, ts, `{"input_ids":`+prompt+`,"sampling_params":{"max_new_tokens":2}}`)
		var g api.GenerateResponse
		if err := json.Unmarshal([]byte(body), &g); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		_, body = postPath(t, ts.URL+"/v1/completions", "application/json", `{"prompt":`+prompt+`,"max_tokens":2}`)
		var c map[string]any
		if err := json.Unmarshal([]byte(body), &c); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		return g.MetaInfo.CachedTokens, c["usage"].(map[string]any)["prompt_tokens_details"]
	}
	if n, _ := cached(); n != 0 {
		t.Errorf("first request: cached_tokens = %d, want 0", n)
	}
	n, details := cached()
	if n == 0 || !cmp.Equal(details, map[string]any{"cached_tokens": float64(n)}) {
		t.Errorf("repeat: cached_tokens %d and usage details %v; want hits reported in both", n, details)
	}
	if resp, body := postPath(t, ts.URL+"/flush_cache", "", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("/flush_cache: %d %s", resp.StatusCode, body)
	}
	if n, _ := cached(); n != 0 {
		t.Errorf("after /flush_cache: cached_tokens = %d, want 0", n)
	}
	if _, body := get(t, ts, "/metrics"); !strings.Contains(body, `sglang:cached_tokens_total{model_name="meta-llama/Llama-3.1-8B-Instruct",engine_type="unified",cache_source="total"}`) {
		t.Errorf("/metrics has no cached_tokens_total sample after hits")
	}
}
