package metrics

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestTimelineCountsCompletionsAndTokensPerBucket(t *testing.T) {
	const s = time.Second
	tests := []struct {
		name    string
		records []Record
		want    []Bucket
	}{
		{name: "no records gives no buckets", records: nil, want: nil},
		{
			name:    "warmup only gives no buckets",
			records: []Record{{Warmup: true, Status: 200, OutputTokens: 5, Done: 3 * s}},
			want:    nil,
		},
		{
			name: "completion exactly on a boundary goes to the later bucket",
			records: []Record{
				{Status: 200, OutputTokens: 3, Done: 1 * s},
				{Status: 200, OutputTokens: 4, Done: 1*s - 1},
			},
			want: []Bucket{
				{Start: 0, Completed: 1, OutputTokens: 4},
				{Start: 1 * s, Completed: 1, OutputTokens: 3},
			},
		},
		{
			name: "streamed tokens count when their chunk arrived, the rest at Done",
			records: []Record{{
				Status: 200, OutputTokens: 10, Done: 2500 * ms1,
				Chunks: []Chunk{{At: 900 * ms1, Tokens: 2}, {At: 1 * s, Tokens: 3}, {At: 2 * s, Tokens: 1}},
			}},
			want: []Bucket{
				{Start: 0, OutputTokens: 2},
				{Start: 1 * s, OutputTokens: 3},
				{Start: 2 * s, Completed: 1, OutputTokens: 1 + 4},
			},
		},
		{
			name: "failures count apart and bring no tokens; warmup is ignored",
			records: []Record{
				{Status: 503, Error: "HTTP 503", OutputTokens: 9, Done: 500 * ms1,
					Chunks: []Chunk{{At: 100 * ms1, Tokens: 9}}},
				{Warmup: true, Status: 200, OutputTokens: 7, Done: 9 * s},
				{Status: 200, OutputTokens: 1, Done: 3 * s},
			},
			want: []Bucket{
				{Start: 0, Failed: 1},
				{Start: 1 * s},
				{Start: 2 * s},
				{Start: 3 * s, Completed: 1, OutputTokens: 1},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Timeline(tc.records, time.Second)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Timeline mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTimelineTokensSumToSummaryTotal(t *testing.T) {
	recs := randomRecords(rand.New(rand.NewPCG(7, 7)), 300)
	sum := Summarize(recs)
	var tokens, completed, failed int
	for _, b := range Timeline(recs, 250*time.Millisecond) {
		tokens += b.OutputTokens
		completed += b.Completed
		failed += b.Failed
	}
	if tokens != sum.TotalOutputTokens || completed != sum.Succeeded || failed != sum.Failed {
		t.Errorf("timeline totals tokens=%d completed=%d failed=%d, summary says %d, %d, %d",
			tokens, completed, failed, sum.TotalOutputTokens, sum.Succeeded, sum.Failed)
	}
}

func TestTimelinePanicsOnNonPositiveWidth(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Timeline with width 0 did not panic")
		}
	}()
	Timeline([]Record{{Status: 200}}, 0)
}

func TestInFlightAndQueueDepthStepWhereTheCountChanges(t *testing.T) {
	recs := []Record{
		{Status: 200, Arrival: 0, Sent: 10 * ms1, Done: 50 * ms1},
		{Status: 200, Arrival: 5 * ms1, Sent: 10 * ms1, Done: 30 * ms1},
		// Starts exactly when the second ends: the count stays at 2, no step.
		{Status: 200, Arrival: 30 * ms1, Sent: 30 * ms1, Done: 60 * ms1},
		{Status: 500, Error: "HTTP 500", Arrival: 0, Sent: 1 * ms1, Done: 99 * ms1}, // failed: ignored
		{Warmup: true, Status: 200, Arrival: 0, Sent: 2 * ms1, Done: 99 * ms1},      // warmup: ignored
	}
	tests := []struct {
		name string
		fn   func([]Record) []Step
		recs []Record
		want []Step
	}{
		{
			name: "in flight starts at zero before the first send",
			fn:   InFlight, recs: recs,
			want: []Step{{0, 0}, {10 * ms1, 2}, {50 * ms1, 1}, {60 * ms1, 0}},
		},
		{
			name: "queue depth",
			fn:   QueueDepth, recs: recs,
			want: []Step{{0, 1}, {5 * ms1, 2}, {10 * ms1, 0}},
		},
		{name: "no successful request gives nil", fn: InFlight, recs: recs[3:], want: nil},
		{name: "zero-length waits give nil", fn: QueueDepth, recs: recs[2:3], want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.fn(tc.recs)); diff != "" {
				t.Errorf("steps mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInFlightAndQueueDepthPeaksMatchSummary(t *testing.T) {
	for seed := range uint64(5) {
		recs := randomRecords(rand.New(rand.NewPCG(seed, 1)), 200)
		sum := Summarize(recs)
		if got := peak(InFlight(recs)); got != sum.PeakConcurrency {
			t.Errorf("seed %d: InFlight peak %d, Summary.PeakConcurrency %d", seed, got, sum.PeakConcurrency)
		}
		if got := peak(QueueDepth(recs)); got != sum.MaxQueueDepth {
			t.Errorf("seed %d: QueueDepth peak %d, Summary.MaxQueueDepth %d", seed, got, sum.MaxQueueDepth)
		}
	}
}

func peak(steps []Step) int {
	m := 0
	for _, s := range steps {
		m = max(m, s.Value)
	}
	return m
}

// randomRecords makes n plausible records on a millisecond grid (so that
// edges often coincide), some failed and some warmup.
func randomRecords(rng *rand.Rand, n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		arrival := time.Duration(rng.IntN(5000)) * ms1
		sent := arrival + time.Duration(rng.IntN(50))*ms1
		first := sent + time.Duration(1+rng.IntN(100))*ms1
		done := first + time.Duration(rng.IntN(400))*ms1
		r := Record{
			Index: i, Status: 200, InputTokens: 1 + rng.IntN(500), OutputTokens: 1 + rng.IntN(64),
			Arrival: arrival, Sent: sent, FirstToken: first, Done: done,
		}
		if rng.IntN(2) == 0 { // streamed: chunks cover some of the tokens
			r.Chunks = []Chunk{{At: first, Tokens: 1}, {At: done, Tokens: rng.IntN(r.OutputTokens)}}
		}
		switch rng.IntN(10) {
		case 0:
			r.Status, r.Error = 503, "HTTP 503"
		case 1:
			r.Warmup = true
		}
		recs[i] = r
	}
	return recs
}
