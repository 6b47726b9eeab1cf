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
	// Targets names the engines in the records; nil means
	// "virtual://engine-<i>".
	Targets []string

	// Faults happen to engines during the run (see Fault).
	Faults []Fault
	// Startup is how long a restored or restarted engine takes before it
	// serves (model loading, for the simulator its startup delay).
	Startup time.Duration
	// Detect is how often a router checks its engines' health: a change is
	// seen at the next multiple of Detect (at once when zero), and a pause
	// DetectTimeout after that (a health check that hangs until it times
	// out). The router sees a down engine in EngineState.Down.
	Detect, DetectTimeout time.Duration
	// Timeout, when positive, fails a request not finished this long after
	// it was sent; the engine aborts it.
	Timeout time.Duration
	// SampleEvery, when positive, calls OnSample for every serving engine
	// at each multiple of it while the run goes on, as a scrape of its
	// /metrics would.
	SampleEvery time.Duration
	OnSample    func(engine int, at time.Duration, s EngineSample)
	// OnEvent, when set, receives each Event.
	OnEvent func(Event)

	// stepwise delivers every step's outputs at its end (no
	// simulator.Engine.DeferOutputs), for tests that prove both agree.
	stepwise bool
}

// EngineSample is what a scrape of one engine's /metrics would read: its
// exact state, its scheduler gauges and the counters of this incarnation
// (a restarted engine counts from zero, as a restarted process does).
type EngineSample struct {
	Usage   simulator.Usage
	Metrics simulator.EngineMetrics
	// Requests, PromptTokens, GenerationTokens and CachedTokens count the
	// requests this engine finished, as sglang:num_requests_total and the
	// token counters do.
	Requests, PromptTokens, GenerationTokens, CachedTokens int64
	// Elapsed is the time since this incarnation started; Busy how much of
	// it the engine spent in steps (a step in flight counts up to now).
	Elapsed, Busy time.Duration
}

// Event priorities at one instant: a fault before anything reaches an
// engine, routing before a request reaches its engine, that before a step
// ends, a step ending before an idle engine starts one (so every request
// that reaches an engine at t is in the batch a step starting at t forms),
// then timeouts, what routers believe, and samples last.
const (
	prioFault = iota + 1
	prioEnqueue
	prioStepEnd
	prioStepStart
	prioTimeout
	prioBelief
	prioSample
)

type event struct {
	at     time.Duration
	prio   uint8
	seq    uint64
	engine int32
	req    int32 // the request; for a fault, its index in the sorted faults
	gen    uint32
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

	// gen counts the engine's incarnations; a step event of an earlier
	// one is dropped.
	gen  uint32
	cfg  simulator.EngineConfig
	down bool // killed, stopped or restarting: not serving
	// believedDown is what routers see (EngineState.Down).
	believedDown bool
	downAt       time.Duration
	// pauseFrom and pauseTo bound the current or last pause; shift is set
	// while the step in flight when it began still has to be delayed.
	pauseFrom, pauseTo time.Duration
	shift              bool
	counts             EngineSample // counters of this incarnation
	// born is when this incarnation started; busy its time in finished
	// steps and the one in flight, whole.
	born, busyTime time.Duration
}

