package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/sgltest/sgltest/fixtures"
	"github.com/sgltest/sgltest/internal/launcher"
	"github.com/sgltest/sgltest/internal/live"
	"github.com/sgltest/sgltest/internal/load"
	"github.com/sgltest/sgltest/internal/plan"
	"github.com/sgltest/sgltest/internal/processes"
	"github.com/sgltest/sgltest/internal/report"
	"github.com/sgltest/sgltest/internal/simulator"
	"github.com/sgltest/sgltest/internal/telemetry"
	"github.com/sgltest/sgltest/internal/timeline"
	"github.com/sgltest/sgltest/internal/virtual"
	"github.com/sgltest/sgltest/internal/workerstate"
	"github.com/sgltest/sgltest/router"
)

// Result is a finished run, as the scenario's checks see it.
type Result = report.Result

// Test is one scenario's performance test. Given steps declare servers,
// routing, dataset, client and timeline into a plan; a When step calls
// Send, which resolves and validates the plan, has an executor carry it
// out into a report.Recorder, and keeps the Result; Then steps Check the
// last run (or compare labelled runs).
type Test struct {
	suite     *Suite
	name      string
	servers   []Server
	plan      plan.Plan // what the steps declared; Send resolves a copy
	profile   string    // the scenario's simulator profile; empty: the suite's
	pending   *Arrival  // an arrival declared by a Given, sent by the first Then
	nextLabel string    // the label of the next run, when a step named it

	runs   []*Result
	bounds map[*Result][]report.Bound

	capacity capacityState // capacity.go: sweeps, ramps, searches, setups
	gate     gateState     // gate.go: repeats, baseline comparisons, objectives
	pd       pdState       // pd.go: the prefill and decode servers' transfer settings
}

// executor carries out a plan, streaming the run into obs. Two
// implementations: processes (wall-clock time) and virtual.
type executor interface {
	Execute(ctx context.Context, p *plan.Plan, w plan.Work, obs timeline.Observer) (timeline.Outcome, error)
}

// Result returns the last finished run, or an error saying no run happened.
func (t *Test) Result() (*Result, error) {
	if len(t.runs) == 0 {
		return nil, errors.New("no load has run in this scenario yet: a When step that sends load must come first")
	}
	return t.runs[len(t.runs)-1], nil
}

// Run returns the run labelled label.
func (t *Test) Run(label string) (*Result, error) {
	for _, r := range t.runs {
		if r.Label == label {
			return r, nil
		}
	}
	if r := t.gate.lastOf(label); r != nil {
		return r, nil
	}
	labels := make([]string, len(t.runs))
	for i, r := range t.runs {
		labels[i] = r.Label
	}
	return nil, fmt.Errorf("no run labelled %q in this scenario (runs: %s)", label, strings.Join(labels, ", "))
}

// Close writes each run's judged bounds into its summary. It is
// idempotent, for the scenario's After hook.
func (t *Test) Close() error {
	var errs []error
	for r, b := range t.bounds {
		errs = append(errs, report.WriteVerdict(r, b))
	}
	t.bounds = nil
	return errors.Join(errs...)
}

// Send runs the declared workload with arrival a and writes one run
// directory. The whole plan is resolved and validated before anything
// launches. Every record is written to requests.jsonl as its request
// finishes, and the summary and charts are written even when the run
// fails part-way, so an error loses nothing already measured. A run whose
// client could not keep its schedule, or that stopped early, fails as
// invalid with the reason. label names the run for comparisons (empty:
// the routing policy, or "run N").
func (t *Test) Send(ctx context.Context, a Arrival, label string) (err error) {
	if t.gate.wantsRepeats() {
		return t.sendRepeats(ctx, a, label)
	}
	if label == "" {
		label, t.nextLabel = t.nextLabel, ""
	}
	if label == "" {
		label = fmt.Sprintf("run %d", len(t.runs)+1)
		if t.plan.Routing != nil {
			label = t.plan.Routing.Policy
		}
	}
	if _, err := t.Run(label); err == nil {
		return fmt.Errorf("a run labelled %q already exists in this scenario", label)
	}
	p, err := t.resolve(a, label)
	if err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return err
	}
	for rerun := 0; ; rerun++ {
		res, busy, err := t.play(ctx, p, label)
		if res == nil {
			return err // nothing ran
		}
		if busy && rerun < t.suite.Settings.InvalidReruns && !t.suite.Interrupted() {
			pause := rerunPause(rerun)
			fmt.Fprintf(summaryOut, "note: the run was invalid because the host was too busy, not because of the scenario; "+
				"running it again (rerun %d of %d, %s) after a %s pause: %v\n", rerun+1, t.suite.Settings.InvalidReruns, EnvInvalidReruns, pause, err)
			if sleepCtx(ctx, t.suite.ctx, pause) {
				p.Started = time.Now()
				continue
			}
		}
		t.runs = append(t.runs, res)
		err = errors.Join(err, t.afterRun(res, p))
		if res.File.InvalidVerdict() {
			t.suite.noteInvalid()
		}
		return err
	}
}

