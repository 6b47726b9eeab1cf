package processes

import (
	"context"
	"fmt"
	"time"

	"github.com/sgltest/sgltest/internal/timeline"
)

// watchHealth reads the scrapes' verdict on every server each scrape
// interval: a server whose scrapes fail is unhealthy (sgltest's
// dispatcher stops picking it; an event says so), and one the plan
// expects up that has not answered for the plan's stall limit stops the
// run.
func (x *execution) watchHealth(ctx context.Context) {
	tick := time.NewTicker(ScrapeInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, t := range x.targets {
			h := x.scraper.Health(t.index)
			failing := h.Failing > 0
			t.mu.Lock()
			changed := failing != t.unhealthy
			t.unhealthy = failing
			stalled := t.st == up && time.Since(t.lastOK) > x.p.Limits.StallAfter
			silent := time.Since(t.lastOK)
			t.mu.Unlock()
			if changed {
				kind := timeline.Healthy
				if failing {
					kind = timeline.Unhealthy
				}
				ev := timeline.Event{At: x.now(), Kind: kind, Target: t.name}
				if failing && h.Err != nil {
					ev.Detail = h.Err.Error()
				}
				x.event(ev)
				if x.dispatcher != nil {
					_ = x.dispatcher.SetHealthy(t.url(), !failing) // the URL is one of the dispatcher's: it was built from them
				}
			}
			if stalled && !x.ending.Load() {
				since := x.now() - silent
				why := fmt.Errorf("%s stopped answering at %.1f s: no /metrics answer for %v when nothing planned it", t.name, since.Seconds(), x.p.Limits.StallAfter)
				if h.Err != nil {
					why = fmt.Errorf("%w (last error: %v)", why, h.Err)
				}
				x.event(timeline.Event{At: since, Kind: timeline.Stalled, Target: t.name, Detail: why.Error()})
				x.stop(why)
				return
			}
		}
	}
}

// deadline stops an open-loop run that goes on past its last arrival and
// planned downtime by more than the grace period. A closed loop's end
// depends on completions and has no deadline; its stalls are caught by
// the health checks.
func (x *execution) deadline(ctx context.Context) {
	if x.w.Offsets == nil {
		return
	}
	last := max(x.w.End, x.p.PlannedEnd())
	at := last + x.p.Limits.Grace
	if !x.sleepUntil(ctx, at) {
		return
	}
	x.stop(fmt.Errorf("run deadline passed at %.1f s: the last planned arrival or action was at %.1f s and the grace period is %v (requests were still in flight)",
		at.Seconds(), last.Seconds(), x.p.Limits.Grace))
}
