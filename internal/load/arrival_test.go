package load

import (
	"context"
	"math"
	"testing"
	"time"
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

// gapStats returns the mean and coefficient of variation of the gaps.
func gapStats(at []time.Duration) (mean, cv float64) {
	var sum, sq float64
	n := float64(len(at) - 1)
	for i := 1; i < len(at); i++ {
		sum += (at[i] - at[i-1]).Seconds()
	}
	mean = sum / n
	for i := 1; i < len(at); i++ {
		g := (at[i] - at[i-1]).Seconds() - mean
		sq += g * g
	}
	return mean, math.Sqrt(sq/n) / mean
}

func TestGammaBurstinessSetsTheGapVariation(t *testing.T) {
	tests := []struct {
		rate, burstiness float64
		seed             uint64
	}{
		{rate: 100, burstiness: 1, seed: 1},    // Poisson, CV 1
		{rate: 100, burstiness: 0.25, seed: 2}, // bursty, CV 2
		{rate: 50, burstiness: 0.5, seed: 3},   // CV √2
		{rate: 10, burstiness: 4, seed: 4},     // regular, CV 0.5
		{rate: 1000, burstiness: 100, seed: 5}, // nearly constant, CV 0.1
	}
	for _, tc := range tests {
		at, err := Gamma(tc.rate, tc.burstiness, 20000, tc.seed)
		if err != nil {
			t.Fatal(err)
		}
		mean, cv := gapStats(at)
		wantCV := 1 / math.Sqrt(tc.burstiness)
		if rel := math.Abs(mean*tc.rate - 1); rel > 0.04 {
			t.Errorf("rate %v burstiness %v: mean gap %.6fs is %.1f%% off 1/rate", tc.rate, tc.burstiness, mean, rel*100)
		}
		if math.Abs(cv/wantCV-1) > 0.06 {
			t.Errorf("rate %v burstiness %v: CV %.3f, want %.3f", tc.rate, tc.burstiness, cv, wantCV)
		}
	}
	if _, err := Gamma(10, 0, 5, 1); err == nil {
		t.Error("burstiness 0 gave no error")
	}
}

func TestConstantArrivalsAreEvenlySpaced(t *testing.T) {
	at, err := Constant(3, 10000)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range at {
		// i/3 s rounded to the nanosecond, computed from i, never summed.
		if want := time.Duration(math.Round(float64(i) / 3 * 1e9)); d != want {
			t.Fatalf("arrival %d at %v, want %v", i, d, want)
		}
	}
}

func TestProgramPlaysPhasesInOrder(t *testing.T) {
	phases := []Phase{
		Ramp(10*time.Second, 0, 200), // expect 1000 arrivals, density rising
		Burst(50),
		Step(5*time.Second, 100), // 500
		Soak(20*time.Second, 20), // 400
	}
	for _, poisson := range []bool{false, true} {
		at, err := Program(phases, poisson, 11)
		if err != nil {
			t.Fatal(err)
		}
		count := func(from, to time.Duration) int {
			n := 0
			for _, d := range at {
				if d >= from && d < to {
					n++
				}
			}
			return n
		}
		tol := func(got, want int) bool {
			if !poisson {
				return abs(got-want) <= 1
			}
			return math.Abs(float64(got-want)) <= 4*math.Sqrt(float64(want)) // 4σ
		}
		s := time.Second
		// A linear ramp 0→200 over 10 s puts 1/4 of its 1000 arrivals in the first half.
		if got := count(0, 5*s); !tol(got, 250) {
			t.Errorf("poisson=%v: %d arrivals in the ramp's first half, want 250", poisson, got)
		}
		if got := count(5*s, 10*s); !tol(got, 750) {
			t.Errorf("poisson=%v: %d arrivals in the ramp's second half, want 750", poisson, got)
		}
		if got := count(10*s, 10*s+1); got < 50 {
			t.Errorf("poisson=%v: %d arrivals at the burst instant, want at least 50", poisson, got)
		}
		if got := count(10*s+1, 15*s); !tol(got, 500) {
			t.Errorf("poisson=%v: %d arrivals in the step, want 500", poisson, got)
		}
		if got := count(15*s, 35*s); !tol(got, 400) {
			t.Errorf("poisson=%v: %d arrivals in the soak, want 400", poisson, got)
		}
		for i := 1; i < len(at); i++ {
			if at[i] < at[i-1] {
				t.Fatalf("poisson=%v: arrivals out of order at %d", poisson, i)
			}
		}
	}
	if _, err := Program([]Phase{{}}, true, 1); err == nil {
		t.Error("an empty phase gave no error")
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func TestArrivalLoopSchedulesFromTheAbsoluteStart(t *testing.T) {
	// 10,000 arrivals 50 µs apart. A scheduler that slept for each gap in
	// turn would end at least 10,000 × the timer's wake-up granularity
	// (≥ 50 µs, so ≥ 0.5 s) late; one that sleeps until start + offset
	// catches up after every late wake-up, so the last arrival is late by
	// one wake-up only. The bound is loose enough for -race on a busy machine.
	at, err := Constant(20000, 10000)
	if err != nil {
		t.Fatal(err)
	}
	clock := &Clock{start: time.Now()}
	var worst time.Duration
	for i := range at {
		sched, err := Offsets(at).Arrive(context.Background(), i, clock)
		if err != nil {
			t.Fatal(err)
		}
		if sched != at[i] {
			t.Fatalf("arrival %d scheduled at %v, want the precomputed %v", i, sched, at[i])
		}
		worst = max(worst, clock.Now()-sched)
	}
	if late := clock.Now() - at[len(at)-1]; late > 100*time.Millisecond {
		t.Errorf("last of 10,000 arrivals %v late (worst %v): the schedule drifts", late, worst)
	}
}
