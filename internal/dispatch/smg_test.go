package dispatch_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sgltest/sgltest/internal/launcher"
	"github.com/sgltest/sgltest/internal/routermetrics"
	"github.com/sgltest/sgltest/internal/testenv"
	"github.com/sgltest/sgltest/router"
)

// seq returns the ids from..from+n-1.
func seq(from, n int) []int {
	ids := make([]int, n)
	for i := range ids {
		ids[i] = from + i
	}
	return ids
}

// loadPolls returns how many times smg has polled each worker's load, from
// its own metrics.
func loadPolls(t *testing.T, rt *launcher.Router) map[string]float64 {
	t.Helper()
	s, err := routermetrics.Scrape(t.Context(), http.DefaultClient, rt.MetricsURL(), func() time.Duration { return 0 })
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for u, w := range s.Workers {
		out[u] = w.LoadPolls
	}
	return out
}

// afterFirstFullPoll waits until smg has polled every worker's load at
// least once, and returns the poll counts. smg's load monitor polls when
// the first worker registers (only that one) and then every
// --load-monitor-interval (10 s): from the second poll on, every worker
// has an idle snapshot (no queue, no throughput, no KV in use), which a
// replay gives our policy as Worker state. The next poll is then an
// interval away.
func afterFirstFullPoll(t *testing.T, rt *launcher.Router, workers []string) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		polls := loadPolls(t, rt)
		all := true
		for _, w := range workers {
			all = all && polls[w] >= 1
		}
		if all {
			return polls
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("smg never polled every worker's load: %v", loadPolls(t, rt))
	return nil
}

// checkNoPollSince fails when smg polled a worker's load after before was
// taken: the replay assumes one snapshot for the whole sequence.
func checkNoPollSince(t *testing.T, rt *launcher.Router, before map[string]float64) {
	t.Helper()
	if after := loadPolls(t, rt); !equalPolls(before, after) {
		t.Fatalf("smg polled the workers' loads during the sequence (polls %v, then %v): the sequence must fit between two polls, 10 s apart; was the machine too busy?", before, after)
	}
}

