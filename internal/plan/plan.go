package plan

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sgltest/sgltest/internal/launcher"
	"github.com/sgltest/sgltest/internal/simulator"
)

// Clock says which clock a run uses.
type Clock string

// The clocks.
const (
	// Wall runs real servers (or simulators) as processes over HTTP, in
	// real time.
	Wall Clock = "wall"
	// Virtual runs the simulator's engines in simulated time, with no
	// process and no HTTP, as fast as the CPU allows.
	Virtual Clock = "virtual"
)

// Plan is one run, resolved: everything an executor needs and everything
// config.json records.
type Plan struct {
	Scenario string   `json:"scenario"`
	Label    string   `json:"label,omitempty"`
	Clock    Clock    `json:"clock"`
	Servers  []Server `json:"servers"`
	Routing  *Routing `json:"routing,omitempty"`
	Dataset  Dataset  `json:"dataset"`
	Arrival  Arrival  `json:"arrival"`
	Client   Client   `json:"client"`
	Seed     uint64   `json:"seed"`
	Limits   Limits   `json:"limits"`
	Timeline []Action `json:"timeline,omitempty"`
	// Deployment, when set, is a deployment sgltest did not start: the load
	// goes to its URL, and Servers are the workers found there.
	Deployment *Deployment `json:"deployment,omitempty"`
	Started    time.Time   `json:"started"`
}

// Deployment is an SGLang deployment that is already running: one server,
// or a router in front of workers.
type Deployment struct {
	// URL is where the load goes.
	URL string `json:"url"`
	// Router is set when URL is a router whose /workers listed Servers.
	Router bool `json:"router"`
	// APIKeyEnv names the environment variable holding the API key; the
	// key itself is never written anywhere.
	APIKeyEnv string `json:"api_key_env,omitempty"`
}

// Server is one server of the plan.
type Server struct {
	// Name is "server-N", N counted from 1 in the order the scenario
	// declared the servers, as sentences number them.
	Name string `json:"name"`
	// Launch is the resolved launch configuration; its Port is 0 until
	// the server runs (the executor reports the argv actually used).
	Launch launcher.Config `json:"launch"`
	// Profile is the simulator's calibration profile (a name or a .json
	// path) when the server is simulated; empty for real SGLang.
	Profile string `json:"profile,omitempty"`
	// External is the URL of a server sgltest did not start (part of a
	// Deployment); Launch is then unused.
	External string `json:"external,omitempty"`
}

// ServerName is the name of the i-th server (0-based), "server-<i+1>".
func ServerName(i int) string { return fmt.Sprintf("server-%d", i+1) }

// Simulated reports whether every server is sgltest's simulator, started
// by sgltest.
func (p *Plan) Simulated() bool {
	for _, s := range p.Servers {
		if s.External != "" || s.Launch.Backend != launcher.BackendSim {
			return false
		}
	}
	return true
}

// Limits bound a run in time, so that a stalled server is a clear failure
// and never a hang.
type Limits struct {
	// RequestTimeout, when positive, fails a request that has not ended
	// this long after it was sent.
	RequestTimeout time.Duration `json:"request_timeout_ns,omitempty"`
	// Grace is how long the run may go on after its last planned arrival
	// and planned downtime before it is stopped as past its deadline
	// (runs whose arrivals depend on completions, such as closed-loop
	// users, have no deadline).
	Grace time.Duration `json:"deadline_grace_ns"`
	// StallAfter is how long a server may go without answering its
	// /metrics, when nothing planned made it unavailable, before the run
	// stops as stalled.
	StallAfter time.Duration `json:"stall_after_ns"`
	// ReadyTimeout bounds each server's start (and restore); zero takes
	// the launcher's default for the backend.
	ReadyTimeout time.Duration `json:"ready_timeout_ns,omitempty"`
	// GPUInterval is how often GPU telemetry is sampled.
	GPUInterval time.Duration `json:"gpu_interval_ns"`
}

// Defaults for Limits.
const (
	// DefaultGrace lets the slowest sane request finish after the last
	// arrival (minutes of generation on a loaded GPU).
	DefaultGrace = 10 * time.Minute
	// DefaultStallAfter is many scrapes (every 250 ms, each waiting up to
	// 1 s): an SGLang server answers /metrics in milliseconds even under
	// load, so this long without an answer means it is stopped or hung.
	DefaultStallAfter = 10 * time.Second
)

// MaxServers bounds the servers one plan may declare: each is a process
// in wall-clock time (and an engine in virtual time, where the bound is
// higher).
const (
	MaxServers        = 64
	MaxVirtualServers = 4096
)

