package metrics

import (
	"math"
	"slices"
)

// Distribution summarises one latency metric over a set of samples, in
// milliseconds. Percentiles are exact over the stored samples, interpolated
// linearly between closest ranks (numpy.percentile's default, which
// bench_serving uses), so the two tools agree on the same samples.
type Distribution struct {
	Count  int     `json:"count"`
	Mean   float64 `json:"mean"`
	Std    float64 `json:"std"`
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	P90    float64 `json:"p90"`
	P95    float64 `json:"p95"`
	P99    float64 `json:"p99"`
	Max    float64 `json:"max"`
}

// Distribute computes a Distribution of samples given in milliseconds. It
// sorts samples in place. An empty input gives a zero Distribution with
// Count 0, which callers must treat as "no data", never as 0 ms.
func Distribute(samples []float64) Distribution {
	if len(samples) == 0 {
		return Distribution{}
	}
	slices.Sort(samples)
	var sum float64
	for _, v := range samples {
		sum += v
	}
	mean := sum / float64(len(samples))
	var sq float64
	for _, v := range samples {
		sq += (v - mean) * (v - mean)
	}
	return Distribution{
		Count:  len(samples),
		Mean:   mean,
		Std:    math.Sqrt(sq / float64(len(samples))),
		Min:    samples[0],
		Median: Percentile(samples, 50),
		P90:    Percentile(samples, 90),
		P95:    Percentile(samples, 95),
		P99:    Percentile(samples, 99),
		Max:    samples[len(samples)-1],
	}
}

// Percentile returns the p-th percentile (0..100) of sorted samples by linear
// interpolation between closest ranks: rank = p/100 * (n-1).
func Percentile(sorted []float64, p float64) float64 {
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	rank := p / 100 * float64(n-1)
	lo := int(math.Floor(rank))
	hi := int(math.Ceil(rank))
	if lo == hi {
		return sorted[lo]
	}
	frac := rank - float64(lo)
	return sorted[lo] + (sorted[hi]-sorted[lo])*frac
}

// Get returns the named statistic: mean, median, min, max, std, or pNN for
// p90, p95, p99 and any other percentile present. ok is false for an
// unknown name.
func (d Distribution) Get(stat string) (v float64, ok bool) {
	switch stat {
	case "mean":
		return d.Mean, true
	case "median", "p50":
		return d.Median, true
	case "min":
		return d.Min, true
	case "max":
		return d.Max, true
	case "std":
		return d.Std, true
	case "p90":
		return d.P90, true
	case "p95":
		return d.P95, true
	case "p99":
		return d.P99, true
	}
	return 0, false
}
