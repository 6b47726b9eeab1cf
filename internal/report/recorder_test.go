package report

import (
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sgltest/sgltest/internal/load"
	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/plan"
	"github.com/sgltest/sgltest/internal/timeline"
	"github.com/sgltest/sgltest/internal/workerstate"
)

func testPlan() *plan.Plan {
	return &plan.Plan{Scenario: "s", Clock: plan.Wall, Servers: []plan.Server{{Name: "server-1", External: "http://a"}}}
}

func TestAFullDiskStopsTheRunOnceAndTheSummaryStillSaysWhatWasMeasured(t *testing.T) {
	run := newRun(t)
	var calls atomic.Int32
	rec, err := NewRecorder(run, testPlan(), Header{}, func(error) { calls.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no /dev/full here: %v", err)
	}
	rec.requests.f.Close()
	rec.requests.f = full // every write now fails with ENOSPC, as on a full disk
	for i := range 5 {
		rec.Add(metrics.Record{Index: i, Target: "http://a", Status: 200, OutputTokens: 1, Sent: time.Millisecond, Done: 2 * time.Millisecond})
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("the write error was reported %d times, want once", n)
	}
	res, _ := rec.Close("run", timeline.Outcome{Health: load.Health{Valid: true}})
	if res.File.Valid || !strings.Contains(res.File.Invalid, "measurements were lost") {
		t.Errorf("valid %v, invalid reason %q: want invalid, naming the lost measurements", res.File.Valid, res.File.Invalid)
	}
	if res.File.Summary.Requests != 5 {
		t.Errorf("the summary counts %d requests, want the 5 measured", res.File.Summary.Requests)
	}
	if _, err := ReadSummary(run.Path(SummaryJSON)); err != nil {
		t.Errorf("summary.json: %v", err)
	}
}

func TestTheSimulatorsSelfCheckIsSummarisedPerServerByName(t *testing.T) {
	bound := workerstate.LatenessBound{Late: 5 * time.Millisecond, MaxFraction: 0.01}
	tests := []struct {
		name     string
		steps    *timeline.StepCheck
		want     []SimulatorCheck
		wantText string
	}{
		{name: "no simulator judged: no entry and nothing in the validity line", steps: nil, want: nil, wantText: "CPU 0% busy)"},
		{
			name:  "a judged simulator: its steps, late steps and the bound, under its server name",
			steps: &timeline.StepCheck{Bound: bound, Servers: []workerstate.LatenessVerdict{{Worker: "http://a", Steps: 1000, Late: 2, Fraction: 0.002, Valid: true}}},
			want: []SimulatorCheck{{Server: "server-1", URL: "http://a", Steps: 1000, LateSteps: 2, LateFraction: 0.002,
				LateMS: 5, MaxLateFraction: 0.01}},
			wantText: "simulated server-1: 0.20% of 1000 steps over 5 ms late)",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run := newRun(t)
			rec, err := NewRecorder(run, testPlan(), Header{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			rec.Event(timeline.Event{Kind: timeline.Started, Target: "server-1", URL: "http://a"})
			rec.Add(metrics.Record{Index: 0, Target: "http://a", Status: 200, OutputTokens: 1, Sent: time.Millisecond, Done: 2 * time.Millisecond})
			// No /metrics scrape is fed in, so the routing figures fail;
			// the summary is written all the same.
			if _, err := rec.Close("run", timeline.Outcome{Health: load.Health{Valid: true}, Steps: tc.steps}); err != nil && !strings.Contains(err.Error(), "never scraped") {
				t.Fatal(err)
			}
			f, err := ReadSummary(run.Path(SummaryJSON))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, f.SimulatorSteps); diff != "" {
				t.Errorf("simulator_steps (-want +got):\n%s", diff)
			}
			if text := FormatText(f); !strings.Contains(text, tc.wantText) {
				t.Errorf("summary text lacks %q:\n%s", tc.wantText, text)
			}
		})
	}
}