func equalPolls(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// idleSnapshot is the worker state smg polled from an idle simulator.
func idleSnapshot(w *router.Worker) { w.Scraped, w.ScrapedAt = true, time.Second }

// TestSMGCacheAwareChoosesAsSMG sends one crafted sequence through the real
// smg (its defaults, but for thresholds low enough that a dozen requests
// cross them) in front of three simulators and through our
// smg_cache_aware, and requires the same worker at every step. Requests
// stay in flight (sendHeld); the sequence runs between two load polls
// (afterFirstFullPoll); where smg breaks a tie at random, the replay takes
// its choice if ours has it among the tied workers (replayer.tieBreak).
// The sequence has text misses spread by expected wait, hits, the spill
// gate firing and making a second holder of a prefix, a hit that goes to
// the less loaded of two holders, a partial match below the threshold, and
// the same on token ids: whole 16-id pages matched, a request shorter than
// a page, a hit on the first page only.
func TestSMGCacheAwareChoosesAsSMG(t *testing.T) {
	rt, workers := realRouter(t, testenv.SMG, 3, launcher.RouterConfig{
		Policy: "cache_aware", CacheThreshold: cmpCacheThreshold, BalanceAbsThreshold: cmpBalanceAbs, BalanceRelThreshold: cmpBalanceRel,
	})
	polls := afterFirstFullPoll(t, rt, workers)
	a, b, c := strings.Repeat("alpha ", 10), strings.Repeat("bravo ", 10), strings.Repeat("charlie ", 10)
	reqs := []heldRequest{
		{text: a}, {text: b}, {text: c}, // misses on idle workers: ties
		{text: a + "one"}, {text: b + "one"}, // hits
		{text: strings.Repeat("delta ", 10)},                                           // miss
		{text: a + "two"}, {text: a + "three"}, {text: a + "four"}, {text: a + "five"}, // hits until the gate
		{text: a + "five and more"},                    // gated: spills, a second holder
		{text: a + "six"},                              // hit: the less loaded holder
		{text: a[:12] + strings.Repeat("echo ", 10)},   // partial match below the threshold: a miss
		{ids: seq(1000, 40)},                           // miss on the token tree (32 ids cached)
		{ids: append(seq(1000, 32), seq(5000, 8)...)},  // two whole pages of 40 match: a hit
		{ids: seq(1000, 10)},                           // shorter than a page: a miss, nothing cached
		{ids: append(seq(1000, 16), seq(7000, 32)...)}, // one page of 48: below the threshold, a miss
		{text: c + "one"}, {text: b + "two"},
	}
	routed := sendHeld(t, rt, workers, reqs)
	checkNoPollSince(t, rt, polls)
	rp := &replayer{order: workers, state: idleSnapshot, follow: routed}
	policy, err := router.NewSMGCacheAware(router.Options{
		CacheThreshold: cmpCacheThreshold, BalanceAbsThreshold: cmpBalanceAbs, BalanceRelThreshold: cmpBalanceRel,
		TieBreak: rp.tieBreak,
	})
	if err != nil {
		t.Fatal(err)
	}
	compareRouted(t, workers, routed, rp.run(t, policy, reqs))
}

// texts returns n distinct prompts, no two sharing a first character.
func texts(n int) []heldRequest {
	reqs := make([]heldRequest, n)
	for i := range reqs {
		reqs[i] = heldRequest{text: strings.Repeat(string(rune('A'+i))+"x ", 10)}
	}
	return reqs
}

// TestSMGLoadAwarePoliciesChooseAsSMG cross-checks least_load (three
// workers) and power_of_two (two workers, so that the random pair is always
// both) the way TestSMGCacheAwareChoosesAsSMG does: the expected wait of
// every worker is the work credited to it since the last poll, text
// requests weighing --least-load-mean-prefill-tokens and id requests their
// length, so the sequence mixes both to make the choices differ.
func TestSMGLoadAwarePoliciesChooseAsSMG(t *testing.T) {
	mixed := texts(4)
	mixed = append(mixed, heldRequest{ids: seq(1, 3000)}, heldRequest{ids: seq(1, 200)}, heldRequest{ids: seq(1, 500)})
	mixed = append(mixed, texts(5)...)
	mixed = append(mixed, heldRequest{ids: seq(9, 1500)}, heldRequest{ids: seq(9, 100)})
	mixed = append(mixed, texts(3)...)
	for _, tt := range []struct {
		smg, ours string
		workers   int
	}{
		{"least_load", "least_load", 3},
		{"power_of_two", "smg_power_of_two", 2},
	} {
		t.Run(tt.smg, func(t *testing.T) {
			rt, workers := realRouter(t, testenv.SMG, tt.workers, launcher.RouterConfig{Policy: tt.smg})
			polls := afterFirstFullPoll(t, rt, workers)
			routed := sendHeld(t, rt, workers, mixed)
			checkNoPollSince(t, rt, polls)
			rp := &replayer{order: workers, state: idleSnapshot, follow: routed}
			policy, err := router.New(tt.ours, router.Options{TieBreak: rp.tieBreak})
			if err != nil {
				t.Fatal(err)
			}
			compareRouted(t, workers, routed, rp.run(t, policy, mixed))
		})
	}
}

// TestSMGKeyedPoliciesChooseAsSMG cross-checks the policies that route on a
// routing key (the X-SMG-Routing-Key header) or a hash of the prompt:
// consistent_hashing (the worker a key hashes to on smg's ring), prefix_hash
// (the ring, and the least loaded worker once the ring's is 10 requests
// above the mean) and manual (keys pinned where --assignment-mode min_load
// first put them).
func TestSMGKeyedPoliciesChooseAsSMG(t *testing.T) {
	// 24 keys, each sent twice: on a ring of three workers with random
	// ports, a worker then misses every key with odds near 3*(2/3)^24
	// (2e-4), and the sequence reaches all three.
	keyed := make([]heldRequest, 0, 48)
	for i := range 48 {
		keyed = append(keyed, heldRequest{text: "hello", routingKey: "user-" + string(rune('a'+i%24))})
	}
	hot := []heldRequest{}
	for i := range 20 {
		hot = append(hot, heldRequest{text: strings.Repeat("shared system prompt ", 60) + string(rune('a'+i))})
	}
	hot = append(hot, texts(6)...)
	hot = append(hot, heldRequest{ids: seq(100, 300)}, heldRequest{ids: seq(100, 256)}, heldRequest{ids: seq(7, 20)},
		heldRequest{text: "keyed", routingKey: "session-1"}, heldRequest{text: "keyed too", routingKey: "session-1"})
	sticky := append([]heldRequest{}, keyed...)
	sticky = append(sticky, texts(3)...) // no key: placed by min_load, not pinned
	for _, tt := range []struct {
		name, policy string
		extra        []string
		reqs         []heldRequest
		opts         router.Options
	}{
		{"consistent_hashing", "consistent_hashing", nil, keyed, router.Options{}},
		{"prefix_hash", "prefix_hash", nil, hot, router.Options{}},
		{"manual min_load", "manual", []string{"--assignment-mode", "min_load"}, sticky, router.Options{AssignmentMode: router.AssignMinLoad}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rt, workers := realRouter(t, testenv.SMG, 3, launcher.RouterConfig{Policy: tt.policy, ExtraArgs: tt.extra})
			routed := sendHeld(t, rt, workers, tt.reqs)
			rp := &replayer{order: workers, follow: routed}
			tt.opts.TieBreak = rp.tieBreak
			policy, err := router.New(tt.policy, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			compareRouted(t, workers, routed, rp.run(t, policy, tt.reqs))
		})
	}
}

// TestRoundRobinCyclesInRegistryOrder: both routers' round_robin take the
// workers in their registry's order (random per run), which the first
// three picks reveal; ours, given them in that order, must then agree
// throughout.
func TestRoundRobinCyclesInRegistryOrder(t *testing.T) {
	for _, pkg := range []string{testenv.SGLangRouter, testenv.SMG} {
		t.Run(pkg, func(t *testing.T) {
			rt, workers := realRouter(t, pkg, 3, launcher.RouterConfig{Policy: "round_robin"})
			reqs := texts(10)
			routed := sendHeldSeenByWorkers(t, rt, workers, reqs)
			order := []string{routed[0], routed[1], routed[2]}
			rp := &replayer{order: order}
			compareRouted(t, order, routed, rp.run(t, &router.RoundRobin{}, reqs))
		})
	}
}

// TestSMGPassthroughSendsEverythingToTheFirstWorker: smg's passthrough
// takes the first worker of its registry (random per run), as ours takes
// the first it is given.
func TestSMGPassthroughSendsEverythingToTheFirstWorker(t *testing.T) {
	rt, workers := realRouter(t, testenv.SMG, 2, launcher.RouterConfig{Policy: "passthrough"})
	reqs := texts(4)
	routed := sendHeld(t, rt, workers, reqs)
	order := []string{routed[0]}
	for _, w := range workers {
		if w != routed[0] {
			order = append(order, w)
		}
	}
	rp := &replayer{order: order}
	ours := rp.run(t, router.Passthrough{}, reqs)
	if diff := cmp.Diff(routed, ours); diff != "" {
		t.Errorf("worker per request (-smg +ours):\n%s", diff)
	}
}
