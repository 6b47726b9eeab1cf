package simulator

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Config holds a simulated server's settings, named after SGLang's
// ServerArgs fields. Zero values mean "SGLang's default" unless noted.
type Config struct {
	ModelPath string
	// ServedModelName defaults to ModelPath.
	ServedModelName string
	Host            string
	Port            int
	// TPSize is the tensor-parallel size; 0 means the profile's tp_size.
	TPSize int
	// MaxRunningRequests, MaxTotalTokens and ContextLength are CLI caps;
	// /server_info reports them as given, null when 0.
	MaxRunningRequests int
	MaxTotalTokens     int
	ContextLength      int
	MaxPrefillTokens   int
	// ChunkedPrefillSize: 0 is the profile's auto value, negative disables.
	ChunkedPrefillSize int
	MemFractionStatic  float64
	SchedulePolicy     string
	StreamInterval     int
	EnableMetrics      bool
	RandomSeed         int64
	SkipServerWarmup   bool
	// EnableCacheReport adds usage.prompt_tokens_details.cached_tokens to
	// OpenAI responses whose prompts hit the prefix cache.
	EnableCacheReport bool
	// APIKey, when set, is the Bearer token every endpoint but /health* and
	// /metrics requires.
	APIKey string
	// IncrementalStreamingOutput makes /generate streams carry text and
	// output_ids deltas instead of cumulative values.
	IncrementalStreamingOutput bool
	// MaxQueuedRequests caps the waiting queue (0: unbounded); beyond it a
	// request is aborted with 503.
	MaxQueuedRequests int
	// DisableRadixCache turns prefix caching off.
	DisableRadixCache bool
	// ScheduleConservativeness scales the admission estimate (0: 1.0).
	ScheduleConservativeness float64
	// DisableOverlapSchedule, CUDAGraphMaxBS and DisableCUDAGraph are
	// SGLang's flags of those names (see EngineConfig).
	DisableOverlapSchedule bool
	CUDAGraphMaxBS         int
	DisableCUDAGraph       bool
	// AttentionBackend is --attention-backend; "" means the profile's.
	AttentionBackend string
	// HealthPoll is how often a health check looks for an output; 0 means
	// SGLang's one second.
	HealthPoll time.Duration
	// StartupDelay is how long /health answers 503 before the warmup
	// request, standing in for weight loading and CUDA-graph capture.
	StartupDelay time.Duration
	// DPSize is --dp-size: the server runs this many independent engines
	// (DP ranks, each on TPSize GPUs) behind its one front end; 0 means 1.
	DPSize int
	// LoadBalanceMethod is --load-balance-method, how requests are spread
	// over the DP ranks (dp.go); "" means auto.
	LoadBalanceMethod string
	// Disaggregation makes the server a PD prefill or decode server (pd.go).
	Disaggregation Disaggregation
}

// Options configure NewServer.
type Options struct {
	Config  Config
	Profile Profile
	// Clock defaults to a new WallClock.
	Clock Clock
	// Logger defaults to discarding.
	Logger *slog.Logger
	// BodyTimeout bounds reading one request's body; 0 means
	// DefaultBodyTimeout.
	BodyTimeout time.Duration
}

// Server is one simulated SGLang server: HTTP handlers in front of a driver
// goroutine that owns the Engine. Handler serves HTTP; Run drives the engine
// and must be running for requests to progress.
type Server struct {
	cfg         Config
	prof        Profile
	lim         Limits
	clock       Clock
	log         *slog.Logger
	created     int64 // unix seconds, for /v1/models
	bodyTimeout time.Duration
	// ranks are the DP ranks' drivers (one without DP); dp picks a rank
	// per request (dp.go).
	ranks   []*driver
	dp      *dpController
	handler http.Handler
	ready   atomic.Bool
	ridSeq  atomic.Uint64

	front *frontMetrics
	// gpuModel and gpuStart give the simulated GPU figures (gpu.go).
	gpuModel GPUModel
	gpuStart time.Duration
	tok      tokenizer

	// dead is closed when the server fails as SGLang would exit (die).
	dead      chan struct{}
	deathOnce sync.Once
	deathErr  error
	// pd is the PD side of a prefill or decode server; nil otherwise.
	pd *pdServer
}

