package simulator

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Simulated GPU figures on /metrics (with --enable-metrics), so a run
// against the simulator has GPU telemetry like a run on a GPU, marked as
// simulated by the sgltest: prefix. Each family has one sample per DP rank
// (one without DP) labelled model_name, engine_type and gpu_name (the
// profile's GPU, "2 × H100" for a tensor-parallel group), plus dp_rank on
// a DP server. The counters
// run from the server's start on its clock; a reader takes differences of
// two scrapes: utilisation is Δbusy/Δelapsed, power ΔE/Δelapsed.
const (
	// MetricGPUBusy counts the seconds the engine spent in prefill or
	// decode steps, the step in progress included up to the scrape: the
	// simulated "a kernel was running" time behind utilisation.
	MetricGPUBusy = "sgltest:sim_gpu_busy_seconds_total"
	// MetricGPUElapsed counts the seconds of server clock the other
	// counters cover, so their differences are divided by the simulator's
	// own interval rather than the scraper's.
	MetricGPUElapsed = "sgltest:sim_gpu_elapsed_seconds_total"
	// MetricGPUEnergy is the power model integrated over the server's
	// life, in joules (GPUModel). It has no sample when the profile has no
	// power range.
	MetricGPUEnergy = "sgltest:sim_gpu_energy_joules_total"
	// MetricGPUMemoryUsed is the weights plus the KV cache in use, in
	// bytes, as of the last step (GPUModel.Read).
	MetricGPUMemoryUsed = "sgltest:sim_gpu_memory_used_bytes"
	// MetricGPUMemoryTotal is the profile's GPU memory, in bytes.
	MetricGPUMemoryTotal = "sgltest:sim_gpu_memory_total_bytes"
)

// GPUModel turns what the engine does into GPU figures. It is a model, not
// a measurement, and deliberately simple:
//
//   - power while busy a fraction f of an interval is
//     IdleWatts + (TDPWatts − IdleWatts) × f, so the energy over a span of
//     elapsed time with busy time b is IdleWatts × elapsed +
//     (TDPWatts − IdleWatts) × b (exact, whatever the sampling);
//   - memory used is the weights (step_time.weight_bytes) plus the KV
//     slots in use (sglang:num_used_tokens) times kv_bytes_per_token. Real
//     SGLang preallocates its whole KV pool, so on a real GPU NVML shows
//     the pool's size from the start; the simulated figure shows how much
//     of it holds live requests.
type GPUModel struct {
	// Name is the profile's GPU name.
	Name             string
	MemoryTotalBytes float64
	WeightBytes      float64
	KVBytesPerToken  float64
	IdleWatts        float64
	TDPWatts         float64
	// NoPower says why the model has no power figures; empty when
	// IdleWatts and TDPWatts are set.
	NoPower string
}

// NewGPUModel reads the model's parameters from a profile.
func NewGPUModel(p Profile) GPUModel {
	m := GPUModel{
		Name:             p.GPU.Name,
		MemoryTotalBytes: p.GPU.MemoryBytes.Value,
		WeightBytes:      p.StepTime.WeightBytes.Value,
		KVBytesPerToken:  p.StepTime.KVBytesPerToken.Value,
	}
	if p.GPU.IdleWatts == nil || p.GPU.TDPWatts == nil {
		m.NoPower = fmt.Sprintf("simulator profile %s has no gpu.idle_watts and gpu.tdp_watts", p.Name)
		return m
	}
	m.IdleWatts, m.TDPWatts = p.GPU.IdleWatts.Value, p.GPU.TDPWatts.Value
	return m
}

// Group returns the model of the tp GPUs a tensor-parallel server runs on,
// as one simulated device: their memory and power add up, and the name
// says how many there are. The weights are the whole model's either way.
func (m GPUModel) Group(tp int) GPUModel {
	if tp <= 1 {
		return m
	}
	m.Name = fmt.Sprintf("%d × %s", tp, m.Name)
	m.MemoryTotalBytes *= float64(tp)
	m.IdleWatts *= float64(tp)
	m.TDPWatts *= float64(tp)
	return m
}

// Power returns the modelled power in watts of a GPU busy the given
// fraction (0..1) of an interval. Meaningless when NoPower is set.
func (m GPUModel) Power(busyFraction float64) float64 {
	return m.IdleWatts + (m.TDPWatts-m.IdleWatts)*busyFraction
}

