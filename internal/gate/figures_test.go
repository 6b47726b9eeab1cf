package gate

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sgltest/sgltest/internal/metrics"
)

func TestParseNamesFiguresAsSentencesDo(t *testing.T) {
	tests := []struct {
		stat, words string
		want        string // the figure's name; "" when an error is expected
		wantErr     string
	}{
		{"P99", "TTFT", "ttft_ms.p99", ""},
		{"p99", "ttft", "ttft_ms.p99", ""},
		{"median", "ITL", "itl_ms.median", ""},
		{"P50", "E2E latency", "e2e_latency_ms.median", ""},
		{"average", "TPOT", "tpot_ms.mean", ""},
		{"peak", "queue time", "queue_time_ms.max", ""},
		{"P95", "total latency", "total_latency_ms.p95", ""},
		{"", "output token throughput", "output_throughput", ""},
		{"", "Request  Throughput", "request_throughput", ""},
		{"", "TTFT", "", "TTFT needs a statistic"},
		{"P99", "request throughput", "", "takes no statistic"},
		{"P99.9", "TTFT", "", "not in summary.json"},
		{"", "error rate", "", "cannot be compared with a baseline"},
	}
	for _, tc := range tests {
		f, err := Parse(tc.stat, tc.words)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Parse(%q, %q) = %v, %v; want an error with %q", tc.stat, tc.words, f, err, tc.wantErr)
			}
			continue
		}
		if err != nil || f.Name != tc.want {
			t.Errorf("Parse(%q, %q) = %v, %v; want %s", tc.stat, tc.words, f.Name, err, tc.want)
		}
		if g, ok := Lookup(f.Name); !ok || g != f {
			t.Errorf("Lookup(%s) = %v, %v; want %v", f.Name, g, ok, f)
		}
	}
}

func TestEveryFigureHasADirectionAndIsReadFromTheSummary(t *testing.T) {
	s := metrics.Summary{DurationS: 10, RequestThroughput: 9.5, OutputThroughput: 700,
		TTFTMS: metrics.Distribution{Count: 3, Mean: 2, Median: 1.5, P90: 3, P95: 3.5, P99: 4, Min: 1, Max: 5}}
	every := Every()
	if len(every) != 7*7+4 {
		t.Errorf("%d figures, want 7 distributions × 7 statistics + 4 rates", len(every))
	}
	for _, f := range every {
		if f.Worse != HigherIsWorse && f.Worse != LowerIsWorse || f.Unit == "" || f.Label == "" {
			t.Errorf("figure %+v", f)
		}
	}
	got := EveryFromSummaries([]metrics.Summary{s})
	want := map[string]float64{"ttft_ms.p99": 4, "ttft_ms.mean": 2, "ttft_ms.min": 1, "request_throughput": 9.5, "output_throughput": 700}
	seen := 0
	for _, series := range got {
		if strings.HasPrefix(series.Name, "itl_ms.") {
			t.Errorf("%s is extracted from a distribution with no samples", series.Name)
		}
		if v, ok := want[series.Name]; ok {
			seen++
			if series.Values[0] != v {
				t.Errorf("%s = %v, want %v", series.Name, series.Values[0], v)
			}
		}
	}
	if seen != len(want) {
		t.Errorf("found %d of %d figures in %v", seen, len(want), got)
	}
	if _, err := Extract("itl_ms.p99", []metrics.Summary{s}); err == nil || !strings.Contains(err.Error(), "repeat 1 has no data") {
		t.Errorf("Extract of a figure without samples: %v", err)
	}
}

// rec is a successful request sent at `at` with a first token after ttft
// and done after lat, with n output tokens in two chunks.
func rec(i int, at, ttft, lat time.Duration, n int) metrics.Record {
	return metrics.Record{Index: i, Status: 200, InputTokens: 10, OutputTokens: n, Scheduled: at, Arrival: at, Sent: at,
		FirstToken: at + ttft, Done: at + lat, Chunks: []metrics.Chunk{{At: at + ttft, Tokens: 1}, {At: at + lat, Tokens: n - 1}}}
}

func TestPooledIsTheFigureOverEveryRequestOfEveryRepeat(t *testing.T) {
	ms := time.Millisecond
	var stores []*metrics.Store
	var sums []metrics.Summary
	var all []metrics.Record
	for r := range 3 {
		st := metrics.NewStore()
		for i := range 40 {
			x := rec(i, time.Duration(i)*50*ms, time.Duration(10+(i*7+r*13)%50)*ms, time.Duration(200+r*100+i)*ms, 4+r)
			st.Add(x)
			all = append(all, x)
		}
		stores = append(stores, st)
		sums = append(sums, st.Summary())
	}
	p99, ok, err := Pooled("ttft_ms.p99", stores, sums)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if want := metrics.Summarize(all).TTFTMS.P99; p99 != want {
		t.Errorf("pooled P99 TTFT %v, want %v (over all 120 requests)", p99, want)
	}
	tput, _, _ := Pooled("output_throughput", stores, sums)
	var tokens, dur float64
	for _, s := range sums {
		tokens += float64(s.TotalOutputTokens)
		dur += s.DurationS
	}
	if math.Abs(tput-tokens/dur) > 1e-9 {
		t.Errorf("pooled output throughput %v, want Σ tokens / Σ durations = %v", tput, tokens/dur)
	}
	if _, ok, _ := Pooled("itl_ms.p99", []*metrics.Store{metrics.NewStore()}, []metrics.Summary{{}}); ok {
		t.Error("pooled ITL of no requests has a value")
	}
}

// BenchmarkPooledAll pools the catalog over five repeats of 10000 requests
// of 64 output tokens (about 630000 ITL samples a repeat).
func BenchmarkPooledAll(b *testing.B) {
	ms := time.Millisecond
	var stores []*metrics.Store
	var sums []metrics.Summary
	for r := range 5 {
		st := metrics.NewStore()
		for i := range 10000 {
			at := time.Duration(i) * 10 * ms
			x := metrics.Record{Index: i, Status: 200, InputTokens: 100, OutputTokens: 64, Scheduled: at, Arrival: at, Sent: at,
				FirstToken: at + time.Duration(20+(i*7+r)%30)*ms, Done: at + time.Duration(600+(i*13+r)%400)*ms}
			for c := range 64 {
				x.Chunks = append(x.Chunks, metrics.Chunk{At: x.FirstToken + time.Duration(c)*(x.Done-x.FirstToken)/64, Tokens: 1})
			}
			st.Add(x)
		}
		stores, sums = append(stores, st), append(sums, st.Summary())
	}
	var names []string
	for _, f := range Catalog() {
		names = append(names, f.Name)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := PooledAll(names, stores, sums); err != nil {
			b.Fatal(err)
		}
	}
}