// NewServer checks the settings against the profile and builds a server.
func NewServer(opts Options) (*Server, error) {
	cfg := opts.Config
	if cfg.ModelPath == "" {
		return nil, errors.New("simulator: model path is required")
	}
	if cfg.ServedModelName == "" {
		cfg.ServedModelName = cfg.ModelPath
	}
	if cfg.TPSize == 0 {
		cfg.TPSize = opts.Profile.TPSize
	}
	if cfg.DPSize == 0 {
		cfg.DPSize = 1
	}
	if cfg.DPSize < 1 {
		return nil, fmt.Errorf("simulator: --dp-size must be at least 1, got %d", cfg.DPSize)
	}
	cfg.Disaggregation.adjust(&cfg)
	if cfg.DPSize > 1 && cfg.Disaggregation.Mode != "" && cfg.Disaggregation.Mode != ModeNull {
		return nil, fmt.Errorf("simulator: --dp-size %d with --disaggregation-mode %s: the simulator does not model data parallelism on a PD server", cfg.DPSize, cfg.Disaggregation.Mode)
	}
	pd, err := newPDServer(cfg, opts.Profile)
	if err != nil {
		return nil, err
	}
	method, err := ResolveLoadBalanceMethod(cfg.LoadBalanceMethod, cfg.Disaggregation.Mode)
	if err != nil {
		return nil, fmt.Errorf("simulator: %w", err)
	}
	// Every rank is the same engine with the same seed, as SGLang's
	// schedulers share one random_seed: a request's natural length does not
	// depend on the rank it lands on.
	engines := make([]*Engine, cfg.DPSize)
	for r := range engines {
		engines[r], err = NewEngine(EngineConfig{
			MaxRunningRequests:       cfg.MaxRunningRequests,
			ChunkedPrefillSize:       cfg.ChunkedPrefillSize,
			MaxPrefillTokens:         cfg.MaxPrefillTokens,
			MaxTotalTokens:           cfg.MaxTotalTokens,
			MemFractionStatic:        cfg.MemFractionStatic,
			ContextLength:            cfg.ContextLength,
			SchedulePolicy:           cfg.SchedulePolicy,
			StreamInterval:           cfg.StreamInterval,
			MaxQueuedRequests:        cfg.MaxQueuedRequests,
			DisableRadixCache:        cfg.DisableRadixCache,
			ScheduleConservativeness: cfg.ScheduleConservativeness,
			TPSize:                   cfg.TPSize,
			DisableOverlapSchedule:   cfg.DisableOverlapSchedule,
			CUDAGraphMaxBS:           cfg.CUDAGraphMaxBS,
			DisableCUDAGraph:         cfg.DisableCUDAGraph,
			AttentionBackend:         cfg.AttentionBackend,
		}, opts.Profile, cfg.RandomSeed)
		if err != nil {
			return nil, fmt.Errorf("simulator: %w", err)
		}
	}
	s := &Server{
		cfg:         cfg,
		prof:        opts.Profile,
		lim:         engines[0].Limits(),
		clock:       opts.Clock,
		log:         opts.Logger,
		created:     time.Now().Unix(),
		bodyTimeout: cmp.Or(opts.BodyTimeout, DefaultBodyTimeout),
		front:       newFrontMetrics(),
		tok:         newTokenizer(opts.Profile),
		dead:        make(chan struct{}),
		pd:          pd,
	}
	if s.clock == nil {
		s.clock = NewWallClock()
	}
	s.gpuModel, s.gpuStart = NewGPUModel(opts.Profile).Group(cfg.TPSize), s.clock.Now()
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.ranks = make([]*driver, len(engines))
	for r, eng := range engines {
		s.ranks[r] = newDriver(eng, s.clock, s.front)
		s.ranks[r].healthPrebuilt = cfg.Disaggregation.Mode == ModeDecode
	}
	s.dp = newDPController(method, s.ranks)
	s.handler = s.authorize(s.routes())
	return s, nil
}

// Handler returns the SGLang-compatible HTTP API.
func (s *Server) Handler() http.Handler { return s.handler }

// Run drives the engines until ctx ends, and meanwhile brings the server to
// ready: after StartupDelay it sends SGLang's warmup request (unless
// SkipServerWarmup) and then /health turns 200. It returns nil when ctx ends.
func (s *Server) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { s.warmUp(ctx) })
	for _, d := range s.ranks {
		wg.Go(func() { d.run(ctx) })
	}
	wg.Wait()
	return nil
}

