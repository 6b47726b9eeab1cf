package gate

import "github.com/sgltest/sgltest/internal/metrics"

// summaryFigure is a figure of the catalog and where a Summary holds it.
type summaryFigure struct {
	Figure
	get func(*metrics.Summary) (v float64, ok bool)
}

func dist(d func(*metrics.Summary) *metrics.Distribution, stat string) func(*metrics.Summary) (float64, bool) {
	return func(s *metrics.Summary) (float64, bool) {
		dd := d(s)
		if dd.Count == 0 {
			return 0, false // no samples: no data, never 0 ms
		}
		return dd.Get(stat)
	}
}

func rate(r func(*metrics.Summary) float64) func(*metrics.Summary) (float64, bool) {
	return func(s *metrics.Summary) (float64, bool) {
		if s.DurationS <= 0 {
			return 0, false
		}
		return r(s), true
	}
}

func ms(name, label string, d func(*metrics.Summary) *metrics.Distribution, stat string) summaryFigure {
	return summaryFigure{Figure{Name: name, Label: label, Unit: "ms", Worse: HigherIsWorse}, dist(d, stat)}
}

var (
	ttft   = func(s *metrics.Summary) *metrics.Distribution { return &s.TTFTMS }
	itl    = func(s *metrics.Summary) *metrics.Distribution { return &s.ITLMS }
	tpot   = func(s *metrics.Summary) *metrics.Distribution { return &s.TPOTMS }
	e2e    = func(s *metrics.Summary) *metrics.Distribution { return &s.E2ELatencyMS }
	total  = func(s *metrics.Summary) *metrics.Distribution { return &s.TotalLatencyMS }
	lookup = map[string]*summaryFigure{}
)

// catalog is every figure FromSummaries extracts, in table order. Names
// are the figures' paths in summary.json.
var catalog = []summaryFigure{
	ms("ttft_ms.median", "median TTFT", ttft, "median"),
	ms("ttft_ms.p99", "P99 TTFT", ttft, "p99"),
	ms("itl_ms.median", "median ITL", itl, "median"),
	ms("itl_ms.p99", "P99 ITL", itl, "p99"),
	ms("tpot_ms.median", "median TPOT", tpot, "median"),
	ms("tpot_ms.p99", "P99 TPOT", tpot, "p99"),
	ms("e2e_latency_ms.median", "median E2E latency", e2e, "median"),
	ms("e2e_latency_ms.p99", "P99 E2E latency", e2e, "p99"),
	ms("total_latency_ms.median", "median total latency", total, "median"),
	ms("total_latency_ms.p99", "P99 total latency", total, "p99"),
	{Figure{Name: "request_throughput", Label: "request throughput", Unit: "req/s", Worse: LowerIsWorse},
		rate(func(s *metrics.Summary) float64 { return s.RequestThroughput })},
	{Figure{Name: "output_throughput", Label: "output token throughput", Unit: "tok/s", Worse: LowerIsWorse},
		rate(func(s *metrics.Summary) float64 { return s.OutputThroughput })},
	{Figure{Name: "total_throughput", Label: "total token throughput", Unit: "tok/s", Worse: LowerIsWorse},
		rate(func(s *metrics.Summary) float64 { return s.TotalThroughput })},
}

func init() {
	for i := range catalog {
		lookup[catalog[i].Name] = &catalog[i]
	}
}

// Catalog lists the figures FromSummaries extracts, in table order.
func Catalog() []Figure {
	out := make([]Figure, len(catalog))
	for i, f := range catalog {
		out[i] = f.Figure
	}
	return out
}

// Lookup returns the catalog's figure called name (its summary.json path,
// e.g. "ttft_ms.p99").
func Lookup(name string) (Figure, bool) {
	f, ok := lookup[name]
	if !ok {
		return Figure{}, false
	}
	return f.Figure, true
}

// FromSummaries turns the summaries of a scenario's repeats, in repeat
// order, into one Series per catalog figure. A figure some repeat has no
// data for (no TPOT when every request produced one token, no throughput
// without a duration) is left out, since a missing value is not 0; Compare
// then shows it as missing on that side.
func FromSummaries(runs []metrics.Summary) []Series {
	var out []Series
	for _, f := range catalog {
		vals := make([]float64, 0, len(runs))
		for i := range runs {
			v, ok := f.get(&runs[i])
			if !ok {
				break
			}
			vals = append(vals, v)
		}
		if len(runs) > 0 && len(vals) == len(runs) {
			out = append(out, Series{Figure: f.Figure, Values: vals})
		}
	}
	return out
}
