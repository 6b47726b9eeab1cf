package capacity

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/sgltest/sgltest/internal/figures"
	"github.com/sgltest/sgltest/internal/report"
)

// Axis is what a sweep varies.
type Axis string

// The axes.
const (
	// AxisRate: the offered rate, req/s.
	AxisRate Axis = "rate"
	// AxisUsers: closed-loop users.
	AxisUsers Axis = "users"
	// AxisSettings: server settings, one set per point.
	AxisSettings Axis = "settings"
)

// Unit is the unit of the axis's values ("" for settings).
func (a Axis) Unit() string {
	switch a {
	case AxisRate:
		return "req/s"
	case AxisUsers:
		return "users"
	}
	return ""
}

// Point is one point of a sweep: a finished run.
type Point struct {
	// Label names the point ("40 req/s", "max running requests 64").
	Label string
	// X is the swept value (a rate or a number of users); 0 for settings.
	X   float64
	Run *report.Result
}

// Sweep is a finished sweep.
type Sweep struct {
	Scenario string
	Axis     Axis
	Points   []Point
}

// Column is one figure of the sweep's table: a registry figure, with a
// statistic for a distribution.
type Column struct {
	// Key names the column in sweep.csv and sweep.json ("ttft_p99_ms").
	Key string `json:"key"`
	// Name is the figure as a Then step writes it ("P99 TTFT").
	Name   string       `json:"name"`
	Figure string       `json:"figure"`
	Stat   figures.Stat `json:"stat,omitempty"`
	Unit   figures.Unit `json:"unit"`
	def    *figures.Def
}

// TableStats are the statistics the table gives for every distribution.
var TableStats = []figures.Stat{"mean", "median", "p90", "p95", "p99", "max"}

// Columns lists every figure of the registry, each distribution with
// TableStats, in the registry's order.
func Columns() []Column {
	var out []Column
	for i := range figures.Defs {
		d := &figures.Defs[i]
		stats := []figures.Stat{""}
		if d.Latency() {
			stats = TableStats
		}
		for _, st := range stats {
			b := figures.Bound{Figure: d, Stat: st}
			key := d.Name
			if st != "" {
				key += " " + string(st)
			}
			key += " " + unitKey(d.Unit)
			out = append(out, Column{Key: keyOf(key), Name: b.Name(), Figure: d.Name, Stat: st, Unit: d.Unit, def: d})
		}
	}
	return out
}

func unitKey(u figures.Unit) string {
	switch u {
	case figures.Percent:
		return "pct"
	case figures.Count, figures.Ratio:
		return ""
	}
	return string(u)
}

func keyOf(s string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(strings.TrimSpace(s)) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			under = false
		} else if !under && b.Len() > 0 {
			b.WriteByte('_')
			under = true
		}
	}
	return strings.TrimSuffix(b.String(), "_")
}

// Value reads the column's figure from run; ok is false when it cannot be
// read (no sample, no telemetry, ...).
func (c Column) Value(run *report.Result) (float64, bool) {
	if run == nil {
		return 0, false
	}
	v, err := c.def.Value(figures.Query{Run: run, Stat: c.Stat})
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}

// Table is every figure of every point of a sweep.
type Table struct {
	Columns []Column
	// Values[i][j] is column j of point i; NaN where it cannot be read.
	Values [][]float64
}

// Table reads every column of every point, each distribution's samples
// once.
func (s Sweep) Table() Table {
	t := Table{Columns: Columns(), Values: make([][]float64, len(s.Points))}
	for i, p := range s.Points {
		row := make([]float64, len(t.Columns))
		var samples []float64
		var serr error
		var of *figures.Def
		for j, c := range t.Columns {
			row[j] = math.NaN()
			if p.Run == nil {
				continue
			}
			if c.Stat == "" {
				if v, ok := c.Value(p.Run); ok {
					row[j] = v
				}
				continue
			}
			if of != c.def {
				of = c.def
				samples, serr = c.def.Samples(figures.Query{Run: p.Run})
			}
			if serr != nil {
				continue
			}
			if v, err := c.Stat.Of(samples); err == nil && !math.IsNaN(v) && !math.IsInf(v, 0) {
				row[j] = v
			}
		}
		t.Values[i] = row
	}
	return t
}