// Warmup request SGLang sends itself before reporting healthy
// (sglang-reference.md s1.5). It is counted in the metrics like any other.
const (
	warmupText         = "The capital city of France is"
	warmupMaxNewTokens = 8
)

func (s *Server) warmUp(ctx context.Context) {
	if err := s.clock.SleepUntil(ctx, s.cfg.StartupDelay); err != nil {
		return
	}
	if !s.cfg.SkipServerWarmup {
		req := Request{ID: s.newRID(), InputIDs: s.tok.prompt(warmupText), MaxNewTokens: warmupMaxNewTokens}
		if s.pd != nil {
			req.Bootstrap = &Bootstrap{Host: fakeBootstrapHost} // SGLang warms a PD server up with the fake transfer
		}
		st, err := s.enqueue(ctx, s.clock.Now(), req)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("warmup request failed", "err", err)
			}
			return
		}
		if _, err := st.wait(ctx); err != nil {
			s.abort(req.ID)
			if ctx.Err() == nil {
				s.log.Error("warmup request failed", "err", err)
			}
			return
		}
	}
	s.ready.Store(true)
	s.log.Info("The server is fired up and ready to roll!")
}

// enqueue charges the front-end delay t_fe_in, measured from received, then
// hands the request to the driver of the DP rank the controller picks. A
// request that kills the server (dp.go) waits for ctx to end: SGLang's
// process exits without answering it.
func (s *Server) enqueue(ctx context.Context, received time.Duration, req Request) (*stream, error) {
	if err := s.clock.SleepUntil(ctx, received+seconds(s.prof.Frontend.InputOverhead.Value)); err != nil {
		return nil, err
	}
	req.Arrival = s.clock.Now()
	if req.InputTokens == 0 {
		req.InputTokens = len(req.InputIDs)
	}
	if s.pd != nil {
		return s.pdEnqueue(ctx, received, req)
	}
	if len(s.ranks) > 1 {
		// The front end checks ids across ranks; each driver only its own.
		for _, d := range s.ranks {
			if d.has(req.ID) {
				return nil, fmt.Errorf("Duplicate request ID: %s", req.ID)
			}
		}
	}
	rank, err := s.dp.pick(req, req.Arrival)
	if err != nil {
		s.die(err)
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return s.ranks[rank].submit(req, received, true)
}

// newRID returns a 32-hex request id, like SGLang's uuid4().hex. It is
// derived from the seed, the port and a counter: a seeded run names its
// requests alike, and servers sharing a host and a seed do not collide.
func (s *Server) newRID() string {
	n := s.ridSeq.Add(1)
	return fmt.Sprintf("%016x%016x", splitmix64(uint64(s.cfg.RandomSeed)^uint64(s.cfg.Port)<<32), splitmix64(n))
}

// driver is the one goroutine that owns the Engine. Handlers reach it only
// through submit and abort, which queue commands under a mutex and never
// block on the engine; outputs go back through each request's stream.
type driver struct {
	engine *Engine
	clock  Clock
	front  *frontMetrics
	notify chan struct{} // wakes an idle driver; capacity 1
	busy   busyMeter
	// queueTime is the scheduler's queue-time histogram, one per rank.
	queueTime *histogram
	// decodesSincePublish counts decode steps since the last load
	// snapshot (dp.go); driver goroutine only.
	decodesSincePublish int

	// lastOutput is when an output last reached the front end (server
	// clock, as a Duration): what SGLang's health check waits for.
	lastOutput atomic.Int64
	// healthPrebuilt makes health checks prebuilt requests: a decode
	// server answers them from the fake transfer, as SGLang's does.
	healthPrebuilt bool

	mu      sync.Mutex
	inbox   []command
	streams map[string]*stream
	usage   Usage
	metrics EngineMetrics
	// pendingTokens are the prompt tokens of live requests not yet
	// prefilled, as of the last step: what SGLang reports as waiting
	// uncached tokens.
	pendingTokens int
	// published is the last load snapshot for the DP controller.
	published loadSnapshot
}

type command struct {
	add *Request
	// health marks add as a health check, which the scheduler answers
	// without running it while it has running requests.
	health bool
	abort  string
	flush  chan<- bool // receives whether the cache was flushed
}

func newDriver(e *Engine, c Clock, front *frontMetrics) *driver {
	return &driver{engine: e, clock: c, front: front, notify: make(chan struct{}, 1), streams: make(map[string]*stream),
		queueTime: newHistogram(queueTimeBuckets)}
}

// submit registers a stream for req, received by the front end at
// received, and queues it for the engine. Only requests with logMetrics
// count in the front end's metrics (SGLang's log_metrics; health checks
// have it off).
func (d *driver) submit(req Request, received time.Duration, logMetrics bool) (*stream, error) {
	st := &stream{
		promptTokens: req.InputTokens, ready: make(chan struct{}, 1),
		received: received, arrival: req.Arrival, pending: req.InputTokens,
		streaming: req.Stream, logMetrics: logMetrics,
	}
	d.mu.Lock()
	if d.streams[req.ID] != nil {
		d.mu.Unlock()
		return nil, fmt.Errorf("Duplicate request ID: %s", req.ID)
	}
	d.streams[req.ID] = st
	d.pendingTokens += st.pending
	d.inbox = append(d.inbox, command{add: &req})
	d.mu.Unlock()
	d.wake()
	return st, nil
}

// submitHealth queues SGLang's health-check generation req (input_ids [0],
// one new token), outside the front end's metrics.
func (d *driver) submitHealth(req Request) {
	req.Prebuilt = d.healthPrebuilt
	st := &stream{promptTokens: 1, ready: make(chan struct{}, 1), received: req.Arrival, arrival: req.Arrival}
	d.mu.Lock()
	d.streams[req.ID] = st
	d.inbox = append(d.inbox, command{add: &req, health: true})
	d.mu.Unlock()
	d.wake()
}

// has reports whether a request named id is live on d.
func (d *driver) has(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.streams[id] != nil
}

// idle reports whether no request is queued, running or on its way in.
func (d *driver) idle() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.streams) == 0 && len(d.inbox) == 0 && d.usage.Running == 0 && d.usage.Queued == 0
}

