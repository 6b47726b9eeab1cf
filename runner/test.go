package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/sgltest/sgltest/internal/launcher"
	"github.com/sgltest/sgltest/internal/load"
	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/report"
	"github.com/sgltest/sgltest/internal/simulator"
)

// Server is one server a scenario declares.
type Server struct {
	// Simulated forces the embedded simulator whatever the suite's backend.
	Simulated bool `json:"simulated"`
	// MaxRunningRequests is --max-running-requests; 0 leaves the server's
	// default.
	MaxRunningRequests int `json:"max_running_requests,omitempty"`
}

// Result is what a finished run left behind.
type Result struct {
	Label   string
	Dir     string
	Records []metrics.Record
	Summary metrics.Summary
	Health  load.Health
	Routing *RoutingResult
}

// Test is one scenario's performance test. Given steps declare servers,
// routing, dataset and client; a When step calls Run; Then steps Check
// the last run (or compare labelled runs).
type Test struct {
	suite   *Suite
	name    string
	servers []Server
	routing *Routing
	dataset *Dataset
	client  Client
	seed    uint64
	virtual bool

	runs    []*Result
	running *launcher.Launcher
}

// AddServers declares n identical servers. Servers start when Run starts.
func (t *Test) AddServers(n int, s Server) error {
	if n <= 0 {
		return fmt.Errorf("server count must be positive, got %d", n)
	}
	if s.MaxRunningRequests < 0 {
		return fmt.Errorf("max running requests must be positive, got %d", s.MaxRunningRequests)
	}
	for range n {
		t.servers = append(t.servers, s)
	}
	return nil
}

// SetDataset declares what prompts are sent.
func (t *Test) SetDataset(d Dataset) { t.dataset = &d }

// ScaleTrace stretches the declared trace's timestamps by scale (0.5
// replays twice as fast).
func (t *Test) ScaleTrace(scale float64) error {
	if t.dataset == nil || t.dataset.Trace == "" {
		return errors.New("no trace declared: a Given step must name the trace to replay")
	}
	t.dataset.TraceScale = scale
	return nil
}

// SetSeed seeds the dataset, the arrivals and the simulators.
func (t *Test) SetSeed(seed uint64) { t.seed = seed }

// SetClient declares how requests are sent.
func (t *Test) SetClient(c Client) { t.client = c }

// Client returns the client settings declared so far.
func (t *Test) Client() Client { return t.client }

// SetRouting declares how requests are spread over the servers.
func (t *Test) SetRouting(r Routing) error {
	if err := r.validate(); err != nil {
		return err
	}
	t.routing = &r
	return nil
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
	labels := make([]string, len(t.runs))
	for i, r := range t.runs {
		labels[i] = r.Label
	}
	return nil, fmt.Errorf("no run labelled %q in this scenario (runs: %s)", label, strings.Join(labels, ", "))
}

// Close stops anything the test still runs. It is idempotent, for the
// scenario's After hook.
func (t *Test) Close() error {
	if t.running == nil {
		return nil
	}
	err := t.running.StopAll()
	t.running = nil
	return err
}

// runConfig is the resolved configuration written to config.json.
type runConfig struct {
	Scenario string            `json:"scenario"`
	Label    string            `json:"label,omitempty"`
	Servers  []launcher.Config `json:"servers"`
	Argv     [][]string        `json:"argv"`
	Routing  *Routing          `json:"routing,omitempty"`
	Router   []string          `json:"router_argv,omitempty"`
	Dataset  *Dataset          `json:"dataset"`
	Arrival  Arrival           `json:"arrival"`
	Client   Client            `json:"client"`
	Seed     uint64            `json:"seed"`
	Clock    string            `json:"clock"`
	Started  time.Time         `json:"started"`
}

