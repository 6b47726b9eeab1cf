package timeline

import (
	"github.com/sgltest/sgltest/internal/load"
	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/routermetrics"
	"github.com/sgltest/sgltest/internal/telemetry"
	"github.com/sgltest/sgltest/internal/workerstate"
)

// Observer consumes a run as it happens. An executor calls it from many
// goroutines at once (a request's Record from that request's goroutine), so
// implementations must be safe for concurrent use. None of its methods
// returns an error: an observer that cannot keep up (a full disk) keeps its
// first error for its owner to read, and the executor never stops
// measuring because of it.
type Observer interface {
	// Add receives each request's Record once, when the request ended.
	Add(metrics.Record)
	// Event receives each Event as it happens.
	Event(Event)
	// Sample receives each scrape of server i's state (0-based, in the
	// plan's order), as it is read.
	Sample(server int, s workerstate.Sample)
}

// Fanout sends everything to each of its observers in order.
type Fanout []Observer

// Add implements Observer.
func (f Fanout) Add(r metrics.Record) {
	for _, o := range f {
		o.Add(r)
	}
}

// Event implements Observer.
func (f Fanout) Event(e Event) {
	for _, o := range f {
		o.Event(e)
	}
}

// Sample implements Observer.
func (f Fanout) Sample(i int, s workerstate.Sample) {
	for _, o := range f {
		o.Sample(i, s)
	}
}

// Outcome is how an execution ended, beyond its records and events.
type Outcome struct {
	// Health is the client's self-check (in virtual time the client is
	// never late, so it always holds).
	Health load.Health
	// Stopped says why the run stopped before its end: interrupted, past
	// its deadline, a server's unplanned exit or stall. Nil when it ran to
	// completion.
	Stopped error
	// Interrupted is set when a signal stopped the run.
	Interrupted bool
	// GPU is what the GPUs did during the measured window.
	GPU GPU
	// Router is what the real router counted over the run (its /metrics
	// at the end minus at the start); nil without a real router or when it
	// could not be read (RouterErr says why).
	Router    *routermetrics.Sample
	RouterErr string
	// Steps is the simulators' self-check: how many of each simulated
	// server's engine steps ended late. Nil when it was not judged
	// (virtual time, real SGLang only, a run that stopped early).
	Steps *StepCheck
}

// StepCheck is the simulators' self-check over a run: the bound and each
// judged server's verdict (servers a timeline action touched are left out).
type StepCheck struct {
	Bound   workerstate.LatenessBound
	Servers []workerstate.LatenessVerdict
}

// GPU is a run's GPU telemetry: the samples (real from NVML, or the
// simulator's, marked Simulated), or why there are none.
type GPU struct {
	Samples []telemetry.GPU
	// Source says where the samples came from: "nvml" or "simulated".
	Source string
	// Unavailable says why there are no samples (no NVML on this machine).
	Unavailable string
	// Incomplete says why some samples failed (a server that was down).
	Incomplete string
}
