package processes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sgltest/sgltest/internal/dispatch"
	"github.com/sgltest/sgltest/internal/launcher"
	"github.com/sgltest/sgltest/internal/load"
	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/plan"
	"github.com/sgltest/sgltest/internal/routermetrics"
	"github.com/sgltest/sgltest/internal/timeline"
	"github.com/sgltest/sgltest/internal/workerstate"
	"github.com/sgltest/sgltest/router"
)

// ScrapeInterval is how often every server's /metrics is read during a run:
// the state dispatcher policies see, the per-server series, and the health
// checks that notice a server gone.
const ScrapeInterval = 250 * time.Millisecond

// Executor runs plans with real processes in wall-clock time.
type Executor struct {
	// LogDir receives each process's output as <name>.log.
	LogDir string
	// Venv is the directory holding the real router's environments
	// (sglang-router/ and smg/), as `make venv` makes them.
	Venv string
	// Lateness bounds how far behind its step schedule a simulated server
	// may fall before the run is invalid; the zero value is
	// workerstate.DefaultLatenessBound.
	Lateness workerstate.LatenessBound
	Logger   *slog.Logger
}

// ErrInterrupted is the cause a suite gives its context when a signal
// stops it; Execute then reports the run as interrupted.
var ErrInterrupted = errors.New("interrupted by signal")

// Execute launches p's servers, plays w against them and streams
// everything into obs. It returns once every process it started is gone.
// The Outcome says whether the run ran to its end; the error is for what
// kept it from starting or from being measured (a server that would not
// start, a router that is not installed).
func (e *Executor) Execute(ctx context.Context, p *plan.Plan, w plan.Work, obs timeline.Observer) (out timeline.Outcome, err error) {
	x := &execution{p: p, w: w, obs: obs, log: e.Logger, venv: e.Venv, lateness: e.Lateness, provisional: time.Now()}
	if x.lateness == (workerstate.LatenessBound{}) {
		x.lateness = workerstate.DefaultLatenessBound
	}
	if x.log == nil {
		x.log = slog.New(slog.DiscardHandler)
	}
	x.l = launcher.New(e.LogDir, x.log)
	if p.Limits.ReadyTimeout > 0 {
		x.readyTimeout = p.Limits.ReadyTimeout
	}
	defer func() {
		x.ending.Store(true)
		err = errors.Join(err, x.l.StopAll())
	}()
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	x.cancel = cancel
	return x.run(ctx, runCtx)
}

// execution is one Execute's state.
type execution struct {
	p            *plan.Plan
	w            plan.Work
	obs          timeline.Observer
	log          *slog.Logger
	venv         string
	l            *launcher.Launcher
	readyTimeout time.Duration
	lateness     workerstate.LatenessBound
	cancel       context.CancelCauseFunc

	// provisional is when Execute began; start, once the load generator
	// took its start instant, the run's time base.
	provisional time.Time
	start       atomic.Pointer[time.Time]
	ending      atomic.Bool // the run is over: exits are ours

	targets    []*target // the servers, in plan order
	router     *target   // the real router, when there is one
	scraper    *workerstate.Scraper
	dispatcher *dispatch.Dispatcher
	// routerBefore is the real router's /metrics when the load began.
	routerBefore routermetrics.Sample
	routerErr    error

	mu      sync.Mutex
	pending []timeline.Event // before the start instant, in order
	samples []pendingSample
	stopped error // the first reason the run stopped early
}

type pendingSample struct {
	i int
	s workerstate.Sample
}

// now is the offset from the start instant, or (before it) from when
// Execute began.
func (x *execution) now() time.Duration {
	if s := x.start.Load(); s != nil {
		return time.Since(*s)
	}
	return time.Since(x.provisional)
}

// event sends ev now, or keeps it until the start instant is known.
func (x *execution) event(ev timeline.Event) {
	x.mu.Lock()
	if x.start.Load() == nil {
		x.pending = append(x.pending, ev)
		x.mu.Unlock()
		return
	}
	x.mu.Unlock()
	x.log.Info("event", "event", ev.String())
	x.obs.Event(ev)
}

