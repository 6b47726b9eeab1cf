package telemetry

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/sgltest/sgltest/internal/metrics"
)

// Stats summarises one figure over the samples of a window in which it was
// read. P95 is exact over those samples (metrics.Percentile: linear
// interpolation between closest ranks).
type Stats struct {
	// Count is the number of samples in which the figure was read.
	Count int
	Mean  float64
	P95   float64
	Max   float64
	// Missing says why no sample had the figure; empty when Count > 0.
	Missing string
}

// OK reports whether any sample had the figure.
func (s Stats) OK() bool { return s.Count > 0 }

// MarshalJSON leaves out the statistics of a figure never read, so no
// zero passes for a measurement.
func (s Stats) MarshalJSON() ([]byte, error) {
	if s.Count == 0 {
		return json.Marshal(struct {
			Count   int    `json:"count"`
			Missing string `json:"missing"`
		}{0, s.Missing})
	}
	return json.Marshal(struct {
		Count int     `json:"count"`
		Mean  float64 `json:"mean"`
		P95   float64 `json:"p95"`
		Max   float64 `json:"max"`
	}{s.Count, s.Mean, s.P95, s.Max})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *Stats) UnmarshalJSON(data []byte) error {
	var v struct {
		Count   int     `json:"count"`
		Mean    float64 `json:"mean"`
		P95     float64 `json:"p95"`
		Max     float64 `json:"max"`
		Missing string  `json:"missing"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	*s = Stats(v)
	return nil
}

// Summary is one GPU's figures over a measured window.
type Summary struct {
	Index     int    `json:"index"`
	UUID      string `json:"uuid,omitempty"`
	Name      string `json:"name"`
	Simulated bool   `json:"simulated"`
	// Samples is the number of samples; First and Last are the instants
	// of the first and last, on the caller's clock.
	Samples int           `json:"samples"`
	First   time.Duration `json:"first_ns"`
	Last    time.Duration `json:"last_ns"`

	UtilizationPct       Stats `json:"utilization_pct"`
	MemoryUtilizationPct Stats `json:"memory_utilization_pct"`
	MemoryUsedBytes      Stats `json:"memory_used_bytes"`
	// MemoryTotalBytes is the last sample's.
	MemoryTotalBytes   Figure `json:"memory_total_bytes"`
	PowerWatts         Stats  `json:"power_watts"`
	SMClockMHz         Stats  `json:"sm_clock_mhz"`
	TemperatureC       Stats  `json:"temperature_c"`
	ProcessMemoryBytes Stats  `json:"process_memory_bytes"`
	SMActivityPct      Stats  `json:"sm_activity_pct"`
	// ThrottleReasons counts the samples in which each reason was set;
	// ThrottleMissing says why no sample had them.
	ThrottleReasons map[string]int `json:"throttle_reasons"`
	ThrottleMissing string         `json:"throttle_missing,omitempty"`
	// EnergyJoules is the energy counter's difference between the first
	// and the last sample. It is missing unless both samples read it.
	EnergyJoules Figure `json:"energy_j"`
}

// Summarize summarises each GPU's samples (the window's, in time order),
// one Summary per Index in Index order.
func Summarize(samples []GPU) []Summary {
	byGPU := map[int][]int{} // positions in samples
	for i := range samples {
		byGPU[samples[i].Index] = append(byGPU[samples[i].Index], i)
	}
	out := make([]Summary, 0, len(byGPU))
	var buf []float64
	for _, pos := range byGPU {
		var s Summary
		s, buf = summarizeGPU(samples, pos, buf)
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Summary) int { return a.Index - b.Index })
	return out
}

// summarizeGPU summarises the samples at pos, using buf as scratch space,
// and returns buf for reuse.
func summarizeGPU(samples []GPU, pos []int, buf []float64) (Summary, []float64) {
	first, last := &samples[pos[0]], &samples[pos[len(pos)-1]]
	stats := func(fig func(*GPU) Figure) Stats {
		var st Stats
		st, buf = statsOf(samples, pos, fig, buf)
		return st
	}
	s := Summary{
		Index: last.Index, UUID: last.UUID, Name: last.Name, Simulated: last.Simulated,
		Samples: len(pos), First: first.At, Last: last.At,
		UtilizationPct:       stats(func(g *GPU) Figure { return g.UtilizationPct }),
		MemoryUtilizationPct: stats(func(g *GPU) Figure { return g.MemoryUtilizationPct }),
		MemoryUsedBytes:      stats(func(g *GPU) Figure { return g.MemoryUsedBytes }),
		MemoryTotalBytes:     last.MemoryTotalBytes,
		PowerWatts:           stats(func(g *GPU) Figure { return g.PowerWatts }),
		SMClockMHz:           stats(func(g *GPU) Figure { return g.SMClockMHz }),
		TemperatureC:         stats(func(g *GPU) Figure { return g.TemperatureC }),
		ProcessMemoryBytes:   stats(func(g *GPU) Figure { return g.ProcessMemoryBytes }),
		SMActivityPct:        stats(func(g *GPU) Figure { return g.SMActivityPct }),
		ThrottleReasons:      map[string]int{},
		EnergyJoules:         energy(first, last, len(pos)),
	}
	read := false
	for _, p := range pos {
		tr := &samples[p].ThrottleReasons
		if !tr.OK() {
			s.ThrottleMissing = tr.Missing
			continue
		}
		read = true
		for _, r := range tr.Value {
			s.ThrottleReasons[r]++
		}
	}
	if read {
		s.ThrottleMissing = ""
	}
	return s, buf
}

// statsOf summarises the samples at pos in which fig was read, using buf
// as scratch space. With none, Missing is the last reason given,
// preferring a reason other than the baseline.
func statsOf(samples []GPU, pos []int, fig func(*GPU) Figure, buf []float64) (Stats, []float64) {
	vals := buf[:0]
	why := ""
	for _, p := range pos {
		f := fig(&samples[p])
		switch {
		case f.OK():
			vals = append(vals, f.Value)
		case why == "" || f.Missing != baseline:
			why = f.Missing
		}
	}
	if len(vals) == 0 {
		return Stats{Missing: why}, vals
	}
	slices.Sort(vals)
	var sum float64
	for _, v := range vals {
		sum += v
	}
	return Stats{
		Count: len(vals), Mean: sum / float64(len(vals)),
		P95: metrics.Percentile(vals, 95), Max: vals[len(vals)-1],
	}, vals
}

// energy is the counter's difference from first to last, in joules.
func energy(first, last *GPU, n int) Figure {
	switch {
	case n < 2:
		return missing[float64]("the energy over a window needs two samples")
	case !first.EnergyMillijoules.OK():
		return missing[float64]("energy counter unread at the window's first sample: " + first.EnergyMillijoules.Missing)
	case !last.EnergyMillijoules.OK():
		return missing[float64]("energy counter unread at the window's last sample: " + last.EnergyMillijoules.Missing)
	}
	d := last.EnergyMillijoules.Value - first.EnergyMillijoules.Value
	if d < 0 {
		return missing[float64](fmt.Sprintf("the energy counter went back from %.0f mJ to %.0f mJ (driver reloaded or server restarted?)",
			first.EnergyMillijoules.Value, last.EnergyMillijoules.Value))
	}
	return known(d / 1000)
}

// TotalEnergy is the energy of every GPU over the window, in joules:
// missing if any GPU's is, or if simulated and real GPUs are mixed.
func TotalEnergy(sums []Summary) Figure {
	if len(sums) == 0 {
		return missing[float64]("no GPU was sampled")
	}
	var total float64
	for _, s := range sums {
		if s.Simulated != sums[0].Simulated {
			return missing[float64]("the run mixes simulated and real GPUs, whose energies do not add up")
		}
		if !s.EnergyJoules.OK() {
			return missing[float64](fmt.Sprintf("GPU %d: %s", s.Index, s.EnergyJoules.Missing))
		}
		total += s.EnergyJoules.Value
	}
	return known(total)
}

// EnergyPerToken is the run's energy per output token in joules: the
// energy of every sampled GPU over the measured window (TotalEnergy)
// divided by the output tokens of the run's successful requests. It is
// simulated when the summaries are.
func EnergyPerToken(sums []Summary, outputTokens int) Figure {
	e := TotalEnergy(sums)
	switch {
	case !e.OK():
		return e
	case outputTokens <= 0:
		return missing[float64](fmt.Sprintf("the run has %d output tokens", outputTokens))
	}
	return known(e.Value / float64(outputTokens))
}
