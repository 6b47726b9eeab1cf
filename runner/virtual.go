package runner

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/sgltest/sgltest/internal/cluster"
	"github.com/sgltest/sgltest/internal/launcher"
	"github.com/sgltest/sgltest/internal/load"
	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/simulator"
	"github.com/sgltest/sgltest/router"
)

// Clocks a run can use.
const (
	ClockWall    = "wall"    // real servers (or simulators) over HTTP, in real time
	ClockVirtual = "virtual" // the simulator's engines in simulated time, no HTTP, at CPU speed
)

// SetVirtualTime makes the scenario run its simulated servers in virtual
// time: the same engines, arrivals and routing policies, computed as fast
// as the CPU allows instead of played out in real time over HTTP.
func (t *Test) SetVirtualTime() { t.virtual = true }

// virtualTargets names the engines of a virtual run as cluster.Run does.
func virtualTargets(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "virtual://engine-" + strconv.Itoa(i)
	}
	return out
}

// playVirtual computes the run in virtual time. Every request is sent at
// its planned arrival (the virtual client is never late), so the client
// self-check trivially holds and is reported as such.
func (t *Test) playVirtual(reqs []load.Request, a Arrival, sink load.Sink) (load.Result, error) {
	for _, s := range t.servers {
		if !s.Simulated && t.suite.Settings.Backend != launcher.BackendSim {
			return load.Result{}, errors.New("virtual time needs simulated servers, but the suite's backend is real SGLang")
		}
	}
	if a.Kind == ArriveUsers || a.MaxInFlight > 0 {
		return load.Result{}, errors.New("virtual time runs open-loop arrivals only (a rate, burstiness or all at once), not users or an in-flight cap")
	}
	sched, err := a.schedule(len(reqs), t.seed, t.dataset)
	if err != nil {
		return load.Result{}, err
	}
	offsets := sched.(load.Offsets)
	reqs = reqs[:len(offsets)]
	prof, err := simulator.LoadProfile(t.suite.Settings.SimProfile)
	if err != nil {
		return load.Result{}, err
	}
	cfg := cluster.Config{
		Profile: prof,
		Engine:  simulator.EngineConfig{MaxRunningRequests: t.servers[0].MaxRunningRequests},
		Engines: len(t.servers),
		Seed:    int64(t.seed),
	}
	if t.routing != nil {
		if t.routing.Via != ViaDispatcher {
			return load.Result{}, fmt.Errorf("virtual time cannot run the real router (%s); use sgltest's dispatcher", t.routing.Via)
		}
		policy, err := router.New(t.routing.Policy, router.Options{Seed: t.seed})
		if err != nil {
			return load.Result{}, err
		}
		cfg.Router = policyRouter(policy, len(t.servers))
	}
	creqs := make([]cluster.Request, len(reqs))
	for i, r := range reqs {
		if len(r.InputIDs) == 0 {
			return load.Result{}, fmt.Errorf("request %d: virtual time needs token-id prompts (random or shared-prefix datasets)", r.Index)
		}
		creqs[i] = cluster.Request{Arrival: offsets[i], InputIDs: r.InputIDs, InputTokens: len(r.InputIDs), OutputTokens: r.OutputTokens}
	}
	var recs []metrics.Record
	var sinkErr error
	var routeErr error
	err = cluster.Run(cfg, creqs, func(rec metrics.Record) {
		recs = append(recs, rec)
		sinkErr = errors.Join(sinkErr, sink(rec))
	})
	if rerr, ok := cfg.Router.(*policyAdapter); ok {
		routeErr = rerr.err
	}
	return load.Result{Records: recs, Health: load.Health{Valid: true}}, errors.Join(err, routeErr, sinkErr)
}

// policyAdapter lets a router.Policy route engines in virtual time: each
// engine becomes a router.Worker whose in-flight count is its outstanding
// requests and whose scraped state is the engine's own, read at the
// decision's instant (fresher than a real scrape).
type policyAdapter struct {
	policy  router.Policy
	workers []router.Worker
	err     error
}

func policyRouter(p router.Policy, n int) *policyAdapter {
	ws := make([]router.Worker, n)
	for i, u := range virtualTargets(n) {
		ws[i].URL = u
	}
	return &policyAdapter{policy: p, workers: ws}
}

// Route implements cluster.Router. A policy error ends up in Run's error;
// the request goes to engine 0 meanwhile, since the simulation cannot stop
// mid-event.
func (a *policyAdapter) Route(req *cluster.Request, engines []cluster.EngineState) int {
	for i, e := range engines {
		w := &a.workers[i]
		w.InFlight, w.Running, w.Queued, w.UsedTokens = e.Outstanding, e.Running, e.Waiting, e.UsedTokens
		w.Scraped = true
		if e.MaxTotalTokens > 0 {
			w.TokenUsage = float64(e.UsedTokens) / float64(e.MaxTotalTokens)
		}
	}
	i, err := a.policy.Pick(router.Request{Text: router.RoutingText("", req.InputIDs), InputIDs: req.InputIDs}, a.workers)
	if err == nil && (i < 0 || i >= len(engines)) {
		err = fmt.Errorf("policy picked engine %d of %d", i, len(engines))
	}
	if err != nil {
		a.err = errors.Join(a.err, err)
		return 0
	}
	return i
}

// virtualRouting measures the spread of a virtual run from its records.
func (t *Test) virtualRouting(recs []metrics.Record) (*RoutingResult, error) {
	targets := virtualTargets(len(t.servers))
	shares, err := metrics.SharesFromRecords(recs, targets)
	if err != nil {
		return nil, err
	}
	r := &RoutingResult{Routing: t.routing, Workers: shares, RequestBalance: metrics.RequestBalance(shares),
		Latency: metrics.LatencyByWorker(recs, targets)}
	r.CacheHitRate, r.HasCache = metrics.OverallCacheHitRate(shares)
	return r, nil
}
