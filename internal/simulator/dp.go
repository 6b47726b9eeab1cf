package simulator

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sgltest/sgltest/internal/api"
)

// SGLang's in-process data parallelism (--dp-size N, sglang-reference.md
// s7): one HTTP front end and tokenizer in front of N scheduler groups, each
// a DP rank with its own batch, KV pool and waiting queue on its own tp_size
// GPUs, and a DataParallelController that sends each tokenized request to
// one rank by --load-balance-method. The simulator gives each rank its own
// driver and Engine (so its own limits: max_running_requests is per rank,
// divided only by the attention-DP size, which is 1 without
// --enable-dp-attention) and puts a dpController where SGLang's controller
// sits: after the front end's input overhead, before the scheduler.
//
// What SGLang's controller does (python/sglang/srt/managers/
// data_parallel_controller.py and server_args.py, read for this model):
//
//   - round_robin: a counter over the ranks, advanced once per request.
//   - follow_bootstrap_room: rank = bootstrap_room mod dp_size. The
//     controller asserts that the request carries a bootstrap room; a request
//     without one raises out of its event loop, the controller process
//     signals its parent and the whole server exits. Outside PD
//     disaggregation nothing sets a room (not even SGLang's own warmup or
//     health-check generations), so such a server dies at its first
//     request: SGLang accepts the flag and fails then, and so does the
//     simulator.
//   - total_requests and total_tokens keep a per-rank budget (DPBudget):
//     "requests" is num_running_reqs + num_waiting_reqs and "tokens" is
//     num_total_tokens (KV tokens in use plus the prompt tokens still
//     waiting for prefill) from each rank's last published load snapshot.
//     Before a dispatch the controller re-reads the snapshots, at most once
//     every 20 ms, and takes a rank's figures only when its snapshot is new
//     (an unchanged timestamp is skipped). Between refreshes every dispatch
//     adds a speculative 1 request (total_requests) or 1 request and
//     len(input_ids) tokens (total_tokens) to the chosen rank, so a burst
//     does not all land on the rank a stale snapshot calls least loaded.
//     total_requests picks the rank with the fewest requests, total_tokens
//     the fewest tokens then the fewest requests; ties go to the lowest
//     rank.
//   - A scheduler publishes its snapshot after every prefill (extend)
//     batch, every --load-snapshot-publish-interval (15) decode iterations,
//     and when idle; it counts only requests it has received, so requests
//     still on their way to it are covered by the speculative increments
//     alone.
//   - --load-balance-method auto is round_robin, except in PD prefill mode
//     where it is follow_bootstrap_room (as is a legacy round_robin there).
//
// Not modelled: a request's own routed_dp_rank (direct routing to a rank),
// DP attention, and the stall-time snapshot refresh.

// The --load-balance-method values SGLang accepts (sglang-reference.md
// s1.3).
const (
	LoadBalanceAuto                = "auto"
	LoadBalanceRoundRobin          = "round_robin"
	LoadBalanceFollowBootstrapRoom = "follow_bootstrap_room"
	LoadBalanceTotalRequests       = "total_requests"
	LoadBalanceTotalTokens         = "total_tokens"
)

// LoadBalanceMethods lists the values --load-balance-method accepts.
var LoadBalanceMethods = []string{LoadBalanceAuto, LoadBalanceRoundRobin, LoadBalanceFollowBootstrapRoom,
	LoadBalanceTotalRequests, LoadBalanceTotalTokens}

