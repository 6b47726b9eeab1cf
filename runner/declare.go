package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sgltest/sgltest/internal/plan"
)

// The plan's vocabulary, under the names steps use: the runner is the
// steps' only door into the framework.
type (
	Dataset     = plan.Dataset
	Arrival     = plan.Arrival
	ArrivalKind = plan.ArrivalKind
	Routing     = plan.Routing
	Client      = plan.Client
	Action      = plan.Action
	Changes     = plan.Changes
)

// Arrival processes and routers, as in package plan.
const (
	ArrivePoisson   = plan.ArrivePoisson
	ArriveGamma     = plan.ArriveGamma
	ArriveConstant  = plan.ArriveConstant
	ArriveUsers     = plan.ArriveUsers
	ArrivePhases    = plan.ArrivePhases
	ArriveTrace     = plan.ArriveTrace
	ArriveBatches   = plan.ArriveBatches
	ArriveTurns     = plan.ArriveTurns
	ViaDispatcher   = plan.ViaDispatcher
	ViaSGLangRouter = plan.ViaSGLangRouter
	ViaSMG          = plan.ViaSMG
	Kill            = plan.Kill
	Stop            = plan.Stop
	Pause           = plan.Pause
	Restore         = plan.Restore
	Restart         = plan.Restart
	RouterTarget    = plan.RouterTarget
)

// Server is one server a scenario declares. A zero setting leaves the
// server's own default (the flag is not passed).
type Server struct {
	// Simulated forces the embedded simulator whatever the suite's backend.
	Simulated bool `json:"simulated"`
	// MaxRunningRequests is --max-running-requests.
	MaxRunningRequests int `json:"max_running_requests,omitempty"`
	// TPSize is --tp-size.
	TPSize int `json:"tp_size,omitempty"`
	// ChunkedPrefillSize is --chunked-prefill-size (-1 disables chunking).
	ChunkedPrefillSize int `json:"chunked_prefill_size,omitempty"`
	// SchedulePolicy is --schedule-policy.
	SchedulePolicy string `json:"schedule_policy,omitempty"`
	// MemFractionStatic is --mem-fraction-static.
	MemFractionStatic float64 `json:"mem_fraction_static,omitempty"`
	// DPSize is --dp-size: SGLang's in-process data parallelism, DPSize
	// ranks of TPSize GPUs each behind the server's one HTTP front.
	DPSize int `json:"dp_size,omitempty"`
	// LoadBalanceMethod is --load-balance-method, how a DP server spreads
	// requests over its ranks.
	LoadBalanceMethod string `json:"load_balance_method,omitempty"`
	// Role is RolePrefill or RoleDecode for PD disaggregation (pd.go),
	// empty for a regular server.
	Role string `json:"role,omitempty"`
}

// AddServers declares n identical servers. Servers start when load is sent.
func (t *Test) AddServers(n int, s Server) error {
	if n <= 0 {
		return fmt.Errorf("server count must be positive, got %d", n)
	}
	if s.MaxRunningRequests < 0 || s.TPSize < 0 || s.DPSize < 0 {
		return fmt.Errorf("max running requests, tensor parallel size and data parallel size must be positive, got %d, %d and %d",
			s.MaxRunningRequests, s.TPSize, s.DPSize)
	}
	if len(t.servers)+n > plan.MaxVirtualServers {
		return fmt.Errorf("%d servers declared: at most %d (and %d outside virtual time)", len(t.servers)+n, plan.MaxVirtualServers, plan.MaxServers)
	}
	for range n {
		t.servers = append(t.servers, s)
	}
	return nil
}

// SetProfile chooses the simulator's calibration profile (a name such as
// "llama-3.1-8b-a100" or a .json path) for this scenario's simulated
// servers, instead of the suite's.
func (t *Test) SetProfile(name string) error {
	if _, err := simulatorProfile(name); err != nil {
		return err
	}
	t.profile = name
	return nil
}

// Profile is the simulator profile the scenario's simulated servers use.
func (t *Test) Profile() string {
	if t.profile != "" {
		return t.profile
	}
	return t.suite.Settings.SimProfile
}

// SetArrival declares how prompts arrive without sending them: the first
// Then step sends them if no When step did (the short form "Given 4 GPUs
// with shortest_queue at 40 req/s").
func (t *Test) SetArrival(a Arrival) { t.pending = &a }

