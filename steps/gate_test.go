package steps

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sgltest/sgltest/internal/goodput"
	"github.com/sgltest/sgltest/runner"
)

func TestGateSentencesMatchExactlyOnePattern(t *testing.T) {
	for _, text := range []string{
		"the load is repeated 5 times",
		"the load is repeated 5 times, each with its own seed",
		"the load is repeated 3 times, each with the same seed",
		"the load is repeated 10 times, each with a random seed",
		"the service-level objectives are TTFT below 200 ms and TPOT below 50 ms",
		"the service-level objectives are TTFT at most 200ms, TPOT below 50 ms and E2E latency below 2 s",
		"the P99 TTFT is no worse than the baseline by more than 10%",
		"the output token throughput is no lower than the baseline by more than 5%",
		"the median ITL is no higher than the baseline by more than 2.5%",
		"P99 E2E latency is no worse than the baseline by more than 10%",
		"the request throughput is no worse than the baseline by more than 5%",
		"at least 95% of requests meet TTFT below 200 ms and TPOT below 50 ms",
		"at least 99.5% of requests meet E2E latency below 2 s",
		"the goodput is at least 30 req/s",
		"the goodput with TTFT below 200 ms and TPOT below 50 ms is at least 15 req/s",
		"the goodput is above 2.5 req/s",
	} {
		if n := match(text); n != 1 {
			t.Errorf("%q matches %d sentences, want exactly 1", text, n)
		}
	}
}

func TestParseObjectivesReadsEveryBoundAndNamesABadOne(t *testing.T) {
	tests := []struct {
		in      string
		want    goodput.SLO
		wantErr string
	}{
		{"TTFT below 200 ms and TPOT below 50 ms", goodput.SLO{TTFT: 200 * time.Millisecond, TPOT: 50 * time.Millisecond}, ""},
		{"TTFT at most 0.2 s, TPOT below 50ms, and E2E latency below 2 s",
			goodput.SLO{TTFT: 200 * time.Millisecond, TPOT: 50 * time.Millisecond, E2E: 2 * time.Second}, ""},
		{"E2E latency below 1.5 s", goodput.SLO{E2E: 1500 * time.Millisecond}, ""},
		{"TTFT below 200 ms and TTFT below 100 ms", goodput.SLO{}, "TTFT is given twice"},
		{"TTFT below 0 ms", goodput.SLO{}, "expected a positive bound"},
		{"ITL below 5 ms", goodput.SLO{}, `service-level objective "ITL below 5 ms": expected TTFT, TPOT or E2E latency`},
	}
	for _, tc := range tests {
		got, err := parseObjectives(tc.in)
		switch {
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%q: err %v, want %q", tc.in, err, tc.wantErr)
		case tc.wantErr == "" && (err != nil || got != tc.want):
			t.Errorf("%q = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestGateSentenceRefusesTheWrongDirectionAndAFigureWithoutABaseline(t *testing.T) {
	var judge func([]string) error
	for i, s := range sentences {
		if strings.Contains(s.pattern, "than the baseline") {
			judge = func(g []string) error { return sentences[i].judge(context.Background(), runner.Step{}, g) }
		}
	}
	if judge == nil {
		t.Fatal("no baseline sentence")
	}
	for _, tc := range []struct {
		groups []string
		want   string
	}{
		{[]string{"", "output token throughput", "higher", "5"}, `write "no lower than"`},
		{[]string{"P99", "TTFT", "lower", "5"}, `write "no higher than"`},
		{[]string{"P99.9", "TTFT", "worse", "5"}, "not in summary.json"},
		{[]string{"", "error rate", "worse", "5"}, "cannot be compared with a baseline"},
	} {
		if err := judge(tc.groups); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.groups, err, tc.want)
		}
	}
}