// Get returns point i's figure (with stat for a distribution).
func (t Table) Get(i int, figure string, stat figures.Stat) (float64, bool) {
	for j, c := range t.Columns {
		if c.Figure == figure && c.Stat == stat {
			v := t.Values[i][j]
			return v, !math.IsNaN(v)
		}
	}
	panic(fmt.Sprintf("capacity: no column %s %s", figure, stat))
}

// KneeDepth is how far below the first-to-last line (in axes rescaled to
// [0, 1]) a point must lie to be a knee.
const KneeDepth = 0.05

// KneeDefinition is the knee's definition as reports state it.
const KneeDefinition = "the point farthest below the straight line from the first to the last point of the curve of " +
	"median E2E latency against achieved request throughput, both rescaled to [0, 1] over the points (Kneedle without " +
	"smoothing); at least 0.05 below it, among at least three points"

// Knee finds the knee of the curve through (x[i], y[i]), in the given
// order (see the package documentation). It returns the knee's index and
// its depth below the line, or an error saying why there is none.
func Knee(x, y []float64) (int, float64, error) {
	n := len(x)
	if n != len(y) {
		return 0, 0, fmt.Errorf("knee: %d x values and %d y values", len(x), len(y))
	}
	if n < 3 {
		return 0, 0, fmt.Errorf("no knee: %d points, at least 3 are needed", n)
	}
	xn, okx := rescale(x)
	yn, oky := rescale(y)
	if !okx || !oky {
		return 0, 0, errors.New("no knee: the throughput or the latency does not vary over the points")
	}
	dx, dy := xn[n-1]-xn[0], yn[n-1]-yn[0]
	chord := math.Hypot(dx, dy)
	if chord == 0 {
		return 0, 0, errors.New("no knee: the first and last points coincide")
	}
	best, depth := -1, 0.0
	for i := 1; i < n-1; i++ {
		// Positive below (to the right of) the line from first to last.
		d := -(dx*(yn[i]-yn[0]) - dy*(xn[i]-xn[0])) / chord
		if d > depth {
			best, depth = i, d
		}
	}
	if best < 0 || depth < KneeDepth {
		return 0, 0, fmt.Errorf("no knee: no point lies %g below the line from the first point to the last (the curve does not bend)", KneeDepth)
	}
	return best, depth, nil
}

func rescale(v []float64) ([]float64, bool) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	if !(hi > lo) {
		return nil, false
	}
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = (x - lo) / (hi - lo)
	}
	return out, true
}

// SweepKnee is a sweep's knee.
type SweepKnee struct {
	// Point indexes the sweep's points.
	Point int    `json:"point"`
	Label string `json:"label"`
	// Throughput and LatencyMS are the knee's achieved request throughput
	// and median E2E latency.
	Throughput float64 `json:"request_throughput_req_s"`
	LatencyMS  float64 `json:"median_e2e_latency_ms"`
	Depth      float64 `json:"depth"`
}

// Knee finds the sweep's knee on its points that have both figures in
// its table t. A sweep over server settings has none: its points are not
// load levels.
func (s Sweep) Knee(t Table) (SweepKnee, error) {
	if s.Axis == AxisSettings {
		return SweepKnee{}, errors.New("no knee: the points differ in server settings, not in load")
	}
	var xs, ys []float64
	var idx []int
	for i := range s.Points {
		x, ok1 := t.Get(i, "request throughput", "")
		y, ok2 := t.Get(i, "e2e latency", "median")
		if ok1 && ok2 {
			xs, ys, idx = append(xs, x), append(ys, y), append(idx, i)
		}
	}
	k, depth, err := Knee(xs, ys)
	if err != nil {
		return SweepKnee{}, err
	}
	return SweepKnee{Point: idx[k], Label: s.Points[idx[k]].Label, Throughput: xs[k], LatencyMS: ys[k], Depth: depth}, nil
}
