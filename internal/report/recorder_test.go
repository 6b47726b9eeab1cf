package report

import (
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sgltest/sgltest/internal/load"
	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/plan"
	"github.com/sgltest/sgltest/internal/timeline"
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
