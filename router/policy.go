package router

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Policy picks the worker for one request. Pick returns an index into
// workers, which is never empty. The dispatcher calls Pick from one
// goroutine at a time, so a Policy may keep state without locking.
type Policy interface {
	Pick(req Request, workers []Worker) (int, error)
}

// Request is what a policy may look at in a request.
type Request struct {
	// Text is the routing text: the prompt, or the input token ids joined
	// by single spaces, as sglang-router 0.3.2 builds it for /generate
	// (RoutingText).
	Text string
	// InputIDs are the prompt's token ids when it was sent as ids. smg
	// routes a /generate request that carries ids on them (its token tree,
	// prefix hash of the first ids) instead of on Text.
	InputIDs []int
	// RoutingKey is the request's routing key, what a real router reads
	// from the X-SMG-Routing-Key header: manual and consistent_hashing keep
	// every request with one key on one worker, and prefix_hash hashes it
	// instead of the prompt. Empty means the request carries none.
	RoutingKey string
}

// RoutingText is the text sglang-router 0.3.2 routes /generate on: text
// when present, else the input ids joined by single spaces.
func RoutingText(text string, ids []int) string {
	if text != "" || len(ids) == 0 {
		return text
	}
	var b strings.Builder
	b.Grow(len(ids) * 6)
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Itoa(id))
	}
	return b.String()
}

// Worker is one worker's state at the moment of the decision.
type Worker struct {
	// URL is the worker's base URL; it identifies the worker.
	URL string
	// InFlight is how many requests the dispatcher has sent to this worker
	// that have not finished: sglang-router's own load counter (s5.1).
	InFlight int

	// Scraped is set once the worker's /metrics has been read; the fields
	// below are zero until then.
	Scraped bool
	// ScrapedAt is when the values below were read (monotonic, since the
	// run's start).
	ScrapedAt time.Duration
	// Running and Queued are sglang:num_running_reqs and sglang:num_queue_reqs.
	Running, Queued int
	// UsedTokens is sglang:num_used_tokens, the KV tokens in use.
	UsedTokens int
	// TokenUsage is sglang:token_usage, the KV pool's used fraction.
	TokenUsage float64
	// Throughput is sglang:gen_throughput, recent generated tokens per second.
	Throughput float64
	// Latency is the mean end-to-end request latency over the last scrape
	// interval (from sglang:e2e_request_latency_seconds); zero when no
	// request finished in it.
	Latency time.Duration
	// CacheHitRate is sglang:cache_hit_rate, the recent prefix-cache hit rate.
	CacheHitRate float64
	// WaitingTokens are the prompt tokens of queued requests still waiting
	// for prefill (num_waiting_uncached_tokens of GET /v1/loads); zero when
	// the state source reports no such figure (SGLang's /metrics has none).
	WaitingTokens int
}

// Options configures a policy. Zero fields take the documented defaults,
// which are those of the router the policy comes from (sglang-router 0.3.2
// and smg 1.13.0 agree on every default they share).
type Options struct {
	// Seed seeds random choices (random, power_of_two, ties, new keys).
	Seed uint64
	// CacheThreshold: cache_aware routes to the worker holding the longest
	// matched prefix when matched/len(text) is above it. Default 0.3.
	CacheThreshold float64
	// BalanceAbsThreshold and BalanceRelThreshold: cache_aware switches to
	// the least-loaded worker when max−min load > abs and max > min×rel.
	// Defaults 64 and 1.5.
	BalanceAbsThreshold int
	BalanceRelThreshold float64
	// MaxTreeSize bounds each worker's characters in cache_aware's tree
	// (smg_cache_aware: each tree's total over all workers), enforced every
	// EvictionInterval. Defaults 2^26 and 60 s. manual evicts idle keys on
	// the same interval.
	MaxTreeSize      int
	EvictionInterval time.Duration

	// BlockSize is smg_cache_aware's page for token ids: only whole pages
	// of ids are matched and cached, as SGLang's radix cache pages them.
	// Default 16 (smg's --block-size).
	BlockSize int

	// The expected-wait score of least_load and smg_power_of_two (smg's
	// --least-load-* flags): KVPressureWeight (seconds, default 0.15),
	// DefaultThroughput (tokens/s for a worker reporting none, default
	// 2000), MeanPrefillTokens (the work credited per request when its
	// token count is unknown, default 1024), MaxWaitingRequests (skip a
	// worker whose queue plus requests sent since the last load refresh
	// reached it; 0, the default, disables).
	KVPressureWeight   float64
	DefaultThroughput  float64
	MeanPrefillTokens  int
	MaxWaitingRequests int

	// prefix_hash (smg's --prefix-token-count, --prefix-hash-load-factor,
	// --prefix-hash-balance-abs-threshold): the ids hashed (4× as many
	// characters of text), default 256; a worker is overloaded above both
	// LoadFactor × the mean in-flight load and the mean plus
	// BalanceAbs, defaults 1.25 and 10.
	PrefixTokenCount              int
	PrefixHashLoadFactor          float64
	PrefixHashBalanceAbsThreshold int

	// manual: how a new routing key is placed, AssignRandom (the default)
	// or AssignMinLoad; keys unused for MaxIdle (default 4 h) are dropped.
	AssignmentMode string
	MaxIdle        time.Duration

	// TieBreak, when set, chooses among workers an smg policy finds equally
	// good (indices into the workers passed to Pick, ascending) instead of
	// the seeded generator; smg chooses uniformly at random. Tests use it
	// to follow a real router's choices.
	TieBreak func(tied []int) int
}

