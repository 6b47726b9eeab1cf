package load

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/monotime"
)

// Generator sends a workload and measures every request. When a request
// arrives is the Schedule's business (open loop: precomputed Offsets;
// closed loop: ClosedLoop); when an arrived request is sent is the
// Generator's: at once (the default, continuous mode), when one of
// MaxConcurrency slots is free, or with its static Batch. Either wait is
// queue time (Sent − Arrival) and counts in total latency.
type Generator struct {
	Client *Client
	// Target is the base URL every request goes to (a server or a router),
	// unless Route is set.
	Target string
	// Route, when set, picks each request's target at the moment it is
	// about to be sent (sgltest's dispatcher), after any wait for a slot;
	// done is called when the request ends. The Record's Routed time is
	// when Route returned. A Route error fails that request, unsent.
	Route func(req Request) (target string, done func(), err error)
	// RIDPrefix is prepended to each request's index to form its rid, so
	// server logs and /abort_request can name it.
	RIDPrefix string
	Logger    *slog.Logger

	// MaxConcurrency, when positive, caps requests in flight; arrived
	// requests wait for a slot in arrival order (FIFO).
	MaxConcurrency int
	// Batch, when its Size is positive, sends requests in static batches
	// (see Batch). It cannot be combined with MaxConcurrency.
	Batch Batch
	// Warmup is the number of warmup requests: copies of the first request
	// with at most 32 output tokens (bench_serving's --warmup-requests),
	// sent together before the start instant and awaited. Their Records
	// have Warmup set and are kept out of every figure; the run fails if
	// every one of them fails.
	Warmup int
	// MaxInFlight bounds the requests the client has in flight at once,
	// and with them its goroutines, connections and buffers; zero means
	// DefaultMaxInFlight, and either is lowered to fit the process's
	// open-file limit. A request that arrives with MaxInFlight already in
	// flight waits for one to end, and the run is then invalid (see
	// Health): past this bound the arrivals are no longer the schedule's.
	MaxInFlight int
	// Bounds are the self-check's limits (see Health); zero fields take
	// their documented defaults.
	Bounds Bounds
	// RequestTimeout, when positive, fails a request still going this long
	// after it was sent; its Error says so.
	RequestTimeout time.Duration
	// OnStart, when set, is called with the start instant, the run's time
	// base, as soon as it is taken and before the first arrival. The first
	// arrivals wait for it, and their schedule lag counts its time: it must
	// only record the instant and start what takes longer in the background.
	OnStart func(start time.Time)
	// Discard drops each measured Record once the Sink has it: Play's
	// Result.Records then holds the warmup records only, and the memory a
	// run holds does not grow with what it has measured.
	Discard bool
}

// DefaultMaxInFlight is the default bound on requests in flight: far more
// than any one server runs at once (SGLang's max running requests are in
// the hundreds), few enough that the client's memory stays bounded (tens of
// kilobytes per request in flight).
const DefaultMaxInFlight = 10000

// Batch is static client-side batching: arrived requests are held until
// Size of them have arrived or Timeout has passed since the first of them
// arrived, then sent together. The hold is queue time.
type Batch struct {
	Size    int
	Timeout time.Duration
}

// Schedule decides when each request arrives. The Generator calls Arrive
// for requests 0, 1, 2... in order from one goroutine, and Finished from
// each request's goroutine when it ends. Two implementations: Offsets
// (open loop, precomputed from the start instant) and ClosedLoop (a fixed
// number of users, each sending its next request when its last finished).
type Schedule interface {
	// Arrive blocks until request i is due and returns the offset from the
	// start instant at which it was due (its Scheduled time). It returns
	// ctx's error if ctx ends first.
	Arrive(ctx context.Context, i int, clock *Clock) (time.Duration, error)
	// Finished reports that request i ended at offset at.
	Finished(i int, at time.Duration)
}