// sample sends a scrape now, or keeps it until the start instant is known.
func (x *execution) sample(i int, s workerstate.Sample) {
	x.targets[i].scraped()
	x.mu.Lock()
	if x.start.Load() == nil {
		x.samples = append(x.samples, pendingSample{i, s})
		x.mu.Unlock()
		return
	}
	x.mu.Unlock()
	x.obs.Sample(i, s)
}

// begin is the load generator's start instant: what happened before it is
// sent with its offset from it (negative), and the timeline starts.
func (x *execution) begin(start time.Time) {
	x.mu.Lock()
	shift := start.Sub(x.provisional)
	x.start.Store(&start)
	pending, samples := x.pending, x.samples
	x.pending, x.samples = nil, nil
	x.mu.Unlock()
	for _, ev := range pending {
		ev.At -= shift
		x.obs.Event(ev)
	}
	for _, s := range samples {
		s.s.At -= shift
		x.obs.Sample(s.i, s.s)
	}
	x.obs.Event(timeline.Event{Kind: timeline.LoadStarted})
}

// stop ends the run early with why, once; later reasons are logged only.
func (x *execution) stop(why error) {
	x.mu.Lock()
	first := x.stopped == nil
	if first {
		x.stopped = why
	}
	x.mu.Unlock()
	if first {
		x.event(timeline.Event{At: x.now(), Kind: timeline.Stopping, Detail: why.Error()})
		x.cancel(why)
	}
}

func (x *execution) run(parent, ctx context.Context) (timeline.Outcome, error) {
	if err := x.startServers(ctx); err != nil {
		return x.outcome(parent, load.Health{}), err
	}
	urls := make([]string, len(x.targets))
	for i, t := range x.targets {
		urls[i] = t.url()
	}
	scr, err := workerstate.New(urls, ScrapeInterval, x.now, x.log)
	if err != nil {
		return x.outcome(parent, load.Health{}), err
	}
	scr.Observe = x.sample
	x.scraper = scr
	if err := scr.ScrapeOnce(ctx); err != nil {
		return x.outcome(parent, load.Health{}), fmt.Errorf("reading the servers' /metrics before the run: %w", err)
	}

	client := &load.Client{HTTP: load.NewHTTPClient(), API: x.p.Client.API, NoStream: x.p.Client.NoStream}
	if d := x.p.Deployment; d != nil && d.APIKeyEnv != "" {
		client.APIKey = os.Getenv(d.APIKeyEnv)
	}
	gen := &load.Generator{
		Client:    client,
		RIDPrefix: "sgltest-", Logger: x.log, MaxConcurrency: x.p.Arrival.MaxInFlight, Warmup: x.p.Client.Warmup,
		Bounds: x.p.Client.Bounds, RequestTimeout: x.p.Limits.RequestTimeout, Discard: true,
	}
	switch r := x.p.Routing; {
	case x.p.Deployment != nil:
		gen.Target = x.p.Deployment.URL
	case r == nil:
		gen.Target = urls[0]
	case r.Via == plan.ViaDispatcher:
		policy, err := router.New(r.Policy, router.Options{Seed: x.p.Seed})
		if err != nil {
			return x.outcome(parent, load.Health{}), err
		}
		d, err := dispatch.New(policy, urls, x.log)
		if err != nil {
			return x.outcome(parent, load.Health{}), err
		}
		d.State = scr
		d.Now = x.now
		if r.LoadInterval > 0 {
			if err := d.SetLoadInterval(r.LoadInterval); err != nil {
				return x.outcome(parent, load.Health{}), err
			}
		}
		if r.ByConversation {
			d.Key = func(req load.Request) string { return strconv.Itoa(req.Group) }
		}
		x.dispatcher = d
		gen.Route = d.Route
	default:
		if err := x.startRouter(ctx, urls); err != nil {
			return x.outcome(parent, load.Health{}), err
		}
		gen.Target = x.router.url()
		x.routerBefore, x.routerErr = x.scrapeRouter(ctx)
	}

	var bg sync.WaitGroup
	watchCtx, stopWatching := context.WithCancel(ctx)
	var gpus *gpuWatch
	gen.OnStart = func(start time.Time) {
		x.begin(start)
		// The first GPU sample scrapes every server (or calls NVML): started
		// here, it would make the first arrivals late.
		bg.Go(func() { gpus = x.startGPUs(watchCtx, x.p.Limits.GPUInterval) })
		bg.Go(func() { x.applyTimeline(watchCtx) })
		bg.Go(func() { x.watchHealth(watchCtx) })
		bg.Go(func() { x.deadline(watchCtx) })
	}
	bg.Go(func() { _ = scr.Run(watchCtx) }) // failed scrapes show in the health checks
	sink := func(r metrics.Record) error { x.obs.Add(r); return nil }
	res, playErr := gen.Play(ctx, x.w.Requests, x.w.Schedule, sink)
	end := x.now()
	x.ending.Store(true)
	stopWatching()
	bg.Wait()
	if x.start.Load() == nil { // the warmup failed or the run was stopped before it began
		x.begin(time.Now())
	}
	x.event(timeline.Event{At: end, Kind: timeline.LoadFinished})
	out := x.outcome(parent, res.Health)
	if gpus != nil {
		out.GPU = gpus.stop()
	}
	if x.router != nil {
		x.routerDelta(parent, &out)
	}
	if out.Stopped != nil {
		// The run's context ended on purpose: Play's error is that.
		playErr = nil
	}
	finalErr := x.finalScrape(parent)
	if finalErr == nil {
		x.checkLateness(&out)
	}
	return out, errors.Join(playErr, finalErr)
}

