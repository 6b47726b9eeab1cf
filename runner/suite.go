package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sgltest/sgltest/internal/launcher"
	"github.com/sgltest/sgltest/internal/processes"
	"github.com/sgltest/sgltest/internal/report"
)

// Environment variables that configure a suite. They work the same for all
// three ways of running scenarios (go test, godog run, the sgltest binary).
const (
	// EnvReports is the directory that receives one directory per run.
	EnvReports = "SGLTEST_REPORTS"
	// EnvBackend chooses what "an SGLang server" in a scenario means: "sim"
	// (the embedded simulator) or "sglang" (real SGLang; needs EnvModel
	// and a GPU).
	EnvBackend = "SGLTEST_BACKEND"
	// EnvModel is the model path passed as --model-path.
	EnvModel = "SGLTEST_MODEL"
	// EnvPython is the interpreter that runs python -m sglang.launch_server.
	EnvPython = "SGLTEST_PYTHON"
	// EnvGPUs lists the GPU ids servers may use, e.g. "0,1,2,3"; server i
	// gets the i-th.
	EnvGPUs = "SGLTEST_GPUS"
	// EnvSimProfile names the simulator's calibration profile.
	EnvSimProfile = "SGLTEST_SIM_PROFILE"
	// EnvVenv is the directory holding the real router's virtual
	// environments (sglang-router/ and smg/), as `make venv` makes them.
	EnvVenv = "SGLTEST_VENV"
	// EnvBinary is the sgltest binary whose "sim" subcommand is the
	// simulator; when unset the runner uses itself or builds one.
	EnvBinary = "SGLTEST_BIN"
	// EnvMaxScheduleLag bounds the load generator's p99 schedule lag and
	// p99 hand-off for every scenario of the suite (a Go duration such as
	// 50ms); past it a run is invalid. A scenario's own sentence still wins.
	EnvMaxScheduleLag = "SGLTEST_MAX_SCHEDULE_LAG"
	// EnvMaxCPUBusy bounds the sgltest process's CPU use during a run, as a
	// fraction of its cores (such as 0.98); past it a run is invalid.
	EnvMaxCPUBusy = "SGLTEST_MAX_CPU_BUSY"
	// EnvMaxLateSteps bounds the fraction of a simulated server's engine
	// steps that may end more than 5 ms behind its model (such as 0.02);
	// past it a run is invalid, as the host, not the model, set the pace.
	EnvMaxLateSteps = "SGLTEST_MAX_LATE_STEPS"
	// EnvInvalidReruns is how many times a run is made again when it was
	// invalid only because its host was too busy (a whole number, default
	// 0). Each try keeps its run directory; the scenario is judged on the
	// last.
	EnvInvalidReruns = "SGLTEST_INVALID_RERUNS"
	// EnvReadyTimeout bounds each server's start (a Go duration such as
	// 20m); the default is 600 s for SGLang and 30 s for the simulator.
	EnvReadyTimeout = "SGLTEST_READY_TIMEOUT"
)

// Documented defaults for the settings above.
const (
	DefaultReports    = "reports"
	DefaultSimProfile = "llama-3.1-8b-h100"
	DefaultPython     = "python3"
	DefaultVenv       = ".venv"
)

// Settings is what a suite reads from its environment.
type Settings struct {
	Reports    string
	Backend    launcher.Backend
	Model      string
	Python     string
	GPUs       []int
	SimProfile string
	Binary     string
	Venv       string
	// MaxScheduleLag and MaxCPUBusy are the suite-wide self-check bounds;
	// zero leaves the load generator's defaults (or, under -race, the
	// race default for the lag).
	MaxScheduleLag time.Duration
	MaxCPUBusy     float64
	// MaxLateSteps is the simulators' self-check bound; zero leaves
	// workerstate.DefaultLatenessBound's.
	MaxLateSteps float64
	// InvalidReruns is how many more times a run the host was too busy to
	// measure is made (EnvInvalidReruns).
	InvalidReruns int
	// ReadyTimeout bounds each server's start; zero takes the backend's
	// default.
	ReadyTimeout time.Duration
	// Gate holds the settings of comparisons with baselines (gate.go).
	Gate GateSettings
}

