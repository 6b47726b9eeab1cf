package goodput

import (
	"encoding/json"
	"slices"
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

func TestReadRequestsGivesWhatFromRecordsGivesAndNamesABadLine(t *testing.T) {
	recs := []metrics.Record{
		{Index: 0, Status: 200, OutputTokens: 5, Sent: 10 * ms, FirstToken: 60 * ms, Done: 260 * ms},
		{Index: 1, Status: 503, Error: "HTTP 503", Sent: 20 * ms, Done: 25 * ms},
		{Index: 2, Status: 200, OutputTokens: 1, Sent: 30 * ms, FirstToken: 90 * ms, Done: 90 * ms},
	}
	var lines strings.Builder
	for _, r := range recs {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		lines.Write(append(b, '\n'))
	}
	got, err := ReadRequests(strings.NewReader(lines.String()), "requests.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if want := FromRecords(recs); !slices.Equal(got, want) {
		t.Errorf("ReadRequests = %+v\nwant %+v", got, want)
	}
	if got[0].TPOT != 50*ms {
		t.Errorf("TPOT %v, want (250 − 50) / 4 = 50ms", got[0].TPOT)
	}
	_, err = ReadRequests(strings.NewReader(lines.String()+"{\"index\": 3,\n"), "requests.jsonl")
	if err == nil || !strings.Contains(err.Error(), "requests.jsonl line 4") {
		t.Errorf("a cut line: %v", err)
	}
}

func TestPoolAddsCountsAndDividesByTheSummedDurations(t *testing.T) {
	slo := SLO{TTFT: 200 * ms}
	a := Result{SLO: slo, Requests: 100, Good: 90, Failed: 4, MissedTTFT: 6}
	b := Result{SLO: slo, Requests: 50, Good: 30, MissedTTFT: 20}
	p, err := Pool([]Result{a, b}, []time.Duration{10 * time.Second, 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if p.Requests != 150 || p.Good != 120 || p.Failed != 4 || p.MissedTTFT != 26 || p.Fraction != 0.8 || p.Goodput != 8 {
		t.Errorf("pooled %+v, want 120 of 150 good (0.8) at 120/15 s = 8 req/s", p)
	}
	if _, err := Pool([]Result{a, {SLO: SLO{TPOT: ms}}}, []time.Duration{time.Second, time.Second}); err == nil {
		t.Error("pooling results of two SLOs gave no error")
	}
	if _, err := Pool([]Result{a}, []time.Duration{0}); err == nil {
		t.Error("a zero duration gave no error")
	}
}