// loads returns the engine state as of the last step with the prompt
// tokens still waiting for prefill.
func (d *driver) loads() (Usage, EngineMetrics, int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.usage, d.metrics, d.pendingTokens
}

// abort drops a request, e.g. because its client went away, freeing its
// slot in the engine.
func (d *driver) abort(id string) {
	d.mu.Lock()
	st := d.streams[id]
	if st == nil {
		d.mu.Unlock()
		return
	}
	delete(d.streams, id)
	d.pendingTokens -= st.pending
	d.inbox = append(d.inbox, command{abort: id})
	d.mu.Unlock()
	d.front.aborted.Add(1)
	d.wake()
}

// send queues a command for the driver and wakes it.
func (d *driver) send(c command) {
	d.mu.Lock()
	d.inbox = append(d.inbox, c)
	d.mu.Unlock()
	d.wake()
}

func (d *driver) wake() {
	select {
	case d.notify <- struct{}{}:
	default:
	}
}

// snapshot returns the engine state as of the last step.
func (d *driver) snapshot() (Usage, EngineMetrics) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.usage, d.metrics
}

func (d *driver) run(ctx context.Context) {
	for ctx.Err() == nil {
		d.drain()
		st := d.engine.Step(d.clock.Now())
		if st.Kind == StepIdle {
			d.deliver(Step{})
			d.publishLoad(StepIdle)
			if st.End == Forever {
				select {
				case <-d.notify:
				case <-ctx.Done():
				}
			} else {
				_ = d.clock.SleepUntil(ctx, st.End)
			}
			continue
		}
		d.busy.begin(st.Start, st.End)
		err := d.clock.SleepUntil(ctx, st.End)
		d.busy.finish(d.clock.Now())
		if err != nil {
			return
		}
		d.front.lateness.observe(max(0, d.clock.Now()-st.End).Seconds(), 1)
		d.deliver(st)
		d.publishLoad(st.Kind)
	}
}

