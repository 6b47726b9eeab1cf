package capacity

import (
	"context"
	"fmt"
	"slices"
)

// CountSearch configures SearchCount.
type CountSearch struct {
	// Max is the most servers tried.
	Max   int
	Noise Noise
}

// CountResult is what SearchCount found.
type CountResult struct {
	// Found says some count up to Max met the SLO; Fewest is the fewest
	// that did.
	Found  bool
	Fewest int
	// MostFailing is the largest count seen to break the SLO below Fewest
	// (Fewest − 1 once the search is done), 0 when one server met it.
	MostFailing int
	Max         int
	// Decisions are the counts tried, in order.
	Decisions []Decision
}

// Curve returns the counts tried, by count.
func (r CountResult) Curve() []Decision {
	out := slices.Clone(r.Decisions)
	slices.SortFunc(out, func(a, b Decision) int { return int(a.X - b.X) })
	return out
}

// SearchCount finds the fewest servers for which the SLO holds: 1, 2, 4, …
// until it holds (trying Max last), then bisection between the largest
// failing and the smallest passing count.
func SearchCount(ctx context.Context, slo SLO, cfg CountSearch, probe Probe) (CountResult, error) {
	res := CountResult{Max: cfg.Max}
	if len(slo) == 0 {
		return res, errNoSLO
	}
	if cfg.Max < 1 {
		return res, fmt.Errorf("server count search up to %d: expected at least 1", cfg.Max)
	}
	if err := cfg.Noise.check(); err != nil {
		return res, err
	}
	try := func(n int) (bool, error) {
		d, err := decide(ctx, slo, cfg.Noise, float64(n), probe)
		if len(d.Trials) > 0 {
			res.Decisions = append(res.Decisions, d)
		}
		if err != nil {
			return false, err
		}
		if d.Pass {
			res.Found, res.Fewest = true, n
		} else {
			res.MostFailing = n
		}
		return d.Pass, nil
	}
	for n := 1; ; n = min(2*n, cfg.Max) {
		pass, err := try(n)
		if err != nil {
			return res, err
		}
		if pass {
			break
		}
		if n == cfg.Max {
			return res, nil
		}
	}
	for res.Fewest-res.MostFailing > 1 {
		if _, err := try(res.MostFailing + (res.Fewest-res.MostFailing)/2); err != nil {
			return res, err
		}
	}
	return res, nil
}