// SendPending sends the declared arrival if no run happened yet; it does
// nothing when a run exists.
func (t *Test) SendPending(ctx context.Context) error {
	if len(t.runs) > 0 || t.pending == nil {
		return nil
	}
	a := *t.pending
	t.pending = nil
	if t.plan.Dataset == (Dataset{}) {
		d, err := DefaultDataset(a.Rate)
		if err != nil {
			return err
		}
		t.plan.Dataset = d
	}
	return t.Send(ctx, a, "")
}

// LabelNext names the next run, for comparisons between runs.
func (t *Test) LabelNext(label string) error {
	if _, err := t.Run(label); err == nil {
		return fmt.Errorf("a run labelled %q already exists in this scenario", label)
	}
	t.nextLabel = label
	return nil
}

// SetDeployment targets a deployment that is already running at url (a
// server, or a router whose workers it lists): nothing is launched.
// apiKeyEnv, when set, names the environment variable holding its API key.
func (t *Test) SetDeployment(url, apiKeyEnv string) error {
	if apiKeyEnv != "" && os.Getenv(apiKeyEnv) == "" {
		return fmt.Errorf("the API key variable %s is empty or unset", apiKeyEnv)
	}
	t.plan.Deployment = &plan.Deployment{URL: strings.TrimRight(url, "/"), APIKeyEnv: apiKeyEnv}
	return nil
}

// SetDataset declares what prompts are sent.
func (t *Test) SetDataset(d Dataset) { t.plan.Dataset = d }

// ScaleTrace stretches the declared trace's timestamps by scale (0.5
// replays twice as fast).
func (t *Test) ScaleTrace(scale float64) error {
	if t.plan.Dataset.Trace == "" {
		return errors.New("no trace declared: a Given step must name the trace to replay")
	}
	t.plan.Dataset.TraceScale = scale
	return nil
}

// SetSeed seeds the dataset, the arrivals and the simulators.
func (t *Test) SetSeed(seed uint64) { t.plan.Seed = seed }

// SetClient declares how requests are sent.
func (t *Test) SetClient(c Client) { t.plan.Client = c }

// Client returns the client settings declared so far.
func (t *Test) Client() Client { return t.plan.Client }

// SetRouting declares how requests are spread over the servers.
func (t *Test) SetRouting(r Routing) error {
	if err := r.Validate(); err != nil {
		return err
	}
	t.plan.Routing = &r
	return nil
}

// UpdateRouting changes a setting of the routing declared so far.
func (t *Test) UpdateRouting(change func(*Routing)) error {
	if t.plan.Routing == nil {
		return errors.New("no routing declared yet: a routing step must come first")
	}
	r := *t.plan.Routing
	change(&r)
	return t.SetRouting(r)
}

// SetVirtualTime makes the scenario run its simulated servers in virtual
// time: the same engines, arrivals and routing policies, computed as fast
// as the CPU allows instead of played out in real time over HTTP.
func (t *Test) SetVirtualTime() { t.plan.Clock = plan.Virtual }

// Plan adds an action to the scenario's timeline: it applies to every
// later run of the scenario.
func (t *Test) Plan(a Action) error {
	if a.Target != RouterTarget {
		if _, err := fmt.Sscanf(a.Target, "server-%d", new(int)); err != nil {
			return fmt.Errorf("action target %q: expected server-N or the router", a.Target)
		}
	}
	if a.At < 0 {
		return fmt.Errorf("%s: the time must not be negative", a)
	}
	t.plan.Timeline = append(t.plan.Timeline, a)
	return nil
}

// SetRequestTimeout fails requests still going d after they were sent.
func (t *Test) SetRequestTimeout(d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("request timeout %v: expected a positive duration", d)
	}
	t.plan.Limits.RequestTimeout = d
	return nil
}

// SetGrace sets how long a run may go on past its last planned arrival
// before it stops as past its deadline.
func (t *Test) SetGrace(d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("deadline grace %v: expected a positive duration", d)
	}
	t.plan.Limits.Grace = d
	return nil
}

// SetStallAfter sets how long a server may go without answering before
// the run stops as stalled.
func (t *Test) SetStallAfter(d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("stall limit %v: expected a positive duration", d)
	}
	t.plan.Limits.StallAfter = d
	return nil
}
