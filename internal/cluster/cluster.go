package cluster

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/sgltest/sgltest/internal/api"
	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/simulator"
)

// Request is one request of a workload: when it arrives, its prompt and how
// many tokens it generates (max_new_tokens with ignore_eos, as sgltest
// sends them).
type Request struct {
	// Arrival is the offset from the run's start; requests must come in
	// non-decreasing arrival order.
	Arrival time.Duration
	// InputIDs are the prompt's token ids, which the radix cache keys on.
	// Without them InputTokens gives the length and the prompt is
	// uncacheable (see simulator.Request).
	InputIDs    []int
	InputTokens int
	// OutputTokens is max_new_tokens.
	OutputTokens int
}

// Config describes the simulated cluster.
type Config struct {
	Profile simulator.Profile
	// Engine configures every engine alike.
	Engine simulator.EngineConfig
	// Engines is how many engines serve; at least 1.
	Engines int
	// Router picks each request's engine; nil means RoundRobin.
	Router Router
	// Seed seeds engine i's step-time noise with Seed+i.
	Seed int64

	// stepwise delivers every step's outputs at its end (no
	// simulator.Engine.DeferOutputs), for tests that prove both agree.
	stepwise bool
}

// Event priorities at one instant: routing before a request reaches its
// engine, that before a step ends, and a step ending before an idle engine
// starts one, so every request that reaches an engine at t is in the batch
// a step starting at t forms.
const (
	prioEnqueue = iota + 1
	prioStepEnd
	prioStepStart
)

type event struct {
	at     time.Duration
	prio   uint8
	seq    uint64
	engine int32
	req    int32
}

func (a *event) before(b *event) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	if a.prio != b.prio {
		return a.prio < b.prio
	}
	return a.seq < b.seq
}

// eventQueue is a binary min-heap of events by value (no allocation per
// event, no interface calls).
type eventQueue struct {
	ev  []event
	seq uint64
}

func (q *eventQueue) push(e event) {
	q.seq++
	e.seq = q.seq
	q.ev = append(q.ev, e)
	i := len(q.ev) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !q.ev[i].before(&q.ev[p]) {
			break
		}
		q.ev[i], q.ev[p] = q.ev[p], q.ev[i]
		i = p
	}
}

func (q *eventQueue) pop() event {
	top := q.ev[0]
	n := len(q.ev) - 1
	q.ev[0] = q.ev[n]
	q.ev = q.ev[:n]
	q.down()
	return top
}

// replaceTop is pop then push(e) in one sift: a step's end is most often
// replaced by the same engine's next.
func (q *eventQueue) replaceTop(e event) {
	q.seq++
	e.seq = q.seq
	q.ev[0] = e
	q.down()
}

func (q *eventQueue) down() {
	n := len(q.ev)
	i := 0
	for {
		l, m := 2*i+1, i
		if l < n && q.ev[l].before(&q.ev[m]) {
			m = l
		}
		if r := l + 1; r < n && q.ev[r].before(&q.ev[m]) {
			m = r
		}
		if m == i {
			return
		}
		q.ev[i], q.ev[m] = q.ev[m], q.ev[i]
		i = m
	}
}

type node struct {
	eng         *simulator.Engine
	step        simulator.Step // the step in flight
	busy        bool           // a step is in flight or a start is queued
	frontend    int            // routed, not yet in the engine
	outstanding int
	// stale says the router's EngineState for this node may be out of
	// date: its engine was stepped or added to, or its counts moved.
	stale bool
}

