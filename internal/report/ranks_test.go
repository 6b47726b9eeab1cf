package report

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sgltest/sgltest/internal/load"
	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/timeline"
	"github.com/sgltest/sgltest/internal/workerstate"
)

func TestRoutingShowsWhatEachDPRankServed(t *testing.T) {
	run := newRun(t)
	rec, err := NewRecorder(run, testPlan(), Header{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ranks := func(a0, a1 float64) []workerstate.RankCounters {
		return []workerstate.RankCounters{{Rank: 0, Admitted: a0, PrefillTokens: 10 * a0}, {Rank: 1, Admitted: a1, PrefillTokens: 10 * a1}}
	}
	// Scraped before, during and after the run: rank 0 admits 30, rank 1 10.
	for k, s := range []workerstate.Counters{
		{Requests: 1, Ranks: ranks(1, 0)},
		{Requests: 21, Ranks: ranks(16, 5)},
		{Requests: 41, Ranks: ranks(31, 10)},
	} {
		rec.Sample(0, workerstate.Sample{At: time.Duration(k) * time.Second, Counters: s})
	}
	rec.Add(metrics.Record{Index: 0, Target: "http://a", Status: 200, OutputTokens: 1, Sent: time.Millisecond, Done: 2 * time.Millisecond})
	res, err := rec.Close("run", timeline.Outcome{Health: load.Health{Valid: true}})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(run.Path(RoutingFile))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Workers []metrics.WorkerShare `json:"workers"`
	}
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	want := []metrics.RankShare{{Rank: 0, Requests: 30, PrefillTokens: 300}, {Rank: 1, Requests: 10, PrefillTokens: 100}}
	if len(got.Workers) != 1 || len(got.Workers[0].Ranks) != 2 || got.Workers[0].Ranks[0] != want[0] || got.Workers[0].Ranks[1] != want[1] {
		t.Errorf("routing.json workers = %+v, want ranks %+v", got.Workers, want)
	}
	if text := res.Routing.Text(); !strings.Contains(text, "DP rank 0: 30 requests") || !strings.Contains(text, "DP rank 1: 10 requests") {
		t.Errorf("the routing summary does not show the ranks:\n%s", text)
	}
}
