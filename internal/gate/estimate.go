package gate

import (
	"math"
	"math/rand/v2"
	"slices"
)

// median of values (not modified); the mean of the two middle values for
// an even count.
func median(values []float64) float64 {
	s := slices.Clone(values)
	slices.Sort(s)
	return sortedMedian(s)
}

func sortedMedian(s []float64) float64 {
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// hodgesLehmann is the two-sample Hodges-Lehmann shift estimate: the
// median of every difference y_j − x_i. It is the shift the Mann-Whitney
// test is built around, and robust to a few wild repeats.
func hodgesLehmann(x, y []float64) float64 {
	d := make([]float64, 0, len(x)*len(y))
	for _, b := range y {
		for _, a := range x {
			d = append(d, b-a)
		}
	}
	return median(d)
}

// bootstrapChange is the percentile bootstrap interval, at the given
// two-sided confidence, of the relative change of medians
// median(y)/median(x) − 1: both samples are resampled independently with
// replacement, resamples times, from a PCG stream seeded with seed, so the
// interval is a pure function of its inputs.
func bootstrapChange(x, y []float64, confidence float64, resamples int, seed uint64) (lo, hi float64) {
	rng := rand.New(rand.NewPCG(seed, 0xb0075742))
	bx := make([]float64, len(x))
	by := make([]float64, len(y))
	changes := make([]float64, resamples)
	for r := range changes {
		for i := range bx {
			bx[i] = x[rng.IntN(len(x))]
		}
		for i := range by {
			by[i] = y[rng.IntN(len(y))]
		}
		slices.Sort(bx)
		slices.Sort(by)
		changes[r] = relChange(sortedMedian(bx), sortedMedian(by))
	}
	slices.Sort(changes)
	tail := (1 - confidence) / 2
	return quantile(changes, tail), quantile(changes, 1-tail)
}

// relChange is to/from − 1, with 0/0 read as no change and a change from 0
// to anything positive as +Inf.
func relChange(from, to float64) float64 {
	if from == 0 {
		switch {
		case to == 0:
			return 0
		case to > 0:
			return math.Inf(1)
		default:
			return math.Inf(-1)
		}
	}
	return to/from - 1
}

// quantile of sorted values at q in [0, 1], interpolated linearly between
// closest ranks (numpy's default, as metrics.Percentile).
func quantile(sorted []float64, q float64) float64 {
	rank := q * float64(len(sorted)-1)
	lo, hi := int(math.Floor(rank)), int(math.Ceil(rank))
	if lo == hi || sorted[lo] == sorted[hi] {
		return sorted[lo]
	}
	return sorted[lo] + (sorted[hi]-sorted[lo])*(rank-float64(lo))
}
