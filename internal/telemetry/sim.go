package telemetry

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sgltest/sgltest/internal/simulator"
)

// SimSampler is the simulator's Sampler: it turns cumulative readings of
// simulated GPUs (one per simulated server) into samples marked Simulated,
// differencing each reading with the previous one for utilisation and
// power. read returns the readings at the caller's instant at, in a fixed
// order whose position is the GPU's Index: scraped from each server's
// /metrics (SimReadings: one per DP rank) in wall-clock runs, or computed with
// simulator.GPUModel.Read in virtual time.
type SimSampler struct {
	read func(at time.Duration) ([]simulator.GPUReading, error)
	prev []simulator.GPUReading
}

var _ Sampler = (*SimSampler)(nil)

// NewSimSampler returns a SimSampler over read.
func NewSimSampler(read func(at time.Duration) ([]simulator.GPUReading, error)) *SimSampler {
	return &SimSampler{read: read}
}

// Sample reads every simulated GPU. The first sample's utilisation and
// power are marked as a baseline: they need an interval.
func (s *SimSampler) Sample(at time.Duration) ([]GPU, error) {
	cur, err := s.read(at)
	if err != nil {
		return nil, fmt.Errorf("telemetry: reading simulated GPUs: %w", err)
	}
	if s.prev != nil && len(cur) != len(s.prev) {
		return nil, fmt.Errorf("telemetry: %d simulated GPUs, but %d at the previous sample", len(cur), len(s.prev))
	}
	out := make([]GPU, len(cur))
	for i := range cur {
		var prev *simulator.GPUReading
		if s.prev != nil {
			prev = &s.prev[i]
		}
		out[i] = SimulatedGPU(i, at, prev, cur[i])
	}
	s.prev = cur
	return out, nil
}

// Close does nothing: the simulator holds no resource for telemetry.
func (s *SimSampler) Close() error { return nil }

// SimulatedGPU is one simulated GPU's sample at at (the caller's clock):
// utilisation (Δbusy/Δelapsed) and power (Δenergy/Δelapsed) over the
// interval from prev to cur on the simulator's own clock, the energy
// counter and memory as of cur. prev is nil for the first reading, whose
// interval figures are then missing. The process memory is the whole of
// the memory used, since a simulated GPU holds only its own server's.
// Figures the simulator does not model are missing, never zero. It is
// pure: virtual time calls it with readings from simulator.GPUModel.Read.
func SimulatedGPU(index int, at time.Duration, prev *simulator.GPUReading, cur simulator.GPUReading) GPU {
	g := GPU{
		At: at, Index: index, Name: cur.Name, Simulated: true,
		MemoryUtilizationPct: missing[float64](notModelled),
		MemoryUsedBytes:      known(cur.MemoryUsedBytes),
		MemoryTotalBytes:     known(cur.MemoryTotalBytes),
		SMClockMHz:           missing[float64](notModelled),
		TemperatureC:         missing[float64](notModelled),
		ThrottleReasons:      missing[[]string](notModelled),
		ProcessMemoryBytes:   known(cur.MemoryUsedBytes),
		SMActivityPct:        missing[float64](notModelled),
	}
	if cur.NoPower == "" {
		g.EnergyMillijoules = known(cur.EnergyJoules * 1000)
	} else {
		g.EnergyMillijoules = missing[float64](cur.NoPower)
	}
	interval := intervalMissing(prev, cur)
	if interval != "" {
		g.UtilizationPct, g.PowerWatts = missing[float64](interval), missing[float64](interval)
		if cur.NoPower != "" {
			g.PowerWatts = missing[float64](cur.NoPower)
		}
		return g
	}
	dt := (cur.Elapsed - prev.Elapsed).Seconds()
	g.UtilizationPct = known((cur.Busy - prev.Busy).Seconds() / dt * 100)
	switch {
	case cur.NoPower != "":
		g.PowerWatts = missing[float64](cur.NoPower)
	case prev.NoPower != "":
		g.PowerWatts = missing[float64](prev.NoPower)
	default:
		g.PowerWatts = known((cur.EnergyJoules - prev.EnergyJoules) / dt)
	}
	return g
}

// intervalMissing says why prev and cur span no interval, or "".
func intervalMissing(prev *simulator.GPUReading, cur simulator.GPUReading) string {
	switch {
	case prev == nil:
		return baseline
	case cur.Elapsed < prev.Elapsed:
		return "the simulator's counters went back (was the server restarted?)"
	case cur.Elapsed == prev.Elapsed:
		return "no simulator time passed since the previous sample"
	}
	return ""
}

