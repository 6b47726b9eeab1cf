package load

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Poisson returns n arrival offsets from the run's start instant for a
// Poisson process of the given rate (requests per second): the first
// request arrives at 0 and each gap is exponential with mean 1/rate, as in
// bench_serving. A rate of +Inf sends every request at 0. Offsets are
// cumulative sums computed once, so lateness of one arrival never shifts
// the ones after it.
func Poisson(rate float64, n int, seed uint64) ([]time.Duration, error) {
	if n <= 0 {
		return nil, fmt.Errorf("poisson arrivals: count must be positive, got %d", n)
	}
	if math.IsNaN(rate) || rate <= 0 {
		return nil, fmt.Errorf("poisson arrivals: rate must be positive or inf, got %v", rate)
	}
	at := make([]time.Duration, n)
	if math.IsInf(rate, 1) {
		return at, nil
	}
	rng := rand.New(rand.NewPCG(seed, 0xa771e))
	var t float64 // seconds, accumulated in float to avoid per-gap rounding drift
	for i := 1; i < n; i++ {
		t += rng.ExpFloat64() / rate
		at[i] = time.Duration(t * float64(time.Second))
	}
	return at, nil
}