// checkLateness is the simulator's half of the self-check: a simulated
// server that ran its engine steps late (its host was too busy) produced
// latencies its model did not, so the run is invalid. Servers a timeline
// action touched are left out, as a restart resets their counters; real
// SGLang has no such histogram and is skipped by CheckLateness.
func (x *execution) checkLateness(out *timeline.Outcome) {
	if x.scraper == nil || out.Stopped != nil {
		return
	}
	diffs, err := x.scraper.Diff()
	if err != nil {
		x.log.Warn("step lateness not checked", "err", err)
		return
	}
	for _, t := range x.targets {
		for _, a := range x.p.Timeline {
			if a.Target == t.name {
				delete(diffs, t.url())
			}
		}
	}
	valid, reason, verdicts, err := workerstate.CheckLateness(diffs, x.lateness)
	if err != nil {
		x.log.Warn("step lateness not checked", "err", err)
		return
	}
	var judged []workerstate.LatenessVerdict
	for _, v := range verdicts {
		if v.Steps > 0 {
			judged = append(judged, v)
		}
	}
	if len(judged) > 0 {
		out.Steps = &timeline.StepCheck{Bound: x.lateness, Servers: judged}
	}
	if !valid {
		out.Health.InvalidateBusy(strings.TrimPrefix(reason, "invalid run: "))
	}
}

// outcome says how the run ended.
func (x *execution) outcome(parent context.Context, h load.Health) timeline.Outcome {
	if !h.Valid && h.Reason == "" {
		// No load was played: the run failed before (its error says why),
		// and there are no figures to trust.
		h.Invalidate("no load was sent")
	}
	out := timeline.Outcome{Health: h}
	x.mu.Lock()
	out.Stopped = x.stopped
	x.mu.Unlock()
	if parent.Err() != nil {
		out.Interrupted = errors.Is(context.Cause(parent), ErrInterrupted)
		if out.Stopped == nil {
			out.Stopped = context.Cause(parent)
		}
	}
	return out
}

