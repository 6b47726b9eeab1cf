package load

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/sgltest/sgltest/internal/api"
	"github.com/sgltest/sgltest/internal/metrics"
)

// fakeServer streams max_new_tokens one-token chunks for every /generate.
func fakeServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req api.GenerateRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		n := *req.SamplingParams.MaxNewTokens
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		for i := 1; i <= n; i++ {
			resp := api.GenerateResponse{MetaInfo: api.MetaInfo{ID: req.RID, PromptTokens: len(req.InputIDs), CompletionTokens: i}}
			if i == n {
				resp.MetaInfo.FinishReason = &api.FinishReason{Type: api.FinishLength, Length: n}
			}
			b, _ := json.Marshal(resp)
			_ = api.WriteEvent(w, b)
			fl.Flush()
		}
		_ = api.WriteDone(w)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestGeneratorRecordsEveryRequestInOrder(t *testing.T) {
	srv := fakeServer(t)
	reqs, _ := Random{Count: 20, InputTokens: 8, OutputTokens: 5, VocabSize: 100, Seed: 1}.Requests()
	arrivals, _ := Poisson(2000, len(reqs), 1)
	g := &Generator{Client: &Client{HTTP: NewHTTPClient()}, Target: srv.URL, RIDPrefix: "t-"}
	var mu sync.Mutex
	var sunk []int
	recs, err := g.Run(context.Background(), reqs, arrivals, func(r metrics.Record) error {
		mu.Lock()
		defer mu.Unlock()
		sunk = append(sunk, r.Index)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 20 || len(sunk) != 20 {
		t.Fatalf("got %d records and %d sunk, want 20 each", len(recs), len(sunk))
	}
	for i, r := range recs {
		if !r.OK() {
			t.Fatalf("request %d failed: %s", i, r.Error)
		}
		if r.Index != i || r.RID != fmt.Sprintf("t-%d", i) || r.OutputTokens != 5 || r.InputTokens != 8 {
			t.Errorf("record %d: %+v", i, r)
		}
		// The event order the definitions rely on.
		if !(r.Scheduled <= r.Arrival && r.Arrival <= r.Sent && r.Sent < r.FirstToken && r.FirstToken <= r.Done) {
			t.Errorf("record %d: times out of order: scheduled %v arrival %v sent %v first %v done %v",
				i, r.Scheduled, r.Arrival, r.Sent, r.FirstToken, r.Done)
		}
		total := 0
		for _, c := range r.Chunks {
			total += c.Tokens
		}
		if total != r.OutputTokens {
			t.Errorf("record %d: chunks carry %d tokens, output %d", i, total, r.OutputTokens)
		}
	}
}

func TestGeneratorCancelStopsSendingAndKeepsRecords(t *testing.T) {
	srv := fakeServer(t)
	reqs, _ := Random{Count: 10, InputTokens: 4, OutputTokens: 2, VocabSize: 100, Seed: 1}.Requests()
	arrivals := make([]time.Duration, 10)
	for i := range arrivals {
		arrivals[i] = time.Duration(i) * time.Hour // only the first is due
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &Generator{Client: &Client{HTTP: NewHTTPClient()}, Target: srv.URL}
	done := make(chan struct{})
	var recs []metrics.Record
	var err error
	go func() {
		recs, err = g.Run(ctx, reqs, arrivals, func(metrics.Record) error { cancel(); return nil })
		close(done)
	}()
	<-done
	if err == nil {
		t.Fatal("cancelled run returned no error")
	}
	if len(recs) != 1 || !recs[0].OK() {
		t.Fatalf("want the one finished record kept, got %+v", recs)
	}
}

func TestGeneratorReportsSinkErrorsWithoutLosingRecords(t *testing.T) {
	srv := fakeServer(t)
	reqs, _ := Random{Count: 3, InputTokens: 4, OutputTokens: 2, VocabSize: 100, Seed: 1}.Requests()
	g := &Generator{Client: &Client{HTTP: NewHTTPClient()}, Target: srv.URL}
	recs, err := g.Run(context.Background(), reqs, make([]time.Duration, 3), func(metrics.Record) error {
		return fmt.Errorf("disk full")
	})
	if err == nil || len(recs) != 3 {
		t.Fatalf("err %v, %d records; want the sink error and all 3 records", err, len(recs))
	}
}

func TestGeneratorRecordsHTTPErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(503)
		_, _ = w.Write([]byte(`{"object":"error","message":"The request queue is full.","type":"503","code":503}`))
	}))
	defer srv.Close()
	reqs, _ := Random{Count: 1, InputTokens: 4, OutputTokens: 2, VocabSize: 100, Seed: 1}.Requests()
	g := &Generator{Client: &Client{HTTP: NewHTTPClient()}, Target: srv.URL}
	recs, err := g.Run(context.Background(), reqs, []time.Duration{0}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if recs[0].OK() || recs[0].Status != 503 || recs[0].Error == "" {
		t.Fatalf("want a failed 503 record, got %+v", recs[0])
	}
}

