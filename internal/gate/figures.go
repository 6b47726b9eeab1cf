package gate

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sgltest/sgltest/internal/metrics"
)

// A figure's name is its path in summary.json: "<distribution>.<stat>" for
// a latency (ttft_ms.p99) or the rate's key (output_throughput). Names
// resolves any statistic summary.json holds of any distribution below; the
// catalog is the subset FromSummaries extracts for tables and baselines.

// distribution is one latency distribution of metrics.Summary.
type distribution struct {
	key, words string // summary.json key; how a sentence names it
	samples    string // the metrics.Store samples it is computed from
	get        func(*metrics.Summary) *metrics.Distribution
}

var distributions = []distribution{
	{"ttft_ms", "TTFT", metrics.TTFT, func(s *metrics.Summary) *metrics.Distribution { return &s.TTFTMS }},
	{"itl_ms", "ITL", metrics.ITL, func(s *metrics.Summary) *metrics.Distribution { return &s.ITLMS }},
	{"tpot_ms", "TPOT", metrics.TPOT, func(s *metrics.Summary) *metrics.Distribution { return &s.TPOTMS }},
	{"e2e_latency_ms", "E2E latency", metrics.E2ELatency, func(s *metrics.Summary) *metrics.Distribution { return &s.E2ELatencyMS }},
	{"server_latency_ms", "server latency", metrics.ServerLatency, func(s *metrics.Summary) *metrics.Distribution { return &s.ServerLatencyMS }},
	{"total_latency_ms", "total latency", metrics.TotalLatency, func(s *metrics.Summary) *metrics.Distribution { return &s.TotalLatencyMS }},
	{"queue_time_ms", "queue time", metrics.QueueTime, func(s *metrics.Summary) *metrics.Distribution { return &s.QueueTimeMS }},
}

// stats are the statistics summary.json holds per distribution, with the
// label prefix each gets.
var stats = []struct{ key, label string }{
	{"mean", "mean"}, {"median", "median"}, {"p90", "P90"}, {"p95", "P95"}, {"p99", "P99"}, {"min", "min"}, {"max", "max"},
}

// rateFigure is one throughput of metrics.Summary.
type rateFigure struct {
	Figure
	words string
	get   func(*metrics.Summary) float64
}

var rates = []rateFigure{
	{Figure{Name: "request_throughput", Label: "request throughput", Unit: "req/s", Worse: LowerIsWorse}, "request throughput",
		func(s *metrics.Summary) float64 { return s.RequestThroughput }},
	{Figure{Name: "input_throughput", Label: "input token throughput", Unit: "tok/s", Worse: LowerIsWorse}, "input token throughput",
		func(s *metrics.Summary) float64 { return s.InputThroughput }},
	{Figure{Name: "output_throughput", Label: "output token throughput", Unit: "tok/s", Worse: LowerIsWorse}, "output token throughput",
		func(s *metrics.Summary) float64 { return s.OutputThroughput }},
	{Figure{Name: "total_throughput", Label: "total token throughput", Unit: "tok/s", Worse: LowerIsWorse}, "total token throughput",
		func(s *metrics.Summary) float64 { return s.TotalThroughput }},
}

// catalogNames is every figure FromSummaries extracts, in table order.
var catalogNames = []string{
	"ttft_ms.median", "ttft_ms.p99", "itl_ms.median", "itl_ms.p99", "tpot_ms.median", "tpot_ms.p99",
	"e2e_latency_ms.median", "e2e_latency_ms.p99", "total_latency_ms.median", "total_latency_ms.p99",
	"request_throughput", "output_throughput", "total_throughput",
}

// resolved is a figure and where a Summary holds it.
type resolved struct {
	Figure
	get func(*metrics.Summary) (v float64, ok bool)
	// samples and stat say how to compute a latency statistic from
	// samples; empty for a rate.
	samples, stat string
	// rate reads a rate's value (per second of DurationS).
	rate func(*metrics.Summary) float64
}

// resolve finds the figure called name.
func resolve(name string) (resolved, bool) {
	for _, r := range rates {
		if r.Name == name {
			get := r.get
			return resolved{Figure: r.Figure, rate: get, get: func(s *metrics.Summary) (float64, bool) {
				if s.DurationS <= 0 {
					return 0, false // no duration: no rate, never 0
				}
				return get(s), true
			}}, true
		}
	}
	key, stat, ok := strings.Cut(name, ".")
	if !ok {
		return resolved{}, false
	}
	di := slices.IndexFunc(distributions, func(d distribution) bool { return d.key == key })
	si := slices.IndexFunc(stats, func(s struct{ key, label string }) bool { return s.key == stat })
	if di < 0 || si < 0 {
		return resolved{}, false
	}
	d, st := distributions[di], stats[si]
	return resolved{
		Figure:  Figure{Name: name, Label: st.label + " " + d.words, Unit: "ms", Worse: HigherIsWorse},
		samples: d.samples, stat: st.key,
		get: func(s *metrics.Summary) (float64, bool) {
			dd := d.get(s)
			if dd.Count == 0 {
				return 0, false // no samples: no data, never 0 ms
			}
			return dd.Get(st.key)
		},
	}, true
}

// Catalog lists the figures FromSummaries extracts, in table order.
func Catalog() []Figure {
	out := make([]Figure, len(catalogNames))
	for i, n := range catalogNames {
		r, _ := resolve(n)
		out[i] = r.Figure
	}
	return out
}

