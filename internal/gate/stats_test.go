package gate

import (
	"math"
	"testing"
)

// Reference values were computed with SciPy 1.17.1 (NumPy 2) by:
//
//	no ties:  stats.mannwhitneyu(y, x, alternative=alt, method="exact")
//	ties:     stats.permutation_test((x, y), U of y, permutation_type="independent",
//	              alternative=alt, n_resamples=np.inf)   # exact enumeration
//	large:    stats.mannwhitneyu(y, x, alternative=alt, method="asymptotic",
//	              use_continuity=True)                    # tie-corrected normal
//	HL:       np.median(np.subtract.outer(y, x))
var (
	mediumX = []float64{0.0, 1.277, 3.108, 2.493, 5.432, 8.925, 9.972, 14.573, 19.729, 22.438, 28.701, 35.518, 39.889, 47.814, 56.294, 62.327, 71.914, 82.055, 89.751, 101.0}
	mediumY = []float64{0.25, 5.625, 11.0, 16.375, 17.75, 23.125, 28.5, 33.875, 35.25, 40.625, 46.0, 51.375, 52.75, 58.125, 63.5, 68.875, 70.25, 75.625, 81.0, 86.375, 87.75, 93.125, 98.5, 103.875, 105.25}
)

func TestUTestMatchesSciPyOnKnownSamples(t *testing.T) {
	tests := []struct {
		name    string
		x, y    []float64
		greater bool
		u, p    float64
		exact   bool
		hl      float64
	}{
		{"separated 5 vs 5", []float64{1, 2, 3, 4, 5}, []float64{6, 7, 8, 9, 10}, true, 25, 0.003968253968253968, true, 5},
		{"overlapping 5 vs 5", []float64{52.1, 49.8, 55.0, 50.3, 51.7}, []float64{53.0, 56.2, 50.9, 58.1, 54.4}, true, 20, 0.07539682539682539, true, 2.700000000000003},
		{"unequal 4 vs 7", []float64{3.1, 4.7, 2.2, 5.9}, []float64{4.0, 6.3, 7.7, 5.1, 3.3, 8.8, 6.0}, true, 23, 0.05454545454545454, true, 1.7999999999999998},
		{"smaller, 6 vs 5", []float64{10.5, 11.2, 9.8, 10.9, 11.5, 10.1}, []float64{9.1, 9.9, 10.0, 8.7, 9.5}, false, 2, 0.008658008658008658, true, -1.2499999999999991},
		{"20 vs 25", mediumX, mediumY, true, 336, 0.025074621051306555, true, 19.453000000000003},
		{"ties, 6 vs 5", []float64{1, 2, 2, 3, 3, 3}, []float64{2, 3, 3, 4, 4}, true, 23, 0.10822510822510822, true, 1},
		{"ties, smaller", []float64{5, 5, 6, 7, 7}, []float64{4, 5, 5, 5, 6, 6}, false, 8, 0.1277056277056277, true, -1},
		{"60 vs 60 with ties, normal approximation", modular(37, 0, 101, 0), modular(53, 7, 103, 5), true, 2033, 0.11116032032214107, false, math.NaN()},
		{"60 vs 60, other tail", modular(37, 0, 101, 0), modular(53, 7, 103, 5), false, 2033, 0.8898309372912632, false, math.NaN()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := uTest(tt.x, tt.y, tt.greater)
			if got.U != tt.u || got.Exact != tt.exact || !near(got.P, tt.p, 1e-12) {
				t.Errorf("uTest = U %v p %.17g exact %v; want U %v p %.17g exact %v", got.U, got.P, got.Exact, tt.u, tt.p, tt.exact)
			}
			if !math.IsNaN(tt.hl) {
				if hl := hodgesLehmann(tt.x, tt.y); !near(hl, tt.hl, 1e-12) {
					t.Errorf("hodgesLehmann = %.17g, want %.17g", hl, tt.hl)
				}
			}
		})
	}
}

// modular is 60 values (i·a + b) mod m + c: integers with ties, as SciPy's
// reference was computed from.
func modular(a, b, m, c int) []float64 {
	out := make([]float64, 60)
	for i := range out {
		out[i] = float64((i*a+b)%m + c)
	}
	return out
}

func near(a, b, rel float64) bool {
	return a == b || math.Abs(a-b) <= rel*math.Max(math.Abs(a), math.Abs(b))
}