// Orderer is a Schedule whose requests arrive in an order of its own: the
// Generator asks it for the next one instead of calling Arrive with
// 0, 1, 2, ... (Conversations: a conversation's next turn arrives when its
// previous one ends, whatever the other conversations do).
type Orderer interface {
	Schedule
	// Next blocks until a request is due and returns its index and the
	// offset at which it was due; each index exactly once.
	Next(ctx context.Context, clock *Clock) (i int, due time.Duration, err error)
}

// Offsets is an open-loop schedule: request i is due at offset Offsets[i]
// from the start instant, whatever happens to the others. A late wake-up
// delays one request and never the ones after it.
type Offsets []time.Duration

// Arrive sleeps until the start instant + o[i].
func (o Offsets) Arrive(ctx context.Context, i int, clock *Clock) (time.Duration, error) {
	return o[i], clock.SleepUntil(ctx, o[i])
}

// Finished does nothing: open-loop arrivals do not depend on completions.
func (Offsets) Finished(int, time.Duration) {}

// ClosedLoop is a closed-loop schedule of a fixed number of users: each
// sends a request, waits for it to end, and sends its next at once. All
// users start at offset 0; a request is due when the one it follows ended,
// so Arrival − Scheduled is the generator's own reaction lag.
type ClosedLoop struct {
	free chan time.Duration
}

// NewClosedLoop returns a closed loop of users users.
func NewClosedLoop(users int) (*ClosedLoop, error) {
	if users <= 0 {
		return nil, fmt.Errorf("closed loop: users must be positive, got %d", users)
	}
	c := &ClosedLoop{free: make(chan time.Duration, users)}
	for range users {
		c.free <- 0
	}
	return c, nil
}

