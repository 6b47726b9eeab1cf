package simulator

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/sgltest/sgltest/internal/api"
)

// EngineConfig holds the scheduler settings, named after SGLang's flags. A
// zero field means "SGLang's default", resolved by NewEngine (see Limits).
type EngineConfig struct {
	// MaxRunningRequests caps running + newly admitted requests. 0 applies
	// SGLang's auto rule; either way it is capped at half the KV pool.
	MaxRunningRequests int
	// ChunkedPrefillSize is the per-step prefill chunk budget. 0 takes the
	// profile's value; a negative value disables chunking.
	ChunkedPrefillSize int
	// MaxPrefillTokens is the per-batch prompt-token budget. 0 means 16384.
	MaxPrefillTokens int
	// MaxTotalTokens caps the KV pool. 0 keeps the pool the profile and
	// MemFractionStatic give; like SGLang's flag it can only lower it.
	MaxTotalTokens int
	// MemFractionStatic moves the pool from the profile's estimate by the
	// memory it adds or removes. 0 takes the profile's value.
	MemFractionStatic float64
	// ContextLength overrides the model's context length. 0 keeps it; a
	// longer value is an error, as in SGLang without its override variable.
	ContextLength int
	// SchedulePolicy orders the waiting queue. Only "fcfs" ("" means fcfs)
	// is simulated so far.
	SchedulePolicy string
	// StreamInterval is the default number of tokens between outputs of a
	// streamed request. 0 means 1.
	StreamInterval int
}

// Limits are the resolved settings an engine runs with; /server_info reports
// them.
type Limits struct {
	MaxRunningRequests int
	// ChunkedPrefillSize is -1 when chunking is disabled.
	ChunkedPrefillSize int
	MaxPrefillTokens   int
	MaxTotalTokens     int
	MemFractionStatic  float64
	ContextLength      int
	// MaxReqLen bounds prompt + output of one request; MaxReqInputLen bounds
	// its prompt. SGLang derives both from the context length and the pool.
	MaxReqLen      int
	MaxReqInputLen int
	SchedulePolicy string
	StreamInterval int
}

// SGLang's defaults and constants used when resolving Limits
// (sglang-reference.md s1.3, python/sglang/srt/managers/scheduler.py).
const (
	defaultMaxPrefillTokens = 16384
	// decodeLogInterval is --decode-log-interval: gauges refresh every this
	// many decode steps.
	decodeLogInterval = 40
	// unboundedNewTokens stands for max_new_tokens: null before clamping.
	unboundedNewTokens = 1 << 30
)

// Schedule policies SGLang accepts (sglang-reference.md s1.3).
var knownPolicies = []string{"lpm", "random", "fcfs", "dfs-weight", "lof", "priority", "routing-key"}

// Request is one generation request as the scheduler sees it.
type Request struct {
	ID           string
	InputTokens  int
	MaxNewTokens int
	// Arrival is when the request reaches the scheduler on the engine's
	// clock; Step does not admit it earlier.
	Arrival time.Duration
	// Stream requests get an output every StreamInterval tokens; others only
	// when they finish.
	Stream bool
	// StreamInterval overrides the engine's default when positive.
	StreamInterval int
}

// Output is what one step makes visible about one request.
type Output struct {
	ID string
	// NewTokens are the tokens since this request's previous output.
	NewTokens int
	// Generated is the cumulative number of output tokens.
	Generated    int
	Finished     bool
	FinishReason string
}

// StepKind says what a step did.
type StepKind int

// Step kinds.
const (
	StepIdle StepKind = iota
	StepPrefill
	StepDecode
)

func (k StepKind) String() string {
	switch k {
	case StepPrefill:
		return "prefill"
	case StepDecode:
		return "decode"
	}
	return "idle"
}

// Forever is the End of an idle step when nothing is due: wait for Add.
const Forever = time.Duration(math.MaxInt64)

// Chunk is one request's share of a prefill step.
type Chunk struct {
	ID string
	// Offset is how many prompt tokens were computed before this chunk.
	Offset int
	Tokens int
}

