package runner

import (
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

	"github.com/sgltest/sgltest/internal/launcher"
	"github.com/sgltest/sgltest/internal/load"
	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/report"
	"github.com/sgltest/sgltest/internal/simulator"
)

// Server is one server a scenario declares.
type Server struct {
	// Simulated forces the embedded simulator whatever the suite's backend.
	Simulated bool
	// MaxRunningRequests is --max-running-requests; 0 leaves the server's
	// default.
	MaxRunningRequests int
}

// Workload is what a scenario sends: Prompts random prompts of exactly
// InputTokens tokens, each generating exactly OutputTokens, arriving as a
// Poisson process at Rate requests per second (+Inf: all at once).
type Workload struct {
	Prompts      int     `json:"prompts"`
	InputTokens  int     `json:"input_tokens"`
	OutputTokens int     `json:"output_tokens"`
	Rate         float64 `json:"-"` // written as runConfig.Rate: JSON has no Inf
	Seed         uint64  `json:"seed"`
}

// Result is what a finished run left behind.
type Result struct {
	Dir     string
	Summary metrics.Summary
}

// Test is one scenario's performance test. Steps call Server to declare,
// Run to execute, and Check to judge.
type Test struct {
	suite   *Suite
	name    string
	servers []Server
	result  *Result
	running *launcher.Launcher
}

// AddServer declares a server for the test. Servers start when Run starts.
func (t *Test) AddServer(s Server) error {
	if s.MaxRunningRequests < 0 {
		return fmt.Errorf("max running requests must be positive, got %d", s.MaxRunningRequests)
	}
	t.servers = append(t.servers, s)
	return nil
}

// Result returns the finished run, or an error saying no run happened yet.
func (t *Test) Result() (*Result, error) {
	if t.result == nil {
		return nil, errors.New("no load has run in this scenario yet: a When step that sends load must come first")
	}
	return t.result, nil
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
	Backend  launcher.Backend  `json:"backend"`
	Servers  []launcher.Config `json:"servers"`
	Argv     [][]string        `json:"argv"`
	Workload Workload          `json:"workload"`
	Rate     string            `json:"rate"`
	Started  time.Time         `json:"started"`
}

// Run executes the workload against the declared servers and writes the
// run directory. Every record measured is written to requests.jsonl as it
// finishes, and the summary and charts are written even when the run fails
// part-way, so an error loses nothing already measured.
func (t *Test) Run(ctx context.Context, w Workload) (err error) {
	if len(t.servers) == 0 {
		return errors.New("no server declared: a Given step must declare a server before load is sent")
	}
	if len(t.servers) > 1 {
		return fmt.Errorf("%d servers declared; a node-level test sends to exactly one", len(t.servers))
	}
	if t.result != nil {
		return errors.New("load already ran in this scenario; one scenario measures one run")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopOnSignal := context.AfterFunc(t.suite.ctx, cancel)
	defer stopOnSignal()

	reqs, err := load.Random{Count: w.Prompts, InputTokens: w.InputTokens, OutputTokens: w.OutputTokens,
		VocabSize: vocabSize, Seed: w.Seed}.Requests()
	if err != nil {
		return err
	}
	arrivals, err := load.Poisson(w.Rate, w.Prompts, w.Seed)
	if err != nil {
		return err
	}

	started := time.Now()
	run, err := report.Create(t.suite.Settings.Reports, started.Format("20060102-150405.000")+"-"+slug(t.name))
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

	cfg, header, err := t.serverConfig(0, t.servers[0], w)
	if err != nil {
		return where(err)
	}
	writeConfig := func(c launcher.Config) error {
		argv, _, err := c.Command()
		if err != nil {
			return err
		}
		return run.WriteConfig(runConfig{
			Scenario: t.name, Backend: c.Backend, Servers: []launcher.Config{c}, Argv: [][]string{argv},
			Workload: w, Rate: rateString(w.Rate), Started: started,
		})
	}

	t.running = launcher.New(filepath.Join(run.Dir(), "logs"), log)
	defer func() { err = errors.Join(err, where(t.Close())) }()
	srv, err := t.running.Start(ctx, cfg)
	if err != nil {
		return where(errors.Join(fmt.Errorf("starting %s: %w", cfg.Name, err), writeConfig(cfg)))
	}
	// Written once the server runs, so the argv shows the port actually used.
	if err := writeConfig(srv.Config()); err != nil {
		return where(err)
	}

	rw, err := run.Requests()
	if err != nil {
		return where(err)
	}
	gen := &load.Generator{Client: &load.Client{HTTP: load.NewHTTPClient()}, Target: srv.URL(), RIDPrefix: "sgltest-", Logger: log}
	records, loadErr := gen.Run(ctx, reqs, arrivals, rw.Write)
	loadErr = errors.Join(loadErr, rw.Close())

	sum := metrics.Summarize(records)
	t.result = &Result{Dir: run.Dir(), Summary: sum}
	header.Dir = run.Dir()
	writeErr := run.WriteSummary(sum, header)
	if _, cerr := run.WriteCharts(records); cerr != nil {
		writeErr = errors.Join(writeErr, cerr)
	}
	fmt.Fprint(summaryOut, report.FormatText(sum, header))
	if t.suite.Interrupted() {
		loadErr = errors.Join(errors.New("interrupted by signal"), loadErr)
	}
	return where(errors.Join(loadErr, writeErr))
}

// summaryOut receives the printed summary; stdout, as the seeds show it.
var summaryOut io.Writer = os.Stdout

// vocabSize bounds random token ids. 32000 (Llama-2's vocabulary) is valid
// for every model sgltest profiles, including Llama-3's 128256.
const vocabSize = 32000

func (t *Test) serverConfig(i int, s Server, w Workload) (launcher.Config, report.Header, error) {
	set := t.suite.Settings
	cfg := launcher.Config{
		Name:               fmt.Sprintf("server-%d", i),
		Backend:            set.Backend,
		ModelPath:          set.Model,
		MaxRunningRequests: s.MaxRunningRequests,
	}
	h := report.Header{MaxRunningRequests: s.MaxRunningRequests, RequestRate: w.Rate}
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
		cfg.ExtraArgs = []string{"--sim-profile", set.SimProfile, "--random-seed", fmt.Sprint(w.Seed)}
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
	h.Model = cfg.ModelPath
	return cfg, h, nil
}

func rateString(r float64) string {
	if math.IsInf(r, 1) {
		return "inf"
	}
	return fmt.Sprint(r)
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