func TestGeneratorRoutesEachRequestWhenItIsSent(t *testing.T) {
	a, b := fakeServer(t), fakeServer(t)
	targets := []string{a.URL, b.URL}
	reqs, _ := Random{Count: 10, InputTokens: 4, OutputTokens: 2, VocabSize: 100, Seed: 1}.Requests()
	var mu sync.Mutex
	next, inFlight, maxInFlight := 0, 0, 0
	g := &Generator{Client: &Client{HTTP: NewHTTPClient()}, Route: func(Request) (string, func(), error) {
		mu.Lock()
		defer mu.Unlock()
		i := next % 2
		next++
		inFlight++
		maxInFlight = max(maxInFlight, inFlight)
		return targets[i], func() { mu.Lock(); inFlight--; mu.Unlock() }, nil
	}}
	arrivals, _ := Poisson(500, len(reqs), 2)
	res, err := g.Play(context.Background(), reqs, Offsets(arrivals), nil)
	if err != nil {
		t.Fatal(err)
	}
	perTarget := map[string]int{}
	for _, r := range res.Records {
		if !r.OK() {
			t.Fatalf("request %d failed: %s", r.Index, r.Error)
		}
		perTarget[r.Target]++
		if !(r.Arrival <= r.Routed && r.Routed <= r.Sent) {
			t.Errorf("request %d: routed at %v, outside arrival %v .. sent %v", r.Index, r.Routed, r.Arrival, r.Sent)
		}
	}
	if perTarget[a.URL] != 5 || perTarget[b.URL] != 5 {
		t.Errorf("requests per target %v, want 5 and 5", perTarget)
	}
	if inFlight != 0 {
		t.Errorf("%d requests never reported done to the router", inFlight)
	}
}

func TestHandOffLiesBetweenArrivalAndSend(t *testing.T) {
	srv := fakeServer(t)
	reqs, _ := Random{Count: 30, InputTokens: 8, OutputTokens: 3, VocabSize: 100, Seed: 2}.Requests()
	at, _ := Poisson(1000, len(reqs), 2)
	g := &Generator{Client: &Client{HTTP: NewHTTPClient()}, Target: srv.URL}
	res, err := g.Play(context.Background(), reqs, Offsets(at), nil)
	if err != nil {
		t.Fatal(err)
	}
	var most time.Duration
	for _, r := range res.Records {
		most = max(most, r.Sent-r.Arrival)
	}
	// A worker starts on a request after it arrived and before it is
	// written, so no hand-off exceeds the longest arrival-to-send time.
	if h := res.Health.HandoffP99; h <= 0 || h > most {
		t.Errorf("p99 hand-off %v; want it measured, within the longest arrival-to-send time %v", h, most)
	}
}