// Assignment modes of manual (smg's --assignment-mode).
const (
	AssignRandom  = "random"
	AssignMinLoad = "min_load"
)

// The defaults of sglang-router 0.3.2's launch_router (router-reference.md s2.1).
const (
	DefaultCacheThreshold      = 0.3
	DefaultBalanceAbsThreshold = 64
	DefaultBalanceRelThreshold = 1.5
	DefaultMaxTreeSize         = 1 << 26
	DefaultEvictionInterval    = 60 * time.Second
)

// The defaults of smg 1.13.0's launch_router for the settings only smg has.
const (
	DefaultBlockSize                     = 16
	DefaultKVPressureWeight              = 0.15
	DefaultThroughput                    = 2000.0
	DefaultMeanPrefillTokens             = 1024
	DefaultPrefixTokenCount              = 256
	DefaultPrefixHashLoadFactor          = 1.25
	DefaultPrefixHashBalanceAbsThreshold = 10
	DefaultMaxIdle                       = 4 * time.Hour
)

func (o Options) withDefaults() (Options, error) {
	if o.CacheThreshold == 0 {
		o.CacheThreshold = DefaultCacheThreshold
	}
	if o.BalanceAbsThreshold == 0 {
		o.BalanceAbsThreshold = DefaultBalanceAbsThreshold
	}
	if o.BalanceRelThreshold == 0 {
		o.BalanceRelThreshold = DefaultBalanceRelThreshold
	}
	if o.MaxTreeSize == 0 {
		o.MaxTreeSize = DefaultMaxTreeSize
	}
	if o.EvictionInterval == 0 {
		o.EvictionInterval = DefaultEvictionInterval
	}
	if o.BlockSize == 0 {
		o.BlockSize = DefaultBlockSize
	}
	if o.KVPressureWeight == 0 {
		o.KVPressureWeight = DefaultKVPressureWeight
	}
	if o.DefaultThroughput == 0 {
		o.DefaultThroughput = DefaultThroughput
	}
	if o.MeanPrefillTokens == 0 {
		o.MeanPrefillTokens = DefaultMeanPrefillTokens
	}
	if o.PrefixTokenCount == 0 {
		o.PrefixTokenCount = DefaultPrefixTokenCount
	}
	if o.PrefixHashLoadFactor == 0 {
		o.PrefixHashLoadFactor = DefaultPrefixHashLoadFactor
	}
	if o.PrefixHashBalanceAbsThreshold == 0 {
		o.PrefixHashBalanceAbsThreshold = DefaultPrefixHashBalanceAbsThreshold
	}
	if o.AssignmentMode == "" {
		o.AssignmentMode = AssignRandom
	}
	if o.MaxIdle == 0 {
		o.MaxIdle = DefaultMaxIdle
	}
	var errs []error
	if o.CacheThreshold < 0 || o.CacheThreshold > 1 {
		errs = append(errs, fmt.Errorf("CacheThreshold: %v is outside [0, 1]", o.CacheThreshold))
	}
	if o.BalanceAbsThreshold < 0 {
		errs = append(errs, fmt.Errorf("BalanceAbsThreshold: %d is negative", o.BalanceAbsThreshold))
	}
	if o.BalanceRelThreshold < 0 {
		errs = append(errs, fmt.Errorf("BalanceRelThreshold: %v is negative", o.BalanceRelThreshold))
	}
	if o.MaxTreeSize < 0 {
		errs = append(errs, fmt.Errorf("MaxTreeSize: %d is negative", o.MaxTreeSize))
	}
	if o.EvictionInterval < 0 {
		errs = append(errs, fmt.Errorf("EvictionInterval: %v is negative", o.EvictionInterval))
	}
	if o.BlockSize < 0 {
		errs = append(errs, fmt.Errorf("BlockSize: %d is negative", o.BlockSize))
	}
	if o.KVPressureWeight < 0 {
		errs = append(errs, fmt.Errorf("KVPressureWeight: %v is negative", o.KVPressureWeight))
	}
	if o.DefaultThroughput < 0 {
		errs = append(errs, fmt.Errorf("DefaultThroughput: %v is negative", o.DefaultThroughput))
	}
	if o.MeanPrefillTokens < 0 || o.MaxWaitingRequests < 0 || o.PrefixTokenCount < 0 || o.PrefixHashBalanceAbsThreshold < 0 {
		errs = append(errs, errors.New("MeanPrefillTokens, MaxWaitingRequests, PrefixTokenCount, PrefixHashBalanceAbsThreshold: want non-negative values"))
	}
	if o.PrefixHashLoadFactor < 1 {
		errs = append(errs, fmt.Errorf("PrefixHashLoadFactor: %v is below 1", o.PrefixHashLoadFactor))
	}
	if o.AssignmentMode != AssignRandom && o.AssignmentMode != AssignMinLoad {
		errs = append(errs, fmt.Errorf("AssignmentMode: %q: want %q or %q (smg's min_group and delegate are not modelled)", o.AssignmentMode, AssignRandom, AssignMinLoad))
	}
	if o.MaxIdle < 0 {
		errs = append(errs, fmt.Errorf("MaxIdle: %v is negative", o.MaxIdle))
	}
	return o, errors.Join(errs...)
}