// ResolveLoadBalanceMethod checks method ("" means auto) and resolves it as
// SGLang's server_args does for a server in the given disaggregation mode
// ("", "null", "prefill" or "decode"): auto is follow_bootstrap_room on a
// prefill server and round_robin otherwise, and a prefill server's
// round_robin means follow_bootstrap_room.
func ResolveLoadBalanceMethod(method, disaggregationMode string) (string, error) {
	if method == "" {
		method = LoadBalanceAuto
	}
	if !slices.Contains(LoadBalanceMethods, method) {
		return "", fmt.Errorf("--load-balance-method %q: expected one of %s", method, strings.Join(LoadBalanceMethods, ", "))
	}
	prefill := disaggregationMode == "prefill"
	switch {
	case method == LoadBalanceAuto && prefill, method == LoadBalanceRoundRobin && prefill:
		return LoadBalanceFollowBootstrapRoom, nil
	case method == LoadBalanceAuto:
		return LoadBalanceRoundRobin, nil
	}
	return method, nil
}

// Constants of SGLang's DP dispatch.
const (
	// loadSnapshotPublishInterval is --load-snapshot-publish-interval: a
	// busy scheduler publishes its load every this many decode steps.
	loadSnapshotPublishInterval = 15
	// budgetRefreshInterval is how stale the controller lets its budget get
	// during a burst before it re-reads the snapshots.
	budgetRefreshInterval = 20 * time.Millisecond
)

// errNoBootstrapRoom is the assertion SGLang's controller fails on, with its
// message, for a follow_bootstrap_room request that has no room.
var errNoBootstrapRoom = errors.New("DataParallelController hit an exception: AssertionError: req.bootstrap_room should not be None. " +
	"Do not send requests directly to prefill or decode instances; send to the router instead.")

// loadSnapshot is what one rank's scheduler last published for the
// controller: seq counts publications (SGLang compares timestamps), and
// requests and tokens are the two figures DPBudget reads.
type loadSnapshot struct {
	seq      uint64
	requests int
	tokens   int
}

// dpController picks a rank for each request, as SGLang's
// DataParallelController does for the resolved method. It is safe for
// concurrent use: handlers call pick from their own goroutines.
type dpController struct {
	method string
	ranks  []*driver

	mu sync.Mutex
	rr int // round_robin's next rank
	// DPBudget: per-rank requests and tokens, the snapshot each was last
	// taken from, and when the snapshots were last read.
	requests, tokens []int
	seen             []uint64
	refreshed        bool
	lastRefresh      time.Duration
}

func newDPController(method string, ranks []*driver) *dpController {
	n := len(ranks)
	return &dpController{method: method, ranks: ranks, requests: make([]int, n), tokens: make([]int, n), seen: make([]uint64, n)}
}