// rerunPause is the wait before rerun n+1 of a run the host was too busy
// to measure: 5 s, doubling each time. A busy shared host tends to stay
// busy for a while (a neighbour's burst, steal time), so a try made at once
// mostly lands in the same burst; the pauses of five reruns add to 155 s.
func rerunPause(n int) time.Duration { return 5 * time.Second << n }

// sleepCtx waits d and reports whether it did; false when the step's
// context or the suite's (which a signal ends) ended first.
func sleepCtx(step, suite context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-step.Done():
	case <-suite.Done():
	}
	return false
}

// play runs p once into a new run directory and prints its summary. res
// is nil when nothing ran (err says why); busy is set when the run's only
// fault is that its host was too busy to measure it (load.Health.Busy), so
// the same run may be valid on another try.
func (t *Test) play(ctx context.Context, p *plan.Plan, label string) (res *Result, busy bool, err error) {
	work, err := p.Work()
	if err != nil {
		return nil, false, err
	}
	watch, err := live.Start(t.name+" ("+label+")", len(work.Requests), p.Names())
	if err != nil {
		return nil, false, err
	}
	defer watch.Stop()
	run, err := report.Create(t.suite.Settings.Reports, p.Started.Format("20060102-150405.000")+"-"+slug(t.name+" "+label))
	if err != nil {
		return nil, false, err
	}
	where := func(err error) error {
		if err == nil {
			return nil
		}
		return fmt.Errorf("%w (run: %s)", err, run.Dir())
	}
	logFile, err := os.Create(run.Path("sgltest.log"))
	if err != nil {
		return nil, false, where(err)
	}
	defer func() {
		if cerr := logFile.Close(); cerr != nil {
			err = errors.Join(err, where(fmt.Errorf("closing sgltest.log: %w", cerr)))
			busy = false
		}
	}()
	log := newLogger(logFile, logrus.InfoLevel)

	// The suite's context ends on a signal; a failed write ends this run.
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stopOnSignal := context.AfterFunc(t.suite.ctx, func() { cancel(context.Cause(t.suite.ctx)) })
	defer stopOnSignal()
	rec, err := report.NewRecorder(run, p, t.header(p), func(err error) { cancel(fmt.Errorf("measurements cannot be written: %w", err)) })
	if err != nil {
		return nil, false, where(err)
	}
	var exec executor = &processes.Executor{LogDir: run.Path("logs"), Venv: t.suite.Settings.Venv, Lateness: t.suite.Settings.lateness(), Logger: log}
	if p.Clock == plan.Virtual {
		exec = virtual.Executor{Logger: log}
	}
	out, execErr := exec.Execute(runCtx, p, work, timeline.Fanout{rec, watch})
	watch.Stop()
	if t.suite.Interrupted() {
		out.Interrupted = true
	}
	res, closeErr := rec.Close(label, out)
	fmt.Fprint(summaryOut, report.FormatText(res.File))
	if res.Routing != nil && len(p.Servers) > 1 {
		fmt.Fprint(summaryOut, res.Routing.Text())
	}
	err = errors.Join(execErr, closeErr)
	f := res.File
	// Busy: the client's or the simulators' self-check is the only reason
	// the run is invalid, and nothing else went wrong.
	busy = err == nil && !out.Interrupted && f.Stopped == "" && !f.Valid && !out.Health.Valid &&
		out.Health.Busy && f.Invalid == out.Health.Reason
	// A stop comes first, as in the verdict (report.SummaryFile.Verdict);
	// the run's invalidity is still said after it.
	var invalid error
	switch {
	case f.Valid:
	case !out.Health.Valid && strings.Contains(f.Invalid, out.Health.Reason):
		invalid = fmt.Errorf("%s; the figures would measure the client, not the server", f.Invalid)
	default:
		invalid = errors.New(f.Invalid)
	}
	switch {
	case out.Interrupted:
		err = errors.Join(errors.New("interrupted by signal"), err)
	case f.Stopped != "":
		err = errors.Join(fmt.Errorf("the run stopped early: %s", f.Stopped), invalid, err)
	default:
		err = errors.Join(invalid, err)
	}
	return res, busy, where(err)
}

