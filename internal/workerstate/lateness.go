package workerstate

import (
	"fmt"
	"slices"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// Lateness is a simulator's step-lateness histogram: how late each engine
// step ended against the simulator's step-time model. Like every counter
// it is cumulative since the server started, so a run's figure is the
// difference of two scrapes (Counters.Sub).
type Lateness struct {
	// Bounds are the buckets' upper bounds in seconds, ascending, without
	// +Inf; Cumulative[i] counts the steps at most Bounds[i] late.
	Bounds     []float64
	Cumulative []float64
	// Steps counts every step.
	Steps float64
}

// lateness reads the histogram family, summing series that share bounds;
// nil gives the zero Lateness.
func lateness(f *dto.MetricFamily) Lateness {
	var l Lateness
	for _, m := range f.GetMetric() {
		h := m.GetHistogram()
		if h == nil {
			continue
		}
		var bounds, cum []float64
		for _, b := range h.GetBucket() {
			if ub := b.GetUpperBound(); ub < 1e308 {
				bounds = append(bounds, ub)
				cum = append(cum, float64(b.GetCumulativeCount()))
			}
		}
		if l.Bounds == nil {
			l.Bounds, l.Cumulative = bounds, cum
		} else if slices.Equal(l.Bounds, bounds) {
			for i := range cum {
				l.Cumulative[i] += cum[i]
			}
		}
		l.Steps += float64(h.GetSampleCount())
	}
	return l
}

// Sub returns l − prev: the steps between two scrapes. A prev with other
// bounds (none yet, or another simulator version) counts as empty.
func (l Lateness) Sub(prev Lateness) Lateness {
	if len(l.Bounds) == 0 {
		return Lateness{}
	}
	d := Lateness{Bounds: l.Bounds, Cumulative: slices.Clone(l.Cumulative), Steps: l.Steps}
	if slices.Equal(prev.Bounds, l.Bounds) {
		for i := range d.Cumulative {
			d.Cumulative[i] -= prev.Cumulative[i]
		}
		d.Steps -= prev.Steps
	}
	return d
}

// Over returns how many steps ended more than late behind schedule. late
// must be one of the histogram's bounds: between bounds the count is not
// known.
func (l Lateness) Over(late time.Duration) (float64, error) {
	for i, b := range l.Bounds {
		if time.Duration(b*float64(time.Second)+0.5) == late {
			return l.Steps - l.Cumulative[i], nil
		}
	}
	names := make([]string, len(l.Bounds))
	for i, b := range l.Bounds {
		names[i] = time.Duration(b * float64(time.Second)).String()
	}
	return 0, fmt.Errorf("step lateness %v is not one of the simulator's histogram bounds (%s)", late, strings.Join(names, ", "))
}

// LatenessBound is how far behind its step schedule a simulated server may
// fall before a run on it is invalid: at most MaxFraction of its steps may
// end more than Late late.
type LatenessBound struct {
	Late        time.Duration
	MaxFraction float64
}

// DefaultLatenessBound allows 1% of steps more than 5 ms late: beyond it,
// the p99 of the inter-token latencies the simulator produces is off by
// more than 5 ms because of its host, not its model.
var DefaultLatenessBound = LatenessBound{Late: 5 * time.Millisecond, MaxFraction: 0.01}

// LatenessVerdict is one server's step lateness over a run.
type LatenessVerdict struct {
	Worker string
	// Steps in the run and how many of them were more than the bound's
	// Late behind, and their fraction.
	Steps, Late float64
	Fraction    float64
	// Valid is false when Fraction exceeds the bound; Reason then names the
	// figures.
	Valid  bool
	Reason string
}

// CheckLateness judges each worker's step lateness over a run from the
// counter differences of its scrapes before and after (Scraper.Diff).
// Workers without the histogram (real SGLang) or without steps are valid
// and skipped in the reason. The first return is false when any worker
// fell behind, and reason then names every one that did; an error means
// the bound is not one of a histogram's bounds.
func CheckLateness(diffs map[string]Counters, b LatenessBound) (valid bool, reason string, verdicts []LatenessVerdict, err error) {
	workers := make([]string, 0, len(diffs))
	for w := range diffs {
		workers = append(workers, w)
	}
	slices.Sort(workers)
	var reasons []string
	for _, w := range workers {
		l := diffs[w].StepLateness
		v := LatenessVerdict{Worker: w, Steps: l.Steps, Valid: true}
		if l.Steps > 0 {
			late, err := l.Over(b.Late)
			if err != nil {
				return false, "", nil, fmt.Errorf("%s: %w", w, err)
			}
			v.Late, v.Fraction = late, late/l.Steps
			if v.Fraction > b.MaxFraction {
				v.Valid = false
				v.Reason = fmt.Sprintf("simulated server %s fell behind its step schedule: %.1f%% of its %.0f engine steps ended more than %v late (bound %.1f%%)",
					w, 100*v.Fraction, l.Steps, b.Late, 100*b.MaxFraction)
				reasons = append(reasons, v.Reason)
			}
		}
		verdicts = append(verdicts, v)
	}
	if len(reasons) > 0 {
		return false, "invalid run: " + strings.Join(reasons, "; "), verdicts, nil
	}
	return true, "", verdicts, nil
}
