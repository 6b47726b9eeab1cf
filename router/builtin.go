package router

import "math/rand/v2"

// RoundRobin sends request i to worker i mod len(workers); like
// sglang-router's, the counter is global, so a changing worker list shifts
// the phase.
type RoundRobin struct{ next uint64 }

// Pick implements Policy.
func (p *RoundRobin) Pick(_ Request, workers []Worker) (int, error) {
	if len(workers) == 0 {
		return 0, ErrNoWorkers
	}
	i := int(p.next % uint64(len(workers)))
	p.next++
	return i, nil
}

// Random picks a worker uniformly, from a seeded generator.
type Random struct{ rng *rand.Rand }

// NewRandom returns a Random policy seeded with seed.
func NewRandom(seed uint64) *Random { return &Random{rng: rand.New(rand.NewPCG(seed, 0x5eed))} }

// Pick implements Policy.
func (p *Random) Pick(_ Request, workers []Worker) (int, error) {
	if len(workers) == 0 {
		return 0, ErrNoWorkers
	}
	return p.rng.IntN(len(workers)), nil
}

// ShortestQueue picks the worker with the fewest requests in flight from
// the dispatcher, the first on a tie. sglang-router has no policy of this
// name; this is the rule its cache_aware falls back to (s5.2).
type ShortestQueue struct{}

// Pick implements Policy.
func (ShortestQueue) Pick(_ Request, workers []Worker) (int, error) {
	if len(workers) == 0 {
		return 0, ErrNoWorkers
	}
	return minLoad(workers), nil
}

// minLoad is the index of the lowest InFlight, the first on a tie.
func minLoad(workers []Worker) int {
	best := 0
	for i := 1; i < len(workers); i++ {
		if workers[i].InFlight < workers[best].InFlight {
			best = i
		}
	}
	return best
}

// PowerOfTwo is sglang-router 0.3.2's power_of_two: it samples two
// distinct workers at random and picks the less loaded, the first sampled
// on a tie. The load is what /get_load reports as num_tokens, the KV tokens
// in use plus the prompt tokens waiting (UsedTokens + WaitingTokens), when
// both workers have been polled, and the in-flight count otherwise.
type PowerOfTwo struct{ rng *rand.Rand }

// NewPowerOfTwo returns a PowerOfTwo policy seeded with seed.
func NewPowerOfTwo(seed uint64) *PowerOfTwo {
	return &PowerOfTwo{rng: rand.New(rand.NewPCG(seed, 0x2c40))}
}

// Pick implements Policy.
func (p *PowerOfTwo) Pick(_ Request, workers []Worker) (int, error) {
	n := len(workers)
	switch n {
	case 0:
		return 0, ErrNoWorkers
	case 1:
		return 0, nil
	}
	a := p.rng.IntN(n)
	b := p.rng.IntN(n - 1)
	if b >= a {
		b++
	}
	wa, wb := &workers[a], &workers[b]
	la, lb := wa.InFlight, wb.InFlight
	if wa.Scraped && wb.Scraped {
		la, lb = wa.UsedTokens+wa.WaitingTokens, wb.UsedTokens+wb.WaitingTokens
	}
	if lb < la {
		return b, nil
	}
	return a, nil
}