// resolve turns what the steps declared into a plan for one run: the
// servers' launch configurations, the client's self-check bounds, the
// limits and the clock.
func (t *Test) resolve(a Arrival, label string) (*plan.Plan, error) {
	p := t.plan // a copy: each run resolves its own
	p.Scenario, p.Label, p.Arrival, p.Started = t.name, label, a, time.Now()
	p.Arrival.RateString = plan.RateString(a.Rate)
	if p.Clock == "" {
		p.Clock = plan.Wall
	}
	if p.Limits.Grace == 0 {
		p.Limits.Grace = plan.DefaultGrace
	}
	if p.Limits.StallAfter == 0 {
		p.Limits.StallAfter = plan.DefaultStallAfter
	}
	if p.Limits.GPUInterval == 0 {
		p.Limits.GPUInterval = telemetry.DefaultInterval
	}
	if p.Limits.ReadyTimeout == 0 {
		p.Limits.ReadyTimeout = t.suite.Settings.ReadyTimeout
	}
	p.Client.Bounds = t.selfCheck()
	if r := t.plan.Routing; r != nil {
		rc := *r
		p.Routing = &rc
		if rc.Via != plan.ViaDispatcher {
			info, err := t.suite.routerInfo(rc.Via)
			if err != nil {
				return nil, err
			}
			if err := info.CheckPolicy(rc.Policy); err != nil {
				return nil, err
			}
			if err := t.checkPD(&rc, info); err != nil {
				return nil, err
			}
			rc.Installed = info.Package + " " + info.Version
		}
	}
	p.Timeline = append([]plan.Action(nil), t.plan.Timeline...)
	p.Servers = nil
	if d := t.plan.Deployment; d != nil {
		dep := *d
		p.Deployment = &dep
		workers, isRouter, err := launcher.Discover(t.suite.ctx, dep.URL, os.Getenv(dep.APIKeyEnv))
		if err != nil {
			return nil, err
		}
		dep.Router = isRouter
		for i, w := range workers {
			p.Servers = append(p.Servers, plan.Server{Name: plan.ServerName(i), External: w})
		}
	}
	for _, s := range t.servers {
		ps, err := t.serverPlan(len(p.Servers), s, p.Clock)
		if err != nil {
			return nil, err
		}
		p.Servers = append(p.Servers, ps)
	}
	return &p, nil
}

