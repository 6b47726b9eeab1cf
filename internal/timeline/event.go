package timeline

import (
	"fmt"
	"time"
)

// Kind names what an Event says happened.
type Kind string

// The kinds of event a run records. A server's life is started (ready),
// then possibly killed, stopped, paused/resumed, exited or stalled, then
// restored or restarted (ready again).
const (
	// LoadStarted is the run's start instant: offset 0 of every record.
	LoadStarted Kind = "load-started"
	// LoadFinished is when the last measured request ended.
	LoadFinished Kind = "load-finished"
	// Started is a server or router that is up and answering (the first
	// start of a run, before LoadStarted, has a negative or zero At).
	Started Kind = "started"
	// Killed, Stopped and Paused are planned faults applied to a server or
	// router: SIGKILL, SIGTERM (graceful), SIGSTOP.
	Killed  Kind = "killed"
	Stopped Kind = "stopped"
	Paused  Kind = "paused"
	// Resumed ends a planned pause (SIGCONT).
	Resumed Kind = "resumed"
	// Restoring and Restarting are when a restore (same arguments) or a
	// restart (changed arguments) was asked for; Restored and Restarted
	// when the server answered again. Away is how long it did not serve.
	Restoring  Kind = "restoring"
	Restored   Kind = "restored"
	Restarting Kind = "restarting"
	Restarted  Kind = "restarted"
	// Exited is a server or router that ended when no event planned it;
	// Stalled one that stopped answering while it should have. Both stop
	// the run.
	Exited  Kind = "exited"
	Stalled Kind = "stalled"
	// Unhealthy and Healthy are a routing target's health as sgltest's
	// dispatcher saw it (failed scrapes, then a good one again).
	Unhealthy Kind = "unhealthy"
	Healthy   Kind = "healthy"
	// Stopping is the run stopping early: interrupted, past its deadline,
	// or after an unplanned exit or stall. Detail says why.
	Stopping Kind = "stopping"
)

// Event is one thing that happened during a run.
type Event struct {
	// At is the offset from the run's start instant.
	At time.Duration `json:"at_ns"`
	// Kind says what happened.
	Kind Kind `json:"kind"`
	// Target names the server or router ("server-2", "router"); empty for
	// events of the run itself.
	Target string `json:"target,omitempty"`
	// Planned is set for what the scenario's timeline asked for.
	Planned bool `json:"planned,omitempty"`
	// Away, for Restored and Restarted, is how long the target was away:
	// from the fault (or the restart's stop) to answering again.
	Away time.Duration `json:"away_ns,omitempty"`
	// URL and Argv, for Started, Restored and Restarted, are where the
	// target answers and the exact argument list it runs.
	URL  string   `json:"url,omitempty"`
	Argv []string `json:"argv,omitempty"`
	// Detail says more in words: an exit status, why the run stopped.
	Detail string `json:"detail,omitempty"`
}

// String renders the event for logs and the printed summary, e.g.
// "8.103 s server-2 exited: signal: killed".
func (e Event) String() string {
	s := fmt.Sprintf("%.3f s", e.At.Seconds())
	if e.Target != "" {
		s += " " + e.Target
	}
	s += " " + string(e.Kind)
	if e.Away > 0 {
		s += fmt.Sprintf(" (away %.3f s)", e.Away.Seconds())
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}
