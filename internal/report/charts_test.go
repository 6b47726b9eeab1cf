package report

import (
	"image"
	_ "image/png" // registers the PNG decoder for image.DecodeConfig
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/sgltest/sgltest/internal/metrics"
)

// chartSizes are the pixel sizes WriteCharts promises, by file name.
var chartSizes = map[string][2]int{
	LatencyChart:     {1440, 480},
	ThroughputChart:  {1200, 800},
	ConcurrencyChart: {1200, 500},
}

func TestWriteChartsWritesEveryChartAsAPNG(t *testing.T) {
	many := randomRecords(rand.New(rand.NewPCG(8, 8)), 500)
	tests := []struct {
		name    string
		records []metrics.Record
	}{
		{"a run with failures and warmup", many},
		{"one request, no streaming", []metrics.Record{{Status: 200, OutputTokens: 5, Arrival: 0, Sent: 0, Done: 2500 * ms1}}},
		// Empty input is not an error: every chart is written, saying "no data".
		{"no records", nil},
		{"only failures and warmup", []metrics.Record{
			{Status: 503, Error: "HTTP 503", Arrival: ms1, Sent: ms1, Done: 3 * ms1},
			{Warmup: true, Status: 200, OutputTokens: 1, Done: ms1},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // drawing is CPU-bound and slow under -race
			run := newRun(t)
			paths, err := run.WriteCharts(storeOf(tc.records))
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, name := range []string{LatencyChart, ThroughputChart, ConcurrencyChart} {
				want = append(want, run.Path(name))
			}
			if diff := gocmp.Diff(want, paths); diff != "" {
				t.Fatalf("paths mismatch (-want +got):\n%s", diff)
			}
			for _, p := range paths {
				checkPNG(t, p, chartSizes[filepath.Base(p)])
			}
			if entries, _ := os.ReadDir(run.Dir()); len(entries) != len(want) {
				t.Errorf("run directory holds %d entries, want %d (temporary files left?)", len(entries), len(want))
			}
		})
	}
}

func checkPNG(t *testing.T, path string, size [2]int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	cfg, format, err := image.DecodeConfig(f)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	if format != "png" || cfg.Width != size[0] || cfg.Height != size[1] {
		t.Errorf("%s: %s %d×%d, want png %d×%d", filepath.Base(path), format, cfg.Width, cfg.Height, size[0], size[1])
	}
}

func TestWriteChartsReturnsWriteErrors(t *testing.T) {
	run := newRun(t)
	if err := os.Remove(run.Dir()); err != nil {
		t.Fatal(err)
	}
	paths, err := run.WriteCharts(storeOf(randomRecords(rand.New(rand.NewPCG(9, 9)), 10)))
	if err == nil {
		t.Fatal("WriteCharts into a removed directory succeeded")
	}
	if len(paths) != 0 {
		t.Errorf("paths = %v, want none", paths)
	}
}

func TestNiceTicksLabelRoundNumbersWithSeparators(t *testing.T) {
	tests := []struct {
		min, max float64
		want     []string
	}{
		{0, 1000, []string{"0", "200", "400", "600", "800", "1,000"}},
		{0, 27000, []string{"0", "5,000", "10,000", "15,000", "20,000", "25,000"}},
		{0.3, 1.1, []string{"0.4", "0.6", "0.8", "1.0"}},
		{-3, 3, []string{"-3", "-2", "-1", "0", "1", "2", "3"}},
	}
	for _, tc := range tests {
		var got []string
		for _, tk := range (niceTicks{}).Ticks(tc.min, tc.max) {
			if tk.Label != "" {
				got = append(got, tk.Label)
			}
		}
		if diff := gocmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Ticks(%v, %v) labels (-want +got):\n%s", tc.min, tc.max, diff)
		}
	}
}

// storeOf adds records to a new Store, as a Recorder does.
func storeOf(recs []metrics.Record) *metrics.Store {
	st := metrics.NewStore()
	for _, r := range recs {
		st.Add(r)
	}
	return st
}
