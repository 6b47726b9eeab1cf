package capacity

import (
	"context"
	"testing"

	"github.com/sgltest/sgltest/internal/figures"
)

// BenchmarkSweepTable reads every figure of one point of 2000 requests of
// 16 tokens (32,000 ITL samples): what each sweep point costs the report.
func BenchmarkSweepTable(b *testing.B) {
	s := Sweep{Axis: AxisRate, Points: []Point{{Label: "x", X: 20, Run: fakeRun("x", 20, 40, 2000)}}}
	b.Run("table", func(b *testing.B) {
		for range b.N {
			_ = s.Table()
		}
	})
	// The same figures read one column at a time, each sorting its samples
	// again: what Table avoids.
	b.Run("column by column", func(b *testing.B) {
		cols := Columns()
		for range b.N {
			for _, c := range cols {
				_, _ = c.Value(s.Points[0].Run)
			}
		}
	})
}

// BenchmarkSearchRate is the search's own cost per point, with a probe
// that costs nothing.
func BenchmarkSearchRate(b *testing.B) {
	bd, err := figures.NewBound("P99", "TTFT", "below", "200", "ms")
	if err != nil {
		b.Fatal(err)
	}
	slo := SLO{bd}
	cfg := RateSearch{Start: 30, Min: 30.0 / Bracket, Max: 30 * Bracket, Precision: Precision{Rel: 0.001}, Noise: DefaultNoise}
	for range b.N {
		m := &queueModel{capacity: 60, base: 50}
		if _, err := SearchRate(context.Background(), slo, cfg, m.probe(slo)); err != nil {
			b.Fatal(err)
		}
	}
}
