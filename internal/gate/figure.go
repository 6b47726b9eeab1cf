package gate

import (
	"fmt"
	"math"
)

// Direction says which way a figure gets worse.
type Direction int

// The two directions. The zero Direction is invalid, so a figure whose
// direction was never set is refused rather than judged the wrong way.
const (
	HigherIsWorse Direction = iota + 1 // latencies
	LowerIsWorse                       // throughputs
)

func (d Direction) String() string {
	switch d {
	case HigherIsWorse:
		return "higher"
	case LowerIsWorse:
		return "lower"
	}
	return fmt.Sprintf("Direction(%d)", int(d))
}

// MarshalText writes "higher" or "lower" (the worse side).
func (d Direction) MarshalText() ([]byte, error) {
	if d != HigherIsWorse && d != LowerIsWorse {
		return nil, fmt.Errorf("gate: invalid direction %d", int(d))
	}
	return []byte(d.String()), nil
}

// UnmarshalText reads "higher" or "lower".
func (d *Direction) UnmarshalText(b []byte) error {
	switch string(b) {
	case "higher":
		*d = HigherIsWorse
	case "lower":
		*d = LowerIsWorse
	default:
		return fmt.Errorf("worse must be %q or %q, got %q", "higher", "lower", b)
	}
	return nil
}

// Figure names one number a run produces and how to read it.
type Figure struct {
	// Name is the stable key: the figure's path in summary.json, e.g.
	// "ttft_ms.p99" or "output_throughput".
	Name string `json:"name"`
	// Label is how people call it, e.g. "P99 TTFT".
	Label string `json:"label"`
	Unit  string `json:"unit"`
	// Worse is the direction in which the figure gets worse.
	Worse Direction `json:"worse"`
}

func (f Figure) label() string {
	if f.Label != "" {
		return f.Label
	}
	return f.Name
}

// Series is one figure's value in each repeat of a scenario, in repeat
// order.
type Series struct {
	Figure
	Values []float64 `json:"values"`
}

// check returns an error naming the figure, the side and the repeat when a
// value is missing, not finite or negative: every gated figure is a
// latency or a rate.
func checkValues(f Figure, side string, values []float64) error {
	if len(values) == 0 {
		return fmt.Errorf("gate: %s: %s has no repeats", f.Name, side)
	}
	for i, v := range values {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return fmt.Errorf("gate: %s: %s repeat %d is %v; values must be finite and not negative", f.Name, side, i+1, v)
		}
	}
	return nil
}