// Step is one scheduler iteration. Outputs become visible at End; the caller
// must not call Step again before End.
type Step struct {
	Kind  StepKind
	Start time.Duration
	// End is Start plus the step's duration. For an idle step it is the next
	// pending arrival, or Forever.
	End     time.Duration
	Shape   BatchShape
	Chunks  []Chunk
	Outputs []Output
}

// Usage is the engine's exact state right now.
type Usage struct {
	Running    int
	Queued     int
	UsedTokens int
}

// EngineMetrics are what /metrics reports from the scheduler. Gauges are
// sampled the way SGLang samples them: at each prefill batch, every
// decodeLogInterval decode steps and on going idle. Counters are exact.
type EngineMetrics struct {
	NumRunningReqs int
	NumQueueReqs   int
	NumUsedTokens  int
	TokenUsage     float64
	GenThroughput  float64
	CacheHitRate   float64
	// Token counters by realtime_tokens_total mode.
	PrefillComputeTokens int64
	PrefillCacheTokens   int64
	DecodeTokens         int64
}

// reqState is a request inside the engine.
type reqState struct {
	Request
	maxNew    int
	interval  int
	prefilled int
	generated int
	emitted   int // Generated at the last Output
	kv        int // KV slots held
}

// Engine is SGLang's scheduler reduced to a pure state machine: no clock, no
// goroutines. A driver calls Add as requests arrive and Step whenever the
// previous step has ended.
type Engine struct {
	lim   Limits
	model StepModel
	rng   *rand.Rand

	byID    map[string]*reqState
	waiting []*reqState // by Arrival, then by Add order
	running []*reqState // decoding
	chunked *reqState   // the one request part-way through a chunked prefill
	used    int         // KV slots held

	busyUntil time.Duration
	idle      bool

	metrics      EngineMetrics
	decodeSteps  int
	windowStart  time.Duration
	windowTokens int
}

// NewEngine resolves cfg against the profile and returns an idle engine whose
// step-time noise is drawn from a PCG seeded with seed.
func NewEngine(cfg EngineConfig, prof Profile, seed int64) (*Engine, error) {
	lim, err := resolveLimits(cfg, prof)
	if err != nil {
		return nil, err
	}
	return &Engine{
		lim:   lim,
		model: NewStepModel(prof.StepTime),
		// The second PCG word is fixed so that the seed alone picks the stream.
		rng:  rand.New(rand.NewPCG(uint64(seed), 0x5367_4c74_6573_7400)),
		byID: make(map[string]*reqState),
		idle: true,
	}, nil
}