func (n *node) paused(at time.Duration) bool { return at >= n.pauseFrom && at < n.pauseTo }

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
	if cfg.Targets != nil && len(cfg.Targets) != cfg.Engines {
		return fmt.Errorf("cluster: %d target names for %d engines", len(cfg.Targets), cfg.Engines)
	}
	if err := checkFaults(cfg.Faults, cfg.Engines); err != nil {
		return err
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
	// Aborting a request (a timeout) and delaying a step (a pause) need
	// every step's outputs at its end, not deferred inside the engine.
	stepwise := cfg.stepwise || cfg.Timeout > 0
	for _, f := range cfg.Faults {
		stepwise = stepwise || f.Kind == Pause
	}
	nodes := make([]node, cfg.Engines)
	newEngine := func(k int, ec simulator.EngineConfig) (*simulator.Engine, error) {
		// A later incarnation draws other noise than the first.
		eng, err := simulator.NewEngine(ec, cfg.Profile, cfg.Seed+int64(k)+int64(nodes[k].gen)*1_000_003)
		if err != nil {
			return nil, fmt.Errorf("cluster: engine %d: %w", k, err)
		}
		if !stepwise {
			eng.DeferOutputs() // each step's outputs are consumed before the next
		}
		return eng, nil
	}
	for i := range nodes {
		nodes[i].cfg = cfg.Engine
		eng, err := newEngine(i, cfg.Engine)
		if err != nil {
			return err
		}
		nodes[i].eng = eng
		nodes[i].stale = true
	}
	faults := sortedFaults(cfg.Faults)
	for _, f := range faults {
		if f.Kind == Restart {
			if _, err := simulator.NewEngine(f.Config, cfg.Profile, 0); err != nil {
				return fmt.Errorf("cluster: restart of engine %d at %v: %w", f.Engine, f.At, err)
			}
		}
	}
	maxTotal := nodes[0].eng.Limits().MaxTotalTokens
	feIn := time.Duration(math.Round(cfg.Profile.Frontend.InputOverhead.Value * 1e9))

	live := make([]*metrics.Record, len(reqs))
	target := make([]int32, len(reqs))
	states := make([]EngineState, cfg.Engines)
	targets := cfg.Targets
	if targets == nil {
		targets = make([]string, cfg.Engines)
		for k := range targets {
			targets[k] = "virtual://engine-" + strconv.Itoa(k)
		}
	}
	var q eventQueue
	// pending counts queued events other than samples: the run goes on
	// while there are some, or arrivals to come.
	pending := 0
	push := func(e event) {
		if e.prio != prioSample {
			pending++
		}
		q.push(e)
	}
	pop := func() event {
		e := q.pop()
		if e.prio != prioSample {
			pending--
		}
		return e
	}
	report := func(e Event) {
		if cfg.OnEvent != nil {
			cfg.OnEvent(e)
		}
	}
	finish := func(i int, k int32, rec *metrics.Record) {
		n := &nodes[k]
		n.outstanding--
		n.stale = true
		live[i] = nil
		emit(*rec)
	}
	// fail ends every live request on engine k at t with why.
	fail := func(k int32, t time.Duration, why string) {
		for i, rec := range live {
			if rec != nil && target[i] == k {
				rec.Error, rec.Done = why, t
				finish(i, k, rec)
			}
		}
		nodes[k].frontend = 0
	}
	// believe schedules the health check that sees engine k's change: it
	// reads the engine's state when it runs, so a change undone by then
	// (a restart faster than the check) is never seen.
	believe := func(k int, at time.Duration, down bool) {
		if cfg.Detect > 0 {
			at = (at + cfg.Detect - 1) / cfg.Detect * cfg.Detect
			if down && nodes[k].paused(at) {
				at += cfg.DetectTimeout
			}
		}
		push(event{at: at, prio: prioBelief, engine: int32(k)})
	}
	// startStep runs engine k's next step at now, or marks it idle. It
	// takes the place of the queue's top event, which is being handled.
	startStep := func(k int32, now time.Duration) {
		n := &nodes[k]
		n.stale = true
		st := n.eng.Step(now)
		if st.Kind == simulator.StepIdle {
			n.busy = false
			pop()
			return
		}
		n.busy, n.step = true, st
		n.busyTime += st.End - st.Start
		q.replaceTop(event{at: st.End, prio: prioStepEnd, engine: k, gen: n.gen})
	}
	for i, f := range faults {
		push(event{at: f.At, prio: prioFault, engine: int32(f.Engine), req: int32(i)})
	}
	if cfg.SampleEvery > 0 {
		push(event{at: 0, prio: prioSample})
	}

	next := 0
	for next < len(reqs) || pending > 0 {
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
				n := &nodes[k]
				states[k] = EngineState{Waiting: n.frontend, MaxTotalTokens: maxTotal, Outstanding: n.outstanding, Down: n.believedDown}
				if n.eng != nil {
					u := n.eng.Usage()
					states[k].Running, states[k].Waiting, states[k].UsedTokens = u.Running, u.Queued+n.frontend, u.UsedTokens
				}
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
			push(event{at: r.Arrival + feIn, prio: prioEnqueue, engine: int32(k), req: int32(i)})
			if cfg.Timeout > 0 {
				push(event{at: r.Arrival + cfg.Timeout, prio: prioTimeout, engine: int32(k), req: int32(i)})
			}
			continue
		}
		ev := q.ev[0] // step events leave the top to startStep
		n := &nodes[ev.engine]
		if ev.prio == prioFault {
			pop()
			k := int(ev.engine)
			switch ev.req {
			case readyMarker:
				eng, err := newEngine(k, n.cfg)
				if err != nil {
					return err
				}
				n.eng, n.down, n.stale, n.counts = eng, false, true, EngineSample{}
				n.born, n.busyTime = ev.at, 0
				report(Event{At: ev.at, Engine: k, Kind: EventReady, Away: ev.at - n.downAt})
				believe(k, ev.at, false)
				continue
			case resumeMarker:
				if !n.down {
					report(Event{At: ev.at, Engine: k, Kind: EventResumed})
					believe(k, ev.at, false)
				}
				continue
			}
			f := faults[ev.req]
			switch f.Kind {
			case Kill, Stop, Restart:
				if n.down {
					continue // already down: nothing to end
				}
				why := fmt.Sprintf("transport: connection reset (%s %s)", targets[k], f.Kind)
				kind := string(f.Kind)
				if f.Kind == Restart {
					why = fmt.Sprintf("transport: connection reset (%s restarting)", targets[k])
					kind = EventRestarting
					n.cfg = f.Config
				}
				n.gen++
				n.down, n.downAt, n.eng, n.busy, n.shift = true, ev.at, nil, false, false
				n.pauseFrom, n.pauseTo = 0, 0
				n.stale = true
				fail(ev.engine, ev.at, why)
				report(Event{At: ev.at, Engine: k, Kind: kind})
				believe(k, ev.at, true)
				if f.Kind == Restart {
					push(event{at: ev.at + cfg.Startup, prio: prioFault, engine: ev.engine, req: readyMarker})
				}
			case Restore:
				report(Event{At: ev.at, Engine: k, Kind: EventRestoring})
				push(event{at: ev.at + cfg.Startup, prio: prioFault, engine: ev.engine, req: readyMarker})
			case Pause:
				if n.down {
					continue
				}
				n.pauseFrom, n.pauseTo = ev.at, ev.at+f.For
				n.shift = n.busy && n.step.End > ev.at
				report(Event{At: ev.at, Engine: k, Kind: string(Pause)})
				push(event{at: n.pauseTo, prio: prioFault, engine: ev.engine, req: resumeMarker})
				believe(k, ev.at, true)
			}
			continue
		}
		switch ev.prio {
		case prioBelief:
			pop()
			down := n.down || n.paused(ev.at)
			if n.believedDown != down {
				n.believedDown = down
				n.stale = true
				kind := EventHealthy
				if down {
					kind = EventUnhealthy
				}
				report(Event{At: ev.at, Engine: int(ev.engine), Kind: kind})
			}
		case prioSample:
			pop()
			for k := range nodes {
				m := &nodes[k]
				if m.down || m.paused(ev.at) || cfg.OnSample == nil {
					continue
				}
				smp := m.counts
				smp.Usage, smp.Metrics = m.eng.Usage(), m.eng.Metrics()
				smp.Elapsed, smp.Busy = ev.at-m.born, m.busyTime
				if m.busy && m.step.End > ev.at {
					smp.Busy -= m.step.End - max(m.step.Start, ev.at) // the rest of the step in flight
				}
				cfg.OnSample(k, ev.at, smp)
			}
			if next < len(reqs) || pending > 0 {
				push(event{at: ev.at + cfg.SampleEvery, prio: prioSample})
			}
		case prioTimeout:
			pop()
			i := int(ev.req)
			rec := live[i]
			if rec == nil {
				continue
			}
			if n.eng != nil {
				n.eng.Abort(rec.RID)
			}
			rec.Error = fmt.Sprintf("timed out after %v (request timeout)", cfg.Timeout)
			rec.Done = ev.at
			finish(i, ev.engine, rec)
		case prioEnqueue:
			pop()
			i := int(ev.req)
			rec := live[i]
			if rec == nil {
				continue // ended meanwhile (timed out, or its engine died)
			}
			if n.paused(ev.at) {
				push(event{at: n.pauseTo, prio: prioEnqueue, engine: ev.engine, req: ev.req})
				continue
			}
			n.frontend--
			n.stale = true
			if n.down {
				rec.Error, rec.Done = fmt.Sprintf("transport: connection refused (%s is down)", targets[ev.engine]), ev.at
				finish(i, ev.engine, rec)
				continue
			}
			r := &reqs[i]
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
				push(event{at: ev.at, prio: prioStepStart, engine: ev.engine, gen: n.gen})
			}
		case prioStepStart:
			if ev.gen != n.gen {
				pop()
				continue
			}
			if n.paused(ev.at) {
				q.replaceTop(event{at: n.pauseTo, prio: prioStepStart, engine: ev.engine, gen: n.gen})
				continue
			}
			startStep(ev.engine, ev.at)
		case prioStepEnd:
			if ev.gen != n.gen {
				pop()
				continue
			}
			if n.shift {
				// The step was running when the engine froze: it ends later
				// by the pause's length, and so does everything it shows.
				n.shift = false
				d := n.pauseTo - n.pauseFrom
				n.step.End += d
				for j := range n.step.Outputs {
					o := &n.step.Outputs[j]
					if o.At >= n.pauseFrom {
						o.At += d
					}
					for t := range o.Times {
						if o.Times[t] >= n.pauseFrom {
							o.Times[t] += d
						}
					}
				}
				q.replaceTop(event{at: n.step.End, prio: prioStepEnd, engine: ev.engine, gen: n.gen})
				continue
			}
			for _, o := range n.step.Outputs {
				rec := live[o.Tag]
				if rec == nil {
					continue // timed out while the step ran
				}
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
					n.counts.Requests++
					n.counts.PromptTokens += int64(rec.InputTokens)
					n.counts.GenerationTokens += int64(o.Generated)
					n.counts.CachedTokens += int64(o.CachedTokens)
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
