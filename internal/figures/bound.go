package figures

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/report"
)

// Comparison is how a figure must relate to its bound.
type Comparison string

// The comparisons, as words and as symbols.
const (
	Below   Comparison = "below"
	AtMost  Comparison = "at most"
	Above   Comparison = "above"
	AtLeast Comparison = "at least"
)

// ParseComparison reads "below", "at most", "above", "at least", or the
// symbols <, <=, >, >= (also ≤ and ≥).
func ParseComparison(s string) (Comparison, error) {
	switch strings.TrimSpace(s) {
	case "below", "<", "less than", "under":
		return Below, nil
	case "at most", "<=", "≤", "no more than":
		return AtMost, nil
	case "above", ">", "more than", "over":
		return Above, nil
	case "at least", ">=", "≥", "no less than":
		return AtLeast, nil
	}
	return "", fmt.Errorf("unknown comparison %q: expected below, at most, above, at least, <, <=, > or >=", s)
}

// Holds reports whether v relates to bound as c says.
func (c Comparison) Holds(v, bound float64) bool {
	switch c {
	case Below:
		return v < bound
	case AtMost:
		return v <= bound
	case Above:
		return v > bound
	case AtLeast:
		return v >= bound
	}
	return false
}

// upper reports whether the bound is an upper one (smaller is better).
func (c Comparison) upper() bool { return c == Below || c == AtMost }

// Bound is one expectation on a figure.
type Bound struct {
	Figure *Def
	Stat   Stat
	Cmp    Comparison
	// Value is the bound in the figure's unit; Given is how the scenario
	// wrote it ("2 s").
	Value float64
	Given string
	// Server, when positive, reads the figure on that server (1-based).
	Server int
	// Window, when positive, requires the bound in every full window of
	// this length.
	Window time.Duration
}

// NewBound reads a bound's parts as a sentence gives them: the figure's
// name, its statistic (empty for a plain figure), the comparison, the
// number and its unit ("ms", "s", "req/s", "tok/s", "%", or "" for counts
// and ratios).
func NewBound(stat, figure, cmp, number, unit string) (Bound, error) {
	def, err := Lookup(figure)
	if err != nil {
		return Bound{}, err
	}
	b := Bound{Figure: def}
	if def.Latency() {
		if stat == "" {
			return Bound{}, fmt.Errorf("%s needs a statistic: mean, median or a percentile such as P99", def.Name)
		}
		if b.Stat, err = ParseStat(stat); err != nil {
			return Bound{}, err
		}
	} else if stat != "" {
		return Bound{}, fmt.Errorf("%s takes no statistic (%s)", def.Name, stat)
	}
	if b.Cmp, err = ParseComparison(cmp); err != nil {
		return Bound{}, err
	}
	v, err := strconv.ParseFloat(number, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return Bound{}, fmt.Errorf("bound %q: expected a number", number)
	}
	unit = strings.TrimSpace(unit)
	b.Given = strings.TrimSpace(number + " " + unit)
	scale, err := convert(unit, def.Unit)
	if err != nil {
		return Bound{}, fmt.Errorf("%s: %w", def.Name, err)
	}
	b.Value = v * scale
	return b, nil
}

// convert returns the factor from a unit as written to the figure's unit.
func convert(written string, u Unit) (float64, error) {
	switch u {
	case MS:
		switch written {
		case "ms":
			return 1, nil
		case "s":
			return 1000, nil
		case "us", "µs":
			return 0.001, nil
		case "min":
			return 60000, nil
		}
		return 0, fmt.Errorf("unit %q: a latency is bounded in ms or s", written)
	case Count, Ratio:
		if written == "" || written == "requests" || written == "request" {
			return 1, nil
		}
		return 0, fmt.Errorf("unit %q: this figure is a plain number", written)
	case GiB:
		switch written {
		case "GiB", "GB":
			return 1, nil
		case "MiB", "MB":
			return 1.0 / 1024, nil
		}
		return 0, fmt.Errorf("unit %q: GPU memory is bounded in GiB or MiB", written)
	case Joules:
		switch written {
		case "J":
			return 1, nil
		case "mJ":
			return 0.001, nil
		}
		return 0, fmt.Errorf("unit %q: energy is bounded in J or mJ", written)
	}
	if written != string(u) {
		return 0, fmt.Errorf("unit %q: this figure is measured in %s", written, u)
	}
	return 1, nil
}

