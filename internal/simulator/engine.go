package simulator

import (
	"cmp"
	"errors"
	"fmt"
	"hash/fnv"
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
	// SchedulePolicy orders the waiting queue: "fcfs" ("" means fcfs) or
	// "lpm" (longest prefix match first; fcfs when more than 128 requests
	// wait or the radix cache is disabled).
	SchedulePolicy string
	// StreamInterval is the default number of tokens between outputs of a
	// streamed request. 0 means 1.
	StreamInterval int
	// MaxQueuedRequests caps the waiting queue; Add returns ErrQueueFull
	// beyond it. 0 means unbounded, as SGLang's unset flag.
	MaxQueuedRequests int
	// DisableRadixCache turns off prefix caching (--disable-radix-cache):
	// every prompt is computed in full and lpm falls back to fcfs.
	DisableRadixCache bool
	// ScheduleConservativeness scales the initial new_token_ratio
	// (--schedule-conservativeness). 0 means SGLang's default 1.0.
	ScheduleConservativeness float64
	// TPSize is the tensor-parallel size (--tp-size). 0 means the
	// profile's.
	TPSize int
	// DisableOverlapSchedule runs host work and GPU work in turn even when
	// the profile's runtime overlaps them (--disable-overlap-schedule).
	DisableOverlapSchedule bool
	// CUDAGraphMaxBS is the largest decode batch replayed from a CUDA graph
	// (--cuda-graph-max-bs). 0 takes the profile's value.
	CUDAGraphMaxBS int
	// DisableCUDAGraph runs every step eagerly (--disable-cuda-graph).
	DisableCUDAGraph bool
	// AttentionBackend is --attention-backend; "" means the profile's.
	AttentionBackend string
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
	// MaxQueuedRequests is 0 when the queue is unbounded.
	MaxQueuedRequests        int
	DisableRadixCache        bool
	ScheduleConservativeness float64
	TPSize                   int
	// OverlapSchedule says whether host time hides behind the GPU's.
	OverlapSchedule bool
	// CUDAGraphMaxBS is 0 when CUDA graphs are disabled.
	CUDAGraphMaxBS   int
	AttentionBackend string
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
	// clipMaxNewTokens is SGLANG_CLIP_MAX_NEW_TOKENS_ESTIMATION: admission
	// reserves at most this many output tokens per request.
	clipMaxNewTokens = 4096
	// retractDecodeSteps is the headroom retraction leaves: the survivors
	// can decode this many steps each (global_config.retract_decode_steps).
	retractDecodeSteps = 20
	// lpmFallbackQueue is the waiting-queue length above which lpm sorts
	// nothing and serves fcfs (schedule_policy.py).
	lpmFallbackQueue = 128
	// ignoreEOSReserve is IGNORE_EOS_RESERVE_TOKENS: the free slots per
	// request the ignore_eos admission check keeps back (schedule_policy.py).
	ignoreEOSReserve = 1
	// pageOverhead is the page (page_size 1) PrefillAdder charges each
	// admitted request on top of its tokens.
	pageOverhead = 1
	// new_token_ratio tracker constants (environ.py defaults).
	initNewTokenRatio       = 0.7
	minNewTokenRatioScale   = 0.14
	newTokenRatioDecaySteps = 600
)

// Schedule policies SGLang accepts (sglang-reference.md s1.3).
var knownPolicies = []string{"lpm", "random", "fcfs", "dfs-weight", "lof", "priority", "routing-key"}

// Request is one generation request as the scheduler sees it.
type Request struct {
	ID string
	// InputTokens is the prompt length. It may be left 0 when InputIDs is
	// set; when both are set they must agree.
	InputTokens int
	// InputIDs are the prompt's token ids, which the radix cache matches
	// and stores. A request without them (a text prompt: there is no
	// tokenizer) is uncacheable: its tokens are treated as unique, so it
	// neither hits nor fills the cache.
	InputIDs     []int
	MaxNewTokens int
	// StopAtEOS lets the request end before MaxNewTokens, at the
	// end-of-sequence token (sampling_params.ignore_eos false). The zero
	// value generates exactly MaxNewTokens, as ignore_eos does, and admits
	// through SGLang's ignore_eos path when the radix cache is disabled.
	StopAtEOS bool
	// EOSAfter, with StopAtEOS, is the response's natural length in tokens
	// (EOS included), e.g. a dataset's reference output; 0 draws it from
	// the profile's natural_output distribution, seeded by the engine's
	// seed and the ID.
	EOSAfter int
	// MinNewTokens keeps EOS from ending the response earlier.
	MinNewTokens int
	// Arrival is when the request reaches the scheduler on the engine's
	// clock; Step does not admit it earlier.
	Arrival time.Duration
	// Stream requests get an output every StreamInterval tokens; others only
	// when they finish.
	Stream bool
	// StreamInterval overrides the engine's default when positive.
	StreamInterval int
	// Tag is opaque to the engine and echoed in every Output, so a driver
	// can find its own record for an output without a map lookup.
	Tag int
	// Prebuilt marks a request whose prompt KV arrived from a prefill
	// server (PD disaggregation, decode side): it is admitted without
	// prefill compute and its first token, which the prefill server
	// sampled, is output at admission (engine_prebuilt.go).
	// PrebuiltCached is the prompt tokens the prefill server found in its
	// cache (meta_info.cached_tokens).
	Prebuilt       bool
	PrebuiltCached int
	// Bootstrap is the PD handoff the request carries (SGLang's Req
	// bootstrap_host, bootstrap_port and bootstrap_room); the engine
	// ignores it (pd.go).
	Bootstrap *Bootstrap
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
	// Retractions is how many times the request was retracted so far
	// (meta_info.num_retractions).
	Retractions int
	// CachedTokens are the prompt tokens served by the radix cache when the
	// request was first admitted (meta_info.cached_tokens).
	CachedTokens int
	// Tag is the request's Tag.
	Tag int
	// At is when the output becomes visible: the End of the step that made
	// it (earlier than the delivering step's End only with DeferOutputs).
	At time.Duration
	// Times, set only with DeferOutputs, makes this Output stand for one
	// output of NewTokens tokens at each of its times, the last of which is
	// At (and the one Generated counts to). It is valid as long as Outputs.
	Times []time.Duration
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
	Running int
	Queued  int
	// UsedTokens are KV slots held by requests or pinned in the radix cache
	// by them; unpinned cached tokens are free for reuse and not counted,
	// as SGLang's num_used_tokens.
	UsedTokens int
	// CachedTokens are all tokens in the radix cache, pinned or not.
	CachedTokens int
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
	// RetractedRequests counts retractions, RetractedInputTokens and
	// RetractedOutputTokens the prompt and generated tokens they threw away
	// (num_retracted_*_total).
	RetractedRequests     int64
	RetractedInputTokens  int64
	RetractedOutputTokens int64
	// NumRetractedReqs is the gauge num_retracted_reqs: retractions since
	// the previous decode log, sampled (and restarted) at each decode log.
	NumRetractedReqs int
	// NewTokenRatio is the admission estimate's current ratio (s3.3).
	NewTokenRatio float64
}