// Validate checks the whole plan and returns every problem at once, each
// naming the field and what was expected. Nothing has launched when it
// runs, so a bad plan costs nothing.
func (p *Plan) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch p.Clock {
	case Wall, Virtual:
	default:
		bad("clock %q: expected %q or %q", p.Clock, Wall, Virtual)
	}
	limit := MaxServers
	if p.Clock == Virtual {
		limit = MaxVirtualServers
	}
	switch n := len(p.Servers); {
	case n == 0:
		bad("no server declared: a Given step must declare a server before load is sent")
	case n > limit:
		bad("%d servers declared: at most %d in %s time", n, limit, p.Clock)
	case n > 1 && p.Routing == nil && p.Clock == Wall && p.Deployment == nil:
		bad("%d servers declared but no routing: a Given step must say how requests are routed", n)
	}
	if d := p.Deployment; d != nil {
		errs = append(errs, p.validateDeployment()...)
	}
	for i, s := range p.Servers {
		if s.Name != ServerName(i) {
			bad("server %d is named %q, expected %q", i+1, s.Name, ServerName(i))
		}
		if s.External != "" {
			continue
		}
		argv, _, err := s.Launch.Command()
		if err != nil {
			errs = append(errs, err)
		} else if s.Launch.Backend == launcher.BackendSim {
			// The simulator refuses what it does not model: find out now.
			if err := simulator.Check(argv[2:]); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", s.Name, err))
			}
		}
		if s.Launch.Backend == launcher.BackendSim && s.Profile == "" {
			bad("%s: a simulated server needs a simulator profile", s.Name)
		}
	}
	errs = append(errs, p.validateDP()...)
	if p.Routing != nil {
		if err := p.Routing.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := p.Dataset.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := p.Arrival.Validate(&p.Dataset); err != nil {
		errs = append(errs, err)
	}
	if err := p.Client.Validate(); err != nil {
		errs = append(errs, err)
	}
	if p.Limits.RequestTimeout < 0 || p.Limits.Grace <= 0 || p.Limits.StallAfter <= 0 || p.Limits.ReadyTimeout < 0 || p.Limits.GPUInterval <= 0 {
		bad("limits %+v: the deadline grace, the stall limit and the GPU sampling interval must be positive, the request and ready timeouts positive or 0 (none/default)", p.Limits)
	}
	if err := p.validateTimeline(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, p.validatePD()...)
	if p.Clock == Virtual {
		errs = append(errs, p.validateVirtual()...)
	}
	return errors.Join(errs...)
}

// validateDeployment checks what a running deployment allows: nothing
// that starts, stops or routes its processes.
func (p *Plan) validateDeployment() []error {
	var errs []error
	d := p.Deployment
	if !strings.HasPrefix(d.URL, "http://") && !strings.HasPrefix(d.URL, "https://") {
		errs = append(errs, fmt.Errorf("deployment URL %q: expected http://host:port", d.URL))
	}
	if p.Clock != Wall {
		errs = append(errs, errors.New("a running deployment runs in wall-clock time, not virtual time"))
	}
	if len(p.Timeline) > 0 {
		errs = append(errs, fmt.Errorf("the deployment at %s is not sgltest's to kill, pause or restart: it started none of its processes (timeline: %s)", d.URL, p.Timeline[0]))
	}
	if p.Routing != nil {
		errs = append(errs, fmt.Errorf("the deployment at %s routes its own requests: a routing step does not apply", d.URL))
	}
	for _, s := range p.Servers {
		if s.External == "" {
			errs = append(errs, fmt.Errorf("the scenario targets the deployment at %s and also declares a server to launch (%s): choose one", d.URL, s.Name))
			break
		}
	}
	return errs
}

// validateVirtual checks what virtual time cannot run.
func (p *Plan) validateVirtual() []error {
	var errs []error
	if !p.Simulated() {
		errs = append(errs, errors.New("virtual time needs simulated servers, but the suite's backend is real SGLang"))
	}
	if k := p.Arrival.Kind; k == ArriveUsers || k == ArriveBatches || k == ArriveTurns || p.Arrival.MaxInFlight > 0 {
		errs = append(errs, errors.New("virtual time runs open-loop arrivals only (a rate, burstiness, phases or a trace), not users, batches, conversations or an in-flight cap"))
	}
	if p.Routing != nil && p.Routing.Via != ViaDispatcher {
		errs = append(errs, fmt.Errorf("virtual time cannot run the real router (%s); use sgltest's dispatcher", p.Routing.Via))
	}
	if p.Client.Warmup > 0 {
		errs = append(errs, errors.New("virtual time sends no warmup requests: the engines start warm"))
	}
	switch {
	case p.Dataset.ShareGPT != nil, p.Dataset.JSONL != "":
		errs = append(errs, errors.New("virtual time needs token-id prompts (random, shared-prefix or trace datasets)"))
	}
	return errs
}

// Names lists the servers' names, in order.
func (p *Plan) Names() []string {
	out := make([]string, len(p.Servers))
	for i, s := range p.Servers {
		out[i] = s.Name
	}
	return out
}

// Server returns the index of the server named name (as "server-2" or
// "2"), or an error listing the servers.
func (p *Plan) Server(name string) (int, error) {
	for i, s := range p.Servers {
		if s.Name == name || strings.TrimPrefix(s.Name, "server-") == name {
			return i, nil
		}
	}
	return 0, fmt.Errorf("no %s: the scenario declares servers 1 to %d", name, len(p.Servers))
}
