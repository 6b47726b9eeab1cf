package figures

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/sgltest/sgltest/internal/metrics"
)

// Stat is a statistic of a latency distribution: "mean", "median", "min",
// "max", "std", or a percentile "p<N>" with 0 < N < 100 (p50, p99.9).
type Stat string

// ParseStat reads a statistic as QA writes it (P99, p99.9, median, mean).
func ParseStat(s string) (Stat, error) {
	l := strings.ToLower(strings.TrimSpace(s))
	switch l {
	case "mean", "median", "min", "max", "std", "average", "peak":
		switch l {
		case "average":
			l = "mean"
		case "peak":
			l = "max"
		}
		return Stat(l), nil
	}
	if p, ok := strings.CutPrefix(l, "p"); ok {
		v, err := strconv.ParseFloat(p, 64)
		if err == nil && v > 0 && v < 100 {
			return Stat(l), nil
		}
	}
	return "", fmt.Errorf("unknown statistic %q: expected mean, median, min, max (peak), std or a percentile P1 to P99.9", s)
}

// String writes the statistic as reports show it (P99, median).
func (s Stat) String() string {
	if strings.HasPrefix(string(s), "p") {
		return "P" + string(s)[1:]
	}
	return string(s)
}

// Of computes the statistic over samples sorted ascending, exactly as
// metrics.Distribute does (so a figure equals summary.json's), and any
// other percentile by the same linear interpolation.
func (s Stat) Of(sorted []float64) (float64, error) {
	if len(sorted) == 0 {
		return 0, errNoSamples
	}
	d := metrics.Distribute(sorted)
	switch s {
	case "mean":
		return d.Mean, nil
	case "median", "p50":
		return d.Median, nil
	case "min":
		return d.Min, nil
	case "max":
		return d.Max, nil
	case "std":
		return d.Std, nil
	}
	p, err := strconv.ParseFloat(strings.TrimPrefix(string(s), "p"), 64)
	if err != nil || math.IsNaN(p) {
		return 0, fmt.Errorf("unknown statistic %q", s)
	}
	return metrics.Percentile(sorted, p), nil
}
