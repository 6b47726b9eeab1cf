package workerstate

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sgltest/sgltest/internal/api"
	"github.com/sgltest/sgltest/internal/simtest"
	"github.com/sgltest/sgltest/internal/simulator"
)

// withLateness appends a step-lateness histogram: cum[i] steps at most
// bounds[i] late, steps in all.
func withLateness(text string, cum []int, steps int) string {
	bounds := []string{"0.001", "0.005", "0.01"}
	var b strings.Builder
	b.WriteString(text)
	fmt.Fprintf(&b, "# HELP %s x\n# TYPE %s histogram\n", api.MetricSimStepLateness, api.MetricSimStepLateness)
	for i, ub := range bounds {
		fmt.Fprintf(&b, "%s_bucket{%s,le=\"%s\"} %d\n", api.MetricSimStepLateness, front, ub, cum[i])
	}
	fmt.Fprintf(&b, "%s_bucket{%s,le=\"+Inf\"} %d\n", api.MetricSimStepLateness, front, steps)
	fmt.Fprintf(&b, "%s_sum{%s} 1.5\n%s_count{%s} %d\n", api.MetricSimStepLateness, front, api.MetricSimStepLateness, front, steps)
	return b.String()
}

func mustParse(t *testing.T, text string) Sample {
	t.Helper()
	s, err := Parse(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCheckLatenessJudgesTheRunsStepsOnly(t *testing.T) {
	base := exposition(1, 10, 0, 0.5, false)
	// Before the run: 1000 steps, 500 of them more than 5 ms late (a
	// startup hiccup that must not count against the run).
	before := mustParse(t, withLateness(base, []int{400, 500, 600}, 1000))
	tests := []struct {
		name   string
		after  Sample
		bound  LatenessBound
		valid  bool
		reason string
		err    string
	}{
		{"punctual steps pass", mustParse(t, withLateness(base, []int{1390, 1495, 1600}, 2000)), DefaultLatenessBound, true, "", ""},
		{"5% of the run's steps past 5 ms fail, naming the figure", mustParse(t, withLateness(base, []int{1300, 1450, 1580}, 2000)), DefaultLatenessBound,
			false, "simulated server w fell behind its step schedule: 5.0% of its 1000 engine steps ended more than 5ms late (bound 1.0%)", ""},
		{"a looser bound passes the same run", mustParse(t, withLateness(base, []int{1300, 1450, 1580}, 2000)), LatenessBound{Late: 10 * time.Millisecond, MaxFraction: 0.05}, true, "", ""},
		{"a real SGLang server has no figure and passes", mustParse(t, base), DefaultLatenessBound, true, "", ""},
		{"a bound between buckets is an error", mustParse(t, withLateness(base, []int{1390, 1495, 1600}, 2000)), LatenessBound{Late: 3 * time.Millisecond, MaxFraction: 0.01},
			false, "", "step lateness 3ms is not one of the simulator's histogram bounds (1ms, 5ms, 10ms)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			diffs := map[string]Counters{"w": tc.after.Counters.Sub(before.Counters)}
			valid, reason, _, err := CheckLateness(diffs, tc.bound)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if valid != tc.valid || !strings.Contains(reason, tc.reason) || (valid && reason != "") {
				t.Errorf("valid %v, reason %q; want %v and %q", valid, reason, tc.valid, tc.reason)
			}
		})
	}
}

func TestTheSimulatorsLatenessHistogramIsRead(t *testing.T) {
	if api.MetricSimStepLateness != simulator.MetricStepLateness {
		t.Fatalf("api names %q, the simulator exports %q", api.MetricSimStepLateness, simulator.MetricStepLateness)
	}
	ts := simtest.InProcess(t, simulator.Config{ModelPath: "m"})
	scrape := func() Counters { return scrapeSample(t, ts.URL).Counters }
	before := scrape()
	resp, err := http.Post(ts.URL+"/generate", "application/json", strings.NewReader(`{"input_ids":[1,2,3],"sampling_params":{"max_new_tokens":8,"ignore_eos":true}}`))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	d := scrape().Sub(before)
	if d.StepLateness.Steps < 8 || len(d.StepLateness.Bounds) == 0 {
		t.Fatalf("after one 8-token request, lateness %+v; want at least 8 steps", d.StepLateness)
	}
	if _, _, _, err := CheckLateness(map[string]Counters{ts.URL: d}, DefaultLatenessBound); err != nil {
		t.Fatalf("the default bound must be one of the simulator's buckets: %v", err)
	}
}

// scrapeSample reads url's /metrics.
func scrapeSample(t *testing.T, url string) Sample {
	t.Helper()
	s, err := Parse(strings.NewReader(simtest.Metrics(t, url)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}