// Factory builds a fresh policy; each run gets its own.
type Factory func(Options) (Policy, error)

var (
	mu       sync.RWMutex
	registry = map[string]Factory{
		"round_robin":    func(Options) (Policy, error) { return &RoundRobin{}, nil },
		"random":         func(o Options) (Policy, error) { return NewRandom(o.Seed), nil },
		"shortest_queue": func(Options) (Policy, error) { return ShortestQueue{}, nil },
		"power_of_two":   func(o Options) (Policy, error) { return NewPowerOfTwo(o.Seed), nil },
		"cache_aware":    func(o Options) (Policy, error) { return NewCacheAware(o) },

		"passthrough":        func(Options) (Policy, error) { return Passthrough{}, nil },
		"smg_cache_aware":    func(o Options) (Policy, error) { return NewSMGCacheAware(o) },
		"smg_power_of_two":   func(o Options) (Policy, error) { return NewSMGPowerOfTwo(o) },
		"least_load":         func(o Options) (Policy, error) { return NewLeastLoad(o) },
		"consistent_hashing": func(o Options) (Policy, error) { return NewConsistentHashing(o.Seed), nil },
		"prefix_hash":        func(o Options) (Policy, error) { return NewPrefixHash(o) },
		"manual":             func(o Options) (Policy, error) { return NewManual(o) },
	}
)

// Register makes a policy selectable by name. It fails if the name is
// empty, contains a space, or is already taken (built-ins included).
func Register(name string, f Factory) error {
	if name == "" || strings.ContainsAny(name, " \t\n") {
		return fmt.Errorf("router.Register: name %q: want a non-empty name without spaces", name)
	}
	if f == nil {
		return fmt.Errorf("router.Register %q: nil factory", name)
	}
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[name]; dup {
		return fmt.Errorf("router.Register: a policy named %q is already registered", name)
	}
	registry[name] = f
	return nil
}

// New builds the policy registered under name.
func New(name string, opts Options) (Policy, error) {
	mu.RLock()
	f, ok := registry[name]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("routing policy %q is not registered; known: %s", name, strings.Join(Names(), ", "))
	}
	p, err := f(opts)
	if err != nil {
		return nil, fmt.Errorf("routing policy %q: %w", name, err)
	}
	return p, nil
}

// Names lists the registered policies, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ErrNoWorkers is returned by Pick when the worker list is empty.
var ErrNoWorkers = errors.New("no workers to route to")