// SettingsFromEnv reads Settings from the environment, applying the
// documented defaults, and rejects values it cannot use.
func SettingsFromEnv() (Settings, error) {
	s := Settings{
		Reports:    envOr(EnvReports, DefaultReports),
		Backend:    launcher.Backend(envOr(EnvBackend, string(launcher.BackendSim))),
		Model:      os.Getenv(EnvModel),
		Python:     envOr(EnvPython, DefaultPython),
		SimProfile: envOr(EnvSimProfile, DefaultSimProfile),
		Binary:     os.Getenv(EnvBinary),
		Venv:       envOr(EnvVenv, DefaultVenv),
	}
	switch s.Backend {
	case launcher.BackendSim, launcher.BackendSGLang:
	default:
		return s, fmt.Errorf("%s=%q: expected %q or %q", EnvBackend, s.Backend, launcher.BackendSim, launcher.BackendSGLang)
	}
	if s.Backend == launcher.BackendSGLang && s.Model == "" {
		return s, fmt.Errorf("%s=sglang needs %s, the model path to serve", EnvBackend, EnvModel)
	}
	if v := os.Getenv(EnvMaxScheduleLag); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return s, fmt.Errorf("%s=%q: expected a positive duration such as 50ms", EnvMaxScheduleLag, v)
		}
		s.MaxScheduleLag = d
	}
	if v := os.Getenv(EnvMaxCPUBusy); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f > 0 && f <= 1) {
			return s, fmt.Errorf("%s=%q: expected a fraction of the cores in (0, 1], such as 0.98", EnvMaxCPUBusy, v)
		}
		s.MaxCPUBusy = f
	}
	if v := os.Getenv(EnvMaxLateSteps); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f > 0 && f < 1) {
			return s, fmt.Errorf("%s=%q: expected a fraction of the steps in (0, 1), such as 0.02", EnvMaxLateSteps, v)
		}
		s.MaxLateSteps = f
	}
	if v := os.Getenv(EnvInvalidReruns); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 10 {
			return s, fmt.Errorf("%s=%q: expected a whole number of reruns from 0 to 10, such as 2", EnvInvalidReruns, v)
		}
		s.InvalidReruns = n
	}
	if v := os.Getenv(EnvReadyTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return s, fmt.Errorf("%s=%q: expected a positive duration such as 20m", EnvReadyTimeout, v)
		}
		s.ReadyTimeout = d
	}
	var err error
	if s.Gate, err = gateSettingsFromEnv(); err != nil {
		return s, err
	}
	if g := os.Getenv(EnvGPUs); g != "" {
		for _, f := range strings.Split(g, ",") {
			id, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || id < 0 {
				return s, fmt.Errorf("%s=%q: expected a comma-separated list of GPU ids such as 0,1", EnvGPUs, g)
			}
			s.GPUs = append(s.GPUs, id)
		}
	}
	return s, nil
}

