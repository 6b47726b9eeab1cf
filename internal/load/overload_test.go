package load

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sgltest/sgltest/internal/metrics"
)

// heldServer answers every request like the stub after holding it for d,
// and counts the requests it holds at once.
func heldServer(t *testing.T, d time.Duration, peak *atomic.Int64) *httptest.Server {
	t.Helper()
	var now atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := now.Add(1)
		for old := peak.Load(); n > old && !peak.CompareAndSwap(old, n); old = peak.Load() {
		}
		time.Sleep(d)
		now.Add(-1)
		Stub{}.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestRateWellPastTheClientsCeilingEndsInvalidNamingItsBound offers 2000
// requests per second to a client bounded at 4 requests in flight against a
// server that holds each for 20 ms, a ceiling of 200 per second: every
// request still completes, the client never has more than 4 in flight, and
// the run is invalid with a reason that names the bound and how many
// requests waited for it.
func TestRateWellPastTheClientsCeilingEndsInvalidNamingItsBound(t *testing.T) {
	tests := []struct {
		name        string
		maxInFlight int
		valid       bool
	}{
		{"past the bound", 4, false},
		{"within the bound", 100, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var peak atomic.Int64
			srv := heldServer(t, 20*time.Millisecond, &peak)
			reqs, _ := Random{Count: 40, InputTokens: 4, OutputTokens: 3, VocabSize: 100, Seed: 1}.Requests()
			at, _ := Constant(2000, len(reqs))
			g := &Generator{Client: &Client{HTTP: NewHTTPClient()}, Target: srv.URL, MaxInFlight: tc.maxInFlight,
				Bounds: Bounds{MaxScheduleLag: -1, MaxCPUBusy: -1}}
			res, err := g.Play(context.Background(), reqs, Offsets(at), nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Records) != len(reqs) {
				t.Fatalf("%d records for %d requests", len(res.Records), len(reqs))
			}
			for _, r := range res.Records {
				if !r.OK() {
					t.Fatalf("request %d failed: %s", r.Index, r.Error)
				}
			}
			h := res.Health
			if h.MaxInFlight != tc.maxInFlight || h.PeakInFlight > tc.maxInFlight || int(peak.Load()) > tc.maxInFlight {
				t.Errorf("bound %d: health says bound %d, peak %d; the server held %d at once", tc.maxInFlight, h.MaxInFlight, h.PeakInFlight, peak.Load())
			}
			if h.Valid != tc.valid {
				t.Fatalf("valid %v, want %v: %+v", h.Valid, tc.valid, h)
			}
			if tc.valid {
				if h.BoundWaits != 0 || h.Reason != "" {
					t.Errorf("a run within its bound: %+v", h)
				}
				return
			}
			if h.BoundWaits == 0 || h.BoundWaitMax <= 0 {
				t.Errorf("no waits at the bound recorded: %+v", h)
			}
			for _, want := range []string{"invalid run: load generator reached its bound of 4 requests in flight", " of 40 requests ", "waited up to " + h.BoundWaitMax.Round(time.Microsecond).String()} {
				if !strings.Contains(h.Reason, want) {
					t.Errorf("reason %q lacks %q", h.Reason, want)
				}
			}
		})
	}
}

// TestCancelledRunDoesNotSendRequestsWaitingAtTheBound cancels a run
// whose requests wait for the one slot: those are recorded as not sent.
func TestCancelledRunDoesNotSendRequestsWaitingAtTheBound(t *testing.T) {
	var peak atomic.Int64
	srv := heldServer(t, 50*time.Millisecond, &peak)
	reqs, _ := Random{Count: 5, InputTokens: 4, OutputTokens: 2, VocabSize: 100, Seed: 1}.Requests()
	ctx, cancel := context.WithCancel(context.Background())
	g := &Generator{Client: &Client{HTTP: NewHTTPClient()}, Target: srv.URL, MaxInFlight: 1}
	var cancelled atomic.Bool
	res, err := g.Play(ctx, reqs, Offsets(make([]time.Duration, len(reqs))), func(metrics.Record) error {
		if cancelled.CompareAndSwap(false, true) {
			cancel()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("every request had arrived before the cancel, so the run is complete: %v", err)
	}
	notSent := 0
	for _, r := range res.Records {
		if r.Cancelled && strings.HasPrefix(r.Error, "cancelled before it was sent: ") {
			notSent++
		}
	}
	if len(res.Records) != 5 || notSent == 0 || peak.Load() != 1 {
		t.Fatalf("%d records, %d not sent, server peak %d; want 5 records, the waiting ones not sent, one at a time", len(res.Records), notSent, peak.Load())
	}
}