// pick returns the rank req goes to at now. With one rank there is no
// controller, whatever the method. The only error is errNoBootstrapRoom,
// after which the server is dead.
func (c *dpController) pick(req Request, now time.Duration) (int, error) {
	n := len(c.ranks)
	if n == 1 {
		return 0, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.method {
	case LoadBalanceFollowBootstrapRoom:
		if req.Bootstrap == nil {
			return 0, errNoBootstrapRoom
		}
		// Python's % is never negative for a positive divisor.
		return int(req.Bootstrap.Room % uint64(n)), nil
	case LoadBalanceTotalRequests, LoadBalanceTotalTokens:
		c.refresh(now)
		best := 0
		for r := 1; r < n; r++ {
			if c.less(r, best) {
				best = r
			}
		}
		c.requests[best]++
		if c.method == LoadBalanceTotalTokens {
			c.tokens[best] += req.InputTokens
		}
		return best, nil
	}
	r := c.rr
	c.rr = (c.rr + 1) % n
	return r, nil
}

// less orders rank a before rank b by the method's load; c.mu held.
func (c *dpController) less(a, b int) bool {
	if c.method == LoadBalanceTotalTokens && c.tokens[a] != c.tokens[b] {
		return c.tokens[a] < c.tokens[b]
	}
	return c.requests[a] < c.requests[b]
}

// refresh re-reads every rank's snapshot, at most once per
// budgetRefreshInterval, overwriting the speculative counts of ranks whose
// snapshot is new; c.mu held.
func (c *dpController) refresh(now time.Duration) {
	if c.refreshed && now-c.lastRefresh < budgetRefreshInterval {
		return
	}
	c.refreshed, c.lastRefresh = true, now
	for r, d := range c.ranks {
		s := d.snapshotLoad()
		if s.seq == c.seen[r] {
			continue
		}
		c.seen[r] = s.seq
		c.requests[r], c.tokens[r] = s.requests, s.tokens
	}
}

// publishLoad publishes d's load snapshot after a step of the given kind,
// as SGLang's scheduler does: after every prefill, when idle, and every
// loadSnapshotPublishInterval decode steps. It runs on the driver
// goroutine after deliver.
func (d *driver) publishLoad(kind StepKind) {
	if kind == StepDecode {
		d.decodesSincePublish++
		if d.decodesSincePublish < loadSnapshotPublishInterval {
			return
		}
	}
	d.decodesSincePublish = 0
	d.mu.Lock()
	defer d.mu.Unlock()
	// The scheduler counts what it has received: requests still in the
	// inbox are not its yet.
	waiting := 0
	for _, st := range d.streams {
		if st.inEngine {
			waiting += st.pending
		}
	}
	d.published = loadSnapshot{seq: d.published.seq + 1, requests: d.usage.Running + d.usage.Queued,
		tokens: d.usage.UsedTokens + waiting}
}

// snapshotLoad returns d's last published load snapshot.
func (d *driver) snapshotLoad() loadSnapshot {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.published
}

// dpLabel is the dp_rank label SGLang's scheduler metrics carry on a DP
// server, with its leading comma; empty without DP, where SGLang has none.
func (s *Server) dpLabel(rank int) string {
	if len(s.ranks) == 1 {
		return ""
	}
	return fmt.Sprintf(`,dp_rank="%d"`, rank)
}

// submitHealth dispatches SGLang's health-check generation to a rank as
// the controller dispatches any request.
func (s *Server) submitHealth(id string, now time.Duration) error {
	req := Request{ID: id, InputIDs: []int{0}, InputTokens: 1, MaxNewTokens: 1, Arrival: now}
	rank, err := s.dp.pick(req, now)
	if err != nil {
		s.die(err)
		return err
	}
	s.ranks[rank].submitHealth(req)
	return nil
}

// lastOutput is when an output of any rank last reached the front end.
func (s *Server) lastOutput() time.Duration {
	var last time.Duration
	for _, d := range s.ranks {
		last = max(last, time.Duration(d.lastOutput.Load()))
	}
	return last
}

// abort drops request id from whichever rank holds it; SGLang sends aborts
// to every rank.
func (s *Server) abort(id string) {
	for _, d := range s.ranks {
		d.abort(id)
	}
}

// die ends the server as SGLang's controller does when it raises: Dead is
// closed and Err says why. Main exits with that error.
func (s *Server) die(err error) {
	s.deathOnce.Do(func() {
		s.deathErr = err
		s.log.Error("the server is exiting", "err", err)
		close(s.dead)
	})
}

// Dead is closed when the server has failed as SGLang would exit: a
// follow_bootstrap_room request without a bootstrap room (see dp.go).
func (s *Server) Dead() <-chan struct{} { return s.dead }

// Err is why the server died, once Dead is closed.
func (s *Server) Err() error {
	select {
	case <-s.dead:
		return s.deathErr
	default:
		return nil
	}
}

// internalStates is /server_info's internal_states: one entry per DP rank,
// each from its own scheduler.
func (s *Server) internalStates() []api.InternalState {
	out := make([]api.InternalState, len(s.ranks))
	for r, d := range s.ranks {
		_, m := d.snapshot()
		out[r] = api.InternalState{
			LastGenThroughput: m.GenThroughput,
			MemoryUsage: api.MemoryUsage{
				Weight:        s.weightGB(),
				KVCache:       s.kvCacheGB(),
				TokenCapacity: s.lim.MaxTotalTokens,
			},
			EffectiveMaxRunningRequestsPerDP: s.lim.MaxRunningRequests,
		}
	}
	return out
}