// reqState is a request inside the engine.
type reqState struct {
	Request
	seq    int // Add order; makes synthetic output ids unique
	maxNew int // max_new_tokens after clamping: what admission reserves for
	// end is how many tokens the request generates: maxNew, or fewer when
	// it stops at EOS.
	end         int
	interval    int
	retractions int
	// fill is the number of tokens this admission must hold KV for: the
	// prompt plus what was generated before a retraction (recompute).
	fill      int
	prefilled int // tokens of fill with KV: cached prefix plus computed
	generated int
	emitted   int // Generated at the last Output
	kv        int // private KV slots (not in the radix tree)
	node      *radixNode
	cached    int
	admitted  bool // admitted at least once: cached is fixed
	waiting   bool
}

// cacheable reports whether the radix cache can key this request.
func (r *reqState) cacheable() bool { return len(r.InputIDs) > 0 }

// ids returns the first n tokens of prompt + output. Output tokens get
// synthetic negative ids unique to the request, so they never match
// another request's tokens.
func (r *reqState) ids(n int) []int {
	if n <= len(r.InputIDs) {
		return r.InputIDs[:n]
	}
	out := make([]int, n)
	copy(out, r.InputIDs)
	for i := len(r.InputIDs); i < n; i++ {
		out[i] = -1 - (r.seq<<31 | (i - len(r.InputIDs)))
	}
	return out
}

// Engine is SGLang's scheduler reduced to a pure state machine: no clock, no
// goroutines. A driver calls Add as requests arrive and Step whenever the
// previous step has ended.
type Engine struct {
	lim   Limits
	model memoModel
	rng   *rand.Rand
	tree  *radixTree // nil when the radix cache is disabled

	byID    map[string]*reqState
	waiting []*reqState // by Arrival (retracted requests included), then Add order; lpm reorders the ready head
	running []*reqState // decoding
	chunked *reqState   // the one request part-way through a chunked prefill
	private int         // KV slots held by requests outside the tree
	added   int
	seed    int64
	natural NaturalOutput
	// full is SGLang's batch_is_full latch: set when admission stops for
	// want of a request slot or of KV tokens, it skips admission until the
	// running batch shrinks (a request finishes or is retracted) or empties.
	full bool

	ratio, ratioInit, ratioMin float64

	busyUntil time.Duration
	idle      bool
	// With deferOut set (DeferOutputs), outBuf backs every step's Outputs
	// and decode steps that finish nothing touch no request: their Ends
	// collect in pend, and the running requests' tokens for them are
	// applied (and output) by flush. runCtx and runLeft are the running
	// batch's DecodeContext and least remaining output tokens as of the
	// last pend step, valid while pend is not empty.
	outBuf   []Output
	deferOut bool
	pend     []time.Duration
	flushed  []time.Duration // the last flush's pend, which Output.Times share
	runCtx   int
	runLeft  int

	// Scratch buffers admission reuses: the ignore_eos check's request
	// states, this round's admitted requests, and (with DeferOutputs,
	// whose Steps are valid only until the next) the chunks.
	eosStates []eosState
	admitted  []*reqState
	chunkBuf  []Chunk

	metrics         EngineMetrics
	retractedWindow int // retractions since the last decode log
	decodeSteps     int
	windowStart     time.Duration
	windowTokens    int
}

// NewEngine resolves cfg against the profile and returns an idle engine whose
// step-time noise is drawn from a PCG seeded with seed.
func NewEngine(cfg EngineConfig, prof Profile, seed int64) (*Engine, error) {
	lim, err := resolveLimits(cfg, prof)
	if err != nil {
		return nil, err
	}
	model, err := NewStepModel(prof, StepConfig{TPSize: lim.TPSize, Overlap: lim.OverlapSchedule,
		CUDAGraphMaxBS: lim.CUDAGraphMaxBS, AttentionBackend: lim.AttentionBackend})
	if err != nil {
		return nil, err
	}
	e := &Engine{
		lim:   lim,
		model: memoModel{StepModel: model},
		// The second PCG word is fixed so that the seed alone picks the stream.
		rng:     rand.New(rand.NewPCG(uint64(seed), 0x5367_4c74_6573_7400)),
		byID:    make(map[string]*reqState),
		idle:    true,
		seed:    seed,
		natural: prof.NaturalOutput,
	}
	if !lim.DisableRadixCache {
		e.tree = newRadixTree()
	}
	e.ratioInit = min(initNewTokenRatio*lim.ScheduleConservativeness, 1)
	e.ratioMin = e.ratioInit * minNewTokenRatioScale
	e.ratio = e.ratioInit
	e.metrics.NewTokenRatio = e.ratio
	return e, nil
}

