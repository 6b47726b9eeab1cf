package load

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Open-loop arrival processes. Each returns offsets from the run's start
// instant, computed once before the run as cumulative sums in float seconds,
// so lateness of one arrival never shifts the ones after it and rounding
// never accumulates (one nanosecond at most, not n of them).

// Poisson returns n arrival offsets from the run's start instant for a
// Poisson process of the given rate (requests per second): the first
// request arrives at 0 and each gap is exponential with mean 1/rate, as in
// bench_serving. A rate of +Inf sends every request at 0.
func Poisson(rate float64, n int, seed uint64) ([]time.Duration, error) {
	return Gamma(rate, 1, n, seed)
}

// Gamma returns n arrival offsets whose gaps are gamma distributed with
// shape = burstiness and mean 1/rate (vLLM's --burstiness definition):
// burstiness 1 is Poisson, below 1 burstier (coefficient of variation
// 1/√burstiness above 1), above 1 more regular. The first request arrives
// at 0. A rate of +Inf sends every request at 0.
func Gamma(rate, burstiness float64, n int, seed uint64) ([]time.Duration, error) {
	if err := checkRate(rate, n); err != nil {
		return nil, err
	}
	if math.IsNaN(burstiness) || burstiness <= 0 || math.IsInf(burstiness, 0) {
		return nil, fmt.Errorf("arrivals: burstiness must be positive and finite, got %v", burstiness)
	}
	at := make([]time.Duration, n)
	if math.IsInf(rate, 1) {
		return at, nil
	}
	rng := rand.New(rand.NewPCG(seed, 0xa771e))
	scale := 1 / (rate * burstiness)
	var t float64
	for i := 1; i < n; i++ {
		if burstiness == 1 {
			t += rng.ExpFloat64() / rate
		} else {
			t += gammaSample(rng, burstiness) * scale
		}
		at[i] = seconds(t)
	}
	return at, nil
}

// Constant returns n arrivals exactly 1/rate apart, the first at 0.
func Constant(rate float64, n int) ([]time.Duration, error) {
	if err := checkRate(rate, n); err != nil {
		return nil, err
	}
	at := make([]time.Duration, n)
	if math.IsInf(rate, 1) {
		return at, nil
	}
	for i := range at {
		at[i] = seconds(float64(i) / rate)
	}
	return at, nil
}

func checkRate(rate float64, n int) error {
	if n <= 0 {
		return fmt.Errorf("arrivals: count must be positive, got %d", n)
	}
	if math.IsNaN(rate) || rate <= 0 {
		return fmt.Errorf("arrivals: rate must be positive or inf, got %v", rate)
	}
	return nil
}

func seconds(s float64) time.Duration { return time.Duration(math.Round(s * float64(time.Second))) }

// gammaSample draws Gamma(shape, 1) by Marsaglia and Tsang's method; for
// shape < 1 it boosts the shape by one and scales by U^(1/shape).
func gammaSample(rng *rand.Rand, shape float64) float64 {
	if shape < 1 {
		u := rng.Float64()
		for u == 0 {
			u = rng.Float64()
		}
		return gammaSample(rng, shape+1) * math.Pow(u, 1/shape)
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := rng.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}

// Phase is one part of a multi-phase load program. During Duration the
// rate moves linearly from From to To requests per second (equal for a
// step or a soak, different for a ramp); Burst requests arrive together at
// the phase's start (a burst phase may have a zero rate and Duration).
type Phase struct {
	Duration time.Duration
	From, To float64
	Burst    int
}

// Ramp, Step, Soak and Burst build the usual phases.
func Ramp(d time.Duration, from, to float64) Phase { return Phase{Duration: d, From: from, To: to} }

// Step holds one rate for d; Soak is the same shape, named for a long hold.
func Step(d time.Duration, rate float64) Phase { return Phase{Duration: d, From: rate, To: rate} }

// Soak holds rate for d (a long step).
func Soak(d time.Duration, rate float64) Phase { return Step(d, rate) }

// Burst sends n requests at once.
func Burst(n int) Phase { return Phase{Burst: n} }

// Program returns the arrival offsets of phases played one after the other
// from the start instant. Within a phase arrivals are a Poisson process of
// the phase's (possibly time-varying) rate, drawn by time rescaling: unit
// exponential gaps in the integrated rate Λ(t), inverted exactly for a
// linear ramp. With poisson false the arrivals are evenly spaced in Λ
// instead (deterministic pacing).
func Program(phases []Phase, poisson bool, seed uint64) ([]time.Duration, error) {
	if len(phases) == 0 {
		return nil, fmt.Errorf("arrival program: no phases")
	}
	rng := rand.New(rand.NewPCG(seed, 0x9a5e))
	var at []time.Duration
	var base float64 // seconds at the start of the phase
	for i, p := range phases {
		switch {
		case p.Duration < 0, p.Burst < 0:
			return nil, fmt.Errorf("arrival program: phase %d: negative duration or burst", i+1)
		case math.IsNaN(p.From) || math.IsNaN(p.To) || p.From < 0 || p.To < 0 || math.IsInf(p.From, 0) || math.IsInf(p.To, 0):
			return nil, fmt.Errorf("arrival program: phase %d: rates must be finite and non-negative, got %v to %v", i+1, p.From, p.To)
		case p.Duration == 0 && p.Burst == 0:
			return nil, fmt.Errorf("arrival program: phase %d: has neither a duration nor a burst", i+1)
		}
		for range p.Burst {
			at = append(at, seconds(base))
		}
		d := p.Duration.Seconds()
		total := d * (p.From + p.To) / 2 // Λ(d)
		var lambda float64
		for {
			if poisson {
				lambda += rng.ExpFloat64()
			} else {
				lambda++
			}
			if lambda > total {
				break
			}
			at = append(at, seconds(base+invertLinear(lambda, p.From, p.To, d)))
		}
		base += d
	}
	if len(at) == 0 {
		return nil, fmt.Errorf("arrival program: the phases produce no arrivals")
	}
	return at, nil
}

// invertLinear solves Λ(t) = r0·t + (r1−r0)·t²/(2d) = lambda for t in [0, d].
func invertLinear(lambda, r0, r1, d float64) float64 {
	a := (r1 - r0) / (2 * d)
	if math.Abs(a) < 1e-12 {
		return lambda / r0
	}
	// Stable root of a·t² + r0·t − lambda = 0.
	return 2 * lambda / (r0 + math.Sqrt(r0*r0+4*a*lambda))
}
