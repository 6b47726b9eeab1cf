package virtual

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sgltest/sgltest/internal/launcher"
	"github.com/sgltest/sgltest/internal/load"
	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/plan"
	"github.com/sgltest/sgltest/internal/timeline"
	"github.com/sgltest/sgltest/internal/workerstate"
)

// collect is an Observer that keeps everything.
type collect struct {
	mu      sync.Mutex
	records []metrics.Record
	events  []timeline.Event
	samples int
}

func (c *collect) Add(r metrics.Record)           { c.mu.Lock(); c.records = append(c.records, r); c.mu.Unlock() }
func (c *collect) Event(e timeline.Event)         { c.mu.Lock(); c.events = append(c.events, e); c.mu.Unlock() }
func (c *collect) Sample(int, workerstate.Sample) { c.mu.Lock(); c.samples++; c.mu.Unlock() }

func virtualPlan(n int, actions ...plan.Action) *plan.Plan {
	p := &plan.Plan{Clock: plan.Virtual, Seed: 1, Routing: &plan.Routing{Via: plan.ViaDispatcher, Policy: "round_robin"},
		Dataset:  plan.Dataset{Random: &load.Random{Count: 400, InputTokens: 64, OutputTokens: 16}},
		Arrival:  plan.Arrival{Kind: plan.ArrivePoisson, Rate: 40},
		Timeline: actions}
	for i := range n {
		p.Servers = append(p.Servers, plan.Server{Name: plan.ServerName(i), Profile: "llama-3.1-8b-h100",
			Launch: launcher.Config{Name: plan.ServerName(i), Backend: launcher.BackendSim, ModelPath: "m", SimBinary: "x"}})
	}
	return p
}

func TestTheDispatcherStopsPickingAKilledServerInVirtualTime(t *testing.T) {
	p := virtualPlan(3, plan.Action{Kind: plan.Kill, Target: "server-2", At: 3 * time.Second})
	w, err := p.Work()
	if err != nil {
		t.Fatal(err)
	}
	var obs collect
	out, err := Executor{}.Execute(context.Background(), p, w, &obs)
	if err != nil {
		t.Fatal(err)
	}
	if !out.Health.Valid || out.GPU.Source != "simulated" || len(out.GPU.Samples) == 0 {
		t.Errorf("outcome %+v: want valid health and simulated GPU samples", out.Health)
	}
	if len(obs.records) != 400 {
		t.Fatalf("%d records, want every one of 400", len(obs.records))
	}
	var unhealthy time.Duration
	var kinds []string
	for _, e := range obs.events {
		kinds = append(kinds, string(e.Kind))
		if e.Kind == timeline.Unhealthy {
			unhealthy = e.At
		}
	}
	if !strings.Contains(strings.Join(kinds, " "), "load-started killed unhealthy load-finished") {
		t.Errorf("events %v", kinds)
	}
	for _, r := range obs.records {
		if r.Target == "server-2" && r.Arrival > unhealthy && r.OK() {
			t.Errorf("request %d arrived at %v, after server-2 was seen down at %v, and succeeded on it", r.Index, r.Arrival, unhealthy)
		}
	}
	if obs.samples == 0 {
		t.Error("no server samples")
	}
}

func TestVirtualTimeRefusesServersThatDiffer(t *testing.T) {
	p := virtualPlan(2)
	p.Servers[1].Launch.MaxRunningRequests = 8
	w, err := p.Work()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (Executor{}).Execute(context.Background(), p, w, &collect{}); err == nil || !strings.Contains(err.Error(), "identical servers") {
		t.Errorf("err = %v", err)
	}
}