func resolveLimits(cfg EngineConfig, prof Profile) (Limits, error) {
	lim := Limits{
		SchedulePolicy: cfg.SchedulePolicy, StreamInterval: cfg.StreamInterval,
		MaxQueuedRequests: cfg.MaxQueuedRequests, DisableRadixCache: cfg.DisableRadixCache,
		ScheduleConservativeness: cfg.ScheduleConservativeness,
	}
	switch {
	case lim.SchedulePolicy == "" || lim.SchedulePolicy == "fcfs":
		lim.SchedulePolicy = "fcfs"
	case lim.SchedulePolicy == "lpm":
	case slices.Contains(knownPolicies, lim.SchedulePolicy):
		return Limits{}, fmt.Errorf("schedule policy %q is not simulated yet (supported: fcfs, lpm)", lim.SchedulePolicy)
	default:
		return Limits{}, fmt.Errorf("unknown schedule policy %q (SGLang accepts %v)", lim.SchedulePolicy, knownPolicies)
	}
	if lim.StreamInterval == 0 {
		lim.StreamInterval = 1
	}
	if lim.StreamInterval < 0 {
		return Limits{}, fmt.Errorf("stream interval must be positive, got %d", lim.StreamInterval)
	}
	if lim.MaxQueuedRequests < 0 {
		return Limits{}, fmt.Errorf("max queued requests must not be negative, got %d", lim.MaxQueuedRequests)
	}
	switch c := lim.ScheduleConservativeness; {
	case c == 0:
		lim.ScheduleConservativeness = 1
	case c < 0 || math.IsNaN(c) || math.IsInf(c, 0):
		return Limits{}, fmt.Errorf("schedule conservativeness must be positive, got %v", c)
	}

	lim.TPSize = cmpOr(cfg.TPSize, prof.TPSize)
	if err := prof.checkTP(lim.TPSize); err != nil {
		return Limits{}, err
	}
	lim.OverlapSchedule = prof.Runtime.OverlapSchedule.Value == 1 && !cfg.DisableOverlapSchedule
	switch {
	case cfg.CUDAGraphMaxBS < 0:
		return Limits{}, fmt.Errorf("cuda graph max batch size must not be negative, got %d", cfg.CUDAGraphMaxBS)
	case cfg.DisableCUDAGraph:
		lim.CUDAGraphMaxBS = 0
	default:
		lim.CUDAGraphMaxBS = cmpOr(cfg.CUDAGraphMaxBS, int(prof.Runtime.CUDAGraphMaxBS.Value))
	}

	lim.AttentionBackend = cmp.Or(cfg.AttentionBackend, prof.Runtime.AttentionBackend)

	modelCtx := int(prof.Model.ContextLength.Value)
	lim.ContextLength = modelCtx
	if cfg.ContextLength > 0 {
		if cfg.ContextLength > modelCtx {
			return Limits{}, fmt.Errorf("context length %d is longer than the model's %d", cfg.ContextLength, modelCtx)
		}
		lim.ContextLength = cfg.ContextLength
	}

	// The pool grows or shrinks by the memory a different fraction or TP
	// size leaves next to one GPU's share of the weights.
	lim.MemFractionStatic = prof.Capacity.MemFractionStatic.Value
	if cfg.MemFractionStatic != 0 {
		if cfg.MemFractionStatic < 0 || cfg.MemFractionStatic > 1 {
			return Limits{}, fmt.Errorf("mem fraction static must be in (0, 1], got %v", cfg.MemFractionStatic)
		}
		lim.MemFractionStatic = cfg.MemFractionStatic
	}
	pool := prof.poolTokens(lim.TPSize, lim.MemFractionStatic)
	if pool < 16 {
		return Limits{}, fmt.Errorf("the model's weights (%.1f GB per GPU at TP %d) leave no room for a KV pool in %.1f GB x mem fraction %v: raise --tp-size or the memory fraction",
			prof.Model.ParamBytes.Value/float64(lim.TPSize)/1e9, lim.TPSize, prof.GPU.MemoryBytes.Value/1e9, lim.MemFractionStatic)
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

	// The flag's docstring says the bound is raised to the context length;
	// the scheduler's code does not raise it. It caps a batch's prompt
	// tokens after the first request when chunking is off, and stops
	// admission once spent (schedule_policy.py, PrefillAdder).
	lim.MaxPrefillTokens = cmpOr(cfg.MaxPrefillTokens, defaultMaxPrefillTokens)
	if lim.MaxPrefillTokens < 1 {
		return Limits{}, fmt.Errorf("max prefill tokens must be positive, got %d", lim.MaxPrefillTokens)
	}

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

// ErrQueueFull is returned by Add when MaxQueuedRequests requests already
// wait; SGLang answers 503 "The request queue is full.".
var ErrQueueFull = errors.New("The request queue is full.") //nolint:staticcheck // SGLang's message, verbatim

// Add queues a request. MaxNewTokens is clamped the way SGLang clamps it (to
// what the context and the pool leave); a negative value means unbounded.
func (e *Engine) Add(req Request) error {
	if len(req.InputIDs) > 0 {
		if req.InputTokens == 0 {
			req.InputTokens = len(req.InputIDs)
		} else if req.InputTokens != len(req.InputIDs) {
			return fmt.Errorf("request %s: InputTokens is %d but InputIDs has %d ids", req.ID, req.InputTokens, len(req.InputIDs))
		}
	}
	switch {
	case req.InputTokens < 1:
		return fmt.Errorf("request %s: input must have at least one token", req.ID)
	case req.InputTokens > e.lim.MaxReqInputLen:
		return fmt.Errorf("Input length (%d tokens) exceeds the maximum allowed length (%d tokens). Use a shorter input or enable --allow-auto-truncate.",
			req.InputTokens, e.lim.MaxReqInputLen)
	case e.byID[req.ID] != nil:
		return fmt.Errorf("%w: %s", ErrDuplicateID, req.ID)
	case e.lim.MaxQueuedRequests > 0 && len(e.waiting) >= e.lim.MaxQueuedRequests:
		return ErrQueueFull
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
	if e.tree == nil {
		req.InputIDs = nil // nothing keys on them
	}
	e.added++
	r := &reqState{Request: req, seq: e.added, maxNew: maxNew, end: maxNew, interval: interval}
	if req.StopAtEOS {
		natural := req.EOSAfter
		if natural <= 0 {
			natural = naturalLength(e.seed, req.ID, e.natural)
		}
		r.end = min(maxNew, max(natural, req.MinNewTokens, 1))
	}
	e.byID[req.ID] = r
	e.enqueue(r)
	return nil
}

// enqueue puts r into the waiting queue at its arrival position; arrivals
// almost always come in order, so this is an append.
func (e *Engine) enqueue(r *reqState) {
	r.waiting = true
	i := len(e.waiting)
	for i > 0 && e.waiting[i-1].Arrival > r.Arrival {
		i--
	}
	e.waiting = slices.Insert(e.waiting, i, r)
}

// Abort removes a request wherever it is and frees its KV slots. It reports
// whether the request was in the engine.
func (e *Engine) Abort(id string) bool {
	if e.deferOut {
		// Pending decode steps would be lost or misapplied; see DeferOutputs.
		panic("simulator: Abort on an engine with DeferOutputs")
	}
	r := e.byID[id]
	if r == nil {
		return false
	}
	delete(e.byID, id)
	e.release(r)
	if !r.waiting {
		e.full = false // the batch shrinks
	}
	switch {
	case e.chunked == r:
		e.chunked = nil
	case r.waiting:
		e.waiting = slices.DeleteFunc(e.waiting, func(w *reqState) bool { return w == r })
	default:
		e.running = slices.DeleteFunc(e.running, func(w *reqState) bool { return w == r })
	}
	return true
}

// release frees r's private KV and unpins its cached prefix without
// caching anything (abort and retraction: SGLang needs the space now).
func (e *Engine) release(r *reqState) {
	e.private -= r.kv
	r.kv = 0
	if r.node != nil {
		e.tree.unlock(r.node)
		r.node = nil
	}
}

// cacheKV moves r's first n tokens of KV into the radix tree (SGLang's
// cache_unfinished_req and cache_finished_req): tokens the tree already
// holds are duplicates and freed, and the pin moves to the new path end.
// With finished, the pin is dropped.
func (e *Engine) cacheKV(r *reqState, n int, finished bool) {
	if e.tree == nil || !r.cacheable() {
		if finished {
			e.release(r)
		}
		return
	}
	node, _ := e.tree.insert(r.ids(n))
	e.private -= r.kv
	r.kv = 0
	if !finished {
		e.tree.lock(node)
	}
	if r.node != nil {
		e.tree.unlock(r.node)
	}
	r.node = nil
	if !finished {
		r.node = node
	}
}

// free is the KV slots neither held by a request nor cached.
func (e *Engine) free() int {
	f := e.lim.MaxTotalTokens - e.private
	if e.tree != nil {
		f -= e.tree.size
	}
	return f
}

func (e *Engine) evictable() int {
	if e.tree == nil {
		return 0
	}
	return e.tree.evictable
}

// ensureFree evicts least recently used cache until n slots are free, if
// it can, and reports whether they are.
func (e *Engine) ensureFree(n int) bool {
	if f := e.free(); f < n && e.tree != nil {
		e.tree.evict(n - f)
	}
	return e.free() >= n
}

// Usage returns the exact current state.
func (e *Engine) Usage() Usage {
	running := len(e.running)
	if e.chunked != nil {
		running++
	}
	u := Usage{Running: running, Queued: len(e.waiting), UsedTokens: e.lim.MaxTotalTokens - e.free() - e.evictable()}
	if e.tree != nil {
		u.CachedTokens = e.tree.size
	}
	return u
}

// DeferOutputs is for virtual-time drivers (internal/cluster), where
// per-token work dominates a long run. Steps share one Outputs buffer, so a
// Step's Outputs are valid only until the next call to Step. A decode step
// that finishes no request returns no Outputs and leaves the requests
// untouched: its outputs come, each with its own At, in the Outputs of the
// first later step that admits, retracts, aborts or finishes a request.
// Every output still comes before or with its request's finishing output,
// and Usage and Metrics stay exact at every step. The driver must use only
// Add, Step, Usage, Limits and Metrics: Abort panics, as it would see
// requests short of their pending tokens.
func (e *Engine) DeferOutputs() { e.deferOut = true }

// flushDue reports whether the step starting at now must apply the pending
// decode steps first: it may admit (a chunked prefill, or a ready waiting
// request while the batch_is_full latch is open), retract or abort (too few
// slots for a token each), or finish a request.
func (e *Engine) flushDue(now time.Duration) bool {
	return e.chunked != nil ||
		(!e.full && len(e.waiting) > 0 && e.waiting[0].Arrival <= now) ||
		e.free()+e.evictable() < len(e.running) ||
		len(e.pend)+1 >= e.runLeft
}

// flush applies the pending decode steps to every running request, one
// request at a time, appending their outputs to outBuf. e.private already
// counts the pending tokens.
func (e *Engine) flush() {
	k := len(e.pend)
	if k == 0 {
		return
	}
	for _, r := range e.running {
		switch {
		case !r.Stream:
			// No output before the finish, which is never pending.
			r.kv += k
			r.generated += k
		case r.interval == 1 && r.emitted == r.generated:
			// One token per step, each its own output.
			r.kv += k
			r.generated += k
			r.emitted = r.generated
			e.outBuf = append(e.outBuf, Output{ID: r.ID, NewTokens: 1, Generated: r.generated,
				CachedTokens: r.cached, Retractions: r.retractions, Tag: r.Tag, At: e.pend[k-1], Times: e.pend})
		default:
			for _, at := range e.pend {
				r.kv++
				r.generated++
				if out, ok := e.progress(r, at); ok {
					e.outBuf = append(e.outBuf, out)
				}
			}
		}
	}
	// The outputs share pend's times until the next flush.
	e.pend, e.flushed = e.flushed[:0], e.pend
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
	if e.deferOut {
		e.outBuf = e.outBuf[:0]
		if len(e.pend) > 0 && e.flushDue(now) {
			e.flush()
		}
	}
	if e.idle {
		e.windowStart, e.windowTokens = now, 0
	}
	if len(e.running) == 0 && e.chunked == nil {
		e.full = false // an empty running batch is a new, open one
	}
	if len(e.waiting) > 0 && e.waiting[0].Prebuilt { // a PD decode server's transferred requests
		if st, ok := e.prebuilt(now); ok {
			e.idle = false
			return st
		}
	}
	if chunks, cached := e.admit(now); len(chunks) > 0 {
		e.idle = false
		return e.prefill(now, chunks, cached)
	}
	if len(e.running) > 0 {
		e.idle = false
		return e.decode(now)
	}
	if !e.idle {
		e.idle = true
		e.ratio = e.ratioInit // the tracker resets when the server goes idle
		e.metrics.NewTokenRatio = e.ratio
		e.sampleGauges(0)
	}
	end := Forever
	if len(e.waiting) > 0 {
		end = e.waiting[0].Arrival
	}
	return Step{Kind: StepIdle, Start: now, End: end}
}

// prefixOf matches r's fill against the cache, keeping at least one token
// to compute (SGLang computes the last prompt token to sample from it).
func (e *Engine) prefixOf(r *reqState) (*radixNode, int) {
	if e.tree == nil || !r.cacheable() {
		return nil, 0
	}
	return e.tree.match(r.ids(r.fill - 1))
}

// orderReady applies the schedule policy to the first ready requests.
// lpm sorts them by longest cached prefix (stable, so ties stay in queue
// order); with more than lpmFallbackQueue waiting, or no cache, it is fcfs.
func (e *Engine) orderReady(ready int) {
	if e.lim.SchedulePolicy != "lpm" || e.tree == nil || len(e.waiting) > lpmFallbackQueue {
		return
	}
	prefix := make(map[*reqState]int, ready)
	for _, r := range e.waiting[:ready] {
		r.fill = r.InputTokens + r.generated
		_, prefix[r] = e.prefixOf(r)
	}
	slices.SortStableFunc(e.waiting[:ready], func(a, b *reqState) int { return prefix[b] - prefix[a] })
}

// addResult is PrefillAdder's verdict on a request and the budget after it.
type addResult int

const (
	addContinue addResult = iota // admitted; try the next request
	addNoToken                   // KV budget exhausted: stop and set batch_is_full
	addOther                     // another budget exhausted: stop
)

// adder is one round of SGLang's PrefillAdder. offset is what
// rem_total_tokens subtracts from free plus evictable slots (running
// requests' expected output and this round's admissions); curOffset is
// what cur_rem_tokens subtracts (this round's prompt tokens only).
type adder struct {
	e                  *Engine
	chunking           bool
	remChunk, remInput int
	offset             float64
	curOffset          int
	chunks             []Chunk
	admitted           []*reqState // this round's requests, the continuing chunked one included
	cached             int
}

func (a *adder) remTotal() float64 { return float64(a.e.free()+a.e.evictable()) - a.offset }
func (a *adder) curRem() int       { return a.e.free() + a.e.evictable() - a.curOffset }

// charge bills n prompt tokens of one request, reserving out output tokens
// and page extra slots against the KV budget.
func (a *adder) charge(n, out, page int) {
	a.offset += float64(n + out + page)
	a.curOffset += n + page
	a.remInput -= n
	if a.chunking {
		a.remChunk -= n
	}
}

// state is budget_state: what stops admission after a request was added.
func (a *adder) state() addResult {
	switch {
	case a.remTotal() <= 0:
		return addNoToken
	case a.remInput <= 0 || (a.chunking && a.remChunk <= 0):
		return addOther
	}
	return addContinue
}

// admit builds the next prefill batch with SGLang's PrefillAdder budgets:
// the unfinished chunked request first, then waiting requests in policy
// order until the slot, input, chunk or KV budget runs out. The first
// request that does not fit stops admission (no skipping ahead); running
// out of slots or KV tokens also closes the batch_is_full latch, which
// skips admission until the running batch shrinks. It returns the chunks
// and the cache-hit tokens of the newly admitted requests.
//
// The KV budget is SGLang's rem_total_tokens: free plus evictable cache,
// less each running request's remaining output (clipped at 4096) times
// new_token_ratio, less each newly admitted request's uncached input plus
// its whole clipped output (a request chunked this round reserves only its
// chunk until its last chunk). A request that ignores EOS while the radix
// cache is disabled is checked instead by add_one_req_ignore_eos's
// simulation of the batch decoding to its end (admitIgnoreEOS).
func (e *Engine) admit(now time.Duration) ([]Chunk, int) {
	ready := 0
	for ready < len(e.waiting) && e.waiting[ready].Arrival <= now {
		ready++
	}
	if e.chunked == nil && (e.full || ready == 0) {
		return nil, 0
	}
	if e.chunked == nil && len(e.running) >= e.lim.MaxRunningRequests {
		e.full = true
		return nil, 0
	}
	a := &adder{e: e, chunking: e.lim.ChunkedPrefillSize > 0, remChunk: e.lim.ChunkedPrefillSize, remInput: e.lim.MaxPrefillTokens,
		admitted: e.admitted[:0]}
	if e.deferOut {
		a.chunks = e.chunkBuf[:0]
	}
	defer func() {
		e.admitted = a.admitted
		if e.deferOut {
			e.chunkBuf = a.chunks
		}
	}()
	for _, r := range e.running {
		a.offset += float64(min(r.maxNew-r.generated, clipMaxNewTokens)) * e.ratio
	}
	if r := e.chunked; r != nil {
		n := r.fill - r.prefilled
		out := 0
		if a.chunking {
			n = min(n, a.remChunk)
		}
		if r.prefilled+n == r.fill {
			out = min(r.maxNew, clipMaxNewTokens)
		}
		a.charge(n, out, 0)
		a.chunks = append(a.chunks, Chunk{ID: r.ID, Offset: r.prefilled, Tokens: n})
		a.admitted = append(a.admitted, r)
	}

	e.orderReady(ready)
	taken := 0
	for _, r := range e.waiting[:ready] {
		if r.prebuiltReady() {
			break // its KV is transferred, not computed: prebuilt admits it
		}
		if len(e.running)+len(a.chunks) >= e.lim.MaxRunningRequests {
			e.full = true
			break
		}
		r.fill = r.InputTokens + r.generated
		var res addResult
		var added bool
		if !r.StopAtEOS && e.tree == nil {
			res, added = a.addIgnoreEOS(r)
		} else {
			res, added = a.addOne(r)
		}
		if added {
			taken++
		}
		if res == addNoToken {
			e.full = true
		}
		if res != addContinue || (added && e.chunkedThisRound(a, r)) {
			break
		}
	}
	e.waiting = slices.Delete(e.waiting, 0, taken)
	return a.chunks, a.cached
}

// chunkedThisRound reports whether r was admitted with only part of its
// prompt: the chunk budget is spent.
func (e *Engine) chunkedThisRound(a *adder, r *reqState) bool {
	c := a.chunks[len(a.chunks)-1]
	return c.ID == r.ID && c.Offset+c.Tokens < r.fill
}

// take records r as admitted with a chunk of n tokens after its prefix.
func (a *adder) take(r *reqState, node *radixNode, prefix, n int) {
	if node != nil && prefix > 0 {
		r.node = node
	}
	r.prefilled = prefix
	r.waiting = false
	if !r.admitted {
		r.admitted, r.cached = true, prefix
	}
	a.cached += prefix
	a.chunks = append(a.chunks, Chunk{ID: r.ID, Offset: prefix, Tokens: n})
	a.admitted = append(a.admitted, r)
}

// addOne is PrefillAdder.add_one_req: the request's uncached prompt plus
// its remaining output (clipped) and a page must be below rem_total_tokens;
// without chunking a request after the first must also fit the input
// budget; with chunking a prompt longer than the chunk budget is cut.
func (a *adder) addOne(r *reqState) (addResult, bool) {
	e := a.e
	node, prefix := e.prefixOf(r)
	extend := r.fill - prefix
	total := extend + min(r.maxNew-r.generated, clipMaxNewTokens) + pageOverhead
	// The prefix is pinned before the check, as SGLang's _lock_node:
	// pinned tokens are no longer evictable.
	locked := node != nil && prefix > 0
	if locked {
		e.tree.lock(node)
	}
	unlock := func() {
		if locked {
			e.tree.unlock(node)
		}
	}
	switch {
	case float64(total) >= a.remTotal():
		unlock()
		return addNoToken, false
	case !a.chunking && len(a.chunks) > 0 && extend >= a.remInput:
		unlock()
		return addOther, false
	}
	if a.chunking && extend > a.remChunk {
		if a.remChunk <= 0 {
			unlock()
			return addOther, false
		}
		n := a.remChunk
		a.charge(n, 0, pageOverhead)
		a.take(r, node, prefix, n)
		return a.state(), true
	}
	a.charge(extend, min(r.maxNew, clipMaxNewTokens), pageOverhead)
	a.take(r, node, prefix, extend)
	return a.state(), true
}

// addIgnoreEOS is PrefillAdder.add_one_req_ignore_eos, SGLang's path for a
// request that ignores EOS while the radix cache is disabled (how
// bench_serving runs with --disable-radix-cache). Its prompt must fit
// cur_rem_tokens (free slots less this round's prompts), and then the
// batch is played forward: running, admitted and candidate requests sorted
// by the tokens they have left (all of max_new_tokens for those ignoring
// EOS, max_new_tokens × new_token_ratio for the others), each in turn must
// find a free slot per remaining request for all its tokens, counting the
// slots of those that finished before it. rem_total_tokens is only checked
// afterwards, as the budget state.
func (a *adder) addIgnoreEOS(r *reqState) (addResult, bool) {
	e := a.e
	extend := r.fill
	paged := extend + pageOverhead
	if paged > min(a.curRem(), int(math.Floor(a.remTotal()))) {
		return addNoToken, false
	}
	states := e.eosStates[:0]
	add := func(x *reqState) {
		ratio := e.ratio
		if !x.StopAtEOS {
			ratio = 1
		}
		left := float64(x.maxNew)*ratio - float64(x.generated)
		if left > 0 {
			states = append(states, eosState{left, float64(x.InputTokens + x.generated)})
		}
	}
	add(r)
	for _, x := range e.running {
		add(x)
	}
	for _, x := range a.admitted {
		add(x)
	}
	e.eosStates = states
	slices.SortStableFunc(states, func(x, y eosState) int { return cmpFloat(x.left, y.left) })
	rem := float64(a.curRem() - paged)
	freed := 0.0
	for i, s := range states {
		bs := float64(len(states) - i)
		if rem+freed-s.left*bs <= ignoreEOSReserve*bs {
			return addNoToken, false
		}
		freed += s.occupied
	}
	if !a.chunking || extend <= a.remChunk {
		a.charge(extend, min(r.maxNew, clipMaxNewTokens), pageOverhead)
		a.take(r, nil, 0, extend)
		return a.state(), true
	}
	if a.remChunk <= 0 {
		return addOther, false
	}
	n := a.remChunk
	a.charge(n, 0, pageOverhead)
	a.take(r, nil, 0, n)
	return a.state(), true
}

// eosState is a request as add_one_req_ignore_eos sees it: the tokens it
// has left to generate and the slots it holds.
type eosState struct{ left, occupied float64 }

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (e *Engine) prefill(now time.Duration, chunks []Chunk, cached int) Step {
	shape := BatchShape{Requests: len(chunks)}
	for _, c := range chunks {
		shape.PrefillTokens += c.Tokens
		shape.PrefillAttention += float64(c.Tokens) * (float64(c.Offset) + float64(c.Tokens)/2)
	}
	if !e.ensureFree(shape.PrefillTokens) {
		// Admission counts only free and evictable slots, so this is a bug.
		panic(fmt.Sprintf("simulator: KV pool overcommitted: prefill needs %d slots, %d free", shape.PrefillTokens, e.free()))
	}
	// Gauges are logged when the batch is formed, before it runs.
	e.sampleGauges(e.metrics.GenThroughput)
	e.metrics.CacheHitRate = 0
	if cached > 0 {
		e.metrics.CacheHitRate = float64(cached) / float64(cached+shape.PrefillTokens)
	}
	e.metrics.PrefillComputeTokens += int64(shape.PrefillTokens)
	e.metrics.PrefillCacheTokens += int64(cached)

	end := now + e.model.Sample(shape, e.rng)
	e.busyUntil = end
	st := Step{Kind: StepPrefill, Start: now, End: end, Shape: shape, Chunks: chunks}
	if e.deferOut {
		st.Outputs = e.outBuf
		defer func() { e.outBuf = st.Outputs }()
	}
	e.chunked = nil
	for _, c := range chunks {
		r := e.byID[c.ID]
		r.prefilled += c.Tokens
		r.kv += c.Tokens
		e.private += c.Tokens
		if r.prefilled < r.fill {
			e.chunked = r
			e.cacheKV(r, r.prefilled, false)
			continue
		}
		// The step that completes the fill samples the next token.
		if r.generated < r.end {
			r.generated++
		}
		if out, ok := e.progress(r, end); ok {
			st.Outputs = append(st.Outputs, out)
		}
		if r.generated < r.end {
			e.running = append(e.running, r)
		} else {
			e.full = false // the prefill batch shrank before joining the running one
		}
	}
	return st
}

// retract makes room for one decode step (SGLang's check_decode_mem and
// retract_decode): if free plus evictable slots cannot give every running
// request a token, requests are retracted, fewest generated tokens first
// and then longest prompt, until the rest can decode retractDecodeSteps
// steps each, keeping at least one. Retracted requests free their KV
// uncached and go to the back of the waiting queue, to be recomputed.
func (e *Engine) retract(now time.Duration) {
	if e.free()+e.evictable() >= len(e.running) {
		return
	}
	order := slices.Clone(e.running)
	slices.SortStableFunc(order, func(a, b *reqState) int {
		if a.generated != b.generated {
			return a.generated - b.generated
		}
		return b.InputTokens - a.InputTokens
	})
	gone := map[*reqState]bool{}
	var back []*reqState
	for _, r := range order[:len(order)-1] {
		if e.free()+e.evictable() >= (len(order)-len(gone))*retractDecodeSteps {
			break
		}
		gone[r] = true
		e.release(r)
		r.prefilled = 0
		r.fill = 0
		r.waiting = true
		r.retractions++
		back = append(back, r)
		e.metrics.RetractedRequests++
		e.metrics.RetractedInputTokens += int64(r.InputTokens)
		e.metrics.RetractedOutputTokens += int64(r.generated)
		e.retractedWindow++
	}
	// waiting_queue.extend(retracted): behind every request that has
	// arrived, ahead of those the engine holds for later arrival times.
	at := 0
	for at < len(e.waiting) && e.waiting[at].Arrival <= now {
		at++
	}
	e.waiting = slices.Insert(e.waiting, at, back...)
	e.running = slices.DeleteFunc(e.running, func(r *reqState) bool { return gone[r] })
	e.full = false
	gen, maxNew := 0, 0
	for _, r := range e.running {
		gen += r.generated
		maxNew += r.maxNew
	}
	e.ratio = min(1, float64(gen+retractDecodeSteps*len(e.running))/float64(maxNew+1))
	e.metrics.NewTokenRatio = e.ratio
}

func (e *Engine) decode(now time.Duration) Step {
	retracted := e.metrics.RetractedRequests
	e.retract(now)
	if e.metrics.RetractedRequests == retracted {
		e.ratio = max(e.ratioMin, e.ratio-(e.ratioInit-e.ratioMin)/newTokenRatioDecaySteps)
		e.metrics.NewTokenRatio = e.ratio
	}
	if !e.ensureFree(len(e.running)) {
		// Even the one request retraction keeps cannot grow (the chunked
		// request pins the rest): SGLang aborts it.
		return e.abortRunning(now)
	}
	shape := BatchShape{DecodeSeqs: len(e.running), Requests: len(e.running)}
	if len(e.pend) > 0 {
		shape.DecodeContext = e.runCtx
	} else {
		e.runLeft = math.MaxInt
		for _, r := range e.running {
			shape.DecodeContext += r.InputTokens + r.generated
			e.runLeft = min(e.runLeft, r.end-r.generated)
		}
	}
	end := now + e.model.Sample(shape, e.rng)
	e.busyUntil = end
	var outs []Output
	switch {
	case e.deferOut && len(e.pend)+1 < e.runLeft:
		// Nothing finishes: defer the per-request work (see DeferOutputs).
		e.pend = append(e.pend, end)
		e.private += len(e.running)
		e.runCtx = shape.DecodeContext + len(e.running)
		outs = e.outBuf
	case e.deferOut:
		e.flush()
		outs = e.outBuf
	default:
		outs = make([]Output, 0, len(e.running))
	}
	if len(e.pend) == 0 {
		before := len(e.running)
		e.running = slices.DeleteFunc(e.running, func(r *reqState) bool {
			r.kv++
			e.private++
			r.generated++
			if out, ok := e.progress(r, end); ok {
				outs = append(outs, out)
			}
			return r.generated >= r.end
		})
		if len(e.running) < before {
			e.full = false
		}
		if e.deferOut {
			e.outBuf = outs
		}
	}
	e.metrics.DecodeTokens += int64(shape.DecodeSeqs)

	e.decodeSteps++
	e.windowTokens += shape.DecodeSeqs
	if e.decodeSteps%decodeLogInterval == 0 {
		tput := 0.0
		if d := end - e.windowStart; d > 0 {
			tput = float64(e.windowTokens) / d.Seconds()
		}
		e.sampleGauges(tput)
		// A decode log reports no prefill batch's hit rate, and the
		// retractions since the previous one (log_decode_stats).
		e.metrics.CacheHitRate = 0
		e.metrics.NumRetractedReqs, e.retractedWindow = e.retractedWindow, 0
		e.windowStart, e.windowTokens = end, 0
	}
	return Step{Kind: StepDecode, Start: now, End: end, Shape: shape, Outputs: outs}
}

// abortRunning ends every running request with finish reason abort.
func (e *Engine) abortRunning(now time.Duration) Step {
	st := Step{Kind: StepDecode, Start: now, End: now + e.model.Mean(BatchShape{})}
	e.busyUntil = st.End
	if e.deferOut {
		st.Outputs = e.outBuf
		defer func() { e.outBuf = st.Outputs }()
	}
	for _, r := range e.running {
		e.release(r)
		delete(e.byID, r.ID)
		st.Outputs = append(st.Outputs, Output{ID: r.ID, Generated: r.generated, NewTokens: r.generated - r.emitted,
			Finished: true, FinishReason: api.FinishAbort, CachedTokens: r.cached, Retractions: r.retractions, Tag: r.Tag, At: st.End})
	}
	e.running = nil
	e.full = false
	return st
}

// progress finishes r if it has all its tokens and says whether this step
// makes an output for it: a streamed request's first token and every
// interval-th after it (tokens 1, k+1, 2k+1, ...), and every request's finish.
// A finished request's prompt and output KV goes into the radix cache.
func (e *Engine) progress(r *reqState, at time.Duration) (Output, bool) {
	finished := r.generated >= r.end
	if finished {
		// The last sampled token has no KV yet.
		e.cacheKV(r, r.InputTokens+max(r.generated-1, 0), true)
		delete(e.byID, r.ID)
	}
	emit := finished || (r.Stream && (r.interval == 1 || (r.generated-1)%r.interval == 0) && r.generated > r.emitted)
	if !emit {
		return Output{}, false
	}
	out := Output{ID: r.ID, NewTokens: r.generated - r.emitted, Generated: r.generated, Finished: finished,
		CachedTokens: r.cached, Retractions: r.retractions, Tag: r.Tag, At: at}
	if finished {
		// SGLang checks the length limit before the stop token.
		out.FinishReason = api.FinishLength
		if r.end < r.maxNew {
			out.FinishReason = api.FinishStop
		}
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

// naturalLength draws a response's natural length, EOS included, from the
// lognormal dist, seeded by the engine's seed and the request ID so a
// request's length does not depend on what else the engine serves.
func naturalLength(seed int64, id string, dist NaturalOutput) int {
	h := fnv.New64a()
	h.Write([]byte(id))
	x := splitmix64(h.Sum64() ^ splitmix64(uint64(seed)^0x4e61_7475_7261_6c00))
	// Box-Muller from two 53-bit uniforms in (0, 1].
	u1 := (float64(x>>11) + 1) / (1 << 53)
	u2 := float64(splitmix64(x)>>11) / (1 << 53)
	z := math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
	return max(1, int(math.Round(dist.MedianTokens.Value*math.Exp(dist.Sigma.Value*z))))
}
