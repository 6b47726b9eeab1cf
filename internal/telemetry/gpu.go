package telemetry

import (
	"encoding/json"
	"errors"
	"time"
)

// Reading is one figure as read: its value, or why there is none. A figure
// that could not be read is never a zero.
type Reading[T any] struct {
	Value T
	// Missing says why Value could not be read (unsupported by the device
	// or driver, an NVML error, not modelled by the simulator, ...); empty
	// when Value is valid.
	Missing string
}

// Figure is a numeric Reading.
type Figure = Reading[float64]

// OK reports whether the value was read.
func (r Reading[T]) OK() bool { return r.Missing == "" }

// MarshalJSON writes {"value": v} or {"missing": "why"}, never a value that
// was not read.
func (r Reading[T]) MarshalJSON() ([]byte, error) {
	if r.Missing != "" {
		return json.Marshal(struct {
			Missing string `json:"missing"`
		}{r.Missing})
	}
	return json.Marshal(struct {
		Value T `json:"value"`
	}{r.Value})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *Reading[T]) UnmarshalJSON(data []byte) error {
	var v struct {
		Value   *T     `json:"value"`
		Missing string `json:"missing"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	switch {
	case v.Missing != "":
		*r = Reading[T]{Missing: v.Missing}
	case v.Value != nil:
		*r = Reading[T]{Value: *v.Value}
	default:
		return errors.New(`telemetry: a reading needs "value" or "missing"`)
	}
	return nil
}

func known[T any](v T) Reading[T]          { return Reading[T]{Value: v} }
func missing[T any](why string) Reading[T] { return Reading[T]{Missing: why} }

// Reasons a figure is missing that are not failures of the device.
const (
	// baseline marks an interval figure on a sampler's first sample: it
	// needs a previous sample to difference.
	baseline = "first sample: an interval figure needs a previous sample"
	// notModelled marks a figure the simulator has no model for.
	notModelled = "not modelled by the simulator"
)

// GPU is one sample of one GPU. Utilisations and power are over an
// interval ending at At (NVML's own sample period, or since the previous
// sample for GPM and the simulator); the rest are values at At.
type GPU struct {
	// At is when the sample was taken, on the caller's monotonic clock.
	At time.Duration `json:"at_ns"`
	// Index is the NVML device index, or the simulated server's index.
	Index int    `json:"index"`
	UUID  string `json:"uuid,omitempty"`
	Name  string `json:"name"`
	// Simulated is true for figures from the simulator's model, false for
	// figures NVML read from a real GPU.
	Simulated bool `json:"simulated"`

	// UtilizationPct is the percentage of the interval in which a kernel
	// ran (NVML's GPU utilisation; the simulator's busy fraction).
	UtilizationPct Figure `json:"utilization_pct"`
	// MemoryUtilizationPct is the percentage of the interval in which
	// device memory was read or written (NVML's memory utilisation).
	MemoryUtilizationPct Figure `json:"memory_utilization_pct"`
	MemoryUsedBytes      Figure `json:"memory_used_bytes"`
	MemoryTotalBytes     Figure `json:"memory_total_bytes"`
	PowerWatts           Figure `json:"power_watts"`
	// EnergyMillijoules is the energy counter: the total since the driver
	// loaded (NVML) or since the simulated server started. A run's energy
	// is its difference over the window (Summarize).
	EnergyMillijoules Figure `json:"energy_mj"`
	SMClockMHz        Figure `json:"sm_clock_mhz"`
	TemperatureC      Figure `json:"temperature_c"`
	// ThrottleReasons names why clocks are held below their maximum
	// (NVML's clocks event reasons), empty when none.
	ThrottleReasons Reading[[]string] `json:"throttle_reasons"`
	// ProcessMemoryBytes is the memory used by the watched processes and
	// their descendants (NVMLOptions.PIDs), or by every compute process.
	ProcessMemoryBytes Figure `json:"process_memory_bytes"`
	// SMActivityPct is GPM's SM activity over the interval since the
	// previous sample: the percentage of SMs that were busy
	// (NVML_GPM_METRIC_SM_UTIL). UtilizationPct only says some kernel
	// was running; this says how much of the GPU it kept busy. Hopper
	// and newer, where the driver supports GPM.
	SMActivityPct Figure `json:"sm_activity_pct"`
}

// Sampler reads every watched GPU's figures. It is not safe for
// concurrent use. Two implementations: the NVML one (Open) and the
// simulator's (SimSampler).
type Sampler interface {
	// Sample reads each GPU now, stamping the samples with at (the
	// caller's clock). Figures that cannot be read are marked in each
	// GPU; an error means no sample at all.
	Sample(at time.Duration) ([]GPU, error)
	Close() error
}

// UnavailableError says why a machine has no GPU telemetry: no NVML library
// or driver, NVML failed to initialise, no GPU, or a build without cgo. It
// is a state to report, not a failure of the run, unless the run asked
// for a GPU figure.
type UnavailableError struct {
	Reason string
}

func (e *UnavailableError) Error() string { return "GPU telemetry unavailable: " + e.Reason }

// Unavailable returns the reason when err says that this machine has no
// GPU telemetry.
func Unavailable(err error) (reason string, ok bool) {
	var u *UnavailableError
	if errors.As(err, &u) {
		return u.Reason, true
	}
	return "", false
}

// NVMLOptions choose what Open watches.
type NVMLOptions struct {
	// Devices are NVML device indices (nvidia-smi's numbering); empty
	// means every GPU. NVML numbers devices in PCI bus order, as CUDA does
	// only with CUDA_DEVICE_ORDER=PCI_BUS_ID.
	Devices []int
	// PIDs are the processes whose GPU memory ProcessMemoryBytes sums,
	// each with its descendants (SGLang's GPU work runs in child
	// processes of the launched one); nil means every compute process on
	// the GPU. Inside a container NVML may report host PIDs, which match
	// none of these.
	PIDs []int
}