// serverPlan resolves server i's launch configuration.
func (t *Test) serverPlan(i int, s Server, clock plan.Clock) (plan.Server, error) {
	set := t.suite.Settings
	ps := plan.Server{Name: plan.ServerName(i)}
	cfg := launcher.Config{
		Name:               ps.Name,
		Backend:            set.Backend,
		ModelPath:          set.Model,
		MaxRunningRequests: s.MaxRunningRequests,
		TPSize:             s.TPSize,
		ChunkedPrefillSize: s.ChunkedPrefillSize,
		SchedulePolicy:     s.SchedulePolicy,
		MemFractionStatic:  s.MemFractionStatic,
		DPSize:             s.DPSize,
		LoadBalanceMethod:  s.LoadBalanceMethod,
	}
	if s.Simulated {
		cfg.Backend = launcher.BackendSim
	}
	t.pdLaunch(&cfg, s)
	switch cfg.Backend {
	case launcher.BackendSim:
		profile := t.Profile()
		prof, err := simulatorProfile(profile)
		if err != nil {
			return ps, err
		}
		ps.Profile = profile
		if clock == plan.Wall {
			bin, err := t.suite.binary()
			if err != nil {
				return ps, err
			}
			cfg.SimBinary = bin
		} else {
			cfg.SimBinary = "(virtual time: no process)"
		}
		if cfg.ModelPath == "" {
			cfg.ModelPath = prof.Model.Name
		}
		// Each simulator gets its own seed so N of them do not jitter in step.
		cfg.ExtraArgs = []string{"--sim-profile", profile, "--random-seed", fmt.Sprint(t.plan.Seed + uint64(i))}
	case launcher.BackendSGLang:
		cfg.Python = set.Python
		// Each server takes the next GPUCount ids of SGLTEST_GPUS: a data
		// parallel or tensor parallel server holds several.
		first := 0
		for _, prev := range t.servers[:min(i, len(t.servers))] {
			first += launcher.Config{TPSize: prev.TPSize, DPSize: prev.DPSize}.GPUCount()
		}
		gpus, err := launcher.PickGPUs(set.GPUs, first, cfg.GPUCount())
		if err != nil {
			return ps, fmt.Errorf("%s: SGLTEST_GPUS: %w", ps.Name, err)
		}
		cfg.GPUs = gpus
	}
	ps.Launch = cfg
	return ps, nil
}

// header describes the run for the summary.
func (t *Test) header(p *plan.Plan) report.Header {
	h := report.Header{Model: p.Servers[0].Launch.ModelPath, MaxRunningRequests: p.Servers[0].Launch.MaxRunningRequests,
		RequestRate: p.Arrival.Rate, Arrival: p.Arrival.Describe()}
	if d := p.Deployment; d != nil {
		h.Model, h.GPU = "as the deployment serves it", "the deployment's"
		h.Routing = "the deployment at " + d.URL
		if d.Router {
			h.Routing = "the deployment's router at " + d.URL
		}
		return h
	}
	if p.Arrival.Kind == plan.ArriveTrace {
		h.Arrival = fmt.Sprintf("the trace's own timestamps at %g× speed", 1/p.Dataset.TraceScale)
	}
	switch s := p.Servers[0]; {
	case s.Launch.Backend == launcher.BackendSim:
		gpu := s.Profile
		if prof, err := simulatorProfile(s.Profile); err == nil {
			gpu = prof.GPU.Name
		}
		h.GPU = fmt.Sprintf("simulated %s (profile %s)", gpu, s.Profile)
	case len(s.Launch.GPUs) > 0:
		h.GPU = fmt.Sprintf("GPU %d", s.Launch.GPUs[0])
	default:
		h.GPU = "as CUDA_VISIBLE_DEVICES allows"
	}
	if n := len(p.Servers); n > 1 {
		h.GPU = fmt.Sprintf("%d × %s", n, h.GPU)
	}
	if p.Clock == plan.Virtual {
		h.Clock = "virtual (simulated time, no HTTP)"
	}
	if r := p.Routing; r != nil {
		who := map[string]string{plan.ViaDispatcher: "sgltest's dispatcher", plan.ViaSGLangRouter: "sglang-router", plan.ViaSMG: "smg"}[r.Via]
		if r.Installed != "" {
			who = r.Installed
		}
		h.Routing = fmt.Sprintf("%s, policy %s", who, r.Policy)
		if r.Via == plan.ViaDispatcher {
			iv := r.LoadInterval
			if policy, err := router.New(r.Policy, router.Options{}); err == nil && iv == 0 {
				iv = router.LoadInterval(policy) // the real router's poll interval
			}
			if iv > 0 {
				h.Routing += fmt.Sprintf(", loads refreshed every %v", iv)
			}
		}
	}
	pdHeader(p, &h)
	return h
}