// Arrive waits for a user to be free.
func (c *ClosedLoop) Arrive(ctx context.Context, _ int, _ *Clock) (time.Duration, error) {
	select {
	case at := <-c.free:
		return at, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Finished frees the request's user as of at.
func (c *ClosedLoop) Finished(_ int, at time.Duration) { c.free <- at }

// Clock is the run's time base: offsets from one start instant on Go's
// monotonic clock. It is used by the arrival goroutine only.
type Clock struct {
	start   time.Time
	sleeper monotime.Sleeper
}

// Now is the offset from the start instant.
func (c *Clock) Now() time.Duration { return time.Since(c.start) }

// SleepUntil sleeps until the start instant + at, with sub-millisecond
// precision (see monotime); it returns at once when that is past, and
// ctx's error if ctx ends first.
func (c *Clock) SleepUntil(ctx context.Context, at time.Duration) error {
	return c.sleeper.Until(ctx, c.start.Add(at))
}

// Sink receives each Record as its request finishes, from the request's own
// goroutine: it must be safe for concurrent use. An error from it is kept
// and returned by Run; measuring goes on, since the other records are still
// worth keeping.
type Sink func(metrics.Record) error

// Result is what a run measured: every Record (warmup first, then the
// workload in order) and the client's self-check.
type Result struct {
	Records []metrics.Record
	Health  Health
}

// Run sends reqs[i] at start+arrivals[i] (open loop) and returns every
// Record; it is Play with Offsets, without the Health.
func (g *Generator) Run(ctx context.Context, reqs []Request, arrivals []time.Duration, sink Sink) ([]metrics.Record, error) {
	if len(reqs) != len(arrivals) {
		return nil, fmt.Errorf("load: %d requests but %d arrival times", len(reqs), len(arrivals))
	}
	res, err := g.Play(ctx, reqs, Offsets(arrivals), sink)
	return res.Records, err
}

// Play sends reqs as s schedules them and returns every Record, in
// workload order after the warmup records, once all have finished. The
// start instant, the run's time base, is taken once every request body is
// encoded and the warmup is over, so arrival 0 is not late by either; all
// Record offsets are measured from it on the monotonic clock (warmup
// records have negative ones).
//
// Cancelling ctx stops sending: requests in flight end with a context
// error, requests arrived but still queued are recorded as failed and not
// sent, requests not yet arrived get no Record. Play then returns the
// records it has with ctx's error.
func (g *Generator) Play(ctx context.Context, reqs []Request, s Schedule, sink Sink) (Result, error) {
	if g.MaxConcurrency > 0 && g.Batch.Size > 0 {
		return Result{}, errors.New("load: a concurrency cap and static batching cannot be combined")
	}
	if g.Batch.Size > 0 && g.Batch.Timeout <= 0 {
		return Result{}, fmt.Errorf("load: static batching needs a positive timeout, got %v", g.Batch.Timeout)
	}
	if off, ok := s.(Offsets); ok && len(off) != len(reqs) {
		return Result{}, fmt.Errorf("load: %d requests but %d arrival times", len(reqs), len(off))
	}
	bounds, err := g.Bounds.resolve()
	if err != nil {
		return Result{}, err
	}
	log := g.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	prep := make([]prepared, len(reqs))
	for i, r := range reqs {
		p, err := g.Client.prepare(r, fmt.Sprintf("%s%d", g.RIDPrefix, r.Index))
		if err != nil {
			return Result{}, fmt.Errorf("load: encoding request %d: %w", r.Index, err)
		}
		prep[i] = p
	}
	maxInFlight, err := inFlightBound(g.MaxInFlight)
	if err != nil {
		return Result{}, err
	}
	r := &run{g: g, sink: sink, schedule: s}
	var warm []metrics.Record
	if g.Warmup > 0 && len(reqs) > 0 {
		if warm, err = r.warmup(ctx, reqs[0]); err != nil {
			return Result{Records: warm}, err
		}
	}

	var records []metrics.Record
	var sent []bool
	if !g.Discard {
		records = make([]metrics.Record, len(reqs))
		sent = make([]bool, len(reqs))
	}
	lags := make([]time.Duration, 0, len(reqs))
	// Everything the run needs is set up before the start instant is taken,
	// so that arrival 0 is late by none of it. The workers and the admission
	// goroutine read the clock only for jobs sent after it is set.
	clock := &Clock{}
	r.now = clock.Now
	log.Info("load started", "requests", len(reqs), "target", g.Target, "api", g.Client.API.String(), "max_in_flight", maxInFlight)
	r.pool = newPool(ctx, r, maxInFlight, len(reqs))
	admit := r.admitter(ctx, len(reqs))
	restore := preciseSleeps()
	cpu0, cpuErr := cpuTime()
	clock.start = time.Now()
	if g.OnStart != nil {
		g.OnStart(clock.start)
	}
	for i := range warm {
		shiftRecord(&warm[i], -clock.start.Sub(r.warmStart))
		r.emit(warm[i])
	}
	var cancelled error
	for k := range prep {
		i, sched, err := k, time.Duration(0), error(nil)
		if o, ok := s.(Orderer); ok {
			i, sched, err = o.Next(ctx, clock)
		} else {
			sched, err = s.Arrive(ctx, i, clock)
		}
		if err == nil {
			err = ctx.Err()
		}
		if err != nil {
			cancelled = err
			break
		}
		var rec *metrics.Record
		if g.Discard {
			rec = new(metrics.Record)
		} else {
			rec = &records[i]
			sent[i] = true
		}
		rec.Arrival = clock.Now()
		rec.Scheduled = sched
		rec.Index = prep[i].req.Index
		rec.RID = prep[i].rid
		rec.InputTokens = prep[i].req.inputTokens()
		rec.RequestedOutputTokens = prep[i].req.OutputTokens
		lags = append(lags, rec.Arrival-rec.Scheduled)
		admit(job{i: i, p: &prep[i], rec: rec})
	}
	restore()
	r.closeAdmission()
	r.pool.close()
	wall := clock.Now()
	cpu1, cpuErr1 := cpuTime()

	out := append(warm, records[:0]...)
	for i := range records {
		if sent[i] {
			out = append(out, records[i])
		}
	}
	h := bounds.check(lags, r.pool.handedOff(), cpu1-cpu0, wall, errors.Join(cpuErr, cpuErr1))
	r.pool.report(&h, len(lags))
	log.Info("load finished", "sent", len(lags), "of", len(reqs), "valid", h.Valid, "schedule_lag_p99", h.ScheduleLagP99, "handoff_p99", h.HandoffP99, "cpu_busy", h.CPUBusy)
	if !h.Valid {
		log.Warn("load generator self-check failed", "reason", h.Reason)
	}
	return Result{Records: out, Health: h}, errors.Join(cancelled, r.sinkErr)
}

// job is one arrived request waiting to be sent.
type job struct {
	i   int
	p   *prepared
	rec *metrics.Record
	// release, if not nil, runs when the request ends (a concurrency
	// slot).
	release func()
	// queuedAt is when the job found every worker busy at the in-flight
	// bound; zero when it did not.
	queuedAt time.Duration
	// readyAt is when it was handed to the pool.
	readyAt time.Duration
}

// run is one Play's shared state.
type run struct {
	g        *Generator
	sink     Sink
	schedule Schedule
	now      func() time.Duration
	pool     *pool

	sinkMu  sync.Mutex
	sinkErr error

	queue     chan job      // arrived, waiting for admission (cap or batch)
	admitDone chan struct{} // closed when the admitter has drained queue
	warmStart time.Time
}

// admitter returns the function the arrival loop hands each arrived
// request to: it sends at once (continuous), or queues it for the
// goroutine that enforces the cap or forms batches.
func (r *run) admitter(ctx context.Context, n int) func(job) {
	g := r.g
	if g.MaxConcurrency <= 0 && g.Batch.Size <= 0 {
		return func(j job) { r.send(j, nil) }
	}
	r.queue = make(chan job, n) // never blocks the arrival loop
	r.admitDone = make(chan struct{})
	if g.MaxConcurrency > 0 {
		go r.capped(ctx, g.MaxConcurrency)
	} else {
		go r.batched(ctx, g.Batch)
	}
	return func(j job) { r.queue <- j }
}

func (r *run) closeAdmission() {
	if r.queue != nil {
		close(r.queue)
		<-r.admitDone
	}
}

// capped sends queued requests in arrival order, each once a slot is free.
func (r *run) capped(ctx context.Context, n int) {
	defer close(r.admitDone)
	slots := make(chan struct{}, n)
	for j := range r.queue {
		select {
		case slots <- struct{}{}:
			r.send(j, func() { <-slots })
		case <-ctx.Done():
			r.unsent(ctx, j, ctx.Err())
		}
	}
}

// batched holds queued requests until b.Size have arrived or b.Timeout has
// passed since the first of them arrived, then sends them together. The
// last batch of a run is held for its timeout too.
func (r *run) batched(ctx context.Context, b Batch) {
	defer close(r.admitDone)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	batch := make([]job, 0, b.Size)
	for {
		j, ok := <-r.queue
		if !ok {
			return
		}
		batch = append(batch[:0], j)
		timer.Reset(b.Timeout - (r.now() - j.rec.Arrival))
		queue := r.queue
	fill:
		for len(batch) < b.Size {
			select {
			case j, ok := <-queue:
				if !ok {
					// No more arrivals, but a batcher cannot know that:
					// hold until the timeout as it would.
					queue = nil
					continue
				}
				batch = append(batch, j)
			case <-timer.C:
				break fill
			case <-ctx.Done():
				break fill
			}
		}
		timer.Stop()
		for _, j := range batch {
			if ctx.Err() != nil {
				r.unsent(ctx, j, ctx.Err())
			} else {
				r.send(j, nil)
			}
		}
	}
}

// send hands j to a worker; release, if not nil, runs when it ends.
func (r *run) send(j job, release func()) {
	j.release = release
	r.pool.dispatch(j)
}

// execute sends one request and records it, on a worker.
func (r *run) execute(ctx context.Context, j job) {
	target := r.g.Target
	if r.g.Route != nil {
		t, done, err := r.g.Route(j.p.req)
		j.rec.Routed = r.now()
		if err != nil {
			if j.release != nil {
				j.release()
			}
			r.schedule.Finished(j.i, j.rec.Routed)
			r.unsent(ctx, j, fmt.Errorf("routing: %w", err))
			return
		}
		defer done()
		target = t
	}
	j.rec.Target = target
	rctx := ctx
	if t := r.g.RequestTimeout; t > 0 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeoutCause(ctx, t, errRequestTimeout)
		defer cancel()
	}
	r.g.Client.do(rctx, target, j.p, r.now, j.rec)
	j.p.body = nil // sent: the memory is the run's to reuse
	if !j.rec.OK() {
		switch {
		case ctx.Err() != nil:
			cancelled(ctx, j.rec)
		case rctx.Err() != nil && context.Cause(rctx) == errRequestTimeout:
			j.rec.Error = fmt.Sprintf("timed out after %v (request timeout): %s", r.g.RequestTimeout, j.rec.Error)
		}
	}
	if j.release != nil {
		j.release()
	}
	r.schedule.Finished(j.i, j.rec.Done)
	r.emit(*j.rec)
}

// errRequestTimeout is the cause of a request's context when its
// RequestTimeout passed.
var errRequestTimeout = errors.New("request timeout")

// cancelled marks rec as given up on because ctx, the run's, ended: its
// Error says why the run stopped (ctx's cause).
func cancelled(ctx context.Context, rec *metrics.Record) {
	rec.Cancelled = true
	rec.Error = "cancelled: " + context.Cause(ctx).Error()
}

// unsent records a request that arrived but was never sent.
func (r *run) unsent(ctx context.Context, j job, err error) {
	j.rec.Sent = r.now()
	j.rec.Done = j.rec.Sent
	j.rec.Error = "not sent: " + err.Error()
	if ctx.Err() != nil {
		cancelled(ctx, j.rec)
		j.rec.Error = "cancelled before it was sent: " + context.Cause(ctx).Error()
	}
	r.emit(*j.rec)
}

func (r *run) emit(rec metrics.Record) {
	if r.sink == nil {
		return
	}
	if err := r.sink(rec); err != nil {
		r.sinkMu.Lock()
		r.sinkErr = errors.Join(r.sinkErr, err)
		r.sinkMu.Unlock()
	}
}

// warmup sends g.Warmup copies of first (at most 32 output tokens)
// together and waits for them. Their records are timed from warmStart and
// shifted onto the run's time base by Play.
func (r *run) warmup(ctx context.Context, first Request) ([]metrics.Record, error) {
	g := r.g
	first.OutputTokens = min(first.OutputTokens, 32)
	r.warmStart = time.Now()
	now := func() time.Duration { return time.Since(r.warmStart) }
	recs := make([]metrics.Record, g.Warmup)
	var wg sync.WaitGroup
	for k := range recs {
		p, err := g.Client.prepare(first, fmt.Sprintf("%swarmup-%d", g.RIDPrefix, k))
		if err != nil {
			return nil, fmt.Errorf("load: encoding warmup request: %w", err)
		}
		rec := &recs[k]
		*rec = metrics.Record{Index: -1 - k, RID: p.rid, Target: g.Target, Warmup: true,
			InputTokens: first.inputTokens(), RequestedOutputTokens: first.OutputTokens}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec.Arrival = now()
			rec.Scheduled = rec.Arrival
			if g.Route != nil {
				t, done, err := g.Route(first)
				rec.Routed = now()
				if err != nil {
					rec.Sent, rec.Done, rec.Error = rec.Routed, rec.Routed, "routing: "+err.Error()
					return
				}
				defer done()
				rec.Target = t
			}
			g.Client.do(ctx, rec.Target, &p, now, rec)
		}()
	}
	wg.Wait()
	var errs []string
	for i := range recs {
		if recs[i].OK() {
			return recs, nil
		}
		errs = append(errs, recs[i].Error)
	}
	return recs, fmt.Errorf("load: all %d warmup requests failed; first: %s", len(recs), errs[0])
}

func shiftRecord(r *metrics.Record, d time.Duration) {
	r.Scheduled += d
	r.Arrival += d
	r.Sent += d
	r.Done += d
	if r.Routed != 0 {
		r.Routed += d
	}
	if r.FirstToken != 0 {
		r.FirstToken += d
	}
	for i := range r.Chunks {
		r.Chunks[i].At += d
	}
}
