package plan

import (
	"errors"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/sgltest/sgltest/internal/load"
)

// VocabSize bounds random token ids. 32000 (Llama-2's vocabulary) is valid
// for every model sgltest profiles, including Llama-3's 128256.
const VocabSize = 32000

// Dataset says what prompts a run sends. Exactly one kind is set.
type Dataset struct {
	// Random: Count prompts of random token ids (see load.Random).
	Random *load.Random `json:"random,omitempty"`
	// ShareGPT: prompts from a ShareGPT file, filtered as bench_serving does.
	ShareGPT *load.ShareGPT `json:"sharegpt,omitempty"`
	// SharedPrefix: groups of prompts sharing a system prompt.
	SharedPrefix *load.SharedPrefix `json:"shared_prefix,omitempty"`
	// MultiTurn: synthetic conversations whose every turn extends the
	// previous one's prompt.
	MultiTurn *load.MultiTurn `json:"multi_turn,omitempty"`
	// JSONL: a custom dataset, one request per line.
	JSONL string `json:"jsonl,omitempty"`
	// Trace: a Mooncake-style trace, whose arrival times come with it
	// (ArriveTrace), replayed at TraceScale (2: twice as slowly).
	Trace      string  `json:"trace,omitempty"`
	TraceScale float64 `json:"trace_scale,omitempty"`
}

// Validate checks that exactly one kind is set and that a file it names
// exists; reading the file happens in Work.
func (d *Dataset) Validate() error {
	kinds := 0
	for _, set := range []bool{d.Random != nil, d.ShareGPT != nil, d.SharedPrefix != nil, d.MultiTurn != nil, d.JSONL != "", d.Trace != ""} {
		if set {
			kinds++
		}
	}
	switch {
	case kinds == 0:
		return errors.New("no dataset declared: a step must say what prompts are sent")
	case kinds > 1:
		return errors.New("more than one dataset declared: a scenario sends one kind of prompts")
	}
	for _, path := range []string{d.JSONL, d.Trace, shareGPTPath(d)} {
		if path == "" {
			continue
		}
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("dataset file: %w", err)
		}
	}
	if d.Trace != "" && !(d.TraceScale > 0) {
		return fmt.Errorf("trace scale %v: expected a positive factor", d.TraceScale)
	}
	return nil
}

func shareGPTPath(d *Dataset) string {
	if d.ShareGPT == nil {
		return ""
	}
	return d.ShareGPT.Path
}

// requests materialises the prompts with seed.
func (d *Dataset) requests(seed uint64) ([]load.Request, error) {
	switch {
	case d.Random != nil:
		r := *d.Random
		r.Seed, r.VocabSize = seed, VocabSize
		return r.Requests()
	case d.ShareGPT != nil:
		s := *d.ShareGPT
		s.Seed = seed
		reqs, _, err := s.Requests()
		return reqs, err
	case d.SharedPrefix != nil:
		s := *d.SharedPrefix
		s.Seed, s.VocabSize = seed, VocabSize
		return s.Requests()
	case d.MultiTurn != nil:
		m := *d.MultiTurn
		m.Seed, m.VocabSize = seed, VocabSize
		return m.Requests()
	case d.JSONL != "":
		return load.LoadJSONL(d.JSONL)
	case d.Trace != "":
		tr, err := load.LoadTrace(d.Trace, 1, VocabSize)
		return tr.Requests, err
	}
	return nil, errors.New("no dataset declared: a step must say what prompts are sent")
}

// ArrivalKind names an arrival process.
type ArrivalKind string

// The arrival processes a run can use.
const (
	ArrivePoisson  ArrivalKind = "poisson"  // Rate req/s, exponential gaps (Rate +Inf: all at once)
	ArriveGamma    ArrivalKind = "gamma"    // Rate req/s, gamma gaps with Burstiness
	ArriveConstant ArrivalKind = "constant" // Rate req/s, equal gaps
	ArriveUsers    ArrivalKind = "users"    // closed loop: Users users, each sends its next when its last ends
	ArrivePhases   ArrivalKind = "phases"   // Phases played one after another (ramp, step, soak, burst)
	ArriveTrace    ArrivalKind = "trace"    // the trace dataset's own timestamps, times the dataset's TraceScale
	ArriveBatches  ArrivalKind = "batches"  // static batches of Batch requests, each when the last has ended
	ArriveTurns    ArrivalKind = "turns"    // multi-turn conversations, each turn when its previous one ended
)

// Arrival says when prompts arrive, and how many may be in flight.
type Arrival struct {
	Kind       ArrivalKind  `json:"kind"`
	Rate       float64      `json:"-"` // written as RateString: JSON has no Inf
	RateString string       `json:"rate,omitempty"`
	Burstiness float64      `json:"burstiness,omitempty"`
	Users      int          `json:"users,omitempty"`
	Batch      int          `json:"batch,omitempty"`
	Phases     []load.Phase `json:"phases,omitempty"`
	// MaxInFlight, when positive, caps requests in flight; the wait for a
	// slot is queue time.
	MaxInFlight int `json:"max_in_flight,omitempty"`
}

// MaxRate bounds an offered rate: far beyond what one load generator
// process can send, so a typo (100000) is refused rather than attempted.
const MaxRate = 1e6