// CheckReports reports whether run directories can be written under the
// reports directory (creating it if needed), so that a read-only or
// misspelt path fails before any scenario launches anything.
func (s Settings) CheckReports() error {
	if err := report.CheckWritable(s.Reports); err != nil {
		return fmt.Errorf("%s (%s): %w", s.Reports, EnvReports, err)
	}
	return nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// Suite is what lives for one run of scenarios: settings, the interrupt
// context, and the count of scenarios started (a run that starts none is a
// failure, never a pass) and of invalid runs.
type Suite struct {
	Settings Settings

	ctx     context.Context
	cancel  context.CancelCauseFunc
	signals chan os.Signal
	done    chan struct{}

	mu        sync.Mutex
	scenarios int
	invalid   int
	simBin    string
	builtDir  string
	simErr    error
	simOnce   sync.Once
	closeOnce sync.Once
	routers   map[string]launcher.RouterInfo
}

// NewSuite reads the settings and starts catching SIGINT and SIGTERM. The
// first signal cancels the suite's context (cause
// processes.ErrInterrupted): the running scenario stops its load and its
// servers, keeps what it measured, and no further scenario starts. A
// second signal kills every process sgltest started and exits at once.
func NewSuite() (*Suite, error) {
	set, err := SettingsFromEnv()
	if err != nil {
		return nil, err
	}
	if err := set.CheckReports(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	s := &Suite{Settings: set, ctx: ctx, cancel: cancel, signals: make(chan os.Signal, 2), done: make(chan struct{})}
	signal.Notify(s.signals, os.Interrupt, syscall.SIGTERM)
	go s.watchSignals()
	return s, nil
}

func (s *Suite) watchSignals() {
	select {
	case <-s.signals:
	case <-s.done:
		return
	}
	fmt.Fprintln(os.Stderr, "\nsgltest: interrupted: stopping the running scenario and keeping what it measured; press Ctrl-C again to stop at once")
	s.cancel(processes.ErrInterrupted)
	select {
	case <-s.signals:
	case <-s.done:
		return
	}
	fmt.Fprintln(os.Stderr, "sgltest: interrupted twice: killing every process sgltest started and exiting")
	launcher.KillAll()
	os.Exit(130)
}

// Interrupted reports whether a signal has cancelled the suite.
func (s *Suite) Interrupted() bool { return s.ctx.Err() != nil }

// Close releases the signal handlers and removes a simulator binary the
// suite built. It is safe to call more than once.
func (s *Suite) Close() {
	s.closeOnce.Do(func() {
		signal.Stop(s.signals)
		close(s.done)
	})
	if s.builtDir != "" {
		_ = os.RemoveAll(s.builtDir) // a leftover in the cache directory is harmless
		s.builtDir = ""
	}
}

// ErrNoScenarios is returned by Finish when no scenario ran: a filter that
// matches nothing must not pass a CI gate.
var ErrNoScenarios = errors.New("no scenario ran: check the feature paths and the tag filter (godog tags use &&, ~ and , not and/not/or)")

// Finish reports whether the suite ran at least one scenario.
func (s *Suite) Finish() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.scenarios == 0 {
		return ErrNoScenarios
	}
	return nil
}

// Outcome is how a suite went, beyond godog's pass or fail.
type Outcome struct {
	// Invalid counts the runs whose figures could not be trusted.
	Invalid int
	// Interrupted is set when a signal stopped the suite.
	Interrupted bool
}

// Outcome reports the suite's invalid runs and interruption.
func (s *Suite) Outcome() Outcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Outcome{Invalid: s.invalid, Interrupted: s.Interrupted()}
}

func (s *Suite) noteInvalid() {
	s.mu.Lock()
	s.invalid++
	s.mu.Unlock()
}

// NewTest starts one scenario's test.
func (s *Suite) NewTest(name string) *Test {
	s.mu.Lock()
	s.scenarios++
	s.mu.Unlock()
	return &Test{suite: s, name: name}
}

// RouterInstalled reports whether the real routers' virtual environments
// are where the settings say (sglang-router/ and smg/ under the venv
// directory), naming the one missing.
func (s *Suite) RouterInstalled() error {
	for _, pkg := range []string{"sglang-router", "smg"} {
		py := filepath.Join(s.Settings.Venv, pkg, "bin", "python")
		if _, err := os.Stat(py); err != nil {
			return fmt.Errorf("the real router (%s) is not installed at %s: run `make venv`, or set %s to the directory holding %s/", pkg, py, EnvVenv, pkg)
		}
	}
	return nil
}

// routerInfo asks the installed real router (via: sglang-router or smg)
// for its release and policies, once per suite.
func (s *Suite) routerInfo(via string) (launcher.RouterInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if info, ok := s.routers[via]; ok {
		return info, nil
	}
	if err := s.RouterInstalled(); err != nil {
		return launcher.RouterInfo{}, err
	}
	module := launcher.RouterModuleSGLang
	if via == "smg" {
		module = launcher.RouterModuleSMG
	}
	info, err := launcher.InspectRouter(s.ctx, filepath.Join(s.Settings.Venv, via, "bin", "python"), module)
	if err != nil {
		return info, err
	}
	if s.routers == nil {
		s.routers = map[string]launcher.RouterInfo{}
	}
	s.routers[via] = info
	return info, nil
}
