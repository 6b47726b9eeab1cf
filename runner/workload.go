package runner

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/sgltest/sgltest/internal/load"
)

// Dataset says what prompts a scenario sends. Exactly one kind is set.
type Dataset struct {
	// Random: Prompts prompts of exactly InputTokens random token ids, each
	// generating exactly OutputTokens.
	Random *load.Random `json:"random,omitempty"`
	// ShareGPT: prompts from a ShareGPT file, filtered as bench_serving does.
	ShareGPT *load.ShareGPT `json:"sharegpt,omitempty"`
	// SharedPrefix: groups of prompts sharing a system prompt.
	SharedPrefix *load.SharedPrefix `json:"shared_prefix,omitempty"`
	// JSONL: a custom dataset, one request per line.
	JSONL string `json:"jsonl,omitempty"`
	// Trace: a Mooncake-style trace, whose arrival times come with it
	// (ArriveTrace), replayed at TraceScale (2: twice as slowly).
	Trace      string  `json:"trace,omitempty"`
	TraceScale float64 `json:"trace_scale,omitempty"`
}

func (d Dataset) requests(seed uint64) ([]load.Request, error) {
	switch {
	case d.Random != nil:
		r := *d.Random
		r.Seed, r.VocabSize = seed, vocabSize
		return r.Requests()
	case d.ShareGPT != nil:
		s := *d.ShareGPT
		s.Seed = seed
		reqs, _, err := s.Requests()
		return reqs, err
	case d.SharedPrefix != nil:
		s := *d.SharedPrefix
		s.Seed, s.VocabSize = seed, vocabSize
		return s.Requests()
	case d.JSONL != "":
		return load.LoadJSONL(d.JSONL)
	case d.Trace != "":
		tr, err := load.LoadTrace(d.Trace, 1, vocabSize)
		return tr.Requests, err
	}
	return nil, errors.New("no dataset declared: a step must say what prompts are sent")
}

// ArrivalKind names an arrival process.
type ArrivalKind string

// The arrival processes a scenario can choose.
const (
	ArrivePoisson  ArrivalKind = "poisson"  // Rate req/s, exponential gaps (Rate +Inf: all at once)
	ArriveGamma    ArrivalKind = "gamma"    // Rate req/s, gamma gaps with Burstiness
	ArriveConstant ArrivalKind = "constant" // Rate req/s, equal gaps
	ArriveUsers    ArrivalKind = "users"    // closed loop: Users users, each sends its next when its last ends
	ArrivePhases   ArrivalKind = "phases"   // Phases played one after another (ramp, step, soak, burst)
	ArriveTrace    ArrivalKind = "trace"    // the trace dataset's own timestamps, times the dataset's TraceScale
)

// Arrival says when prompts arrive, and how many may be in flight.
type Arrival struct {
	Kind       ArrivalKind  `json:"kind"`
	Rate       float64      `json:"-"` // written as Rate string: JSON has no Inf
	RateString string       `json:"rate,omitempty"`
	Burstiness float64      `json:"burstiness,omitempty"`
	Users      int          `json:"users,omitempty"`
	Phases     []load.Phase `json:"phases,omitempty"`
	// MaxInFlight, when positive, caps requests in flight; the wait for a
	// slot is queue time.
	MaxInFlight int `json:"max_in_flight,omitempty"`
}

// schedule returns when each of n requests arrives. Phases and traces fix
// their own number of arrivals; n must cover it (extra prompts are unused).
func (a Arrival) schedule(n int, seed uint64, d *Dataset) (load.Schedule, error) {
	switch a.Kind {
	case ArrivePhases:
		at, err := load.Program(a.Phases, true, seed)
		if err != nil {
			return nil, err
		}
		if len(at) > n {
			return nil, fmt.Errorf("the phases bring %d arrivals but the dataset has only %d prompts", len(at), n)
		}
		return load.Offsets(at), nil
	case ArriveTrace:
		if d == nil || d.Trace == "" {
			return nil, errors.New("replaying a trace's timing needs the prompts to come from that trace")
		}
		tr, err := load.LoadTrace(d.Trace, d.TraceScale, vocabSize)
		if err != nil {
			return nil, err
		}
		return load.Offsets(tr.Arrivals), nil
	case ArrivePoisson:
		at, err := load.Poisson(a.Rate, n, seed)
		return load.Offsets(at), err
	case ArriveGamma:
		at, err := load.Gamma(a.Rate, a.Burstiness, n, seed)
		return load.Offsets(at), err
	case ArriveConstant:
		at, err := load.Constant(a.Rate, n)
		return load.Offsets(at), err
	case ArriveUsers:
		return load.NewClosedLoop(a.Users)
	}
	return nil, fmt.Errorf("unknown arrival process %q", a.Kind)
}

// describe is the request rate as the summary header shows it.
func (a Arrival) describe() string {
	switch a.Kind {
	case ArriveUsers:
		return fmt.Sprintf("%d closed-loop users", a.Users)
	case ArriveGamma:
		return fmt.Sprintf("%s req/s (gamma, burstiness %g)", rateString(a.Rate), a.Burstiness)
	case ArrivePhases:
		return fmt.Sprintf("%d phases (ramp/step/soak/burst)", len(a.Phases))
	case ArriveTrace:
		return "the trace's own timestamps"
	case ArriveConstant:
		return fmt.Sprintf("%s req/s (constant)", rateString(a.Rate))
	}
	if math.IsInf(a.Rate, 1) {
		return "inf (all at once)"
	}
	return rateString(a.Rate) + " req/s"
}

// Client says how requests are sent.
type Client struct {
	API      load.API `json:"-"`
	APIName  string   `json:"api"`
	NoStream bool     `json:"no_stream,omitempty"`
	Warmup   int      `json:"warmup,omitempty"`
	// MaxScheduleLag bounds the client's p99 schedule lag; past it the run
	// is invalid. Zero takes load.DefaultMaxScheduleLag.
	MaxScheduleLag time.Duration `json:"max_schedule_lag_ns,omitempty"`
}

func rateString(r float64) string {
	if math.IsInf(r, 1) {
		return "inf"
	}
	return fmt.Sprint(r)
}