// Read returns the cumulative figures of a simulated GPU whose engine has
// run for elapsed, busy for busy of it, and holds usedTokens KV slots now.
// It is pure, so the virtual-time engine gets the same figures as the
// HTTP server without scraping.
func (m GPUModel) Read(elapsed, busy time.Duration, usedTokens int) GPUReading {
	r := GPUReading{
		Name:             m.Name,
		Elapsed:          elapsed,
		Busy:             busy,
		MemoryUsedBytes:  m.WeightBytes + float64(usedTokens)*m.KVBytesPerToken,
		MemoryTotalBytes: m.MemoryTotalBytes,
		NoPower:          m.NoPower,
	}
	if m.NoPower == "" {
		r.EnergyJoules = m.IdleWatts*elapsed.Seconds() + (m.TDPWatts-m.IdleWatts)*busy.Seconds()
	}
	return r
}

// GPUReading is one simulated GPU's cumulative figures at one instant: what
// /metrics publishes, or what GPUModel.Read computes directly.
type GPUReading struct {
	Name string
	// Elapsed is the simulator clock since the server (or engine) started;
	// Busy is how much of it the engine spent in steps.
	Elapsed, Busy    time.Duration
	MemoryUsedBytes  float64
	MemoryTotalBytes float64
	// EnergyJoules is the power model's integral over Elapsed; valid only
	// when NoPower is empty.
	EnergyJoules float64
	NoPower      string
}

// busyMeter accumulates the time the engine spends in steps. The driver
// goroutine marks each step's start and end; /metrics reads it at any
// time, counting the step in progress up to that instant.
type busyMeter struct {
	mu         sync.Mutex
	done       time.Duration // finished steps
	start, end time.Duration // the step in progress, if inStep
	inStep     bool
}

// begin marks a non-idle step [start, end) as in progress.
func (b *busyMeter) begin(start, end time.Duration) {
	b.mu.Lock()
	b.start, b.end, b.inStep = start, end, true
	b.mu.Unlock()
}

// finish ends the step in progress at now (its end, unless the driver
// stopped early).
func (b *busyMeter) finish(now time.Duration) {
	b.mu.Lock()
	b.done += b.partial(now)
	b.inStep = false
	b.mu.Unlock()
}

// at returns the busy time up to now.
func (b *busyMeter) at(now time.Duration) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.done + b.partial(now)
}

// partial is the step in progress's share up to now; b.mu must be held.
func (b *busyMeter) partial(now time.Duration) time.Duration {
	if !b.inStep {
		return 0
	}
	return min(max(now, b.start), b.end) - b.start
}

// writeGPUMetrics writes the sgltest:sim_gpu_* families: one sample per DP
// rank, each the tp GPUs that rank runs on, labelled dp_rank on a DP
// server, so the samples cover all dp × tp GPUs.
func (s *Server) writeGPUMetrics(w io.Writer) {
	now := s.clock.Now()
	readings := make([]GPUReading, len(s.ranks))
	labels := make([]string, len(s.ranks))
	for r, d := range s.ranks {
		u, _ := d.snapshot()
		readings[r] = s.gpuModel.Read(now-s.gpuStart, d.busy.at(now), u.UsedTokens)
		labels[r] = fmt.Sprintf(`model_name="%s",engine_type="unified",gpu_name="%s"%s`,
			escapeLabel(s.cfg.ServedModelName), escapeLabel(readings[r].Name), s.dpLabel(r))
	}
	write := func(name, typ, help string, v func(r GPUReading) float64, ok bool) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
		if !ok {
			return
		}
		for r, reading := range readings {
			fmt.Fprintf(w, "%s{%s} %s\n", name, labels[r], pyFloat(v(reading)))
		}
	}
	power := readings[0].NoPower == ""
	write(MetricGPUBusy, "counter", "sgltest simulator: seconds the simulated GPU spent in engine steps.",
		func(r GPUReading) float64 { return r.Busy.Seconds() }, true)
	write(MetricGPUElapsed, "counter", "sgltest simulator: seconds of server clock the sim_gpu counters cover.",
		func(r GPUReading) float64 { return r.Elapsed.Seconds() }, true)
	write(MetricGPUEnergy, "counter", "sgltest simulator: modelled GPU energy in joules (idle W + (TDP - idle) x busy fraction, integrated).",
		func(r GPUReading) float64 { return r.EnergyJoules }, power)
	write(MetricGPUMemoryUsed, "gauge", "sgltest simulator: modelled GPU memory used in bytes (weights + KV cache in use).",
		func(r GPUReading) float64 { return r.MemoryUsedBytes }, true)
	write(MetricGPUMemoryTotal, "gauge", "sgltest simulator: the profile's GPU memory in bytes.",
		func(r GPUReading) float64 { return r.MemoryTotalBytes }, true)
}
