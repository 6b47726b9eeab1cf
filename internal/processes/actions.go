package processes

import (
	"context"
	"fmt"
	"time"

	"github.com/sgltest/sgltest/internal/plan"
	"github.com/sgltest/sgltest/internal/timeline"
)

// applyTimeline applies the plan's actions at their instants, each
// target's in order on its own goroutine (a restore that takes a while
// does not delay another server's kill). It returns when all are applied
// or ctx ends.
func (x *execution) applyTimeline(ctx context.Context) {
	byTarget := map[string][]plan.Action{}
	var order []string
	for _, a := range x.p.Actions() {
		if _, seen := byTarget[a.Target]; !seen {
			order = append(order, a.Target)
		}
		byTarget[a.Target] = append(byTarget[a.Target], a)
	}
	done := make(chan struct{}, len(order))
	for _, name := range order {
		t := x.router
		if name != plan.RouterTarget {
			i, _ := x.p.Server(name) // validated with the plan
			t = x.targets[i]
		}
		go func() {
			defer func() { done <- struct{}{} }()
			for _, a := range byTarget[name] {
				if !x.sleepUntil(ctx, a.At) {
					return
				}
				if err := x.apply(ctx, t, a); err != nil {
					if ctx.Err() == nil {
						x.stop(err)
					}
					return
				}
			}
		}()
	}
	for range order {
		<-done
	}
}

// sleepUntil waits until offset at from the start instant; false if ctx
// ended first.
func (x *execution) sleepUntil(ctx context.Context, at time.Duration) bool {
	timer := time.NewTimer(at - x.now())
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// apply carries out one action on t. Each event's time is taken when the
// signal is sent or the process answers again, not when it was planned.
func (x *execution) apply(ctx context.Context, t *target, a plan.Action) error {
	switch a.Kind {
	case plan.Kill, plan.Stop:
		srv := t.setState(down)
		at := x.now()
		kind, do := timeline.Killed, srv.Kill
		if a.Kind == plan.Stop {
			kind, do = timeline.Stopped, srv.Stop
		}
		err := do()
		x.event(timeline.Event{At: at, Kind: kind, Target: t.name, Planned: true, Detail: exitStatus(srv.Err())})
		if err != nil {
			return fmt.Errorf("%s %s: %w", a.Kind, t.name, err)
		}
	case plan.Pause:
		srv := t.setState(paused)
		at := x.now()
		if err := srv.Pause(); err != nil {
			return fmt.Errorf("pausing %s: %w", t.name, err)
		}
		x.event(timeline.Event{At: at, Kind: timeline.Paused, Target: t.name, Planned: true, Detail: fmt.Sprintf("for %v", a.For)})
		if !x.sleepUntil(ctx, a.At+a.For) {
			return srv.Resume() // the run is over; let the process be stopped normally
		}
		if err := srv.Resume(); err != nil {
			return fmt.Errorf("resuming %s: %w", t.name, err)
		}
		t.mu.Lock()
		t.st, t.lastOK = up, time.Now() // a fresh window before a stall counts
		t.mu.Unlock()
		x.event(timeline.Event{At: x.now(), Kind: timeline.Resumed, Target: t.name, Planned: true})
	case plan.Restore:
		t.setState(starting)
		x.event(timeline.Event{At: x.now(), Kind: timeline.Restoring, Target: t.name, Planned: true})
		if err := t.start(ctx, timeline.Restored); err != nil {
			return fmt.Errorf("restoring %s: %w", t.name, err)
		}
	case plan.Restart:
		srv := t.setState(starting)
		x.event(timeline.Event{At: x.now(), Kind: timeline.Restarting, Target: t.name, Planned: true, Detail: a.Changes.String()})
		if err := srv.Stop(); err != nil {
			return fmt.Errorf("stopping %s for its restart: %w", t.name, err)
		}
		t.cfg = a.Changes.Apply(t.cfg)
		if err := t.start(ctx, timeline.Restarted); err != nil {
			return fmt.Errorf("restarting %s with %s: %w", t.name, a.Changes, err)
		}
	}
	return nil
}
