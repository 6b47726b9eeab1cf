package virtual

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sgltest/sgltest/internal/cluster"
	"github.com/sgltest/sgltest/internal/launcher"
	"github.com/sgltest/sgltest/internal/load"
	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/plan"
	"github.com/sgltest/sgltest/internal/simulator"
	"github.com/sgltest/sgltest/internal/telemetry"
	"github.com/sgltest/sgltest/internal/timeline"
	"github.com/sgltest/sgltest/internal/workerstate"
	"github.com/sgltest/sgltest/router"
)

// How the engines are watched, as the wall-clock executor watches server
// processes: scraped every ScrapeInterval (a health change is seen at the
// next scrape; a frozen server only when that scrape times out, after
// ScrapeTimeout), more coarsely in long runs so that samples stay a few
// thousand per engine.
const (
	ScrapeInterval = 250 * time.Millisecond
	ScrapeTimeout  = time.Second
	maxSamples     = 4000
)

// Executor runs plans in virtual time.
type Executor struct {
	Logger *slog.Logger
}

// Execute simulates p's work w and streams it into obs. The virtual client
// is never late, so the Outcome's health always holds. ctx is checked
// before the simulation starts; a simulation of a few million requests
// takes seconds and is not interrupted.
func (e Executor) Execute(ctx context.Context, p *plan.Plan, w plan.Work, obs timeline.Observer) (timeline.Outcome, error) {
	if err := ctx.Err(); err != nil {
		return timeline.Outcome{Stopped: context.Cause(ctx), Interrupted: true}, nil
	}
	log := e.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if w.Offsets == nil {
		return timeline.Outcome{}, errors.New("virtual time runs open-loop arrivals only")
	}
	first := p.Servers[0]
	for _, s := range p.Servers[1:] {
		if s.Profile != first.Profile || engineConfig(s.Launch) != engineConfig(first.Launch) {
			return timeline.Outcome{}, fmt.Errorf("virtual time runs identical servers: %s differs from %s", s.Name, first.Name)
		}
	}
	prof, err := simulator.LoadProfile(first.Profile)
	if err != nil {
		return timeline.Outcome{}, err
	}
	names := p.Names()
	cfg := cluster.Config{
		Profile: prof, Engine: engineConfig(first.Launch), Engines: len(p.Servers), Seed: int64(p.Seed),
		Targets: names, Detect: ScrapeInterval, DetectTimeout: ScrapeTimeout, Timeout: p.Limits.RequestTimeout,
		SampleEvery: max(ScrapeInterval, (w.End / maxSamples).Round(ScrapeInterval)),
	}
	var adapter *policyAdapter
	if p.Routing != nil {
		policy, err := router.New(p.Routing.Policy, router.Options{Seed: p.Seed})
		if err != nil {
			return timeline.Outcome{}, err
		}
		adapter = newPolicyAdapter(policy, names)
		cfg.Router = adapter
	}
	lastFault := map[int]cluster.FaultKind{}
	for _, a := range p.Actions() {
		k, err := p.Server(a.Target)
		if err != nil {
			return timeline.Outcome{}, err
		}
		f := cluster.Fault{At: a.At, Engine: k, For: a.For}
		switch a.Kind {
		case plan.Kill:
			f.Kind = cluster.Kill
		case plan.Stop:
			f.Kind = cluster.Stop
		case plan.Pause:
			f.Kind = cluster.Pause
		case plan.Restore:
			f.Kind = cluster.Restore
		case plan.Restart:
			f.Kind = cluster.Restart
			f.Config = engineConfig(a.Changes.Apply(p.Servers[k].Launch))
		}
		cfg.Faults = append(cfg.Faults, f)
	}
	tp := first.Launch.TPSize
	if tp == 0 {
		tp = prof.TPSize
	}
	gpu := simulator.NewGPUModel(prof).Group(tp)
	prev := make([]*simulator.GPUReading, len(p.Servers))
	var gpus []telemetry.GPU
	cfg.OnSample = func(k int, at time.Duration, s cluster.EngineSample) {
		cur := gpu.Read(s.Elapsed, s.Busy, s.Usage.UsedTokens)
		if prev[k] != nil && cur.Elapsed < prev[k].Elapsed {
			prev[k] = nil // a new incarnation: its counters start again
		}
		gpus = append(gpus, telemetry.SimulatedGPU(k, at, prev[k], cur))
		prev[k] = &cur
		obs.Sample(k, workerstate.Sample{At: at, Running: s.Usage.Running, Queued: s.Usage.Queued,
			UsedTokens: s.Usage.UsedTokens, TokenUsage: s.Metrics.TokenUsage, Throughput: s.Metrics.GenThroughput,
			CacheHitRate: s.Metrics.CacheHitRate, Counters: workerstate.Counters{Requests: float64(s.Requests),
				PromptTokens: float64(s.PromptTokens), GenerationTokens: float64(s.GenerationTokens),
				CachedTokens: float64(s.CachedTokens)}})
	}
	cfg.OnEvent = func(ev cluster.Event) {
		te := timeline.Event{At: ev.At, Target: names[ev.Engine], Away: ev.Away}
		switch ev.Kind {
		case string(cluster.Kill):
			te.Kind, te.Planned = timeline.Killed, true
		case string(cluster.Stop):
			te.Kind, te.Planned = timeline.Stopped, true
		case string(cluster.Pause):
			te.Kind, te.Planned = timeline.Paused, true
		case cluster.EventResumed:
			te.Kind, te.Planned = timeline.Resumed, true
		case cluster.EventRestoring:
			te.Kind, te.Planned = timeline.Restoring, true
			lastFault[ev.Engine] = cluster.Restore
		case cluster.EventRestarting:
			te.Kind, te.Planned = timeline.Restarting, true
			lastFault[ev.Engine] = cluster.Restart
		case cluster.EventReady:
			te.Kind = timeline.Restored
			if lastFault[ev.Engine] == cluster.Restart {
				te.Kind = timeline.Restarted
			}
		case cluster.EventUnhealthy:
			te.Kind = timeline.Unhealthy
		case cluster.EventHealthy:
			te.Kind = timeline.Healthy
		default:
			te.Kind, te.Detail = timeline.Kind(ev.Kind), "engine event"
		}
		obs.Event(te)
	}
	creqs := make([]cluster.Request, len(w.Requests))
	for i, r := range w.Requests {
		if len(r.InputIDs) == 0 {
			return timeline.Outcome{}, fmt.Errorf("request %d: virtual time needs token-id prompts (random, shared-prefix or trace datasets)", r.Index)
		}
		creqs[i] = cluster.Request{Arrival: w.Offsets[i], InputIDs: r.InputIDs, InputTokens: len(r.InputIDs), OutputTokens: r.OutputTokens}
	}
	for _, s := range p.Servers {
		obs.Event(timeline.Event{Kind: timeline.Started, Target: s.Name, Detail: "virtual engine"})
	}
	obs.Event(timeline.Event{Kind: timeline.LoadStarted})
	var last time.Duration
	err = cluster.Run(cfg, creqs, func(rec metrics.Record) {
		last = max(last, rec.Done)
		obs.Add(rec)
	})
	obs.Event(timeline.Event{At: last, Kind: timeline.LoadFinished})
	if adapter != nil {
		err = errors.Join(err, adapter.err)
	}
	log.Info("virtual run finished", "requests", len(creqs), "engines", len(p.Servers), "simulated", last)
	return timeline.Outcome{Health: load.Health{Valid: true}, GPU: timeline.GPU{Samples: gpus, Source: "simulated"}}, err
}