func TestMinPIsTheExactTestsSmallestPValue(t *testing.T) {
	for _, k := range []struct{ n1, n2 int }{{3, 3}, {4, 4}, {5, 5}, {3, 7}, {10, 10}} {
		x := make([]float64, k.n1)
		y := make([]float64, k.n2)
		for i := range x {
			x[i] = float64(i)
		}
		for i := range y {
			y[i] = float64(100 + i)
		}
		p := uTest(x, y, true).P
		if !near(p, minP(k.n1, k.n2), 1e-12) {
			t.Errorf("%d vs %d: perfectly separated p %v, minP %v", k.n1, k.n2, p, minP(k.n1, k.n2))
		}
	}
	for _, tt := range []struct {
		alpha float64
		want  int
	}{{0.05, 3}, {0.01, 5}, {0.5, 1}} {
		if k := minRepeats(tt.alpha); k != tt.want {
			t.Errorf("minRepeats(%v) = %d, want %d", tt.alpha, k, tt.want)
		}
	}
}

func TestUTestGivesPOneWhenEveryValueIsTied(t *testing.T) {
	x := []float64{3, 3, 3, 3, 3, 3, 3, 3, 3, 3}
	if p := uTest(x, x, true).P; p != 1 {
		t.Errorf("exact: p = %v, want 1", p)
	}
	big := make([]float64, 200)
	for i := range big {
		big[i] = 7
	}
	if r := uTest(big, big, true); r.Exact || r.P != 1 {
		t.Errorf("normal approximation: %+v, want p 1 not exact", r)
	}
}

func TestBootstrapIsDeterministicForASeedAndMovesWithIt(t *testing.T) {
	x := []float64{10, 11, 9.5, 10.4, 10.9}
	y := []float64{12, 12.5, 11.1, 12.9, 11.8}
	lo1, hi1 := bootstrapChange(x, y, 0.9, 5000, 7)
	lo2, hi2 := bootstrapChange(x, y, 0.9, 5000, 7)
	if lo1 != lo2 || hi1 != hi2 {
		t.Fatalf("same seed, different intervals: [%v, %v] and [%v, %v]", lo1, hi1, lo2, hi2)
	}
	point := median(y)/median(x) - 1
	if !(lo1 <= point && point <= hi1) {
		t.Errorf("interval [%v, %v] excludes the point estimate %v", lo1, hi1, point)
	}
	// Every resampled median is a sample value, so the interval's ends lie
	// within the extreme ratios.
	if lo1 < 11.1/11-1 || hi1 > 12.9/9.5-1 {
		t.Errorf("interval [%v, %v] outside the possible ratios", lo1, hi1)
	}
	lo3, hi3 := bootstrapChange(x, y, 0.9, 5000, 8)
	if lo3 == lo1 && hi3 == hi1 {
		t.Logf("seed 8 gave the same interval as seed 7 (possible with few distinct resample medians)")
	}
}

// TestBootstrapCoversTheTrueChangeAtAboutItsLevel draws 200 pairs of
// samples of 12 from lognormal populations whose medians differ by exactly
// 20% and counts how often the 90% interval covers +20%: a percentile
// bootstrap of a median is somewhat anti-conservative at small n, so the
// band is 0.80-0.96.
func TestBootstrapCoversTheTrueChangeAtAboutItsLevel(t *testing.T) {
	rng := newTestRand(3)
	const trials, n = 200, 12
	covered := 0
	for i := range trials {
		x := make([]float64, n)
		y := make([]float64, n)
		for j := range x {
			x[j] = 100 * math.Exp(0.1*rng.NormFloat64())
			y[j] = 120 * math.Exp(0.1*rng.NormFloat64())
		}
		lo, hi := bootstrapChange(x, y, 0.9, 1000, uint64(i))
		if lo <= 0.2 && 0.2 <= hi {
			covered++
		}
	}
	rate := float64(covered) / trials
	t.Logf("coverage of the 90%% interval: %.3f", rate)
	if rate < 0.80 || rate > 0.96 {
		t.Errorf("coverage %.3f outside [0.80, 0.96]", rate)
	}
}

func TestRelChangeReadsZeroBaselines(t *testing.T) {
	for _, tt := range []struct{ from, to, want float64 }{
		{0, 0, 0}, {0, 5, math.Inf(1)}, {10, 12, 0.2}, {10, 5, -0.5},
	} {
		if got := relChange(tt.from, tt.to); got != tt.want && !near(got, tt.want, 1e-12) {
			t.Errorf("relChange(%v, %v) = %v, want %v", tt.from, tt.to, got, tt.want)
		}
	}
}
