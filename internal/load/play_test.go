package load

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sgltest/sgltest/internal/api"
	"github.com/sgltest/sgltest/internal/metrics"
)

func stubServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(Stub{})
	t.Cleanup(srv.Close)
	return srv
}

func TestEveryAPISucceedsStreamedAndNot(t *testing.T) {
	srv := stubServer(t)
	reqs, _ := Random{Count: 6, InputTokens: 8, OutputTokens: 5, VocabSize: 100, Seed: 1}.Requests()
	for _, a := range []API{Native, Completions, Chat} {
		for _, noStream := range []bool{false, true} {
			g := &Generator{Client: &Client{HTTP: NewHTTPClient(), API: a, NoStream: noStream}, Target: srv.URL, RIDPrefix: "x-"}
			res, err := g.Play(context.Background(), reqs, Offsets(make([]time.Duration, len(reqs))), nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res.Records {
				if !r.OK() || r.OutputTokens != 5 || r.OutputTokensEstimated || r.FirstToken == 0 {
					t.Errorf("%v stream=%v: record %+v", a, !noStream, r)
				}
				wantChunks := 5
				if noStream {
					wantChunks = 1
				}
				if len(r.Chunks) != wantChunks {
					t.Errorf("%v stream=%v: %d chunks, want %d", a, !noStream, len(r.Chunks), wantChunks)
				}
			}
		}
	}
}

func TestClientPassesEverySamplingParameterThrough(t *testing.T) {
	var mu sync.Mutex
	bodies := map[string]map[string]any{}
	var auth []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("%s: body is not JSON: %v", r.URL.Path, err)
		}
		mu.Lock()
		bodies[r.URL.Path] = m
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
		r.Body = io.NopCloser(strings.NewReader(string(b)))
		Stub{}.ServeHTTP(w, r)
	}))
	defer srv.Close()
	f := func(v float64) *float64 { return &v }
	i := func(v int) *int { return &v }
	sp := &api.SamplingParams{Temperature: f(0.7), TopP: f(0.9), TopK: i(40), MinP: f(0.05), FrequencyPenalty: f(0.1),
		PresencePenalty: f(0.2), RepetitionPenalty: f(1.1), Stop: []string{"\n\n"}, StopTokenIDs: []int{2}, IgnoreEOS: true,
		MinNewTokens: i(3)}
	reqs := []Request{{Index: 4, InputIDs: []int{1, 2, 3}, OutputTokens: 6}}
	for _, a := range []API{Native, Completions, Chat} {
		c := &Client{HTTP: NewHTTPClient(), API: a, APIKey: "k", Sampling: sp, Model: "m", Extra: map[string]any{"priority": 3}}
		g := &Generator{Client: c, Target: srv.URL, RIDPrefix: "p-"}
		res, err := g.Play(context.Background(), reqs, Offsets{0}, nil)
		if err != nil || !res.Records[0].OK() {
			t.Fatalf("%v: %v %+v", a, err, res.Records)
		}
	}
	native := bodies["/generate"]
	wantNative := map[string]any{
		"input_ids": []any{1.0, 2.0, 3.0}, "stream": true, "rid": "p-4", "priority": 3.0,
		"sampling_params": map[string]any{"max_new_tokens": 6.0, "min_new_tokens": 3.0, "temperature": 0.7, "top_p": 0.9, "top_k": 40.0,
			"min_p": 0.05, "frequency_penalty": 0.1, "presence_penalty": 0.2, "repetition_penalty": 1.1,
			"stop": []any{"\n\n"}, "stop_token_ids": []any{2.0}, "ignore_eos": true},
	}
	if diff := cmp.Diff(wantNative, native); diff != "" {
		t.Errorf("/generate body (-want +got):\n%s", diff)
	}
	openai := map[string]any{
		"model": "m", "max_tokens": 6.0, "stream": true, "rid": "p-4", "priority": 3.0,
		"stream_options": map[string]any{"include_usage": true, "continuous_usage_stats": true},
		"min_tokens":     3.0, "temperature": 0.7, "top_p": 0.9, "top_k": 40.0, "min_p": 0.05, "frequency_penalty": 0.1,
		"presence_penalty": 0.2, "repetition_penalty": 1.1, "stop": []any{"\n\n"}, "stop_token_ids": []any{2.0}, "ignore_eos": true,
	}
	wantCompl := map[string]any{"prompt": []any{1.0, 2.0, 3.0}}
	wantChat := map[string]any{"messages": []any{map[string]any{"role": "user", "content": WordText([]int{1, 2, 3})}}}
	for k, v := range openai {
		wantCompl[k], wantChat[k] = v, v
	}
	if diff := cmp.Diff(wantCompl, bodies["/v1/completions"]); diff != "" {
		t.Errorf("/v1/completions body (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantChat, bodies["/v1/chat/completions"]); diff != "" {
		t.Errorf("/v1/chat/completions body (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"Bearer k", "Bearer k", "Bearer k"}, auth); diff != "" {
		t.Errorf("Authorization headers (-want +got):\n%s", diff)
	}
}

// slowServer answers /generate after delay with one token.
func slowServer(t *testing.T, delay time.Duration) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reading the body first lets the server notice a client that gives up.
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		select {
		case <-time.After(delay):
		case <-r.Context().Done(): // the client gave up
			return
		}
		Stub{}.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestClosedLoopKeepsExactlyNUsersBusy(t *testing.T) {
	srv := slowServer(t, 5*time.Millisecond)
	reqs, _ := Random{Count: 24, InputTokens: 2, OutputTokens: 2, VocabSize: 100, Seed: 1}.Requests()
	loop, err := NewClosedLoop(3)
	if err != nil {
		t.Fatal(err)
	}
	g := &Generator{Client: &Client{HTTP: NewHTTPClient()}, Target: srv.URL}
	res, err := g.Play(context.Background(), reqs, loop, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := metrics.Summarize(res.Records)
	if s.Succeeded != 24 || s.PeakConcurrency != 3 {
		t.Errorf("%d succeeded, peak concurrency %d; want 24 and exactly 3 users", s.Succeeded, s.PeakConcurrency)
	}
	dones := map[time.Duration]bool{0: true}
	for _, r := range res.Records {
		dones[r.Done] = true
	}
	for i, r := range res.Records {
		// Each request is due when an earlier one finished (or at 0 for the first users).
		if !dones[r.Scheduled] || r.Arrival < r.Scheduled {
			t.Errorf("request %d scheduled at %v, which is no earlier request's end", i, r.Scheduled)
		}
	}
	if _, err := NewClosedLoop(0); err == nil {
		t.Error("zero users gave no error")
	}
}

func TestConcurrencyCapQueuesInArrivalOrder(t *testing.T) {
	srv := slowServer(t, 10*time.Millisecond)
	reqs, _ := Random{Count: 8, InputTokens: 2, OutputTokens: 1, VocabSize: 100, Seed: 1}.Requests()
	g := &Generator{Client: &Client{HTTP: NewHTTPClient()}, Target: srv.URL, MaxConcurrency: 2}
	res, err := g.Play(context.Background(), reqs, Offsets(make([]time.Duration, 8)), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := metrics.Summarize(res.Records)
	if s.Succeeded != 8 || s.PeakConcurrency != 2 {
		t.Errorf("%d succeeded, peak concurrency %d; want 8 and 2", s.Succeeded, s.PeakConcurrency)
	}
	// FIFO with 2 slots: request i is admitted only once i−1 requests
	// have finished.
	dones := make([]time.Duration, 0, 8)
	for _, r := range res.Records {
		dones = append(dones, r.Done)
	}
	slices.Sort(dones)
	for i := 2; i < 8; i++ {
		if res.Records[i].Sent < dones[i-2] {
			t.Errorf("request %d sent at %v, before %d requests had finished (%v)", i, res.Records[i].Sent, i-1, dones[i-2])
		}
	}
	// 8 requests, 2 slots, ≥10 ms each: the last waits for 3 rounds.
	if q := res.Records[7].Sent - res.Records[7].Arrival; q < 30*time.Millisecond {
		t.Errorf("last request queued %v, want at least 30 ms counted as queue time", q)
	}
	if s.TotalLatencyMS.Max < s.QueueTimeMS.Max+s.ServerLatencyMS.Min {
		t.Errorf("total latency does not include queue time: %+v", s)
	}
}

func TestStaticBatchingHoldsUntilFullOrTimeout(t *testing.T) {
	srv := stubServer(t)
	reqs, _ := Random{Count: 7, InputTokens: 2, OutputTokens: 1, VocabSize: 100, Seed: 1}.Requests()
	ms := time.Millisecond
	arrivals := Offsets{0, 5 * ms, 10 * ms, 15 * ms, 20 * ms, 25 * ms, 30 * ms}
	const timeout = 100 * time.Millisecond
	g := &Generator{Client: &Client{HTTP: NewHTTPClient()}, Target: srv.URL, Batch: Batch{Size: 3, Timeout: timeout}}
	res, err := g.Play(context.Background(), reqs, arrivals, nil)
	if err != nil {
		t.Fatal(err)
	}
	recs := res.Records
	for b := 0; b < 7; b += 3 {
		last := min(b+2, 6)
		for i := b; i <= last; i++ {
			if !recs[i].OK() {
				t.Fatalf("request %d: %s", i, recs[i].Error)
			}
			if recs[i].Sent < recs[last].Arrival {
				t.Errorf("request %d sent at %v, before its batch's last member arrived at %v", i, recs[i].Sent, recs[last].Arrival)
			}
		}
	}
	// The seventh request is alone: it waits out the timeout, as queue time.
	if q := recs[6].Sent - recs[6].Arrival; q < timeout {
		t.Errorf("lone request queued %v, want at least the %v timeout", q, timeout)
	}
	g.MaxConcurrency = 2
	if _, err := g.Play(context.Background(), reqs, arrivals, nil); err == nil {
		t.Error("batching with a concurrency cap gave no error")
	}
}

func TestWarmupRequestsAreSentFirstAndKeptOutOfTheFigures(t *testing.T) {
	srv := stubServer(t)
	reqs, _ := Random{Count: 4, InputTokens: 2, OutputTokens: 100, VocabSize: 100, Seed: 1}.Requests()
	var mu sync.Mutex
	var sunk []metrics.Record
	g := &Generator{Client: &Client{HTTP: NewHTTPClient()}, Target: srv.URL, Warmup: 2, RIDPrefix: "w-"}
	res, err := g.Play(context.Background(), reqs, Offsets(make([]time.Duration, 4)), func(r metrics.Record) error {
		mu.Lock()
		defer mu.Unlock()
		sunk = append(sunk, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Records) != 6 || len(sunk) != 6 {
		t.Fatalf("%d records, %d sunk; want 2 warmup + 4", len(res.Records), len(sunk))
	}
	for i, r := range res.Records[:2] {
		if !r.Warmup || !r.OK() || r.RequestedOutputTokens != 32 || r.Done >= 0 || r.RID != "w-warmup-"+itoa(i) {
			t.Errorf("warmup record %d: %+v", i, r)
		}
	}
	if s := metrics.Summarize(res.Records); s.Requests != 4 || s.TotalOutputTokens != 400 {
		t.Errorf("summary counts %d requests, %d output tokens; want the 4 measured only", s.Requests, s.TotalOutputTokens)
	}
	bad := &Generator{Client: &Client{HTTP: NewHTTPClient()}, Target: srv.URL + "/nowhere", Warmup: 2}
	if _, err := bad.Play(context.Background(), reqs, Offsets(make([]time.Duration, 4)), nil); err == nil || !strings.Contains(err.Error(), "all 2 warmup requests failed") {
		t.Errorf("failing warmup: error %v", err)
	}
}

// hog is a schedule whose arrival goroutine is starved: before request 0
// it keeps the CPU busy for d, as a saturated machine would, so every
// request due in the meantime arrives late.
type hog struct {
	Offsets
	d time.Duration
}

func (h hog) Arrive(ctx context.Context, i int, c *Clock) (time.Duration, error) {
	if i == 0 {
		for end := time.Now().Add(h.d); time.Now().Before(end); {
		}
	}
	return h.Offsets.Arrive(ctx, i, c)
}

func TestStarvedClientMarksTheRunInvalid(t *testing.T) {
	srv := stubServer(t)
	reqs, _ := Random{Count: 20, InputTokens: 2, OutputTokens: 2, VocabSize: 100, Seed: 1}.Requests()
	at, _ := Constant(2000, 20) // all due within 10 ms, all reached after 60
	g := &Generator{Client: &Client{HTTP: NewHTTPClient()}, Target: srv.URL}
	res, err := g.Play(context.Background(), reqs, hog{Offsets(at), 60 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := res.Health
	if h.Valid || h.ScheduleLagP99 < 50*time.Millisecond || !strings.Contains(h.Reason, "p99 schedule lag "+h.ScheduleLagP99.Round(time.Microsecond).String()) {
		t.Errorf("starved run: %+v; want invalid, naming its p99 lag", h)
	}
}

func TestHealthBounds(t *testing.T) {
	ms := time.Millisecond
	lagged := func(lag time.Duration) []time.Duration {
		lags := make([]time.Duration, 100)
		for i := range lags {
			lags[i] = lag
		}
		return lags
	}
	tests := []struct {
		name      string
		b         Bounds
		recs      []time.Duration
		handoffs  []time.Duration
		cpu, wall time.Duration
		valid     bool
		reason    string
	}{
		{"prompt and idle is valid", Bounds{}, lagged(ms), lagged(ms), 0, time.Second, true, ""},
		{"lag over the default 10 ms", Bounds{}, lagged(12 * ms), lagged(0), 0, time.Second, false, "p99 schedule lag 12ms exceeds 10ms"},
		{"lag under a raised bound", Bounds{MaxScheduleLag: 20 * ms}, lagged(12 * ms), lagged(12 * ms), 0, time.Second, true, ""},
		{"a disabled lag check", Bounds{MaxScheduleLag: -1}, lagged(time.Second), lagged(time.Second), 0, time.Second, true, ""},
		{"woke on time but handed off late", Bounds{}, lagged(ms), lagged(15 * ms), 0, time.Second, false, "p99 hand-off 15ms exceeds 10ms"},
		{"no request handed off", Bounds{}, lagged(ms), nil, 0, time.Second, true, ""},
		{"saturated CPU", Bounds{}, lagged(0), lagged(0), 100 * time.Second, time.Second, false, "saturated its CPU"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.b.resolve()
			if err != nil {
				t.Fatal(err)
			}
			h := b.check(tc.recs, tc.handoffs, tc.cpu, tc.wall, nil)
			if h.Valid != tc.valid || !strings.Contains(h.Reason, tc.reason) || (tc.valid && h.Reason != "") {
				t.Errorf("health %+v, want valid %v and a reason with %q", h, tc.valid, tc.reason)
			}
		})
	}
}
