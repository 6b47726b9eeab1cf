package figures

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sgltest/sgltest/internal/report"
)

func TestStatsMatchTheSummarysAndReachAnyPercentile(t *testing.T) {
	sorted := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct {
		stat string
		want float64
	}{
		{"median", 5.5}, {"P50", 5.5}, {"mean", 5.5}, {"min", 1}, {"peak", 10}, {"max", 10},
		{"P90", 9.1}, {"p99.9", 9.991}, {"P25", 3.25},
	} {
		s, err := ParseStat(tc.stat)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Of(sorted)
		if err != nil || math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s = %v (%v), want %v", tc.stat, got, err, tc.want)
		}
	}
	for _, bad := range []string{"P0", "P100", "p", "mode"} {
		if _, err := ParseStat(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := Stat("mean").Of(nil); err == nil || !strings.Contains(err.Error(), "no samples") {
		t.Errorf("no samples: %v", err)
	}
}

func TestBoundsConvertTheirUnitIntoTheFigures(t *testing.T) {
	for _, tc := range []struct {
		fig, n, unit string
		want         float64
		err          string
	}{
		{"ttft", "2", "s", 2000, ""},
		{"ttft", "500", "us", 0.5, ""},
		{"ttft", "2", "req/s", 0, "bounded in ms or s"},
		{"gpu memory", "512", "MiB", 0.5, ""},
		{"energy per output token", "200", "mJ", 0.2, ""},
		{"error rate", "5", "%", 5, ""},
		{"max queue depth", "10", "", 10, ""},
		{"max queue depth", "10", "ms", 0, "plain number"},
	} {
		stat := ""
		if d, _ := Lookup(tc.fig); d != nil && d.Latency() {
			stat = "p99"
		}
		b, err := NewBound(stat, tc.fig, "below", tc.n, tc.unit)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s %s %s: err %v, want %q", tc.fig, tc.n, tc.unit, err, tc.err)
			}
		case err != nil || b.Value != tc.want:
			t.Errorf("%s %s %s: %v (%v), want %v", tc.fig, tc.n, tc.unit, b.Value, err, tc.want)
		}
	}
}

func TestServerSideQueueDepthSumsEveryServersLatestScrape(t *testing.T) {
	ms := time.Millisecond
	run := &report.Result{Series: [][]report.ServerPoint{
		{{At: 0, Queued: 5}, {At: 500 * ms, Queued: 20}, {At: 1000 * ms, Queued: 0}},
		{{At: 100 * ms, Queued: 7}, {At: 600 * ms, Queued: 1}},
	}}
	d, _ := Lookup("max queue depth")
	// At 500 ms: 20 + 7; at 600 ms: 20 + 1. The peak of the sum is 27.
	if got, err := d.Value(Query{Run: run}); err != nil || got != 27 {
		t.Errorf("max queue depth = %v (%v), want 27", got, err)
	}
	run.File.Header.Servers = []report.ServerRef{{Name: "server-1"}, {Name: "server-2"}}
	if got, err := d.Value(Query{Run: run, Server: 2}); err != nil || got != 7 {
		t.Errorf("max queue depth on server 2 = %v (%v), want 7", got, err)
	}
}