// Validate checks the arrival's own fields.
func (a *Arrival) Validate(d *Dataset) error {
	rate := func() error {
		if math.IsInf(a.Rate, 1) && a.Kind == ArrivePoisson {
			return nil
		}
		if !(a.Rate > 0) || a.Rate > MaxRate {
			return fmt.Errorf("request rate %v: expected a positive number of requests per second up to %g", a.Rate, float64(MaxRate))
		}
		return nil
	}
	var err error
	switch a.Kind {
	case ArrivePoisson, ArriveConstant:
		err = rate()
	case ArriveGamma:
		err = rate()
		if !(a.Burstiness > 0) {
			err = errors.Join(err, fmt.Errorf("burstiness %v: expected a positive factor", a.Burstiness))
		}
	case ArriveUsers:
		if a.Users <= 0 {
			err = fmt.Errorf("users %d: expected a positive number of users", a.Users)
		}
	case ArrivePhases:
		if len(a.Phases) == 0 {
			err = errors.New("no phases: a load program needs at least one phase")
		}
	case ArriveTrace:
		if d == nil || d.Trace == "" {
			err = errors.New("replaying a trace's timing needs the prompts to come from that trace")
		}
	case ArriveBatches:
		if a.Batch <= 0 {
			err = fmt.Errorf("static batch size %d: expected a positive number of requests", a.Batch)
		}
	case ArriveTurns:
		if d == nil || d.MultiTurn == nil {
			err = errors.New("playing conversations turn by turn needs multi-turn prompts (\"the prompts are N conversations of T turns ...\")")
		}
	default:
		err = fmt.Errorf("unknown arrival process %q", a.Kind)
	}
	if a.MaxInFlight < 0 {
		err = errors.Join(err, fmt.Errorf("in-flight cap %d: expected a positive number of requests", a.MaxInFlight))
	}
	return err
}

// schedule returns when each of n requests arrives. Phases and traces fix
// their own number of arrivals; n must cover it (extra prompts are unused).
func (a *Arrival) schedule(n int, seed uint64, d *Dataset) (load.Schedule, error) {
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
		tr, err := load.LoadTrace(d.Trace, d.TraceScale, VocabSize)
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
	case ArriveBatches:
		return load.NewBatches(a.Batch)
	case ArriveTurns:
		return load.NewConversations(n, d.MultiTurn.Conversations)
	}
	return nil, fmt.Errorf("unknown arrival process %q", a.Kind)
}

// Describe is the arrival process in words, as the summary header shows it.
func (a *Arrival) Describe() string {
	s := ""
	switch a.Kind {
	case ArriveUsers:
		s = fmt.Sprintf("%d closed-loop users", a.Users)
	case ArriveBatches:
		s = fmt.Sprintf("static batches of %d, each when the last has ended", a.Batch)
	case ArriveTurns:
		s = "conversations, each turn when its previous one ended"
	case ArriveGamma:
		s = fmt.Sprintf("%s req/s (gamma, burstiness %g)", RateString(a.Rate), a.Burstiness)
	case ArrivePhases:
		s = fmt.Sprintf("%d phases (ramp/step/soak/burst)", len(a.Phases))
	case ArriveConstant:
		s = fmt.Sprintf("%s req/s (constant)", RateString(a.Rate))
	case ArrivePoisson:
		s = RateString(a.Rate) + " req/s (Poisson)"
		if math.IsInf(a.Rate, 1) {
			s = "inf (all at once)"
		}
	default:
		s = string(a.Kind)
	}
	if a.MaxInFlight > 0 {
		s += fmt.Sprintf(", at most %d in flight", a.MaxInFlight)
	}
	return s
}

// RateString writes a rate as the report shows it ("inf" for +Inf).
func RateString(r float64) string {
	if math.IsInf(r, 1) {
		return "inf"
	}
	return fmt.Sprint(r)
}

// Client says how requests are sent.
type Client struct {
	API      load.API `json:"-"`
	APIName  string   `json:"api"`
	NoStream bool     `json:"no_stream,omitempty"`
	Warmup   int      `json:"warmup,omitempty"`
	// Bounds are the client self-check's limits, resolved (zero fields
	// take the load generator's defaults).
	Bounds load.Bounds `json:"self_check"`
}

// Validate checks the client's fields.
func (c *Client) Validate() error {
	if c.Warmup < 0 {
		return fmt.Errorf("warmup requests %d: expected 0 or more", c.Warmup)
	}
	if c.Bounds.MaxScheduleLag < 0 || c.Bounds.MaxCPUBusy < 0 || c.Bounds.MaxCPUBusy > 1 {
		return fmt.Errorf("self-check bounds %+v: expected a positive lag and a CPU fraction in (0, 1]", c.Bounds)
	}
	return nil
}

// Work is a plan's requests and when they arrive, materialised.
type Work struct {
	Requests []load.Request
	// Schedule decides arrivals; Offsets is it as open-loop offsets, nil
	// for a closed loop.
	Schedule load.Schedule
	Offsets  load.Offsets
	// End is the last planned arrival; zero for a closed loop, whose
	// arrivals depend on completions.
	End time.Duration
}

// Work materialises the prompts and their schedule with the plan's seed.
// A closed loop's schedule is stateful: call Work once per execution.
func (p *Plan) Work() (Work, error) {
	reqs, err := p.Dataset.requests(p.Seed)
	if err != nil {
		return Work{}, err
	}
	if len(reqs) == 0 {
		return Work{}, errors.New("the dataset gave no prompts (check its filters and count)")
	}
	sched, err := p.Arrival.schedule(len(reqs), p.Seed, &p.Dataset)
	if err != nil {
		return Work{}, err
	}
	w := Work{Requests: reqs, Schedule: sched}
	if o, ok := sched.(load.Offsets); ok {
		if len(o) < len(reqs) {
			w.Requests = reqs[:len(o)] // the schedule fixed the count; the rest of the prompts are not sent
		}
		w.Offsets = o[:len(w.Requests)]
		for _, at := range w.Offsets {
			w.End = max(w.End, at)
		}
	}
	return w, nil
}
