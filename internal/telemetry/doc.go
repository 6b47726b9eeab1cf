// Package telemetry samples GPUs during a run's measured window: real GPUs
// through NVML (github.com/NVIDIA/go-nvml), simulated ones through the
// simulator's model, both as the same GPU samples, each marked Simulated or
// not, so reports and sentences work on every machine and always say which
// they got.
//
// # Reading guide
//
//   - gpu.go: the sample (GPU), one Reading per figure with its unit in its
//     name and a Missing reason instead of a zero when it could not be
//     read; the Sampler interface; UnavailableError for a machine with no
//     NVML (no driver, no GPU, a build without cgo), which is a state to
//     report, not a failure.
//   - nvml.go (linux && cgo): Open, the NVML Sampler. nvml_other.go is the
//     stub every other build gets: Open says why telemetry is unavailable.
//   - sim.go: SimSampler and SimulatedGPU, the simulator's Sampler over
//     cumulative readings (internal/simulator's GPUModel, published on its
//     /metrics as sgltest:sim_gpu_*; SimReading parses them).
//   - collector.go: Collector samples a Sampler every Interval (100 ms by
//     default) between Start and Stop on the run's clock.
//   - summary.go: per-GPU mean, P95 (exact) and max, the energy over the
//     window (the energy counter's difference) and EnergyPerToken.
//   - check.go: Check, the GPU check a user runs on a GPU machine.
//
// # Figures
//
// Utilisation (%, the share of the interval a kernel ran), memory
// utilisation (%, the share the memory was read or written), memory used
// and total (bytes), power (W), the energy counter (mJ since the driver
// loaded), SM clock (MHz), temperature (C), throttle reasons (NVML's clocks
// event reasons, by name), the memory of the watched processes and their
// descendants (bytes), and GPM SM activity (%, the share of SMs busy over
// the interval; Hopper and newer). NVML's utilisations are over the
// driver's own sample period (1/6 s to 1 s depending on the GPU), read at
// each sample; GPM SM activity and the simulator's figures are over the
// interval since the previous sample, so a sampler's first sample has them
// missing (a baseline) and summaries leave that sample out of them.
//
// The simulator models utilisation (its engine's busy fraction), power
// (idle W + (TDP − idle) × busy fraction, from the profile), the energy
// counter (that power integrated exactly) and memory (weights plus the KV
// cache in use; the process memory is the same figure). Every other figure
// of a simulated GPU is missing, "not modelled by the simulator".
//
// Energy per output token is the energy of every sampled GPU over the
// measured window divided by the output tokens of the run's successful
// requests, in joules per token.
package telemetry