// SimReading reads a simulator's sgltest:sim_gpu_* families from one
// parsed /metrics exposition (as expfmt's TextParser returns them). It
// fails when a family other than the energy is missing or has other than
// one sample: that exposition is not an sgltest simulator's. Without an
// energy sample (a profile with no power range) the reading has NoPower
// set.
func SimReading(fams map[string]*dto.MetricFamily) (simulator.GPUReading, error) {
	var r simulator.GPUReading
	one := func(name string) (*dto.Metric, error) {
		f := fams[name]
		if f == nil {
			return nil, fmt.Errorf("telemetry: simulator metrics have no %s (not an sgltest simulator, or --enable-metrics is off)", name)
		}
		if n := len(f.GetMetric()); n != 1 {
			return nil, fmt.Errorf("telemetry: simulator metric %s has %d samples, want 1", name, n)
		}
		return f.GetMetric()[0], nil
	}
	vals := map[string]float64{}
	for _, name := range []string{simulator.MetricGPUBusy, simulator.MetricGPUElapsed, simulator.MetricGPUMemoryUsed, simulator.MetricGPUMemoryTotal} {
		m, err := one(name)
		if err != nil {
			return r, err
		}
		v := metricValue(m)
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return r, fmt.Errorf("telemetry: simulator metric %s = %v, want a finite non-negative number", name, v)
		}
		vals[name] = v
		for _, l := range m.GetLabel() {
			if l.GetName() == "gpu_name" {
				r.Name = l.GetValue()
			}
		}
	}
	r.Busy = seconds(vals[simulator.MetricGPUBusy])
	r.Elapsed = seconds(vals[simulator.MetricGPUElapsed])
	r.MemoryUsedBytes = vals[simulator.MetricGPUMemoryUsed]
	r.MemoryTotalBytes = vals[simulator.MetricGPUMemoryTotal]
	if f := fams[simulator.MetricGPUEnergy]; f == nil || len(f.GetMetric()) == 0 {
		r.NoPower = "the simulator publishes no energy: its profile has no gpu.idle_watts and gpu.tdp_watts"
		return r, nil
	}
	m, err := one(simulator.MetricGPUEnergy)
	if err != nil {
		return r, err
	}
	if r.EnergyJoules = metricValue(m); math.IsNaN(r.EnergyJoules) || math.IsInf(r.EnergyJoules, 0) || r.EnergyJoules < 0 {
		return r, fmt.Errorf("telemetry: simulator metric %s = %v, want a finite non-negative number", simulator.MetricGPUEnergy, r.EnergyJoules)
	}
	return r, nil
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return math.NaN()
}

func seconds(s float64) time.Duration { return time.Duration(math.Round(s * float64(time.Second))) }

// SimReadings reads every simulated GPU of one exposition: a simulator
// running SGLang's data parallelism has one sample per DP rank in each
// sgltest:sim_gpu_* family, labelled dp_rank, each the tensor-parallel
// group of GPUs that rank runs on. The readings come in rank order, one
// per rank; a server without data parallelism gives one, as SimReading.
// Every rank must have exactly one sample of each family.
func SimReadings(fams map[string]*dto.MetricFamily) ([]simulator.GPUReading, error) {
	ranks := map[string]bool{}
	for _, m := range fams[simulator.MetricGPUBusy].GetMetric() {
		ranks[dpRank(m)] = true
	}
	if _, unlabelled := ranks[""]; len(ranks) == 0 || len(ranks) == 1 && unlabelled {
		r, err := SimReading(fams)
		if err != nil {
			return nil, err
		}
		return []simulator.GPUReading{r}, nil
	}
	order := make([]int, 0, len(ranks))
	for r := range ranks {
		n, err := strconv.Atoi(r)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("telemetry: simulator metric %s has dp_rank %q, want a rank number", simulator.MetricGPUBusy, r)
		}
		order = append(order, n)
	}
	slices.Sort(order)
	out := make([]simulator.GPUReading, len(order))
	for i, n := range order {
		rank := strconv.Itoa(n)
		sub := make(map[string]*dto.MetricFamily, len(simFamilies))
		for _, name := range simFamilies {
			f := fams[name]
			if f == nil {
				continue
			}
			g := &dto.MetricFamily{Name: f.Name, Help: f.Help, Type: f.Type}
			for _, m := range f.GetMetric() {
				if dpRank(m) == rank {
					g.Metric = append(g.Metric, m)
				}
			}
			sub[name] = g
		}
		r, err := SimReading(sub)
		if err != nil {
			return nil, fmt.Errorf("dp_rank %s: %w", rank, err)
		}
		out[i] = r
	}
	return out, nil
}

// ParseSimReadings is SimReadings of a simulator's /metrics text. Only the
// lines of the GPU families are parsed: the whole exposition is a hundred
// times larger, and it is read every sampling interval from every server
// while the load runs, on the cores the load generator needs.
func ParseSimReadings(r io.Reader) ([]simulator.GPUReading, error) {
	var kept bytes.Buffer
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		name := line
		if len(line) > 0 && line[0] == '#' {
			// "# HELP name ..." and "# TYPE name ...": the name is the third field.
			if f := bytes.Fields(line); len(f) >= 3 {
				name = f[2]
			}
		}
		if bytes.HasPrefix(name, []byte(simGPUPrefix)) {
			kept.Write(line)
			kept.WriteByte('\n')
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("telemetry: reading the simulator's metrics: %w", err)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(&kept)
	if err != nil {
		return nil, fmt.Errorf("telemetry: the simulator's GPU metrics: %w", err)
	}
	return SimReadings(fams)
}

// simGPUPrefix starts the name of every family in simFamilies.
const simGPUPrefix = "sgltest:sim_gpu_"

// simFamilies are the simulator's GPU families.
var simFamilies = []string{simulator.MetricGPUBusy, simulator.MetricGPUElapsed, simulator.MetricGPUEnergy,
	simulator.MetricGPUMemoryUsed, simulator.MetricGPUMemoryTotal}

// dpRank is a sample's dp_rank label, "" without one.
func dpRank(m *dto.Metric) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == "dp_rank" {
			return l.GetValue()
		}
	}
	return ""
}
