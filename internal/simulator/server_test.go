package simulator

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sgltest/sgltest/internal/api"
)

// stepClock is a virtual clock the test moves by hand: SleepUntil blocks
// until advance wakes the earliest sleeper and sets Now to its deadline. With
// one sleeper at a time (the driver, or a handler charging t_fe_in) a test
// decides exactly when each step ends, so chunk boundaries are deterministic.
type stepClock struct {
	mu       sync.Mutex
	now      time.Duration
	sleepers []*sleeper
}

type sleeper struct {
	at   time.Duration
	wake chan struct{}
}

func (c *stepClock) Now() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) SleepUntil(ctx context.Context, t time.Duration) error {
	c.mu.Lock()
	if t <= c.now {
		c.mu.Unlock()
		return ctx.Err()
	}
	s := &sleeper{at: t, wake: make(chan struct{})}
	c.sleepers = append(c.sleepers, s)
	c.mu.Unlock()
	select {
	case <-s.wake:
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		c.sleepers = slices.DeleteFunc(c.sleepers, func(x *sleeper) bool { return x == s })
		c.mu.Unlock()
		return ctx.Err()
	}
}

// tryAdvance wakes the earliest sleeper, if there is one.
func (c *stepClock) tryAdvance() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.sleepers) == 0 {
		return false
	}
	i := 0
	for j, s := range c.sleepers {
		if s.at < c.sleepers[i].at {
			i = j
		}
	}
	s := c.sleepers[i]
	c.sleepers = slices.Delete(c.sleepers, i, i+1)
	c.now = s.at
	close(s.wake)
	return true
}

