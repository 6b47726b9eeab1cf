package load

import (
	"fmt"
	"runtime"
	"syscall"
	"time"

	"github.com/sgltest/sgltest/internal/metrics"
)

// Default self-check bounds. 10 ms of p99 schedule lag is far below any
// latency an LLM server is judged on yet well above a healthy generator's
// lag (tens of microseconds); 95% CPU means the process had no headroom
// left, so its timestamps were taken late.
const (
	DefaultMaxScheduleLag = 10 * time.Millisecond
	DefaultMaxCPUBusy     = 0.95
)

// Bounds are the limits of the generator's self-check. Zero fields take
// the defaults above; a negative field disables that check.
type Bounds struct {
	// MaxScheduleLag bounds the p99 of Arrival − Scheduled, and the p99
	// of the hand-off (Health.HandoffP99): both are the client sending
	// later than asked.
	MaxScheduleLag time.Duration
	// MaxCPUBusy bounds the process's CPU time over the run's wall time ×
	// GOMAXPROCS. It covers the whole process: a server embedded in the same
	// process (the simulator, a test stub) counts too.
	MaxCPUBusy float64
}

func (b Bounds) resolve() (Bounds, error) {
	if b.MaxScheduleLag == 0 {
		b.MaxScheduleLag = DefaultMaxScheduleLag
	}
	if b.MaxCPUBusy == 0 {
		b.MaxCPUBusy = DefaultMaxCPUBusy
	}
	if b.MaxCPUBusy > 1 {
		return b, fmt.Errorf("load: CPU busy bound is a fraction of GOMAXPROCS cores, at most 1, got %v", b.MaxCPUBusy)
	}
	return b, nil
}

// Health is the generator's self-check of one run: was the client able to
// send the load it was asked to? A run that is not Valid measured the
// client, not the server, and should be failed as invalid.
type Health struct {
	// ScheduleLagP99 is the p99 of Arrival − Scheduled over the measured
	// (non-warmup) requests.
	ScheduleLagP99 time.Duration
	// HandoffP99 is the p99 of the hand-off: from a request being ready to
	// send (arrived, or let through by its concurrency cap or batch) to a
	// worker starting on it. It is the client's own scheduling delay, which
	// a client starved of CPU adds after waking on time; requests that
	// waited at the in-flight bound are counted in BoundWaits instead.
	HandoffP99 time.Duration
	// CPUBusy is the process's user+system CPU time during the measured
	// phase divided by its wall time × GOMAXPROCS (0..1).
	CPUBusy float64
	// MaxInFlight is the bound on requests in flight the run had
	// (Generator.MaxInFlight or its default, within the open-file limit)
	// and PeakInFlight the most it had at once.
	MaxInFlight, PeakInFlight int
	// BoundWaits is how many requests arrived with MaxInFlight requests
	// already in flight and waited for one to end, BoundWaitMax the longest
	// such wait. Any such wait fails the run: those requests were sent
	// later than scheduled because of the client, not the server.
	BoundWaits   int
	BoundWaitMax time.Duration
	Valid        bool
	// Reason names each bound passed and the measured figure; empty when
	// Valid.
	Reason string
	// Busy is set on an invalid run when every reason is the host's: the
	// client fell behind its schedule or saturated its CPU, or a simulator
	// fell behind its steps. The same run on a quieter host may be valid,
	// which is what makes it worth running again.
	Busy bool
}

// Invalidate fails h with one more reason that running again would not
// change (a bound the scenario itself reached, no load sent).
func (h *Health) Invalidate(reason string) { h.invalidate(reason, false) }

// InvalidateBusy fails h with one more reason that is the host's: it was
// too busy to keep a schedule (see Busy).
func (h *Health) InvalidateBusy(reason string) { h.invalidate(reason, true) }

func (h *Health) invalidate(reason string, busy bool) {
	if h.Valid || h.Reason == "" {
		h.Reason = "invalid run: " + reason
		h.Busy = busy
	} else {
		h.Reason += "; " + reason
		h.Busy = h.Busy && busy
	}
	h.Valid = false
}

// check judges a run from the schedule lag (Arrival − Scheduled) and the
// hand-off of each measured request and the process's CPU time over the
// wall time.
func (b Bounds) check(lags, handoffs []time.Duration, cpu, wall time.Duration, cpuErr error) Health {
	h := Health{Valid: true, ScheduleLagP99: p99(lags), HandoffP99: p99(handoffs)}
	if wall > 0 {
		h.CPUBusy = cpu.Seconds() / (wall.Seconds() * float64(runtime.GOMAXPROCS(0)))
	}
	if b.MaxScheduleLag > 0 && h.ScheduleLagP99 > b.MaxScheduleLag {
		h.InvalidateBusy(fmt.Sprintf("load generator fell behind its schedule: p99 schedule lag %v exceeds %v", h.ScheduleLagP99.Round(time.Microsecond), b.MaxScheduleLag))
	}
	if b.MaxScheduleLag > 0 && h.HandoffP99 > b.MaxScheduleLag {
		h.InvalidateBusy(fmt.Sprintf("load generator was slow to start sending arrived requests: p99 hand-off %v exceeds %v", h.HandoffP99.Round(time.Microsecond), b.MaxScheduleLag))
	}
	if cpuErr != nil {
		h.Invalidate(fmt.Sprintf("cannot measure the load generator's CPU time: %v", cpuErr))
	} else if b.MaxCPUBusy > 0 && h.CPUBusy > b.MaxCPUBusy {
		h.InvalidateBusy(fmt.Sprintf("load generator process saturated its CPU: %.0f%% of %d cores busy exceeds %.0f%%", h.CPUBusy*100, runtime.GOMAXPROCS(0), b.MaxCPUBusy*100))
	}
	return h
}

// p99 is the 99th percentile of ds (0 for none).
func p99(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	v := make([]float64, len(ds))
	for i, d := range ds {
		v[i] = float64(d)
	}
	return time.Duration(metrics.Distribute(v).P99)
}

// cpuTime is the process's user + system CPU time so far.
func cpuTime() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}