// Run simulates reqs on the cluster in virtual time and calls emit with each
// request's record as it finishes (in finishing order), so a long run need
// not hold every record. It returns an error for an invalid configuration
// or workload, naming the field or request.
func Run(cfg Config, reqs []Request, emit func(metrics.Record)) error {
	if cfg.Engines < 1 {
		return fmt.Errorf("cluster: Engines must be at least 1, got %d", cfg.Engines)
	}
	if len(reqs) > math.MaxInt32 {
		return fmt.Errorf("cluster: %d requests is more than %d", len(reqs), math.MaxInt32)
	}
	for i := range reqs {
		r := &reqs[i]
		switch {
		case i > 0 && r.Arrival < reqs[i-1].Arrival:
			return fmt.Errorf("cluster: request %d arrives at %v, before request %d at %v: arrivals must be in order", i, r.Arrival, i-1, reqs[i-1].Arrival)
		case r.Arrival < 0:
			return fmt.Errorf("cluster: request %d arrives at %v: arrival must not be negative", i, r.Arrival)
		case r.OutputTokens < 0:
			return fmt.Errorf("cluster: request %d: OutputTokens must not be negative, got %d", i, r.OutputTokens)
		}
	}
	router := cfg.Router
	if router == nil {
		router = RoundRobin()
	}
	nodes := make([]node, cfg.Engines)
	for i := range nodes {
		eng, err := simulator.NewEngine(cfg.Engine, cfg.Profile, cfg.Seed+int64(i))
		if err != nil {
			return fmt.Errorf("cluster: engine %d: %w", i, err)
		}
		if !cfg.stepwise {
			eng.DeferOutputs() // each step's outputs are consumed before the next
		}
		nodes[i].eng = eng
		nodes[i].stale = true
	}
	maxTotal := nodes[0].eng.Limits().MaxTotalTokens
	feIn := time.Duration(math.Round(cfg.Profile.Frontend.InputOverhead.Value * 1e9))

	live := make([]*metrics.Record, len(reqs))
	target := make([]int32, len(reqs))
	states := make([]EngineState, cfg.Engines)
	targets := make([]string, cfg.Engines)
	for k := range targets {
		targets[k] = "virtual://engine-" + strconv.Itoa(k)
	}
	var q eventQueue
	finish := func(i int, k int32, rec *metrics.Record) {
		nodes[k].outstanding--
		nodes[k].stale = true
		live[i] = nil
		emit(*rec)
	}
	// startStep runs engine k's next step at now, or marks it idle. It
	// takes the place of the queue's top event, which is being handled.
	startStep := func(k int32, now time.Duration) {
		n := &nodes[k]
		n.stale = true
		st := n.eng.Step(now)
		if st.Kind == simulator.StepIdle {
			n.busy = false
			q.pop()
			return
		}
		n.busy, n.step = true, st
		q.replaceTop(event{at: st.End, prio: prioStepEnd, engine: k})
	}

	next := 0
	for next < len(reqs) || len(q.ev) > 0 {
		// Arrivals come first at any instant (priority 0).
		if next < len(reqs) && (len(q.ev) == 0 || reqs[next].Arrival <= q.ev[0].at) {
			i := next
			next++
			r := &reqs[i]
			// Only engines touched since the last routing can have changed:
			// a few of many, as most are mid-step.
			for k := range nodes {
				if !nodes[k].stale {
					continue
				}
				nodes[k].stale = false
				u := nodes[k].eng.Usage()
				states[k] = EngineState{Running: u.Running, Waiting: u.Queued + nodes[k].frontend,
					UsedTokens: u.UsedTokens, MaxTotalTokens: maxTotal, Outstanding: nodes[k].outstanding}
			}
			k := router.Route(r, states)
			if k < 0 || k >= len(nodes) {
				return fmt.Errorf("cluster: router chose engine %d for request %d; there are %d engines", k, i, len(nodes))
			}
			target[i] = int32(k)
			nodes[k].frontend++
			nodes[k].outstanding++
			nodes[k].stale = true
			n := r.InputTokens
			if n == 0 {
				n = len(r.InputIDs)
			}
			live[i] = &metrics.Record{
				Index: i, RID: "req-" + strconv.Itoa(i), Target: targets[k],
				InputTokens: n, RequestedOutputTokens: r.OutputTokens,
				Scheduled: r.Arrival, Arrival: r.Arrival, Sent: r.Arrival,
				// One chunk per token at the default stream interval; one
				// allocation instead of a growing slice.
				Chunks: make([]metrics.Chunk, 0, max(r.OutputTokens, 1)),
			}
			q.push(event{at: r.Arrival + feIn, prio: prioEnqueue, engine: int32(k), req: int32(i)})
			continue
		}
		ev := q.ev[0] // step events leave the top to startStep
		n := &nodes[ev.engine]
		switch ev.prio {
		case prioEnqueue:
			q.pop()
			n.frontend--
			n.stale = true
			i := int(ev.req)
			r, rec := &reqs[i], live[i]
			err := n.eng.Add(simulator.Request{
				ID: rec.RID, InputTokens: r.InputTokens, InputIDs: r.InputIDs, MaxNewTokens: r.OutputTokens,
				Arrival: ev.at, Stream: true, Tag: i,
			})
			if err != nil {
				rec.Status, rec.Error, rec.Done = 400, err.Error(), ev.at
				if errors.Is(err, simulator.ErrQueueFull) {
					rec.Status = 503
				}
				finish(i, ev.engine, rec)
				continue
			}
			if !n.busy {
				n.busy = true
				q.push(event{at: ev.at, prio: prioStepStart, engine: ev.engine})
			}
		case prioStepStart:
			startStep(ev.engine, ev.at)
		case prioStepEnd:
			for _, o := range n.step.Outputs {
				rec := live[o.Tag]
				if len(o.Times) > 0 {
					// A run of outputs from deferred decode steps; never the
					// first or the finishing one.
					for _, at := range o.Times {
						rec.Chunks = append(rec.Chunks, metrics.Chunk{At: at, Tokens: o.NewTokens})
					}
					continue
				}
				if o.NewTokens > 0 {
					if rec.FirstToken == 0 {
						rec.FirstToken = o.At
					}
					rec.Chunks = append(rec.Chunks, metrics.Chunk{At: o.At, Tokens: o.NewTokens})
				}
				if o.Finished {
					rec.Status, rec.Done = 200, o.At
					rec.OutputTokens, rec.CachedTokens = o.Generated, o.CachedTokens
					if o.FinishReason == api.FinishAbort {
						rec.Error = "aborted by the scheduler: the KV pool cannot hold the request"
					}
					finish(o.Tag, ev.engine, rec)
				}
			}
			startStep(ev.engine, ev.at)
		}
	}
	for i, rec := range live {
		if rec != nil {
			return fmt.Errorf("cluster: request %d never finished on engine %d (simulator bug)", i, target[i])
		}
	}
	return nil
}

// Records runs the simulation and returns every record in workload order.
func Records(cfg Config, reqs []Request) ([]metrics.Record, error) {
	out := make([]metrics.Record, len(reqs))
	err := Run(cfg, reqs, func(r metrics.Record) { out[r.Index] = r })
	if err != nil {
		return nil, err
	}
	return out, nil
}
