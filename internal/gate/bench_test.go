package gate

import "testing"

// BenchmarkJudge_5v5 is one figure's verdict from 5 repeats per side with
// the default 10000 bootstrap resamples.
func BenchmarkJudge_5v5(b *testing.B) {
	base := []float64{52.1, 49.8, 55.0, 50.3, 51.7}
	cand := []float64{60.2, 58.9, 66.1, 57.4, 61.0}
	f := Figure{Name: "ttft_ms.p99", Unit: "ms", Worse: HigherIsWorse}
	r := DefaultRule(0.10)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Judge(f, base, cand, r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUTest_50v50 is the largest exact U test (above it the normal
// approximation takes over).
func BenchmarkUTest_50v50(b *testing.B) {
	rng := newTestRand(1)
	x := make([]float64, 50)
	y := make([]float64, 50)
	for i := range x {
		x[i], y[i] = rng.Float64(), rng.Float64()+0.1
	}
	for b.Loop() {
		if !uTest(x, y, true).Exact {
			b.Fatal("not exact")
		}
	}
}