// advance waits for a sleeper to appear and wakes it.
func (c *stepClock) advance(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !c.tryAdvance() {
		if time.Now().After(deadline) {
			t.Fatal("nothing sleeps on the clock")
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// startServer runs a server for one test on an httptest listener.
func startServer(t *testing.T, cfg Config, prof Profile, clock Clock) (*Server, *httptest.Server) {
	t.Helper()
	if cfg.ModelPath == "" {
		cfg.ModelPath = "meta-llama/Llama-3.1-8B-Instruct"
	}
	if cfg.HealthPoll == 0 {
		cfg.HealthPoll = time.Millisecond // SGLang's one second would slow every test
	}
	return serve(t, Options{Config: cfg, Profile: prof, Clock: clock})
}

// serve runs a server made with o for one test on an httptest listener.
func serve(t *testing.T, o Options) (*Server, *httptest.Server) {
	t.Helper()
	srv, err := NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return srv, ts
}

func waitHealthy(t *testing.T, ts *httptest.Server) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(ts.URL + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("server never became healthy")
		}
		time.Sleep(time.Millisecond)
	}
}

func post(t *testing.T, ts *httptest.Server, body string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Post(ts.URL+"/generate", "application/json", strings.NewReader(body))
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

// getAdvancing is get while advancing clock, for requests that sleep on it.
func getAdvancing(t *testing.T, ts *httptest.Server, path string, clock *stepClock) (*http.Response, string) {
	t.Helper()
	type result struct {
		resp *http.Response
		body string
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			done <- result{}
			return
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		done <- result{resp, string(data)}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case r := <-done:
			if r.resp == nil {
				t.Fatalf("GET %s failed", path)
			}
			return r.resp, r.body
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s did not answer", path)
		}
		clock.tryAdvance()
		time.Sleep(100 * time.Microsecond)
	}
}

func get(t *testing.T, ts *httptest.Server, path string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(ts.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, string(data)
}

func TestHealth_503UntilStartupDelayAndWarmupThen200(t *testing.T) {
	clock := &stepClock{}
	_, ts := startServer(t, Config{StartupDelay: time.Minute}, mustProfile(t, fastProfile), clock)
	resp, body := get(t, ts, "/health")
	if resp.StatusCode != http.StatusServiceUnavailable || body != "" {
		t.Fatalf("/health while starting = %d %q, want 503 with an empty body", resp.StatusCode, body)
	}
	if resp, _ := get(t, ts, "/v1/models"); resp.StatusCode != http.StatusOK {
		t.Errorf("/v1/models while starting = %d; SGLang answers it before /health turns 200", resp.StatusCode)
	}
	// Each advance ends the startup delay, one step of the warmup request,
	// one step of a health check's generation or one of its polls.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, body := getAdvancing(t, ts, "/health_generate", clock)
		if resp.StatusCode == http.StatusOK {
			if body != "" {
				t.Errorf("/health_generate body = %q, want empty", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("server never became healthy")
		}
		clock.tryAdvance()
		time.Sleep(100 * time.Microsecond)
	}
	if now := clock.Now(); now < time.Minute {
		t.Errorf("healthy at %v on the server clock, before the one-minute startup delay", now)
	}
}

// readEvent reads one SSE event ("data: ...\n\n").
func readEvent(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	var ev strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading stream: %v (so far %q)", err, ev.String())
		}
		ev.WriteString(line)
		if line == "\n" {
			return ev.String()
		}
	}
}

func TestGenerate_StreamIsSGLangsByteForByte(t *testing.T) {
	clock := &stepClock{}
	prof := mustProfile(t, fastProfile)
	prof.Frontend.InputOverhead.Value = 0.002 // t_fe_in counts in e2e_latency
	_, ts := startServer(t, Config{SkipServerWarmup: true, RandomSeed: 1}, prof, clock)

	resp, err := http.Post(ts.URL+"/generate", "application/json", strings.NewReader(
		`{"input_ids":[1,2,3],"sampling_params":{"max_new_tokens":3,"temperature":0,"ignore_eos":true},"stream":true,"rid":"r1"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	r := bufio.NewReader(resp.Body)
	clock.advance(t) // the handler's t_fe_in
	var got strings.Builder
	for range 3 {
		clock.advance(t) // one step: the prefill, then two decodes
		got.WriteString(readEvent(t, r))
	}
	rest, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	got.Write(rest)

	// e2e_latency is t_fe_in (2 ms) plus one prefill and two decode steps of
	// the fast profile, on the test's clock.
	want := `data: {"text":" of","output_ids":[449],"meta_info":{"id":"r1","finish_reason":null,"prompt_tokens":3,"completion_tokens":1,"cached_tokens":0,"reasoning_tokens":0,"weight_version":"default","num_retractions":0}}

data: {"text":" of at","output_ids":[449,599],"meta_info":{"id":"r1","finish_reason":null,"prompt_tokens":3,"completion_tokens":2,"cached_tokens":0,"reasoning_tokens":0,"weight_version":"default","num_retractions":0}}

data: {"text":" of at which","output_ids":[449,599,184],"meta_info":{"id":"r1","finish_reason":{"type":"length","length":3},"prompt_tokens":3,"completion_tokens":3,"cached_tokens":0,"reasoning_tokens":0,"weight_version":"default","num_retractions":0,"e2e_latency":0.002065687}}

data: [DONE]

`
	if diff := cmp.Diff(want, got.String()); diff != "" {
		t.Errorf("stream (-want +got):\n%s", diff)
	}
}

func TestGenerate_StreamIntervalSendsTokens1KPlus1AndFinish(t *testing.T) {
	clock := &stepClock{}
	_, ts := startServer(t, Config{SkipServerWarmup: true, StreamInterval: 4}, mustProfile(t, fastProfile), clock)
	resp, err := http.Post(ts.URL+"/generate", "application/json", strings.NewReader(
		`{"text":"hello","sampling_params":{"max_new_tokens":5,"stream_interval":2},"stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	var got []int
	for step := 1; step <= 5; step++ {
		clock.advance(t)
		if step%2 == 0 {
			continue // tokens 2 and 4 make no chunk
		}
		var chunk api.GenerateResponse
		ev := readEvent(t, r)
		if err := json.Unmarshal([]byte(strings.TrimPrefix(ev, "data: ")), &chunk); err != nil {
			t.Fatalf("chunk %q: %v", ev, err)
		}
		got = append(got, chunk.MetaInfo.CompletionTokens)
		if len(chunk.OutputIDs) != chunk.MetaInfo.CompletionTokens || len(strings.Fields(chunk.Text)) != chunk.MetaInfo.CompletionTokens {
			t.Errorf("chunk is not cumulative: %+v", chunk)
		}
	}
	if diff := cmp.Diff([]int{1, 3, 5}, got); diff != "" {
		t.Errorf("completion_tokens per chunk (-want +got):\n%s", diff)
	}
	if ev := readEvent(t, r); ev != "data: [DONE]\n\n" {
		t.Errorf("last event = %q", ev)
	}
}

func TestGenerate_NonStreamedResponseShape(t *testing.T) {
	_, ts := startServer(t, Config{SkipServerWarmup: true}, mustProfile(t, fastProfile), nil)
	resp, body := post(t, ts, `{"input_ids":[5,6,7,8],"sampling_params":{"max_new_tokens":5,"ignore_eos":true}}`)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, Content-Type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var got struct {
		Text      string         `json:"text"`
		OutputIDs []int          `json:"output_ids"`
		MetaInfo  map[string]any `json:"meta_info"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.OutputIDs) != 5 || len(strings.Fields(got.Text)) != 5 {
		t.Errorf("text %q and output_ids %v should hold 5 tokens", got.Text, got.OutputIDs)
	}
	id, _ := got.MetaInfo["id"].(string)
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
		t.Errorf("generated rid %q is not 32 hex digits", id)
	}
	e2e, _ := got.MetaInfo["e2e_latency"].(float64)
	if e2e <= 0 {
		t.Errorf("e2e_latency = %v, want positive", got.MetaInfo["e2e_latency"])
	}
	delete(got.MetaInfo, "id")
	delete(got.MetaInfo, "e2e_latency")
	want := map[string]any{
		"finish_reason":     map[string]any{"type": "length", "length": 5.0},
		"prompt_tokens":     4.0,
		"completion_tokens": 5.0,
		"cached_tokens":     0.0,
		"reasoning_tokens":  0.0,
		"weight_version":    "default",
		"num_retractions":   0.0,
	}
	if diff := cmp.Diff(want, got.MetaInfo); diff != "" {
		t.Errorf("meta_info (-want +got):\n%s", diff)
	}
}

func TestGenerate_InvalidRequestsGet400WithSGLangsMessage(t *testing.T) {
	_, ts := startServer(t, Config{SkipServerWarmup: true}, mustProfile(t, fastProfile), nil)
	ids := func(n int) string { return strings.TrimSuffix(strings.Repeat("1,", n), ",") }
	tests := []struct {
		name, body, want string
	}{
		{"both text and input_ids", `{"text":"a","input_ids":[1]}`, "Either text, input_ids or input_embeds should be provided."},
		{"neither text nor input_ids", `{"sampling_params":{"max_new_tokens":1}}`, "Either text, input_ids or input_embeds should be provided."},
		{"prompt as long as the context", `{"input_ids":[` + ids(2048) + `]}`,
			"The input (2048 tokens) is longer than the model's context length (2048 tokens)."},
		{"prompt plus max_new_tokens reaches the context", `{"input_ids":[` + ids(2000) + `],"sampling_params":{"max_new_tokens":48}}`,
			"Requested token count exceeds the model's maximum context length of 2048 tokens. You requested a total of 2048 tokens: 2000 tokens from the input messages and 48 tokens for the completion."},
		{"negative temperature", `{"text":"a","sampling_params":{"temperature":-1}}`, "temperature must be non-negative"},
		{"top_p zero", `{"text":"a","sampling_params":{"top_p":0}}`, "top_p must be in (0, 1]"},
		{"token id outside the vocabulary", `{"input_ids":[1,1000]}`, "contains values greater than the vocab size (1000)"},
		{"batch of prompts", `{"text":["a","b"]}`, "batch requests are not simulated"},
		{"top_k zero", `{"text":"a","sampling_params":{"top_k":0}}`, "top_k must be -1 (disable), or at least 1"},
		{"repetition_penalty zero", `{"text":"a","sampling_params":{"repetition_penalty":0}}`, "repetition_penalty must be in (0, 2]"},
		{"min_new_tokens above max_new_tokens", `{"text":"a","sampling_params":{"max_new_tokens":2,"min_new_tokens":3}}`, "min_new_tokens must be in [0, max_new_tokens]"},
		{"several samples", `{"text":"a","sampling_params":{"n":2}}`, "n=2 is not simulated"},
		{"stop of the wrong type", `{"text":"a","sampling_params":{"stop":5}}`, "Invalid sampling_params"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(t, ts, tt.body)
			var got api.StreamError
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(got.Error.Message, tt.want) {
				t.Errorf("got %d %q, want 400 containing %q", resp.StatusCode, got.Error.Message, tt.want)
			}
		})
	}

	t.Run("malformed JSON", func(t *testing.T) {
		resp, body := post(t, ts, `{"text":`)
		var got api.ErrorResponse
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("body %q: %v", body, err)
		}
		if resp.StatusCode != http.StatusBadRequest || got.Object != "error" || got.Type != "Bad Request" || got.Code != 400 {
			t.Errorf("got %d %+v", resp.StatusCode, got)
		}
	})
}

func TestGenerate_StreamedValidationErrorArrivesInsideA200Stream(t *testing.T) {
	_, ts := startServer(t, Config{SkipServerWarmup: true}, mustProfile(t, fastProfile), nil)
	resp, body := post(t, ts, `{"text":"a","sampling_params":{"top_p":0},"stream":true}`)
	want := `data: {"error":{"message":"top_p must be in (0, 1], got 0.","type":"invalid_request_error","code":400,"retryable":false}}` +
		"\n\ndata: [DONE]\n\n"
	if resp.StatusCode != http.StatusOK || body != want {
		t.Errorf("got %d %q, want 200 %q", resp.StatusCode, body, want)
	}
}

// An unknown sampling_params key makes SGLang's SamplingParams(**params)
// raise a TypeError that /generate does not catch: a plain request gets
// Starlette's 500, a streamed one a 200 stream cut off without [DONE].
func TestGenerate_UnknownSamplingKeyIsA500OrABrokenStream(t *testing.T) {
	_, ts := startServer(t, Config{SkipServerWarmup: true}, mustProfile(t, fastProfile), nil)
	resp, body := post(t, ts, `{"text":"a","sampling_params":{"max_new_tokens":1,"max_tokens":1}}`)
	if resp.StatusCode != http.StatusInternalServerError || body != "Internal Server Error" ||
		resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("plain: got %d %q (%s), want 500 \"Internal Server Error\"", resp.StatusCode, body, resp.Header.Get("Content-Type"))
	}
	sresp, err := http.Post(ts.URL+"/generate", "application/json", strings.NewReader(`{"text":"a","sampling_params":{"bogus":1},"stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	defer sresp.Body.Close()
	data, err := io.ReadAll(sresp.Body)
	if sresp.StatusCode != http.StatusOK || err == nil || strings.Contains(string(data), "[DONE]") {
		t.Errorf("stream: got %d %q (read error %v), want 200 cut off without [DONE]", sresp.StatusCode, data, err)
	}
}

func TestGenerate_ClientDisconnectFreesTheSlot(t *testing.T) {
	prof := mustProfile(t, fastProfile)
	// 10 ms steps: left alone the first request would run for about 20 s.
	prof.StepTime.StepOverhead.Value = 0.01
	srv, ts := startServer(t, Config{SkipServerWarmup: true, MaxRunningRequests: 1}, prof, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ts.URL+"/generate", strings.NewReader(
		`{"input_ids":[1,2,3],"sampling_params":{"max_new_tokens":2000},"stream":true,"rid":"long"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	readEvent(t, bufio.NewReader(resp.Body))

	if resp, body := post(t, ts, `{"text":"a","rid":"long"}`); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Duplicate request ID: long") {
		t.Errorf("reused rid in flight: %d %s", resp.StatusCode, body)
	}

	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		u, _ := srv.ranks[0].snapshot()
		if u == (Usage{}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("5 s after the client left the engine still holds %+v", u)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestModels_ListTheServedModelOwnedBySGLang(t *testing.T) {
	_, ts := startServer(t, Config{ServedModelName: "my-model", SkipServerWarmup: true}, mustProfile(t, fastProfile), nil)
	_, body := get(t, ts, "/v1/models")
	var list api.ModelList
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Data) != 1 {
		t.Fatalf("models: %s", body)
	}
	card := list.Data[0]
	card.Created = 0
	want := api.ModelCard{ID: "my-model", Object: "model", OwnedBy: "sglang", Root: "my-model", MaxModelLen: 2048}
	if diff := cmp.Diff(want, card); diff != "" || list.Object != "list" {
		t.Errorf("model card (-want +got):\n%s", diff)
	}
	if !strings.Contains(body, `"parent":null`) {
		t.Errorf("parent is not null: %s", body)
	}
	if resp, _ := get(t, ts, "/v1/models/my-model"); resp.StatusCode != http.StatusOK {
		t.Errorf("/v1/models/my-model = %d", resp.StatusCode)
	}
	if resp, body := get(t, ts, "/v1/models/other"); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "model_not_found") {
		t.Errorf("/v1/models/other = %d %s", resp.StatusCode, body)
	}
}

func TestInfo_ModelAndServerInfo(t *testing.T) {
	prof := mustProfile(t, fastProfile)
	_, ts := startServer(t, Config{SkipServerWarmup: true, EnableMetrics: true}, prof, nil)
	for _, path := range []string{"/model_info", "/get_model_info"} {
		_, body := get(t, ts, path)
		var mi api.ModelInfo
		if err := json.Unmarshal([]byte(body), &mi); err != nil {
			t.Fatal(err)
		}
		if mi.ModelPath != "meta-llama/Llama-3.1-8B-Instruct" || !mi.IsGeneration || mi.ModelType != "llama" {
			t.Errorf("%s = %s", path, body)
		}
	}
	for _, path := range []string{"/server_info", "/get_server_info"} {
		_, body := get(t, ts, path)
		var si api.ServerInfo
		if err := json.Unmarshal([]byte(body), &si); err != nil {
			t.Fatal(err)
		}
		// The CLI value of max_running_requests is null when unset; the
		// effective value lives in internal_states.
		if !strings.Contains(body, `"max_running_requests":null`) {
			t.Errorf("%s: max_running_requests is not null", path)
		}
		// SGLang's auto rule: 100000 / 2048 x 512 = 25000, cut to 4096.
		if len(si.InternalStates) != 1 || si.InternalStates[0].EffectiveMaxRunningRequestsPerDP != 4096 {
			t.Errorf("%s: internal_states = %+v", path, si.InternalStates)
		}
		if si.MaxTotalNumTokens != 100_000 || si.ChunkedPrefillSize != 512 || si.SchedulePolicy != "fcfs" ||
			si.TPSize != 1 || !si.EnableMetrics || si.Version == "" || si.Simulator == nil || si.Simulator.Profile != "fast-test" {
			t.Errorf("%s = %s", path, body)
		}
	}
}

func TestMetrics_ParseWithExpfmtAndCountTheWarmup(t *testing.T) {
	_, ts := startServer(t, Config{EnableMetrics: true, ServedModelName: "m"}, mustProfile(t, fastProfile), nil)
	waitHealthy(t, ts)
	if resp, body := post(t, ts, `{"input_ids":[`+strings.Repeat("5,", 9)+`5],"sampling_params":{"max_new_tokens":7,"ignore_eos":true}}`); resp.StatusCode != 200 {
		t.Fatalf("generate: %d %s", resp.StatusCode, body)
	}
	resp, body := get(t, ts, "/metrics")
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type = %q", ct)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("expfmt: %v\n%s", err, body)
	}
	value := func(name string, labels map[string]string) float64 {
		t.Helper()
		mf := families[name]
		if mf == nil {
			t.Fatalf("no family %s in\n%s", name, body)
		}
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			if cmp.Equal(labels, got) {
				if c := m.GetCounter(); c != nil {
					return c.GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
		t.Fatalf("%s has no sample with labels %v in\n%s", name, labels, body)
		return 0
	}
	front := map[string]string{"model_name": "m", "engine_type": "unified", "is_streaming": "false"}
	sched := map[string]string{"model_name": "m", "engine_type": "unified", "tp_rank": "0", "pp_rank": "0", "moe_ep_rank": "0"}
	withMode := func(mode string) map[string]string {
		l := map[string]string{"mode": mode}
		for k, v := range sched {
			l[k] = v
		}
		return l
	}
	// The warmup request (9 prompt tokens: BOS and "The capital city of
	// France is", 8 generated) counts, as in SGLang; the health check that
	// found the server ready ran one prompt token (input_ids [0]) through
	// the scheduler, outside the front end's counters.
	counters := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{api.MetricPromptTokens, front, 9 + 10},
		{api.MetricGenerationTokens, front, 8 + 7},
		{api.MetricNumRequests, front, 2},
		{api.MetricRealtimeTokens, withMode("prefill_compute"), 9 + 1 + 10},
		{api.MetricRealtimeTokens, withMode("decode"), 7 + 6},
		{api.MetricMaxTotalNumTokens, sched, 100_000},
	}
	for _, c := range counters {
		if got := value(c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	for _, name := range []string{api.MetricNumRunningReqs, api.MetricNumQueueReqs, api.MetricTokenUsage,
		api.MetricNumUsedTokens, api.MetricGenThroughput, api.MetricCacheHitRate} {
		value(name, sched)
		if typ := families[name].GetType().String(); typ != "GAUGE" {
			t.Errorf("%s is a %s", name, typ)
		}
	}
	if _, ok := families[api.MetricCachedTokens]; ok {
		t.Errorf("%s has a sample before any cache hit; SGLang writes none", api.MetricCachedTokens)
	}
	for _, line := range []string{
		"# TYPE sglang:num_requests_total counter\n",
		`sglang:num_requests_total{model_name="m",engine_type="unified",is_streaming="false"} 2.0` + "\n",
	} {
		if !strings.Contains(body, line) {
			t.Errorf("exposition lacks %q", line)
		}
	}
}

func TestMetrics_404WithoutEnableMetrics(t *testing.T) {
	_, ts := startServer(t, Config{SkipServerWarmup: true}, mustProfile(t, fastProfile), nil)
	if resp, body := get(t, ts, "/metrics"); resp.StatusCode != http.StatusNotFound || body != `{"detail":"Not Found"}` {
		t.Errorf("/metrics = %d %s", resp.StatusCode, body)
	}
}

func TestNewServer_RejectsATPSizeTheModelCannotBeSplitInto(t *testing.T) {
	_, err := NewServer(Options{Config: Config{ModelPath: "m", TPSize: 3}, Profile: mustProfile(t, fastProfile)})
	if err == nil || !strings.Contains(err.Error(), "does not divide the model's 8 attention heads") {
		t.Errorf("err = %v", err)
	}
	if _, err := NewServer(Options{Config: Config{ModelPath: "m", TPSize: 2}, Profile: mustProfile(t, fastProfile)}); err != nil {
		t.Errorf("TP 2 of 8 heads: %v", err)
	}
}

func TestGenerate_AcceptsSGLangOnlySamplingKeysAndStopAsAString(t *testing.T) {
	_, ts := startServer(t, Config{SkipServerWarmup: true}, mustProfile(t, fastProfile), nil)
	resp, body := post(t, ts, `{"text":"a","sampling_params":{"max_new_tokens":2,"stop":"\\n","no_stop_trim":true,"sampling_seed":3,"top_k":-1}}`)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("got %d %s", resp.StatusCode, body)
	}
}

func TestPyFloat_WritesPythonRepr(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0.0", 2: "2.0", 440000: "440000.0", 0.25: "0.25", 1e16: "1e+16", 1.5e-7: "1.5e-07",
		math.Inf(1): "+Inf", math.NaN(): "NaN",
	} {
		if got := pyFloat(v); got != want {
			t.Errorf("pyFloat(%v) = %q, want %q", v, got, want)
		}
	}
}