// Name is the bound's figure as a report writes it ("P99 TTFT on server 2").
func (b Bound) Name() string {
	name := b.Figure.Name
	switch name {
	case "ttft", "itl", "tpot", "itl per chunk":
		name = strings.ToUpper(name[:strings.IndexByte(name+" ", ' ')]) + name[strings.IndexByte(name+" ", ' '):]
	case "e2e latency":
		name = "E2E latency"
	}
	if b.Stat != "" {
		name = b.Stat.String() + " " + name
	}
	if b.Server > 0 {
		name += fmt.Sprintf(" on server %d", b.Server)
	}
	if b.Window > 0 {
		name += fmt.Sprintf(" in every %v window", b.Window)
	}
	return name
}

// Verdict is a bound judged on a run.
type Verdict struct {
	Pass bool
	// Measured is the figure (the worst window's for a windowed bound), in
	// the figure's unit; HasValue is false when it could not be read.
	Measured float64
	HasValue bool
	// Message says what was measured against what, or why it could not be.
	Message string
}

// Judge reads the bound's figure from run and compares it.
func (b Bound) Judge(run *report.Result) Verdict {
	q := Query{Run: run, Stat: b.Stat, Server: b.Server}
	if b.Window > 0 {
		return b.judgeWindows(q)
	}
	v, err := b.Figure.Value(q)
	if err != nil {
		return Verdict{Message: fmt.Sprintf("%s cannot be read: %v", b.Name(), err)}
	}
	return b.verdict(v, "")
}

func (b Bound) verdict(v float64, where string) Verdict {
	out := Verdict{Pass: b.Cmp.Holds(v, b.Value), Measured: v, HasValue: true}
	out.Message = fmt.Sprintf("%s is %s%s, expected %s %s", b.Name(), Format(v, b.Figure.Unit), where, b.Cmp, b.Given)
	return out
}

// Format writes a value in a unit as reports show it: latencies in ms (and
// s when large), rates with two decimals.
func Format(v float64, u Unit) string {
	switch u {
	case MS:
		if math.Abs(v) >= 1000 {
			return fmt.Sprintf("%.3f s (%.1f ms)", v/1000, v)
		}
		return fmt.Sprintf("%.1f ms", v)
	case Percent:
		return fmt.Sprintf("%.2f%%", v)
	case Count:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case Ratio:
		return fmt.Sprintf("%.3f", v)
	}
	return fmt.Sprintf("%.2f %s", v, u)
}

// judgeWindows requires the bound in every full window of the run: by
// arrival for latencies and error rates, by completion for throughputs
// (as the throughput chart counts). The last, partial window is left out,
// and so is a window without samples; the verdict names the worst window.
func (b Bound) judgeWindows(q Query) Verdict {
	if !b.Figure.windowed {
		return Verdict{Message: fmt.Sprintf("%s cannot be bounded per window", b.Figure.Name)}
	}
	values, starts, err := b.windows(q)
	if err == nil && len(values) == 0 {
		err = fmt.Errorf("the run has no full %v window with samples", b.Window)
	}
	if err != nil {
		return Verdict{Message: fmt.Sprintf("%s cannot be read: %v", b.Name(), err)}
	}
	worst := 0
	for i, v := range values {
		if (b.Cmp.upper() && v > values[worst]) || (!b.Cmp.upper() && v < values[worst]) {
			worst = i
		}
	}
	from := starts[worst]
	return b.verdict(values[worst], fmt.Sprintf(" in the window from %v to %v (the worst of %d)", from, from+b.Window, len(values)))
}

func (b Bound) windows(q Query) (values []float64, starts []time.Duration, err error) {
	run := q.Run
	w := b.Window
	switch b.Figure.Name {
	case "request throughput", "output token throughput":
		if q.Server > 0 {
			return nil, nil, errors.New("throughput per window is a figure of the whole run")
		}
		buckets := run.Store.Timeline(w)
		for _, bk := range buckets[:max(len(buckets)-1, 0)] {
			v := float64(bk.Completed)
			if b.Figure.Name == "output token throughput" {
				v = float64(bk.OutputTokens)
			}
			values = append(values, v/w.Seconds())
			starts = append(starts, bk.Start)
		}
		return values, starts, nil
	}
	end := time.Duration(run.Summary().DurationS * float64(time.Second))
	for from := time.Duration(0); from+w <= end; from += w {
		q.From, q.To = from, from+w
		v, err := b.Figure.Value(q)
		switch {
		case errors.Is(err, errNoSamples):
			continue
		case err != nil && strings.Contains(err.Error(), "no request was sent"):
			continue
		case err != nil:
			return nil, nil, err
		}
		values = append(values, v)
		starts = append(starts, from)
	}
	return values, starts, nil
}

var _ = metrics.Selection{}
