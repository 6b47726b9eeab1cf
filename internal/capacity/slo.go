package capacity

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/sgltest/sgltest/internal/figures"
	"github.com/sgltest/sgltest/internal/report"
)

// SLO is a service-level objective: bounds that must all hold on a run.
// Any figure of the registry can be bounded.
type SLO []figures.Bound

// String writes the SLO as a scenario would: "P99 TTFT below 200 ms and
// P99 TPOT below 50 ms".
func (s SLO) String() string {
	parts := make([]string, len(s))
	for i, b := range s {
		parts[i] = bound(b)
	}
	return strings.Join(parts, " and ")
}

func bound(b figures.Bound) string { return fmt.Sprintf("%s %s %s", b.Name(), b.Cmp, b.Given) }

// Judge judges every bound of the SLO on run, in order.
func (s SLO) Judge(run *report.Result) []figures.Verdict {
	out := make([]figures.Verdict, len(s))
	for i, b := range s {
		out[i] = b.Judge(run)
	}
	return out
}

// Trial is one run of a load point, judged.
type Trial struct {
	// Repeat counts the point's runs from 0; Seed is the seed it ran with.
	Repeat int
	Seed   uint64
	// Dir is the run directory.
	Dir string
	// Verdicts are the SLO's bounds judged on the run, in the SLO's order.
	Verdicts []figures.Verdict
	// Stopped says why the run stopped early, when it did: it then fails
	// every bound.
	Stopped string
	// Attainment is the share of requests that met every per-request
	// objective (see the package documentation); nil when not measured.
	Attainment *float64
}

// Probe runs the load point x (a rate, or a server count) for the
// repeat-th time (from 0) and judges it. An error ends the search: it is
// for runs that could not be judged at all (an invalid run, a signal).
type Probe func(ctx context.Context, x float64, repeat int) (Trial, error)

// Noise is the rule that repeats a point too close to call (see the
// package documentation).
type Noise struct {
	// Margin: a run is marginal when a bound's value lies within Margin ×
	// |limit| of its limit.
	Margin float64
	// Runs is how many runs a marginal point gets in all; it is judged on
	// each bound's median over them.
	Runs int
}

// DefaultNoise repeats a point within 10% of a limit, to 3 runs.
var DefaultNoise = Noise{Margin: 0.1, Runs: 3}

func (n Noise) check() error {
	if !(n.Margin >= 0) || n.Runs < 1 {
		return fmt.Errorf("noise rule %+v: the margin must not be negative and a point needs at least one run", n)
	}
	return nil
}

// String says the rule in words.
func (n Noise) String() string {
	if n.Runs <= 1 || n.Margin == 0 {
		return "every point is run once"
	}
	return fmt.Sprintf("a point with a figure within %g%% of its limit is run %d times (new seeds) and judged on the medians",
		100*n.Margin, n.Runs)
}

// marginal reports whether one run is too close to call.
func (n Noise) marginal(slo SLO, t Trial) bool {
	if t.Stopped != "" || n.Runs <= 1 {
		return false
	}
	for i, v := range t.Verdicts {
		limit := slo[i].Value
		if v.HasValue && limit != 0 && math.Abs(v.Measured-limit) <= n.Margin*math.Abs(limit) {
			return true
		}
	}
	return false
}

// Decision is a load point judged: one run, or the median of a marginal
// point's runs.
type Decision struct {
	// X is the point: a rate in req/s, or a server count.
	X      float64
	Trials []Trial
	// Values are each bound's figure: the run's, or the median over the
	// runs; ±Inf (the failing side) when a run could not read it.
	Values []float64
	// Pass says every bound holds on Values.
	Pass bool
	// Marginal says the noise rule repeated the point.
	Marginal bool
}

// Attainment is the median attainment over the point's runs, when measured.
func (d Decision) Attainment() (float64, bool) {
	var vs []float64
	for _, t := range d.Trials {
		if t.Attainment != nil {
			vs = append(vs, *t.Attainment)
		}
	}
	if len(vs) == 0 {
		return 0, false
	}
	return median(vs), true
}

// Failing names the bounds that do not hold, with their values.
func (d Decision) Failing(slo SLO) []string {
	var out []string
	for i, b := range slo {
		if !b.Cmp.Holds(d.Values[i], b.Value) {
			out = append(out, fmt.Sprintf("%s is %s, expected %s %s", b.Name(), value(d.Values[i], b.Figure.Unit), b.Cmp, b.Given))
		}
	}
	if len(out) == 0 {
		for _, t := range d.Trials {
			if t.Stopped != "" {
				out = append(out, "the run stopped early: "+t.Stopped)
			}
		}
	}
	return out
}

// value formats a figure for a message; an infinite one could not be read.
func value(v float64, u figures.Unit) string {
	if math.IsInf(v, 0) {
		return "unreadable"
	}
	return figures.Format(v, u)
}

// decide runs point x by the noise rule and judges it.
func decide(ctx context.Context, slo SLO, noise Noise, x float64, probe Probe) (Decision, error) {
	d := Decision{X: x}
	for k := 0; k < 1 || (d.Marginal && k < noise.Runs); k++ {
		if err := ctx.Err(); err != nil {
			return d, context.Cause(ctx)
		}
		t, err := probe(ctx, x, k)
		if err != nil {
			return d, err
		}
		if len(t.Verdicts) != len(slo) {
			return d, fmt.Errorf("point %g: %d verdicts for an SLO of %d bounds", x, len(t.Verdicts), len(slo))
		}
		d.Trials = append(d.Trials, t)
		if k == 0 {
			d.Marginal = noise.marginal(slo, t)
		}
	}
	d.Values, d.Pass = judge(slo, d.Trials)
	return d, nil
}

// judge takes each bound's median over trials and compares it. A trial
// that stopped early or could not read a figure counts as the failing
// extreme for it.
func judge(slo SLO, trials []Trial) ([]float64, bool) {
	values := make([]float64, len(slo))
	pass := true
	for i, b := range slo {
		worst := math.Inf(1)
		if b.Cmp == figures.Above || b.Cmp == figures.AtLeast {
			worst = math.Inf(-1)
		}
		vs := make([]float64, len(trials))
		for k, t := range trials {
			v := t.Verdicts[i]
			vs[k] = v.Measured
			if !v.HasValue || t.Stopped != "" {
				vs[k] = worst
			}
		}
		values[i] = median(vs)
		pass = pass && b.Cmp.Holds(values[i], b.Value)
	}
	return values, pass && len(slo) > 0
}

// median is the middle value (the mean of the two middle ones for an even
// count; infinities stay infinite).
func median(vs []float64) float64 {
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	a, b := s[n/2-1], s[n/2]
	if a == b {
		return a
	}
	return a + (b-a)/2
}

var errNoSLO = errors.New("the SLO has no bound: name at least one figure and its limit")
