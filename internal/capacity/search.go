package capacity

import (
	"context"
	"fmt"
	"math"
	"strconv"
)

// Precision is when a rate search stops: once the lowest failing rate is
// within max(Abs, Rel × the highest passing rate) of the highest passing
// one.
type Precision struct {
	// Abs is in req/s; Rel is a fraction (0.05: 5%).
	Abs, Rel float64
}

// DefaultPrecision stops within 5% of the rate found.
var DefaultPrecision = Precision{Rel: 0.05}

// of returns the width the bracket must shrink to around lo.
func (p Precision) of(lo float64) float64 { return max(p.Abs, p.Rel*lo) }

// String says the precision in words: "5%", "1 req/s", "1 req/s or 5%".
func (p Precision) String() string {
	abs := strconv.FormatFloat(p.Abs, 'g', -1, 64) + " req/s"
	rel := strconv.FormatFloat(100*p.Rel, 'g', -1, 64) + "%"
	switch {
	case p.Abs > 0 && p.Rel > 0:
		return abs + " or " + rel + ", whichever is wider"
	case p.Abs > 0:
		return abs
	}
	return rel
}

// RateSearch configures SearchRate.
type RateSearch struct {
	// Start is the first rate tried, in req/s.
	Start float64
	// Min and Max end the bracketing: no rate below Min or above Max is
	// tried.
	Min, Max  float64
	Precision Precision
	Noise     Noise
}

// Bracket is how far a search looks from its start: down to Start /
// Bracket and up to Start × Bracket.
const Bracket = 64

// RateResult is what SearchRate found.
type RateResult struct {
	// Found says some rate met the SLO; Rate is the highest that did (the
	// lower end of the bracket).
	Found bool
	Rate  float64
	// FirstFailing is the lowest rate above Rate seen to break the SLO (the
	// upper end of the bracket); +Inf when every rate up to Max met it.
	FirstFailing float64
	// Decisions are the points tried, in order.
	Decisions []Decision
}

// Uncertainty is the width of the bracket the answer lies in:
// FirstFailing − Rate (+Inf when no rate failed).
func (r RateResult) Uncertainty() float64 { return r.FirstFailing - r.Rate }

// SearchRate finds the highest rate at which the SLO holds: it brackets
// from cfg.Start by doubling or halving, then bisects to cfg.Precision
// (see the package documentation).
func SearchRate(ctx context.Context, slo SLO, cfg RateSearch, probe Probe) (RateResult, error) {
	res := RateResult{FirstFailing: math.Inf(1)}
	switch {
	case len(slo) == 0:
		return res, errNoSLO
	case !(cfg.Start > 0) || !(cfg.Min > 0) || cfg.Min > cfg.Start || cfg.Max < cfg.Start || math.IsInf(cfg.Max, 0):
		return res, fmt.Errorf("rate search from %g req/s within [%g, %g]: expected 0 < min <= start <= max, all finite", cfg.Start, cfg.Min, cfg.Max)
	case !(cfg.Precision.Abs > 0) && !(cfg.Precision.Rel > 0):
		return res, fmt.Errorf("rate search precision %+v: expected a positive absolute or relative precision", cfg.Precision)
	}
	if err := cfg.Noise.check(); err != nil {
		return res, err
	}
	try := func(x float64) (bool, error) {
		d, err := decide(ctx, slo, cfg.Noise, x, probe)
		if len(d.Trials) > 0 {
			res.Decisions = append(res.Decisions, d)
		}
		if err != nil {
			return false, err
		}
		if d.Pass {
			res.Found, res.Rate = true, x
		} else {
			res.FirstFailing = x
		}
		return d.Pass, nil
	}
	pass, err := try(cfg.Start)
	if err != nil {
		return res, err
	}
	// Bracket: double while passing, halve while failing.
	for x := cfg.Start; ; {
		if pass {
			if x >= cfg.Max {
				return res, nil // met up to Max: no failing rate seen
			}
			x = min(2*x, cfg.Max)
		} else {
			if x <= cfg.Min {
				return res, nil // no rate down to Min met the SLO
			}
			x = max(x/2, cfg.Min)
		}
		p, err := try(x)
		if err != nil {
			return res, err
		}
		if p != pass {
			break
		}
	}
	// Bisect [Rate, FirstFailing).
	for res.FirstFailing-res.Rate > cfg.Precision.of(res.Rate) {
		if _, err := try(res.Rate + (res.FirstFailing-res.Rate)/2); err != nil {
			return res, err
		}
	}
	return res, nil
}