// SendDirectAndRouted measures what the real router adds: the same
// workload is sent straight to the one declared server (run "direct"),
// then through the router with policy in front of a fresh copy of it
// (run "router").
func (t *Test) SendDirectAndRouted(ctx context.Context, a Arrival, via, policy string) error {
	if len(t.servers) != 1 {
		return fmt.Errorf("measuring router overhead needs exactly one server, %d declared", len(t.servers))
	}
	t.plan.Routing = nil
	if err := t.Send(ctx, a, "direct"); err != nil {
		return err
	}
	if err := t.SetRouting(Routing{Via: via, Policy: policy}); err != nil {
		return err
	}
	return t.Send(ctx, a, "router")
}

// bounds resolves the client self-check's limits: the scenario's sentence,
// else the suite's setting, else (under -race) the race default, else the
// load generator's own defaults.
func (t *Test) selfCheck() load.Bounds {
	set := t.suite.Settings
	b := t.plan.Client.Bounds
	if b.MaxScheduleLag == 0 {
		b.MaxScheduleLag = set.MaxScheduleLag
	}
	if b.MaxCPUBusy == 0 {
		b.MaxCPUBusy = set.MaxCPUBusy
	}
	if raceBuild && b.MaxScheduleLag == 0 {
		// The race detector slows the client several-fold: a -race run checks
		// behaviour, not speed, so its self-check allows it more lateness.
		b.MaxScheduleLag = raceScheduleLag
	}
	return b
}

// lateness is the simulators' self-check bound: the suite's fraction of
// late steps, if set, at the default lateness.
func (s Settings) lateness() workerstate.LatenessBound {
	b := workerstate.DefaultLatenessBound
	if s.MaxLateSteps > 0 {
		b.MaxFraction = s.MaxLateSteps
	}
	return b
}

// raceScheduleLag is the default p99 schedule-lag bound under -race.
const raceScheduleLag = 100 * time.Millisecond

// summaryOut receives the printed summary; stdout, as the seeds show it.
var summaryOut io.Writer = os.Stdout

var nonWord = regexp.MustCompile(`[^a-z0-9]+`)

func slug(s string) string {
	s = strings.Trim(nonWord.ReplaceAllString(strings.ToLower(s), "-"), "-")
	if len(s) > 60 {
		s = strings.TrimRight(s[:60], "-")
	}
	if s == "" {
		s = "run"
	}
	return s
}

// simulatorProfile loads a simulator profile by name or path.
func simulatorProfile(name string) (simulator.Profile, error) { return simulator.LoadProfile(name) }

// DefaultDataset is what a scenario that names no prompts sends: ten
// seconds of its rate (at least 100 prompts) from the ShareGPT-shaped
// fixture (fixtures/sharegpt/README.md), as bench_serving defaults to
// ShareGPT.
func DefaultDataset(rate float64) (Dataset, error) {
	n := 100
	if !math.IsInf(rate, 1) && rate*10 > float64(n) {
		n = int(math.Ceil(rate * 10))
	}
	path, err := defaultShareGPT()
	return Dataset{ShareGPT: &load.ShareGPT{Path: path, Count: n}}, err
}

// defaultShareGPT returns the path of the ShareGPT-shaped fixture: the
// checked-in file when run from the repository, else the binary's embedded
// copy written once to the user's cache directory.
func defaultShareGPT() (string, error) {
	const repo = "fixtures/sharegpt/generated.json"
	if _, err := os.Stat(repo); err == nil {
		return repo, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no ShareGPT fixture: %s is missing and there is no cache directory to unpack it to: %w", repo, err)
	}
	path := filepath.Join(cache, "sgltest", "sharegpt-generated.json")
	if b, err := os.ReadFile(path); err == nil && bytes.Equal(b, fixtures.ShareGPT) {
		return path, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".sharegpt-*")
	if err != nil {
		return "", err
	}
	_, werr := tmp.Write(fixtures.ShareGPT)
	if err := errors.Join(werr, tmp.Close()); err != nil {
		_ = os.Remove(tmp.Name()) // err already says what went wrong
		return "", err
	}
	return path, os.Rename(tmp.Name(), path)
}
