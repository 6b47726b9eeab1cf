package cluster

import (
	"fmt"
	"slices"
	"time"

	"github.com/sgltest/sgltest/internal/simulator"
)

// FaultKind names what happens to an engine during a run.
type FaultKind string

// The faults an engine can suffer, as the wall-clock executor applies them
// to server processes.
const (
	// Kill ends the engine at once: its requests fail, its cache is lost.
	Kill FaultKind = "killed"
	// Stop ends it gracefully; in-flight requests fail as with Kill
	// (SGLang aborts them when it shuts down).
	Stop FaultKind = "stopped"
	// Pause freezes it for For: nothing it does advances meanwhile.
	Pause FaultKind = "paused"
	// Restore starts a killed or stopped engine afresh (empty cache) with
	// its configuration; it serves after Config.Startup.
	Restore FaultKind = "restored"
	// Restart stops the engine and starts it afresh with Engine as its
	// configuration; it serves after Config.Startup.
	Restart FaultKind = "restarted"
)

// Fault is one planned event on one engine.
type Fault struct {
	At     time.Duration
	Engine int
	Kind   FaultKind
	// For is a Pause's length.
	For time.Duration
	// Engine configures the engine a Restart starts.
	Config simulator.EngineConfig
}

// Event is something that happened to an engine, reported through
// Config.OnEvent: the faults themselves, the engine serving again
// ("ready", with Away), and a router's view of its health changing
// ("unhealthy", "healthy").
type Event struct {
	At     time.Duration
	Engine int
	Kind   string
	// Away is how long a restored or restarted engine did not serve.
	Away time.Duration
}

// Event kinds beyond the fault kinds.
const (
	EventRestoring  = "restoring"
	EventRestarting = "restarting"
	EventReady      = "ready"
	EventResumed    = "resumed"
	EventUnhealthy  = "unhealthy"
	EventHealthy    = "healthy"
)

// Markers in a fault event's req field for the events a fault schedules.
const (
	readyMarker  = -1 // a restored or restarted engine serves
	resumeMarker = -2 // a pause ends
)

// checkFaults validates the faults against n engines.
func checkFaults(faults []Fault, n int) error {
	for i, f := range faults {
		switch {
		case f.Engine < 0 || f.Engine >= n:
			return fmt.Errorf("cluster: fault %d: engine %d of %d", i, f.Engine, n)
		case f.At < 0:
			return fmt.Errorf("cluster: fault %d: at %v: must not be negative", i, f.At)
		case f.Kind == Pause && f.For <= 0:
			return fmt.Errorf("cluster: fault %d: a pause needs a positive length", i)
		}
		switch f.Kind {
		case Kill, Stop, Pause, Restore, Restart:
		default:
			return fmt.Errorf("cluster: fault %d: unknown kind %q", i, f.Kind)
		}
	}
	return nil
}

// sortedFaults returns the faults by time, stable.
func sortedFaults(faults []Fault) []Fault {
	out := slices.Clone(faults)
	slices.SortStableFunc(out, func(a, b Fault) int {
		switch {
		case a.At < b.At:
			return -1
		case a.At > b.At:
			return 1
		}
		return 0
	})
	return out
}
