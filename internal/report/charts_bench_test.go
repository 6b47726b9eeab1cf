package report

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkChartsOfARun measures what Close spends on charts: computing
// every chart of a 10,000-request, four-server run and drawing the PNGs.
func BenchmarkChartsOfARun(b *testing.B) {
	recs := randomRecords(rand.New(rand.NewPCG(1, 1)), 10000)
	d := ChartData{Store: storeOf(recs), Servers: []string{"server-1", "server-2", "server-3", "server-4"},
		Series: seriesOf(4, 3), GPU: gpuSamples(true), Targets: map[string]int{"http://127.0.0.1:30000": 0}}
	run := &Run{dir: b.TempDir()}
	b.Run("build", func(b *testing.B) {
		for b.Loop() {
			if _, err := BuildCharts(d); err != nil {
				b.Fatal(err)
			}
		}
	})
	charts, err := BuildCharts(d)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("draw", func(b *testing.B) {
		for b.Loop() {
			if _, err := run.WriteCharts(charts); err != nil {
				b.Fatal(err)
			}
		}
	})
}