// engineConfig maps the SGLang flags of a launch configuration onto the
// engine's own configuration, as the simulator's flag parsing does.
func engineConfig(c launcher.Config) simulator.EngineConfig {
	return simulator.EngineConfig{MaxRunningRequests: c.MaxRunningRequests, ChunkedPrefillSize: c.ChunkedPrefillSize,
		MemFractionStatic: c.MemFractionStatic, SchedulePolicy: c.SchedulePolicy, TPSize: c.TPSize}
}

// policyAdapter lets a router.Policy route engines in virtual time: each
// engine the health checks see up becomes a router.Worker whose in-flight
// count is its outstanding requests and whose scraped state is the
// engine's own, read at the decision's instant (fresher than a real
// scrape).
type policyAdapter struct {
	policy  router.Policy
	workers []router.Worker
	healthy []router.Worker
	index   []int
	err     error
}

func newPolicyAdapter(p router.Policy, names []string) *policyAdapter {
	ws := make([]router.Worker, len(names))
	for i, n := range names {
		ws[i].URL = n
	}
	return &policyAdapter{policy: p, workers: ws}
}

// Route implements cluster.Router. A policy error, or no healthy engine,
// ends up in Execute's error; the request goes to engine 0 meanwhile,
// since the simulation cannot stop mid-event.
func (a *policyAdapter) Route(req *cluster.Request, engines []cluster.EngineState) int {
	a.healthy, a.index = a.healthy[:0], a.index[:0]
	for i, e := range engines {
		w := &a.workers[i]
		w.InFlight, w.Running, w.Queued, w.UsedTokens = e.Outstanding, e.Running, e.Waiting, e.UsedTokens
		w.Scraped = true
		if e.MaxTotalTokens > 0 {
			w.TokenUsage = float64(e.UsedTokens) / float64(e.MaxTotalTokens)
		}
		if !e.Down {
			a.healthy = append(a.healthy, *w)
			a.index = append(a.index, i)
		}
	}
	if len(a.healthy) == 0 {
		// Every engine is down: the request goes to one and is refused
		// there, as a real router with no healthy worker answers 503.
		return 0
	}
	j, err := a.policy.Pick(router.Request{Text: router.RoutingText("", req.InputIDs), InputIDs: req.InputIDs}, a.healthy)
	if err == nil && (j < 0 || j >= len(a.healthy)) {
		err = fmt.Errorf("policy picked engine %d of %d", j, len(a.healthy))
	}
	if err != nil {
		a.err = errors.Join(a.err, err)
		return 0
	}
	return a.index[j]
}