// Send runs the declared workload with arrival a against freshly started
// servers and writes one run directory. Every record is written to
// requests.jsonl as its request finishes, and the summary and charts are
// written even when the run fails part-way, so an error loses nothing
// already measured. A run whose client could not keep its schedule fails
// as invalid, naming the measured lag. label names the run for comparisons
// (empty: the routing policy, or "run N").
func (t *Test) Send(ctx context.Context, a Arrival, label string) (err error) {
	switch {
	case len(t.servers) == 0:
		return errors.New("no server declared: a Given step must declare a server before load is sent")
	case len(t.servers) > 1 && t.routing == nil && !t.virtual:
		return fmt.Errorf("%d servers declared but no routing: a Given step must say how requests are routed", len(t.servers))
	case t.dataset == nil:
		return errors.New("no dataset declared: a step must say what prompts are sent")
	}
	if label == "" {
		label = fmt.Sprintf("run %d", len(t.runs)+1)
		if t.routing != nil {
			label = t.routing.Policy
		}
	}
	if _, err := t.Run(label); err == nil {
		return fmt.Errorf("a run labelled %q already exists in this scenario", label)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopOnSignal := context.AfterFunc(t.suite.ctx, cancel)
	defer stopOnSignal()

	reqs, err := t.dataset.requests(t.seed)
	if err != nil {
		return err
	}
	sched, err := a.schedule(len(reqs), t.seed, t.dataset)
	if err != nil {
		return err
	}
	if o, ok := sched.(load.Offsets); ok && len(o) < len(reqs) {
		reqs = reqs[:len(o)] // phases fixed the count; the rest of the prompts are not sent
	}
	a.RateString = rateString(a.Rate)

	started := time.Now()
	run, err := report.Create(t.suite.Settings.Reports, started.Format("20060102-150405.000")+"-"+slug(t.name+" "+label))
	if err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(run.Dir(), "sgltest.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	log := newLogger(logFile, logrus.InfoLevel)
	where := func(err error) error {
		if err == nil {
			return nil
		}
		return fmt.Errorf("%w (run: %s)", err, run.Dir())
	}

	cfgs := make([]launcher.Config, len(t.servers))
	var header report.Header
	for i, s := range t.servers {
		if cfgs[i], header, err = t.serverConfig(i, s); err != nil {
			return where(err)
		}
	}
	header.RequestRate = a.Rate
	header.Arrival = a.describe()
	rc := runConfig{Scenario: t.name, Label: label, Routing: t.routing, Dataset: t.dataset, Arrival: a,
		Client: t.client, Seed: t.seed, Clock: ClockWall, Started: started}
	if t.virtual {
		rc.Clock = ClockVirtual
		header.Clock = "virtual (simulated time, no HTTP)"
		return where(t.sendVirtual(run, header, rc, reqs, a, label))
	}
	writeConfig := func(cs []launcher.Config) error {
		rc.Servers, rc.Argv = cs, nil
		for _, c := range cs {
			argv, _, err := c.Command()
			if err != nil {
				return err
			}
			rc.Argv = append(rc.Argv, argv)
		}
		return run.WriteConfig(rc)
	}

	t.running = launcher.New(filepath.Join(run.Dir(), "logs"), log)
	defer func() { err = errors.Join(err, where(t.Close())) }()
	servers, err := startAll(ctx, t.running, cfgs)
	if err != nil {
		return where(errors.Join(err, writeConfig(cfgs)))
	}
	started2 := make([]launcher.Config, len(servers))
	urls := make([]string, len(servers))
	for i, s := range servers {
		started2[i], urls[i] = s.Config(), s.URL()
	}
	// Written once the servers run, so the argv shows the ports actually used.
	if err := writeConfig(started2); err != nil {
		return where(err)
	}

	rw, err := run.Requests()
	if err != nil {
		return where(err)
	}
	client := &load.Client{HTTP: load.NewHTTPClient(), API: t.client.API, NoStream: t.client.NoStream}
	gen := &load.Generator{
		Client: client, RIDPrefix: "sgltest-", Logger: log,
		MaxConcurrency: a.MaxInFlight, Warmup: t.client.Warmup,
		Bounds: t.bounds(),
	}
	res, routed, loadErr := t.send(ctx, run, log, gen, urls, reqs, sched, rw.Write, &rc)
	loadErr = errors.Join(loadErr, rw.Close())

	writeErr := t.finish(run, header, label, res, routed)
	if t.suite.Interrupted() {
		loadErr = errors.Join(errors.New("interrupted by signal"), loadErr)
	}
	if loadErr == nil && len(res.Records) > 0 && !res.Health.Valid {
		loadErr = fmt.Errorf("%s; the figures would measure the client, not the server", res.Health.Reason)
	}
	return where(errors.Join(loadErr, writeErr))
}

// finish summarises a run, keeps its Result, and writes its files.
func (t *Test) finish(run *report.Run, header report.Header, label string, res load.Result, routed *RoutingResult) error {
	sum := metrics.Summarize(res.Records)
	t.runs = append(t.runs, &Result{Label: label, Dir: run.Dir(), Records: res.Records, Summary: sum, Health: res.Health, Routing: routed})
	header.Dir = run.Dir()
	err := run.WriteSummary(sum, header)
	if _, cerr := run.WriteCharts(res.Records); cerr != nil {
		err = errors.Join(err, cerr)
	}
	fmt.Fprint(summaryOut, report.FormatText(sum, header))
	if routed != nil {
		err = errors.Join(err, writeRouting(run, routed))
		if len(t.servers) > 1 {
			fmt.Fprint(summaryOut, routed.Text())
		}
	}
	return err
}

// sendVirtual is Send in virtual time: no process, no HTTP.
func (t *Test) sendVirtual(run *report.Run, header report.Header, rc runConfig, reqs []load.Request, a Arrival, label string) error {
	if err := run.WriteConfig(rc); err != nil {
		return err
	}
	rw, err := run.Requests()
	if err != nil {
		return err
	}
	res, err := t.playVirtual(reqs, a, rw.Write)
	err = errors.Join(err, rw.Close())
	routed, rerr := t.virtualRouting(res.Records)
	err = errors.Join(err, rerr)
	return errors.Join(err, t.finish(run, header, label, res, routed))
}

// SendDirectAndRouted measures what the real router adds: the same
// workload is sent straight to the one declared server (run "direct"),
// then through sglang-router 0.3.2 with policy in front of a fresh copy of
// it (run "router").
func (t *Test) SendDirectAndRouted(ctx context.Context, a Arrival, via, policy string) error {
	if len(t.servers) != 1 {
		return fmt.Errorf("measuring router overhead needs exactly one server, %d declared", len(t.servers))
	}
	t.routing = nil
	if err := t.Send(ctx, a, "direct"); err != nil {
		return err
	}
	if err := t.SetRouting(Routing{Via: via, Policy: policy}); err != nil {
		return err
	}
	return t.Send(ctx, a, "router")
}

// startAll starts every server at once (real SGLang takes minutes each)
// and returns them in order; on any failure the launcher's StopAll, run by
// the caller, stops the ones that did start.
func startAll(ctx context.Context, l *launcher.Launcher, cfgs []launcher.Config) ([]*launcher.Server, error) {
	servers := make([]*launcher.Server, len(cfgs))
	errs := make([]error, len(cfgs))
	var wg sync.WaitGroup
	for i, c := range cfgs {
		wg.Go(func() {
			servers[i], errs[i] = l.Start(ctx, c)
			if errs[i] != nil {
				errs[i] = fmt.Errorf("starting %s: %w", c.Name, errs[i])
			}
		})
	}
	wg.Wait()
	return servers, errors.Join(errs...)
}

// bounds resolves the client self-check's limits: the scenario's sentence,
// else the suite's setting, else (under -race) the race default, else the
// load generator's own defaults.
func (t *Test) bounds() load.Bounds {
	set := t.suite.Settings
	b := load.Bounds{MaxScheduleLag: t.client.MaxScheduleLag, MaxCPUBusy: set.MaxCPUBusy}
	if b.MaxScheduleLag == 0 {
		b.MaxScheduleLag = set.MaxScheduleLag
	}
	if raceBuild && b.MaxScheduleLag == 0 {
		// The race detector slows the client several-fold: a -race run checks
		// behaviour, not speed, so its self-check allows it more lateness.
		b.MaxScheduleLag = raceScheduleLag
	}
	return b
}

// raceScheduleLag is the default p99 schedule-lag bound under -race.
const raceScheduleLag = 100 * time.Millisecond

// summaryOut receives the printed summary; stdout, as the seeds show it.
var summaryOut io.Writer = os.Stdout

// vocabSize bounds random token ids. 32000 (Llama-2's vocabulary) is valid
// for every model sgltest profiles, including Llama-3's 128256.
const vocabSize = 32000

func (t *Test) serverConfig(i int, s Server) (launcher.Config, report.Header, error) {
	set := t.suite.Settings
	cfg := launcher.Config{
		Name:               fmt.Sprintf("server-%d", i),
		Backend:            set.Backend,
		ModelPath:          set.Model,
		MaxRunningRequests: s.MaxRunningRequests,
	}
	h := report.Header{MaxRunningRequests: s.MaxRunningRequests}
	if s.Simulated {
		cfg.Backend = launcher.BackendSim
	}
	switch cfg.Backend {
	case launcher.BackendSim:
		prof, err := simulator.LoadProfile(set.SimProfile)
		if err != nil {
			return cfg, h, err
		}
		bin, err := t.suite.binary()
		if err != nil {
			return cfg, h, err
		}
		cfg.SimBinary = bin
		if cfg.ModelPath == "" {
			cfg.ModelPath = prof.Model.Name
		}
		// Each simulator gets its own seed so N of them do not jitter in step.
		cfg.ExtraArgs = []string{"--sim-profile", set.SimProfile, "--random-seed", fmt.Sprint(t.seed + uint64(i))}
		h.GPU = fmt.Sprintf("simulated %s (profile %s)", prof.GPU.Name, set.SimProfile)
	case launcher.BackendSGLang:
		cfg.Python = set.Python
		if i < len(set.GPUs) {
			cfg.GPUs = []int{set.GPUs[i]}
			h.GPU = fmt.Sprintf("GPU %d", set.GPUs[i])
		} else {
			h.GPU = "as CUDA_VISIBLE_DEVICES allows"
		}
	}
	if n := len(t.servers); n > 1 {
		h.GPU = fmt.Sprintf("%d × %s", n, h.GPU)
	}
	h.Model = cfg.ModelPath
	return cfg, h, nil
}

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
