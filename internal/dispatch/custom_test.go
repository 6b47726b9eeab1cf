package dispatch_test

import (
	"testing"
	"time"

	"github.com/sgltest/sgltest/internal/dispatch"
	"github.com/sgltest/sgltest/internal/load"
	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/workerstate"
	"github.com/sgltest/sgltest/router"
)

// skipLast is a custom policy as a user would write one: round robin over
// every worker but the last.
type skipLast struct{ n int }

func (p *skipLast) Pick(_ router.Request, ws []router.Worker) (int, error) {
	i := p.n % (len(ws) - 1)
	p.n++
	return i, nil
}

func TestDispatcherUsesACustomPolicyRegisteredByName(t *testing.T) {
	if err := router.Register("test_skip_last", func(router.Options) (router.Policy, error) { return &skipLast{}, nil }); err != nil {
		t.Fatal(err)
	}
	_, workers := startSimulators(t, 3)
	policy, err := router.New("test_skip_last", router.Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	scr, err := workerstate.New(workers, time.Hour, func() time.Duration { return time.Since(start) }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := scr.ScrapeOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	d, err := dispatch.New(policy, workers, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.State = scr
	reqs := make([]load.Request, 6)
	arrivals := make([]time.Duration, len(reqs))
	for i := range reqs {
		reqs[i] = load.Request{Index: i, InputIDs: []int{1, 2, 3, i}, OutputTokens: 4}
		arrivals[i] = time.Duration(i) * time.Millisecond
	}
	gen := &load.Generator{Client: &load.Client{HTTP: load.NewHTTPClient()}, Route: d.Route}
	res, err := gen.Play(t.Context(), reqs, load.Offsets(arrivals), nil)
	if err != nil {
		t.Fatal(err)
	}
	recs := res.Records
	for i, r := range recs {
		if !r.OK() {
			t.Fatalf("request %d failed: %s", i, r.Error)
		}
		if !(r.Arrival <= r.Routed && r.Routed <= r.Sent && r.Sent < r.Done) {
			t.Errorf("request %d: arrival %v, routed %v, sent %v, done %v out of order", i, r.Arrival, r.Routed, r.Sent, r.Done)
		}
	}
	shares, err := metrics.SharesFromRecords(recs, workers)
	if err != nil {
		t.Fatal(err)
	}
	if err := scr.ScrapeOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	diffs, err := scr.Diff()
	if err != nil {
		t.Fatal(err)
	}
	// The policy's choices show in our records and in the workers' own
	// request counters alike.
	for i, w := range workers {
		want := []float64{3, 3, 0}[i]
		if shares[i].Requests != want || diffs[w].Requests != want {
			t.Errorf("worker %d: %v requests in records, %v in its counters; want %v", i, shares[i].Requests, diffs[w].Requests, want)
		}
	}
}
