package goodput

import (
	"strings"
	"testing"
	"time"

	"github.com/sgltest/sgltest/internal/metrics"
)

const ms = time.Millisecond

func TestMeasureCountsRequestsMeetingEveryBound(t *testing.T) {
	reqs := []Request{
		{Index: 0, OK: true, HasTTFT: true, TTFT: 100 * ms, TPOT: 20 * ms, E2E: 1000 * ms}, // good
		{Index: 1, OK: true, HasTTFT: true, TTFT: 200 * ms, TPOT: 50 * ms, E2E: 1500 * ms}, // good: bounds are inclusive
		{Index: 2, OK: true, HasTTFT: true, TTFT: 201 * ms, TPOT: 10 * ms, E2E: 800 * ms},  // misses TTFT
		{Index: 3, OK: true, HasTTFT: true, TTFT: 150 * ms, TPOT: 51 * ms, E2E: 3000 * ms}, // misses TPOT and E2E
		{Index: 4, OK: false, HasTTFT: true, TTFT: 10 * ms, TPOT: 10 * ms, E2E: 100 * ms},  // failed
		{Index: 5, OK: true, HasTTFT: true, TTFT: 190 * ms, TPOT: 0, E2E: 190 * ms},        // one output token: TPOT 0
		{Index: 6, OK: true, HasTTFT: true, TTFT: 50 * ms, TPOT: 30 * ms, E2E: 2001 * ms},  // misses E2E only
		{Index: 7, OK: true, HasTTFT: true, TTFT: 199 * ms, TPOT: 49 * ms, E2E: 1999 * ms}, // good
	}
	tests := []struct {
		name                     string
		slo                      SLO
		good                     int
		missTTFT, missTPOT, miss int
	}{
		{"TTFT and TPOT", SLO{TTFT: 200 * ms, TPOT: 50 * ms}, 5, 1, 1, 0},
		{"all three", SLO{TTFT: 200 * ms, TPOT: 50 * ms, E2E: 2 * time.Second}, 4, 1, 1, 2},
		{"E2E only", SLO{E2E: 2 * time.Second}, 5, 0, 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Measure(reqs, tt.slo, 4*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if r.Good != tt.good || r.Requests != 8 || r.Failed != 1 || r.MissedTTFT != tt.missTTFT || r.MissedTPOT != tt.missTPOT || r.MissedE2E != tt.miss {
				t.Errorf("result %+v", r)
			}
			if r.Fraction != float64(tt.good)/8 || r.Goodput != float64(tt.good)/4 {
				t.Errorf("fraction %v goodput %v", r.Fraction, r.Goodput)
			}
		})
	}
	r, _ := Measure(reqs, SLO{TTFT: 200 * ms, TPOT: 50 * ms}, 4*time.Second)
	if want := "5 of 8 requests (62.5%) met TTFT ≤ 200ms and TPOT ≤ 50ms: goodput 1.25 req/s (1 missed TTFT, 1 missed TPOT, 1 failed)"; r.String() != want {
		t.Errorf("String() = %q\nwant      %q", r.String(), want)
	}
}

func TestMeasureRefusesWhatItCannotJudge(t *testing.T) {
	ok := []Request{{OK: true, HasTTFT: true, TTFT: ms, E2E: ms}}
	tests := []struct {
		name     string
		reqs     []Request
		slo      SLO
		duration time.Duration
		want     string
	}{
		{"no bound", ok, SLO{}, time.Second, "no SLO bound is set"},
		{"negative bound", ok, SLO{TTFT: -ms}, time.Second, "must not be negative"},
		{"no requests", nil, SLO{TTFT: ms}, time.Second, "no requests"},
		{"zero duration", ok, SLO{TTFT: ms}, 0, "duration must be positive"},
		{"not streamed", []Request{{Index: 7, OK: true, E2E: ms}}, SLO{TPOT: ms}, time.Second, "request 7 has no first token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Measure(tt.reqs, tt.slo, tt.duration); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	// An E2E bound needs no first token.
	if r, err := Measure([]Request{{OK: true, E2E: ms}}, SLO{E2E: ms}, time.Second); err != nil || r.Good != 1 {
		t.Errorf("E2E bound on an unstreamed request: %+v, %v", r, err)
	}
}

func TestFromRecordsUsesSgltestsDefinitions(t *testing.T) {
	recs := []metrics.Record{
		{Index: 0, Warmup: true, Status: 200, Sent: 0, FirstToken: ms, Done: 2 * ms, OutputTokens: 2},
		{Index: 1, Status: 200, Sent: 10 * ms, FirstToken: 60 * ms, Done: 460 * ms, OutputTokens: 9},
		{Index: 2, Status: 200, Sent: 10 * ms, FirstToken: 30 * ms, Done: 30 * ms, OutputTokens: 1},
		{Index: 3, Status: 503, Error: "queue full", Sent: 10 * ms, Done: 11 * ms},
		{Index: 4, Status: 200, Sent: 10 * ms, Done: 90 * ms, OutputTokens: 5}, // not streamed
	}
	got := FromRecords(recs)
	want := []Request{
		{Index: 1, OK: true, HasTTFT: true, TTFT: 50 * ms, TPOT: 50 * ms, E2E: 450 * ms},
		{Index: 2, OK: true, HasTTFT: true, TTFT: 20 * ms, TPOT: 0, E2E: 20 * ms},
		{Index: 3, OK: false, E2E: ms},
		{Index: 4, OK: true, E2E: 80 * ms},
	}
	if len(got) != len(want) {
		t.Fatalf("%d requests, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("request %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}