// finalScrape reads every server once more, so the counters cover the
// whole run. A failed scrape of a server down by plan is excused, as is
// any after a run that stopped early.
func (x *execution) finalScrape(parent context.Context) error {
	if x.scraper == nil || parent.Err() != nil {
		return nil
	}
	x.mu.Lock()
	stopped := x.stopped != nil
	x.mu.Unlock()
	var errs []error
	for i, err := range x.scraper.ScrapeEach(parent) {
		if err != nil && x.targets[i].expectUp() && !stopped {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("reading the servers' /metrics after the run: %w", errors.Join(errs...))
	}
	return nil
}

// startServers starts every server at once (real SGLang takes minutes
// each) and watches each.
func (x *execution) startServers(ctx context.Context) error {
	x.targets = make([]*target, len(x.p.Servers))
	errs := make([]error, len(x.p.Servers))
	var wg sync.WaitGroup
	for i, s := range x.p.Servers {
		t := &target{x: x, name: s.Name, index: i, cfg: s.Launch, external: s.External}
		if x.readyTimeout > 0 {
			t.cfg.ReadyTimeout = x.readyTimeout
		}
		x.targets[i] = t
		if s.External != "" {
			t.lastOK = time.Now()
			x.event(timeline.Event{At: x.now(), Kind: timeline.Started, Target: s.Name, URL: s.External, Detail: "already running"})
			continue
		}
		wg.Go(func() { errs[i] = t.startServer(ctx, timeline.Started, 0) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// startRouter starts the real router in front of urls.
func (x *execution) startRouter(ctx context.Context, urls []string) error {
	pkg, module := "sglang-router", launcher.RouterModuleSGLang
	if x.p.Routing.Via == plan.ViaSMG {
		pkg, module = "smg", launcher.RouterModuleSMG
	}
	py := filepath.Join(x.venv, pkg, "bin", "python")
	if _, err := os.Stat(py); err != nil {
		return fmt.Errorf("the real router (%s) is not installed at %s: run `make venv`, or set SGLTEST_VENV to the directory holding %s/", pkg, py, pkg)
	}
	x.router = &target{x: x, name: plan.RouterTarget, index: -1, router: true,
		rcfg: launcher.RouterConfig{Name: plan.RouterTarget, Python: py, Module: module, Workers: routerWorkers(x.p, urls),
			Policy: x.p.Routing.Policy, PD: x.pdRouting()}}
	if err := x.router.startRouter(ctx, timeline.Started, 0); err != nil {
		return fmt.Errorf("starting the router: %w", err)
	}
	return nil
}

// scrapeRouter reads the real router's own /metrics.
func (x *execution) scrapeRouter(ctx context.Context) (routermetrics.Sample, error) {
	x.router.mu.Lock()
	cfg := x.router.rcfg // ports resolved when it started
	x.router.mu.Unlock()
	host := cfg.Host
	if host == "" {
		host = launcher.DefaultHost
	}
	metrics := "http://" + net.JoinHostPort(host, strconv.Itoa(cfg.PrometheusPort)) + "/metrics"
	client := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 5 * time.Second}
	return routermetrics.Scrape(ctx, client, metrics, x.now)
}

// routerDelta sets what the router counted over the run: its /metrics now
// minus when the load began. A router restarted during the run counts from
// zero again, so the difference then covers its last life only, and says so.
func (x *execution) routerDelta(ctx context.Context, out *timeline.Outcome) {
	if x.routerErr != nil {
		out.RouterErr = "reading the router's /metrics before the run: " + x.routerErr.Error()
		return
	}
	after, err := x.scrapeRouter(ctx)
	if err != nil {
		out.RouterErr = "reading the router's /metrics after the run: " + err.Error()
		return
	}
	d := after.Sub(x.routerBefore)
	if after.Requests < x.routerBefore.Requests {
		d = after
		out.RouterErr = "the router restarted during the run: its figures cover its last start only"
	}
	out.Router = &d
}
