package load

import (
	"math"
	"testing"
)

func TestPoissonMatchesRateAndIsExponential(t *testing.T) {
	tests := []struct {
		rate float64
		n    int
		seed uint64
	}{
		{rate: 20, n: 10000, seed: 1},
		{rate: 1000, n: 10000, seed: 7},
		{rate: 0.5, n: 10000, seed: 42},
	}
	for _, tc := range tests {
		at, err := Poisson(tc.rate, tc.n, tc.seed)
		if err != nil {
			t.Fatal(err)
		}
		if at[0] != 0 {
			t.Errorf("rate %v: first arrival at %v, want 0 (sent immediately, as bench_serving)", tc.rate, at[0])
		}
		// Mean gap 1/rate within 3%; for an exponential, std == mean (CV 1).
		gaps := make([]float64, 0, tc.n-1)
		for i := 1; i < len(at); i++ {
			if at[i] < at[i-1] {
				t.Fatalf("rate %v: arrivals not monotonic at %d", tc.rate, i)
			}
			gaps = append(gaps, (at[i] - at[i-1]).Seconds())
		}
		var sum, sq float64
		for _, g := range gaps {
			sum += g
		}
		mean := sum / float64(len(gaps))
		for _, g := range gaps {
			sq += (g - mean) * (g - mean)
		}
		cv := math.Sqrt(sq/float64(len(gaps))) / mean
		if rel := math.Abs(mean*tc.rate - 1); rel > 0.03 {
			t.Errorf("rate %v: mean gap %.6fs is %.1f%% off 1/rate", tc.rate, mean, rel*100)
		}
		if math.Abs(cv-1) > 0.05 {
			t.Errorf("rate %v: coefficient of variation %.3f, want about 1 (exponential gaps)", tc.rate, cv)
		}
	}
}

func TestPoissonScheduleHasNoCumulativeDrift(t *testing.T) {
	// Offsets are cumulative sums in float seconds: the last offset equals
	// the sum of the gaps to within one nanosecond of rounding, not n of them.
	at, err := Poisson(1000, 10000, 3)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Poisson(1000, 10000, 3)
	for i := range at {
		if at[i] != again[i] {
			t.Fatalf("same seed gave a different schedule at %d", i)
		}
	}
	want := at[len(at)-1].Seconds() * 1000 / float64(len(at)-1)
	if math.Abs(want-1) > 0.03 {
		t.Errorf("10000 arrivals at 1000/s span %v, want about 10 s", at[len(at)-1])
	}
}

func TestPoissonInfiniteRateSendsEverythingAtZero(t *testing.T) {
	at, err := Poisson(math.Inf(1), 5, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range at {
		if d != 0 {
			t.Errorf("arrival %d at %v, want 0", i, d)
		}
	}
}

func TestPoissonRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		rate float64
		n    int
	}{{0, 10}, {-1, 10}, {math.NaN(), 10}, {10, 0}} {
		if _, err := Poisson(tc.rate, tc.n, 1); err == nil {
			t.Errorf("Poisson(%v, %d) gave no error", tc.rate, tc.n)
		}
	}
}
