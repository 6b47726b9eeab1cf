package metrics

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const ms1 = time.Millisecond

func TestPercentileInterpolatesLikeNumpy(t *testing.T) {
	// numpy.percentile([1,2,3,4], p) gives 2.5 at 50, 3.97 at 99, 1.3 at 10.
	s := []float64{1, 2, 3, 4}
	for _, tc := range []struct{ p, want float64 }{{50, 2.5}, {99, 3.97}, {10, 1.3}, {0, 1}, {100, 4}} {
		if got := Percentile(s, tc.p); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	if d := Distribute(nil); d.Count != 0 {
		t.Errorf("empty input gave %+v", d)
	}
}

func TestSummarizeFollowsTheDefinitions(t *testing.T) {
	recs := []Record{
		{ // queued 10 ms, then 100 ms at the server, 4 tokens in 3 chunks
			Status: 200, InputTokens: 100, OutputTokens: 4, CachedTokens: 3,
			Scheduled: 0, Arrival: 0, Sent: 10 * ms1, FirstToken: 30 * ms1, Done: 110 * ms1,
			Chunks: []Chunk{{At: 30 * ms1, Tokens: 1}, {At: 50 * ms1, Tokens: 2}, {At: 100 * ms1, Tokens: 1}},
		},
		{ // no queue, one token only: no TPOT, no ITL
			Status: 200, InputTokens: 50, OutputTokens: 1,
			Scheduled: 19 * ms1, Arrival: 20 * ms1, Sent: 20 * ms1, FirstToken: 60 * ms1, Done: 200 * ms1,
			Chunks: []Chunk{{At: 60 * ms1, Tokens: 1}},
		},
		{ // failed: counted, excluded from every figure but the client's lags
			Status: 503, Error: "HTTP 503: full", InputTokens: 999,
			Scheduled: 28 * ms1, Arrival: 30 * ms1, Sent: 30 * ms1, Done: 40 * ms1,
		},
		{ // warmup: ignored entirely, even its late Done
			Warmup: true, Status: 200, OutputTokens: 7, Arrival: 0, Sent: 0, Done: 5 * time.Second,
		},
	}
	got := Summarize(recs)
	want := Summary{
		Requests: 3, Succeeded: 2, Failed: 1,
		DurationS:         0.2,
		TotalInputTokens:  150,
		TotalOutputTokens: 5,
		TotalCachedTokens: 3,
		RequestThroughput: 10, // 2 / 0.2 s
		InputThroughput:   750,
		OutputThroughput:  25,
		TotalThroughput:   775,
		ServerLatencyMS:   Distribute([]float64{100, 180}),
		E2ELatencyMS:      Distribute([]float64{100, 180}),
		TotalLatencyMS:    Distribute([]float64{110, 180}),
		QueueTimeMS:       Distribute([]float64{10, 0}),
		TTFTMS:            Distribute([]float64{20, 40}),
		// chunk 2: 20 ms over 2 tokens -> 10, 10; chunk 3: 50 ms over 1 -> 50
		ITLMS: Distribute([]float64{10, 10, 50}),
		// (100 - 20) / (4 - 1)
		// one entry per chunk after the first: 20 ms and 50 ms
		ITLPerChunkMS: Distribute([]float64{20, 50}),
		TPOTMS:        Distribute([]float64{80.0 / 3}),
		// Arrival − Scheduled and Sent − Scheduled over all measured requests
		ScheduleLagMS:   Distribute([]float64{0, 1, 2}),
		SendLagMS:       Distribute([]float64{10, 1, 2}),
		PeakConcurrency: 2,
		MeanConcurrency: 0.28 / 0.2,
		MaxQueueDepth:   1,
		Errors:          map[string]int{"HTTP 503: full": 1},
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateApprox(1e-9, 1e-9)); diff != "" {
		t.Errorf("summary mismatch (-want +got):\n%s", diff)
	}
}

func TestPeakConcurrencyTreatsTouchingIntervalsAsSequential(t *testing.T) {
	recs := []Record{
		{Status: 200, Sent: 0, Done: 10 * ms1},
		{Status: 200, Sent: 10 * ms1, Done: 20 * ms1},
		{Status: 200, Sent: 15 * ms1, Done: 16 * ms1},
	}
	if got := Summarize(recs).PeakConcurrency; got != 2 {
		t.Errorf("peak concurrency %d, want 2", got)
	}
}