func (d *driver) drain() {
	d.mu.Lock()
	cmds := d.inbox
	d.inbox = nil
	d.mu.Unlock()
	for _, c := range cmds {
		if c.abort != "" {
			d.engine.Abort(c.abort)
			continue
		}
		if c.flush != nil {
			c.flush <- d.flushCache()
			continue
		}
		if c.health && d.engine.Usage().Running > 0 {
			d.mu.Lock()
			delete(d.streams, c.add.ID)
			d.mu.Unlock()
			d.lastOutput.Store(int64(d.clock.Now()))
			continue
		}
		err := d.engine.Add(*c.add)
		if err == nil {
			d.mu.Lock()
			if st := d.streams[c.add.ID]; st != nil {
				st.inEngine = true
			}
			d.mu.Unlock()
		}
		if err != nil {
			if errors.Is(err, ErrQueueFull) {
				d.front.aborted.Add(1)
				err = &abortError{status: http.StatusServiceUnavailable, msg: err.Error()}
			}
			d.mu.Lock()
			st := d.streams[c.add.ID]
			delete(d.streams, c.add.ID)
			if st != nil {
				d.pendingTokens -= st.pending
			}
			d.mu.Unlock()
			if st != nil {
				st.fail(err)
			}
		}
	}
}

// deliver publishes a step's outputs and the engine state after it, and
// records the front end's per-request metrics at the moment the outputs
// become visible.
func (d *driver) deliver(step Step) {
	outs := step.Outputs
	streams := make([]*stream, len(outs))
	var admitted []time.Duration // queue times of requests this step admitted
	d.mu.Lock()
	for _, c := range step.Chunks {
		st := d.streams[c.ID]
		if st == nil {
			continue
		}
		if !st.admitted {
			st.admitted = true
			admitted = append(admitted, step.Start-st.arrival)
		}
		d.settlePending(st, max(0, st.promptTokens-c.Offset-c.Tokens))
	}
	for i, o := range outs {
		streams[i] = d.streams[o.ID]
		if streams[i] != nil {
			// Prompt tokens served from the cache never appear in a chunk.
			d.settlePending(streams[i], 0)
		}
		if o.Finished {
			delete(d.streams, o.ID)
		}
	}
	d.usage = d.engine.Usage()
	d.metrics = d.engine.Metrics()
	d.mu.Unlock()
	for _, q := range admitted {
		d.queueTime.observe(q.Seconds(), 1)
	}
	now := d.clock.Now()
	for i, st := range streams {
		if st == nil {
			continue // aborted meanwhile
		}
		d.lastOutput.Store(int64(now))
		if st.logMetrics {
			d.front.observe(st, outs[i], now)
		}
		st.publish(outs[i])
	}
}

// settlePending sets st's unprefilled prompt tokens; d.mu must be held.
func (d *driver) settlePending(st *stream, pending int) {
	d.pendingTokens += pending - st.pending
	st.pending = pending
}

// stream carries one request's progress from the driver to its handler. It
// keeps only the newest cumulative state: a handler that falls behind sends
// one chunk with several tokens, as SGLang's HTTP layer does.
type stream struct {
	promptTokens int
	ready        chan struct{} // capacity 1

	// Front-end timing, on the server clock: when the request was
	// received and reached the scheduler. The fields after them belong to
	// the driver goroutine (pending and admitted under driver.mu).
	received, arrival time.Duration
	streaming         bool // the client streams: the is_streaming label
	logMetrics        bool
	pending           int
	inEngine          bool // the engine has it (DP load snapshots count it)
	admitted          bool
	seen              bool          // an output has become visible
	lastOut           time.Duration // when it did
	lastGenerated     int           // Generated at that output

	mu sync.Mutex
	st streamState
}

type streamState struct {
	generated    int
	cachedTokens int
	retractions  int
	finished     bool
	finishReason string
	err          error
}

func (s *stream) publish(o Output) {
	s.mu.Lock()
	s.st = streamState{generated: o.Generated, cachedTokens: o.CachedTokens, retractions: o.Retractions,
		finished: o.Finished, finishReason: o.FinishReason}
	s.mu.Unlock()
	s.signal()
}

func (s *stream) fail(err error) {
	s.mu.Lock()
	s.st.err = err
	s.mu.Unlock()
	s.signal()
}

func (s *stream) signal() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// wait returns the final state, or an error if the request failed or ctx
// ended first.
func (s *stream) wait(ctx context.Context) (streamState, error) {
	for {
		st := s.state()
		switch {
		case st.err != nil:
			return st, st.err
		case st.finished:
			return st, nil
		}
		select {
		case <-s.ready:
		case <-ctx.Done():
			return st, ctx.Err()
		}
	}
}

func (s *stream) state() streamState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}
