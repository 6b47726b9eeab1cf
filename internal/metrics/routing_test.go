package metrics

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func routed(target string, in, out, cached int, sent, first, done time.Duration) Record {
	return Record{Target: target, Status: 200, InputTokens: in, OutputTokens: out, CachedTokens: cached, Sent: sent, FirstToken: first, Done: done}
}

func TestSharesFromRecordsCountsSuccessfulRequestsPerTarget(t *testing.T) {
	recs := []Record{
		routed("a", 100, 10, 50, 0, 0, time.Second),
		routed("a", 100, 10, 0, 0, 0, time.Second),
		routed("b", 200, 20, 200, 0, 0, time.Second),
		{Target: "b", Status: 500, InputTokens: 999, Error: "HTTP 500"},
		{Target: "b", Status: 200, InputTokens: 999, Warmup: true},
	}
	got, err := SharesFromRecords(recs, []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	want := []WorkerShare{
		{Worker: "a", Requests: 2, InputTokens: 200, OutputTokens: 20, CachedTokens: 50},
		{Worker: "b", Requests: 1, InputTokens: 200, OutputTokens: 20, CachedTokens: 200},
		{Worker: "c"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if r, ok := got[0].CacheHitRate(); !ok || r != 0.25 {
		t.Errorf("a's hit rate = %v, %v; want 0.25", r, ok)
	}
	if _, ok := got[2].CacheHitRate(); ok {
		t.Error("an idle worker has a hit rate")
	}
	if r, ok := OverallCacheHitRate(got); !ok || r != 250.0/400 {
		t.Errorf("overall hit rate = %v, want 0.625", r)
	}
	if _, err := SharesFromRecords(recs, []string{"a"}); err == nil {
		t.Error("a record for an unlisted worker was accepted")
	}
}

func TestSharesFromCountersUsesCounterDiffs(t *testing.T) {
	got, err := SharesFromCounters(map[string]WorkerCounters{"a": {Requests: 3, PromptTokens: 30, GenerationTokens: 6, CachedTokens: 15}}, []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]WorkerShare{{Worker: "a", Requests: 3, InputTokens: 30, OutputTokens: 6, CachedTokens: 15}}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := SharesFromCounters(nil, []string{"a"}); err == nil {
		t.Error("a worker without counters was accepted")
	}
}

func TestBalanceIsTheCoefficientOfVariation(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want float64
	}{
		{"even", []float64{5, 5, 5}, 0},
		{"one of two does everything", []float64{10, 0}, 1},
		{"population std over mean", []float64{2, 4, 4, 4, 5, 5, 7, 9}, 2.0 / 5},
		{"no values", nil, math.NaN()},
		{"zero mean", []float64{0, 0}, math.NaN()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Balance(tt.in); !cmp.Equal(got, tt.want, cmpopts.EquateNaNs(), cmpopts.EquateApprox(0, 1e-12)) {
				t.Errorf("Balance = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLatencyByWorkerSplitsDistributionsByTarget(t *testing.T) {
	recs := []Record{
		routed("a", 1, 1, 0, 0, 10*time.Millisecond, 100*time.Millisecond),
		routed("a", 1, 1, 0, 0, 30*time.Millisecond, 300*time.Millisecond),
		routed("b", 1, 1, 0, time.Second, time.Second+5*time.Millisecond, 2*time.Second),
	}
	got := LatencyByWorker(recs, []string{"a", "b"})
	if got[0].ServerLatencyMS.Count != 2 || got[0].ServerLatencyMS.Median != 200 || got[0].TTFTMS.Mean != 20 {
		t.Errorf("a = %+v, want 2 samples, median 200 ms, mean TTFT 20 ms", got[0])
	}
	if got[1].ServerLatencyMS.Max != 1000 || got[1].TTFTMS.Max != 5 {
		t.Errorf("b = %+v, want 1000 ms latency and 5 ms TTFT", got[1])
	}
}

func TestRouterOverheadSubtractsDirectFromRouted(t *testing.T) {
	var through, direct []Record
	for i := range 10 {
		d := time.Duration(100+i) * time.Millisecond
		direct = append(direct, routed("w", 1, 2, 0, 0, d/2, d))
		through = append(through, routed("r", 1, 2, 0, 0, d/2+3*time.Millisecond, d+3*time.Millisecond))
	}
	o, err := RouterOverhead(Summarize(through), Summarize(direct))
	if err != nil {
		t.Fatal(err)
	}
	approx := cmpopts.EquateApprox(0, 1e-9)
	if !cmp.Equal(o.ServerLatencyMS.Mean, 3.0, approx) || !cmp.Equal(o.ServerLatencyMS.P99, 3.0, approx) || !cmp.Equal(o.TTFTMS.Median, 3.0, approx) {
		t.Errorf("overhead = %+v, want 3 ms everywhere", o)
	}
	if _, err := RouterOverhead(Summary{}, Summarize(direct)); err == nil {
		t.Error("an empty run gave an overhead")
	}
}
