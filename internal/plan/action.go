package plan

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sgltest/sgltest/internal/launcher"
)

// ActionKind names a planned action on a server or the router.
type ActionKind string

// The actions a timeline can hold.
const (
	// Kill ends the target at once (SIGKILL to its process group): requests
	// in flight on it fail.
	Kill ActionKind = "kill"
	// Stop ends the target gracefully (SIGTERM, SIGKILL after the grace).
	Stop ActionKind = "stop"
	// Pause freezes the target for For (SIGSTOP, then SIGCONT): it keeps
	// its connections and answers nothing meanwhile.
	Pause ActionKind = "pause"
	// Restore starts a killed or stopped target again with the same
	// arguments, on the same port.
	Restore ActionKind = "restore"
	// Restart stops the target gracefully and starts it with Changes
	// applied, on the same port: SGLang has no runtime API for its server
	// arguments, so a parameter change during a run is a restart.
	Restart ActionKind = "restart"
)

// RouterTarget names the real router as an action's target.
const RouterTarget = "router"

// Action is one planned event of a run's timeline.
type Action struct {
	Kind ActionKind `json:"kind"`
	// Target is a server's name ("server-2") or RouterTarget.
	Target string `json:"target"`
	// At is the offset from the run's start instant.
	At time.Duration `json:"at_ns"`
	// For is how long a Pause lasts.
	For time.Duration `json:"for_ns,omitempty"`
	// Changes are the server arguments a Restart changes.
	Changes Changes `json:"changes,omitzero"`
}

func (a Action) String() string {
	s := fmt.Sprintf("%s %s at %v", a.Kind, a.Target, a.At)
	if a.Kind == Pause {
		s += fmt.Sprintf(" for %v", a.For)
	}
	if a.Kind == Restart {
		s += " with " + a.Changes.String()
	}
	return s
}

// Changes are server arguments a restart sets; a zero field is unchanged.
type Changes struct {
	MaxRunningRequests int     `json:"max_running_requests,omitempty"`
	ChunkedPrefillSize int     `json:"chunked_prefill_size,omitempty"`
	SchedulePolicy     string  `json:"schedule_policy,omitempty"`
	MemFractionStatic  float64 `json:"mem_fraction_static,omitempty"`
}

// IsZero reports whether c changes nothing.
func (c Changes) IsZero() bool { return c == Changes{} }

// Apply returns cfg with c's non-zero fields set.
func (c Changes) Apply(cfg launcher.Config) launcher.Config {
	if c.MaxRunningRequests != 0 {
		cfg.MaxRunningRequests = c.MaxRunningRequests
	}
	if c.ChunkedPrefillSize != 0 {
		cfg.ChunkedPrefillSize = c.ChunkedPrefillSize
	}
	if c.SchedulePolicy != "" {
		cfg.SchedulePolicy = c.SchedulePolicy
	}
	if c.MemFractionStatic != 0 {
		cfg.MemFractionStatic = c.MemFractionStatic
	}
	return cfg
}

func (c Changes) String() string {
	var parts []string
	if c.MaxRunningRequests != 0 {
		parts = append(parts, fmt.Sprintf("max running requests %d", c.MaxRunningRequests))
	}
	if c.ChunkedPrefillSize != 0 {
		parts = append(parts, fmt.Sprintf("chunked prefill size %d", c.ChunkedPrefillSize))
	}
	if c.SchedulePolicy != "" {
		parts = append(parts, "schedule policy "+c.SchedulePolicy)
	}
	if c.MemFractionStatic != 0 {
		parts = append(parts, fmt.Sprintf("mem fraction %g", c.MemFractionStatic))
	}
	if len(parts) == 0 {
		return "the same arguments"
	}
	return strings.Join(parts, ", ")
}

// Actions returns the timeline in the order it happens (by At, then in
// the order declared).
func (p *Plan) Actions() []Action {
	out := slices.Clone(p.Timeline)
	slices.SortStableFunc(out, func(a, b Action) int { return cmp.Compare(a.At, b.At) })
	return out
}

// PlannedEnd is the latest instant the timeline keeps something planned
// going: the last action, or the end of the last pause.
func (p *Plan) PlannedEnd() time.Duration {
	var end time.Duration
	for _, a := range p.Timeline {
		end = max(end, a.At+a.For)
	}
	return end
}

// validateTimeline checks each action's target and fields, and that each
// target's actions make sense in order: only a running target is killed,
// stopped, paused or restarted, only a killed or stopped one restored.
func (p *Plan) validateTimeline() error {
	var errs []error
	bad := func(a Action, format string, args ...any) {
		errs = append(errs, fmt.Errorf("timeline: %s: %s", a, fmt.Sprintf(format, args...)))
	}
	up := map[string]bool{}
	busyUntil := map[string]time.Duration{}
	for _, a := range p.Actions() {
		switch {
		case a.Target == RouterTarget:
			if p.Routing == nil || p.Routing.Via == ViaDispatcher {
				bad(a, "the scenario runs no router process (sgltest's dispatcher is part of the client)")
				continue
			}
			if a.Kind == Restart && !a.Changes.IsZero() {
				bad(a, "the router's arguments cannot be changed by a restart")
			}
		default:
			if _, err := p.Server(a.Target); err != nil {
				bad(a, "%v", err)
				continue
			}
		}
		if _, seen := up[a.Target]; !seen {
			up[a.Target] = true
		}
		if a.At < 0 {
			bad(a, "the time must not be negative")
		}
		if a.At < busyUntil[a.Target] {
			bad(a, "it overlaps the pause before it, which ends at %v", busyUntil[a.Target])
		}
		switch a.Kind {
		case Kill, Stop:
			if !up[a.Target] {
				bad(a, "%s is already down then", a.Target)
			}
			up[a.Target] = false
		case Pause:
			if !(a.For > 0) {
				bad(a, "a pause needs a positive duration")
			}
			if !up[a.Target] {
				bad(a, "%s is down then: only a running target can be paused", a.Target)
			}
			busyUntil[a.Target] = a.At + a.For
		case Restore:
			if up[a.Target] {
				bad(a, "%s is running then: only a killed or stopped target can be restored", a.Target)
			}
			up[a.Target] = true
		case Restart:
			if !up[a.Target] {
				bad(a, "%s is down then: restore it instead", a.Target)
			}
		default:
			bad(a, "unknown action: expected kill, stop, pause, restore or restart")
		}
	}
	return errors.Join(errs...)
}
