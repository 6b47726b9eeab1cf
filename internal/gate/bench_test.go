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
