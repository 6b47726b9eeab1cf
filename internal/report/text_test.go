package report

import (
	"math"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/sgltest/sgltest/internal/metrics"
)

// seedSummary reproduces the figures of the user's example layout, plus the
// lines sgltest adds.
func seedSummary() (metrics.Summary, Header) {
	s := metrics.Summary{
		Requests: 1002, Succeeded: 1000, Failed: 2,
		DurationS:         101.318,
		RequestThroughput: 9.8701,
		InputThroughput:   5032.4,
		OutputThroughput:  1257.6,
		ServerLatencyMS:   metrics.Distribution{Count: 1000, Mean: 245.31, Median: 230.04, P95: 489.2, P99: 612.84},
		TotalLatencyMS:    metrics.Distribution{Count: 1000, Mean: 312.7},
		QueueTimeMS:       metrics.Distribution{Count: 1000, Mean: 67.44},
		E2ELatencyMS:      metrics.Distribution{Count: 1000, Mean: 1234.56, Median: 1100, P99: 12345.67},
		TTFTMS:            metrics.Distribution{Count: 1000, Mean: 35.25, Median: 30.01, P99: 120.5},
		TPOTMS:            metrics.Distribution{Count: 990, Mean: 8.04, Median: 7.96, P99: 15},
		PeakConcurrency:   57,
		MaxQueueDepth:     42,
		Errors:            map[string]int{"HTTP 503: server\noverloaded": 1, "context deadline exceeded": 1},
	}
	h := Header{
		Model: "meta-llama/Llama-2-7b-hf", GPU: "NVIDIA A100-SXM4-80GB",
		MaxRunningRequests: 256, RequestRate: 10,
		Dir: "reports/20261123-195501-node-moderate-poisson",
	}
	return s, h
}

func TestFormatTextKeepsTheNodeTestResultsLayout(t *testing.T) {
	s, h := seedSummary()
	want := `==================== Node Test Results ====================
Model: meta-llama/Llama-2-7b-hf
GPU: NVIDIA A100-SXM4-80GB
Max Running Requests: 256
Request Rate: 10 req/s

Throughput Metrics:
- Request Throughput: 9.87 req/s
- Input Token Throughput: 5,032 tok/s
- Output Token Throughput: 1,258 tok/s

Latency Metrics:
- Mean Server Latency: 245.3 ms
- Mean Total Latency: 312.7 ms
- P95 Server Latency: 489.2 ms
- P99 Server Latency: 612.8 ms

Queue Metrics:
- Mean Queue Time: 67.4 ms
- Max Queue Depth (client): 42

Token Latency Metrics:
- Mean TTFT: 35.2 ms
- Median TTFT: 30.0 ms
- P99 TTFT: 120.5 ms
- Mean ITL: n/a
- Median ITL: n/a
- P99 ITL: n/a
- Mean TPOT: 8.0 ms
- Median TPOT: 8.0 ms
- P99 TPOT: 15.0 ms
- Mean E2E Latency: 1,234.6 ms
- Median E2E Latency: 1,100.0 ms
- P99 E2E Latency: 12,345.7 ms

Request Metrics:
- Succeeded Requests: 1,000
- Failed Requests: 2
  - 1: HTTP 503: server overloaded
  - 1: context deadline exceeded
- Peak Concurrency: 57
- Duration: 101.32 s
- Accounting: sent 1002 = 1000 succeeded + 2 failed (1: HTTP 503: server overloaded; 1: context deadline exceeded) + 0 cancelled

Validity: valid (client p99 schedule lag 0.000 ms, hand-off 0.000 ms, CPU 0% busy)

Run Directory: reports/20261123-195501-node-moderate-poisson
==========================================================
`
	f := SummaryFile{Summary: s, Header: h, Valid: true,
		Accounting: Accounting{Sent: s.Requests, Succeeded: s.Succeeded, Failed: s.Failed, FailedBy: s.Errors}}
	if diff := gocmp.Diff(want, FormatText(f)); diff != "" {
		t.Errorf("FormatText mismatch (-want +got):\n%s", diff)
	}
}

func TestFormatTextHeaderLines(t *testing.T) {
	tests := []struct {
		name string
		h    Header
		want []string
	}{
		{
			name: "simulator, all at once, server default",
			h:    Header{Model: "meta-llama/Llama-3.1-8B-Instruct", GPU: "simulated NVIDIA H100-80GB (profile llama-3.1-8b-h100)", RequestRate: math.Inf(1)},
			want: []string{
				"GPU: simulated NVIDIA H100-80GB (profile llama-3.1-8b-h100)",
				"Max Running Requests: server default",
				"Request Rate: inf\n",
			},
		},
		{
			name: "fractional rate, large cap, unknown model",
			h:    Header{RequestRate: 2.5, MaxRunningRequests: 4096},
			want: []string{"Model: unknown", "GPU: unknown", "Max Running Requests: 4,096", "Request Rate: 2.5 req/s"},
		},
		{
			name: "no run directory line without a directory",
			h:    Header{RequestRate: 1},
			want: []string{"CPU 0% busy)\n=====", "Mean TTFT: n/a"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := FormatText(SummaryFile{Header: tc.h, Valid: true})
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("FormatText lacks %q:\n%s", w, got)
				}
			}
		})
	}
}

func TestFormatTextListsTheMostFrequentErrorsFirst(t *testing.T) {
	errs := map[string]int{
		"a": 1, "b": 7, "c": 3, "d": 3, "e": 1, "f": 1, "g": 2,
		strings.Repeat("é", 100): 5, // 200 bytes: cut at a rune boundary
	}
	got := FormatText(SummaryFile{Summary: metrics.Summary{Failed: 23, Errors: errs}, Valid: true})
	want := "- Failed Requests: 23\n" +
		"  - 7: b\n" +
		"  - 5: " + strings.Repeat("é", 60) + "…\n" +
		"  - 3: c\n" +
		"  - 3: d\n" +
		"  - 2: g\n" +
		"  - 3 more in 3 other kinds\n" +
		"- Peak Concurrency"
	if !strings.Contains(got, want) {
		t.Errorf("FormatText lacks\n%s\nin\n%s", want, got)
	}
}

func TestNumberGroupsThousands(t *testing.T) {
	tests := []struct {
		v    float64
		prec int
		want string
	}{
		{0, 0, "0"},
		{999, 0, "999"},
		{1000, 0, "1,000"},
		{5032.4, 0, "5,032"},
		{999.96, 1, "1,000.0"},
		{1234567.891, 2, "1,234,567.89"},
		{-1234.5, 1, "-1,234.5"},
		{9.8701, 2, "9.87"},
		{math.Inf(1), 0, "+Inf"},
		{math.NaN(), 1, "NaN"},
	}
	for _, tc := range tests {
		if got := number(tc.v, tc.prec); got != tc.want {
			t.Errorf("number(%v, %d) = %q, want %q", tc.v, tc.prec, got, tc.want)
		}
	}
}