// Every lists every figure Lookup knows: each statistic of each latency
// distribution of summary.json, then the throughputs. Baselines store them
// all, so any of them can be gated.
func Every() []Figure {
	var out []Figure
	for _, d := range distributions {
		for _, st := range stats {
			r, _ := resolve(d.key + "." + st.key)
			out = append(out, r.Figure)
		}
	}
	for _, r := range rates {
		out = append(out, r.Figure)
	}
	return out
}

// Lookup returns the figure called name: its summary.json path, such as
// "ttft_ms.p99", "e2e_latency_ms.mean" or "output_throughput".
func Lookup(name string) (Figure, bool) {
	r, ok := resolve(name)
	return r.Figure, ok
}

// Parse names a figure as a sentence does: a statistic ("P99", "median",
// "mean", "P95", ...) and a latency ("TTFT", "E2E latency", ...), or a
// throughput with no statistic ("output token throughput"). Words are
// matched in any case. The error lists what can be named.
func Parse(stat, words string) (Figure, error) {
	w := strings.ToLower(strings.Join(strings.Fields(words), " "))
	s := strings.ToLower(stat)
	switch s {
	case "p50":
		s = "median"
	case "average":
		s = "mean"
	case "peak":
		s = "max"
	}
	for _, r := range rates {
		if r.words == w {
			if s != "" {
				return Figure{}, fmt.Errorf("%s takes no statistic (%s)", r.words, stat)
			}
			return r.Figure, nil
		}
	}
	for _, d := range distributions {
		if strings.ToLower(d.words) != w {
			continue
		}
		if s == "" {
			return Figure{}, fmt.Errorf("%s needs a statistic: one of %s", d.words, statList())
		}
		f, ok := Lookup(d.key + "." + s)
		if !ok {
			return Figure{}, fmt.Errorf("statistic %q of %s is not in summary.json, so it cannot be compared with a baseline: one of %s", stat, d.words, statList())
		}
		return f, nil
	}
	var names []string
	for _, d := range distributions {
		names = append(names, d.words)
	}
	for _, r := range rates {
		names = append(names, r.words)
	}
	return Figure{}, fmt.Errorf("%q cannot be compared with a baseline: the figures that can are %s", words, strings.Join(names, ", "))
}

func statList() string {
	var out []string
	for _, s := range stats {
		out = append(out, s.label)
	}
	return strings.Join(out, ", ")
}

// FromSummaries turns the summaries of a scenario's repeats, in repeat
// order, into one Series per catalog figure. A figure some repeat has no
// data for (no TPOT when every request produced one token, no throughput
// without a duration) is left out, since a missing value is not 0; Compare
// then shows it as missing on that side.
func FromSummaries(runs []metrics.Summary) []Series {
	return extractAll(catalogNames, runs)
}

// EveryFromSummaries is FromSummaries over every figure of Every.
func EveryFromSummaries(runs []metrics.Summary) []Series {
	var names []string
	for _, f := range Every() {
		names = append(names, f.Name)
	}
	return extractAll(names, runs)
}

func extractAll(names []string, runs []metrics.Summary) []Series {
	var out []Series
	for _, name := range names {
		if s, err := Extract(name, runs); err == nil {
			out = append(out, s)
		}
	}
	return out
}

// Pooled computes the named figure over every repeat at once: a latency
// statistic over the samples of all repeats together (stores, one per
// repeat), a rate as the sum over repeats of what it counts divided by
// the sum of their durations (runs, the repeats' summaries, in the same
// order). ok is false when there is no data for it.
func Pooled(name string, stores []*metrics.Store, runs []metrics.Summary) (v float64, ok bool, err error) {
	vs, oks, err := PooledAll([]string{name}, stores, runs)
	if err != nil {
		return 0, false, err
	}
	return vs[0], oks[0], nil
}

// PooledAll is Pooled for several figures, reading each distribution's
// samples from the stores once.
func PooledAll(names []string, stores []*metrics.Store, runs []metrics.Summary) (vs []float64, oks []bool, err error) {
	dists := map[string]metrics.Distribution{}
	vs, oks = make([]float64, len(names)), make([]bool, len(names))
	for i, name := range names {
		r, known := resolve(name)
		if !known {
			return nil, nil, fmt.Errorf("gate: unknown figure %q", name)
		}
		if r.rate != nil {
			var count, dur float64
			for j := range runs {
				count += r.rate(&runs[j]) * runs[j].DurationS
				dur += runs[j].DurationS
			}
			if dur > 0 {
				vs[i], oks[i] = count/dur, true
			}
			continue
		}
		d, seen := dists[r.samples]
		if !seen {
			var all []float64
			for _, st := range stores {
				s, err := st.Samples(r.samples, metrics.Selection{})
				if err != nil {
					return nil, nil, err
				}
				all = append(all, s...)
			}
			d = metrics.Distribute(all)
			dists[r.samples] = d
		}
		if d.Count > 0 {
			vs[i], oks[i] = d.Get(r.stat)
		}
	}
	return vs, oks, nil
}

// Extract returns the named figure's value in each of runs, in order. It
// is an error when the name is unknown, there are no runs, or a run has
// no data for the figure (the error names the repeat).
func Extract(name string, runs []metrics.Summary) (Series, error) {
	r, ok := resolve(name)
	if !ok {
		return Series{}, fmt.Errorf("gate: unknown figure %q", name)
	}
	if len(runs) == 0 {
		return Series{}, fmt.Errorf("gate: %s: no runs", name)
	}
	vals := make([]float64, len(runs))
	for i := range runs {
		v, ok := r.get(&runs[i])
		if !ok {
			return Series{}, fmt.Errorf("gate: %s: repeat %d has no data for it (no successful request measured it)", r.label(), i+1)
		}
		vals[i] = v
	}
	return Series{Figure: r.Figure, Values: vals}, nil
}
