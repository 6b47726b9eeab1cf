package runner

import (
	"strings"
	"testing"

	"github.com/sgltest/sgltest/internal/metrics"
)

func testWith(s metrics.Summary) *Test {
	return &Test{runs: []*Result{{Dir: "reports/x", Summary: s}}}
}

func TestChecksStateMeasuredValueBoundAndRun(t *testing.T) {
	sum := metrics.Summary{
		Requests: 10, Succeeded: 9, Failed: 1, Errors: map[string]int{"HTTP 503: full": 1},
		RequestThroughput: 18.5,
		TotalLatencyMS:    metrics.Distribute([]float64{100, 200, 12000}),
	}
	tests := []struct {
		name    string
		check   func(*Test) error
		wantErr string // "" means the check passes
	}{
		{"a latency under its bound passes", func(t *Test) error { return t.CheckLatency("P99", "total latency", Below, 20, "s") }, ""},
		{"a latency over its bound states value, bound and run", func(t *Test) error { return t.CheckLatency("P99", "total latency", Below, 10, "s") },
			"P99 total latency is 11.764 s (11764.0 ms), expected below 10 s (run: reports/x)"},
		{"milliseconds are compared in milliseconds", func(t *Test) error { return t.CheckLatency("median", "total latency", AtMost, 200, "ms") }, ""},
		{"a latency without samples is an error, not zero", func(t *Test) error { return t.CheckLatency("mean", "TTFT", Below, 1, "s") }, "has no samples"},
		{"an unknown latency lists the known ones", func(t *Test) error { return t.CheckLatency("mean", "latncy", Below, 1, "s") }, "expected one of"},
		{"throughput at its bound passes at least", func(t *Test) error { return t.CheckThroughput("request", AtLeast, 18.5, "req/s") }, ""},
		{"throughput below its bound states value, bound and run", func(t *Test) error { return t.CheckThroughput("request", AtLeast, 1000, "req/s") },
			"request throughput is 18.50 req/s, expected at least 1000 req/s (run: reports/x)"},
		{"a throughput in the wrong unit is rejected", func(t *Test) error { return t.CheckThroughput("request", AtLeast, 1, "tok/s") }, "measured in req/s"},
		{"failures are listed by reason", func(t *Test) error { return t.CheckAllSucceeded() }, "1 of 10 requests failed: 1× HTTP 503: full"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.check(testWith(sum))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestCheckBeforeAnyRunSaysSo(t *testing.T) {
	err := (&Test{}).CheckAllSucceeded()
	if err == nil || !strings.Contains(err.Error(), "no load has run") {
		t.Fatalf("got %v", err)
	}
}

func TestSettingsRejectUnusableEnvironment(t *testing.T) {
	tests := []struct {
		env     map[string]string
		wantErr string
	}{
		{map[string]string{EnvBackend: "vllm"}, `SGLTEST_BACKEND="vllm": expected "sim" or "sglang"`},
		{map[string]string{EnvBackend: "sglang"}, "needs SGLTEST_MODEL"},
		{map[string]string{EnvGPUs: "0,x"}, "SGLTEST_GPUS"},
		{map[string]string{EnvGPUs: "0, 3"}, ""},
	}
	for _, tc := range tests {
		for _, k := range []string{EnvBackend, EnvModel, EnvGPUs} {
			t.Setenv(k, "")
		}
		for k, v := range tc.env {
			t.Setenv(k, v)
		}
		s, err := SettingsFromEnv()
		if tc.wantErr == "" {
			if err != nil || len(s.GPUs) != 2 || s.GPUs[1] != 3 {
				t.Errorf("%v: got %+v, %v", tc.env, s, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%v: error %v, want %q", tc.env, err, tc.wantErr)
		}
	}
}