func resolveLimits(cfg EngineConfig, prof Profile) (Limits, error) {
	lim := Limits{SchedulePolicy: cfg.SchedulePolicy, StreamInterval: cfg.StreamInterval}
	switch {
	case lim.SchedulePolicy == "" || lim.SchedulePolicy == "fcfs":
		lim.SchedulePolicy = "fcfs"
	case slices.Contains(knownPolicies, lim.SchedulePolicy):
		return Limits{}, fmt.Errorf("schedule policy %q is not simulated yet (supported: fcfs)", lim.SchedulePolicy)
	default:
		return Limits{}, fmt.Errorf("unknown schedule policy %q (SGLang accepts %v)", lim.SchedulePolicy, knownPolicies)
	}
	if lim.StreamInterval == 0 {
		lim.StreamInterval = 1
	}
	if lim.StreamInterval < 0 {
		return Limits{}, fmt.Errorf("stream interval must be positive, got %d", lim.StreamInterval)
	}

	modelCtx := int(prof.Model.ContextLength.Value)
	lim.ContextLength = modelCtx
	if cfg.ContextLength > 0 {
		if cfg.ContextLength > modelCtx {
			return Limits{}, fmt.Errorf("context length %d is longer than the model's %d", cfg.ContextLength, modelCtx)
		}
		lim.ContextLength = cfg.ContextLength
	}

	// The pool grows or shrinks by the memory a different fraction gives,
	// divided by the KV bytes per token.
	lim.MemFractionStatic = prof.Capacity.MemFractionStatic.Value
	pool := prof.Capacity.MaxTotalTokens.Value
	if cfg.MemFractionStatic != 0 {
		if cfg.MemFractionStatic < 0 || cfg.MemFractionStatic > 1 {
			return Limits{}, fmt.Errorf("mem fraction static must be in (0, 1], got %v", cfg.MemFractionStatic)
		}
		pool += (cfg.MemFractionStatic - lim.MemFractionStatic) * prof.GPU.MemoryBytes.Value / prof.StepTime.KVBytesPerToken.Value
		lim.MemFractionStatic = cfg.MemFractionStatic
	}
	lim.MaxTotalTokens = int(pool)
	if cfg.MaxTotalTokens > 0 {
		lim.MaxTotalTokens = min(lim.MaxTotalTokens, cfg.MaxTotalTokens)
	}
	if lim.MaxTotalTokens < 16 {
		return Limits{}, fmt.Errorf("KV pool of %d tokens is too small: increase the memory fraction or the max total tokens", lim.MaxTotalTokens)
	}

	lim.MaxReqLen = min(lim.ContextLength-1, lim.MaxTotalTokens-1)
	lim.MaxReqInputLen = lim.MaxReqLen - 5

	// SGLang's max_prefill_tokens is raised to the context length so one
	// full-length prompt always fits a batch (sglang-reference.md s1.3).
	lim.MaxPrefillTokens = cmpOr(cfg.MaxPrefillTokens, defaultMaxPrefillTokens)
	lim.MaxPrefillTokens = max(lim.MaxPrefillTokens, lim.ContextLength)

	switch {
	case cfg.ChunkedPrefillSize < 0:
		lim.ChunkedPrefillSize = -1
	case cfg.ChunkedPrefillSize == 0:
		lim.ChunkedPrefillSize = int(prof.Capacity.ChunkedPrefillSize.Value)
	default:
		lim.ChunkedPrefillSize = cfg.ChunkedPrefillSize
	}

	if cfg.MaxRunningRequests > 0 {
		lim.MaxRunningRequests = cfg.MaxRunningRequests
	} else {
		auto := int(float64(lim.MaxTotalTokens) / float64(lim.ContextLength) * 512)
		lim.MaxRunningRequests = max(2048, min(4096, auto))
	}
	lim.MaxRunningRequests = max(1, min(lim.MaxRunningRequests, lim.MaxTotalTokens/2))
	return lim, nil
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

func cmpOr(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// Limits returns the resolved settings.
func (e *Engine) Limits() Limits { return e.lim }

// ErrDuplicateID is returned by Add for an ID already in the engine.
var ErrDuplicateID = errors.New("duplicate request ID")

// Add queues a request. MaxNewTokens is clamped the way SGLang clamps it (to
// what the context and the pool leave); a negative value means unbounded.
func (e *Engine) Add(req Request) error {
	switch {
	case req.InputTokens < 1:
		return fmt.Errorf("request %s: input must have at least one token", req.ID)
	case req.InputTokens > e.lim.MaxReqInputLen:
		return fmt.Errorf("Input length (%d tokens) exceeds the maximum allowed length (%d tokens). Use a shorter input or enable --allow-auto-truncate.",
			req.InputTokens, e.lim.MaxReqInputLen)
	case e.byID[req.ID] != nil:
		return fmt.Errorf("%w: %s", ErrDuplicateID, req.ID)
	}
	maxNew := req.MaxNewTokens
	if maxNew < 0 {
		maxNew = unboundedNewTokens
	}
	maxNew = min(maxNew, e.lim.MaxReqLen-req.InputTokens-1, e.lim.MaxTotalTokens-req.InputTokens-2)
	interval := e.lim.StreamInterval
	if req.StreamInterval > 0 {
		interval = req.StreamInterval
	}
	r := &reqState{Request: req, maxNew: maxNew, interval: interval}
	e.byID[req.ID] = r
	// Keep the queue ordered by arrival; arrivals almost always come in
	// order, so this is an append.
	i := len(e.waiting)
	for i > 0 && e.waiting[i-1].Arrival > req.Arrival {
		i--
	}
	e.waiting = slices.Insert(e.waiting, i, r)
	return nil
}

// Abort removes a request wherever it is and frees its KV slots. It reports
// whether the request was in the engine.
func (e *Engine) Abort(id string) bool {
	r := e.byID[id]
	if r == nil {
		return false
	}
	delete(e.byID, id)
	e.used -= r.kv
	switch {
	case e.chunked == r:
		e.chunked = nil
	case r.prefilled == 0:
		e.waiting = slices.DeleteFunc(e.waiting, func(w *reqState) bool { return w == r })
	default:
		e.running = slices.DeleteFunc(e.running, func(w *reqState) bool { return w == r })
	}
	return true
}

// Usage returns the exact current state.
func (e *Engine) Usage() Usage {
	running := len(e.running)
	if e.chunked != nil {
		running++
	}
	return Usage{Running: running, Queued: len(e.waiting), UsedTokens: e.used}
}

// Metrics returns the sampled gauges and the counters.
func (e *Engine) Metrics() EngineMetrics { return e.metrics }

// Step runs one scheduler iteration starting at now (or at the previous
// step's end, if now is earlier). SGLang's rule: if any waiting request can
// be admitted, or a chunked prefill is unfinished, run a prefill batch alone
// and let every decode wait; otherwise run one decode step of the running
// batch.
func (e *Engine) Step(now time.Duration) Step {
	now = max(now, e.busyUntil)
	if e.idle {
		e.windowStart, e.windowTokens = now, 0
	}
	if chunks := e.admit(now); len(chunks) > 0 {
		e.idle = false
		return e.prefill(now, chunks)
	}
	if len(e.running) > 0 {
		e.idle = false
		return e.decode(now)
	}
	if !e.idle {
		e.idle = true
		e.sampleGauges(0)
	}
	end := Forever
	if len(e.waiting) > 0 {
		end = e.waiting[0].Arrival
	}
	return Step{Kind: StepIdle, Start: now, End: end}
}

// reservation is the KV a committed request may still claim. new_token_ratio
// is fixed at 1 and SGLang's 4096-token clip is not applied, so admission
// never overcommits the pool and no retraction is needed; the ratio tracker,
// the clip and retraction belong together.
func (r *reqState) reservation() int {
	return r.InputTokens - r.prefilled + r.maxNew - r.generated
}

// admit builds the next prefill batch with SGLang's PrefillAdder budgets:
// the unfinished chunked request first, then waiting requests in FCFS order
// until the slot, input, chunk or KV budget runs out. The first request that
// does not fit stops admission (no skipping ahead).
func (e *Engine) admit(now time.Duration) []Chunk {
	ready := 0
	for ready < len(e.waiting) && e.waiting[ready].Arrival <= now {
		ready++
	}
	if e.chunked == nil && ready == 0 {
		return nil
	}
	chunking := e.lim.ChunkedPrefillSize > 0
	remChunk := e.lim.ChunkedPrefillSize
	remInput := e.lim.MaxPrefillTokens
	remTotal := e.lim.MaxTotalTokens - e.used
	for _, r := range e.running {
		remTotal -= r.reservation()
	}

	var chunks []Chunk
	if r := e.chunked; r != nil {
		remTotal -= r.reservation()
		n := r.InputTokens - r.prefilled
		if chunking {
			n = min(n, remChunk)
			remChunk -= n
		}
		remInput -= n
		chunks = append(chunks, Chunk{ID: r.ID, Offset: r.prefilled, Tokens: n})
	}

	admitted := 0
	for _, r := range e.waiting[:ready] {
		if len(e.running)+len(chunks) >= e.lim.MaxRunningRequests ||
			remInput <= 0 || (chunking && remChunk <= 0) {
			break
		}
		need := r.InputTokens + r.maxNew
		if need >= remTotal {
			break
		}
		if r.InputTokens >= remInput && len(chunks) > 0 {
			break
		}
		n := r.InputTokens
		if chunking && n > remChunk {
			n = remChunk
		}
		remTotal -= need
		remInput -= n
		if chunking {
			remChunk -= n
		}
		chunks = append(chunks, Chunk{ID: r.ID, Tokens: n})
		admitted++
		if n < r.InputTokens {
			break // the chunk budget is spent
		}
	}
	e.waiting = slices.Delete(e.waiting, 0, admitted)
	return chunks
}

func (e *Engine) prefill(now time.Duration, chunks []Chunk) Step {
	shape := BatchShape{Requests: len(chunks)}
	for _, c := range chunks {
		shape.PrefillTokens += c.Tokens
		shape.PrefillAttention += float64(c.Tokens) * (float64(c.Offset) + float64(c.Tokens)/2)
	}
	// Gauges are logged when the batch is formed, before it runs.
	e.sampleGauges(e.metrics.GenThroughput)
	e.metrics.CacheHitRate = 0
	e.metrics.PrefillComputeTokens += int64(shape.PrefillTokens)

	end := now + e.model.Sample(shape, e.rng)
	e.busyUntil = end
	st := Step{Kind: StepPrefill, Start: now, End: end, Shape: shape, Chunks: chunks}
	e.chunked = nil
	for _, c := range chunks {
		r := e.byID[c.ID]
		r.prefilled += c.Tokens
		r.kv += c.Tokens
		e.used += c.Tokens
		if r.prefilled < r.InputTokens {
			e.chunked = r
			continue
		}
		// The step that completes the prompt samples the first token.
		if r.maxNew > 0 {
			r.generated = 1
		}
		if out, ok := e.progress(r); ok {
			st.Outputs = append(st.Outputs, out)
		}
		if r.generated < r.maxNew {
			e.running = append(e.running, r)
		}
	}
	return st
}

func (e *Engine) decode(now time.Duration) Step {
	shape := BatchShape{DecodeSeqs: len(e.running), Requests: len(e.running)}
	for _, r := range e.running {
		shape.DecodeContext += r.InputTokens + r.generated
	}
	if e.used+len(e.running) > e.lim.MaxTotalTokens {
		// Admission reserves every request's full output, so this cannot
		// happen until retraction exists to handle it.
		panic("simulator: KV pool overcommitted")
	}
	end := now + e.model.Sample(shape, e.rng)
	e.busyUntil = end
	st := Step{Kind: StepDecode, Start: now, End: end, Shape: shape}
	e.running = slices.DeleteFunc(e.running, func(r *reqState) bool {
		r.kv++
		e.used++
		r.generated++
		if out, ok := e.progress(r); ok {
			st.Outputs = append(st.Outputs, out)
		}
		return r.generated >= r.maxNew
	})
	e.metrics.DecodeTokens += int64(shape.DecodeSeqs)

	e.decodeSteps++
	e.windowTokens += shape.DecodeSeqs
	if e.decodeSteps%decodeLogInterval == 0 {
		tput := 0.0
		if d := end - e.windowStart; d > 0 {
			tput = float64(e.windowTokens) / d.Seconds()
		}
		e.sampleGauges(tput)
		e.windowStart, e.windowTokens = end, 0
	}
	return st
}

// progress finishes r if it has all its tokens and says whether this step
// makes an output for it: a streamed request's first token and every
// interval-th after it (tokens 1, k+1, 2k+1, ...), and every request's finish.
func (e *Engine) progress(r *reqState) (Output, bool) {
	finished := r.generated >= r.maxNew
	if finished {
		e.used -= r.kv
		delete(e.byID, r.ID)
	}
	emit := finished || (r.Stream && (r.generated-1)%r.interval == 0)
	if !emit {
		return Output{}, false
	}
	out := Output{ID: r.ID, NewTokens: r.generated - r.emitted, Generated: r.generated, Finished: finished}
	if finished {
		out.FinishReason = api.FinishLength
	}
	r.emitted = r.generated
	return out, true
}

func (e *Engine) sampleGauges(genThroughput float64) {
	u := e.Usage()
	e.metrics.NumRunningReqs = u.Running
	e.metrics.NumQueueReqs = u.Queued
	e.metrics.NumUsedTokens = u.UsedTokens
	// SGLang rounds token_usage to two decimals.
	e.metrics.TokenUsage = round2(float64(u.UsedTokens) / float64(e.lim.MaxTotalTokens))
	e.metrics.GenThroughput = genThroughput
}
