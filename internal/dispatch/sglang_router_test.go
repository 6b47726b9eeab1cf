package dispatch_test

import (
	"strings"
	"testing"

	"github.com/sgltest/sgltest/internal/launcher"
	"github.com/sgltest/sgltest/internal/testenv"
	"github.com/sgltest/sgltest/router"
)

// The router's cache_aware knobs for the comparison: thresholds low enough
// that a dozen requests in flight cross them.
const (
	cmpCacheThreshold = 0.5
	cmpBalanceAbs     = 2
	cmpBalanceRel     = 1.5
)

// TestCacheAwareChoosesAsSGLangRouter032 sends one crafted sequence through
// the real sglang-router 0.3.2 in front of three simulators and through our
// cache_aware policy, and requires the same worker at every step.
//
// Every request stays in flight until the sequence ends (sendHeld), so the
// router's load of a worker is exactly the number of requests it was sent,
// which our policy is given too. The router breaks ties by the order of its
// worker registry, which is random per run (s5.2); the first two requests
// (both ties) reveal that order, and our policy gets the workers in it.
// From then on the algorithm decides deterministically: the sequence has
// misses with a unique least-loaded worker, prefix hits above the
// threshold, a partial match at or below it, and imbalance switches.
func TestCacheAwareChoosesAsSGLangRouter032(t *testing.T) {
	rt, workers := realRouter(t, testenv.SGLangRouter, 3, launcher.RouterConfig{
		Policy: "cache_aware", CacheThreshold: cmpCacheThreshold, BalanceAbsThreshold: cmpBalanceAbs, BalanceRelThreshold: cmpBalanceRel,
	})
	a, b, c := strings.Repeat("alpha ", 10), strings.Repeat("bravo ", 10), strings.Repeat("charlie ", 10)
	texts := []string{
		a, b, c, // misses: two ties (reveal the order), then the unique idle worker
		a + "one", b + "one", // hits
		strings.Repeat("delta ", 10),                   // miss, unique least loaded
		a + "two", a + "three", a + "four", a + "five", // hits until the imbalance switch
		a + "five and more", c + "one", // hits, one on the worker that took over
		a[:12] + strings.Repeat("echo ", 10), // partial match below the threshold: a miss
		b + "two", c + "two", a + "six",
	}
	reqs := make([]heldRequest, len(texts))
	for i, s := range texts {
		reqs[i] = heldRequest{text: s}
	}
	routed := sendHeld(t, rt, workers, reqs)
	order := registryOrder(routed, workers)
	policy, err := router.NewCacheAware(router.Options{
		CacheThreshold: cmpCacheThreshold, BalanceAbsThreshold: cmpBalanceAbs, BalanceRelThreshold: cmpBalanceRel,
	})
	if err != nil {
		t.Fatal(err)
	}
	rp := &replayer{order: order}
	compareRouted(t, order, routed, rp.run(t, policy, reqs))
}

// TestManualChoosesAsSGLangRouter032: 0.3.2's manual policy pins routing
// keys (X-SMG-Routing-Key) as smg's does; with --assignment-mode min_load
// new keys go to the least loaded worker, ties at random (followed).
func TestManualChoosesAsSGLangRouter032(t *testing.T) {
	rt, workers := realRouter(t, testenv.SGLangRouter, 3, launcher.RouterConfig{
		Policy: "manual", ExtraArgs: []string{"--assignment-mode", "min_load"},
	})
	var reqs []heldRequest
	for i := range 24 {
		reqs = append(reqs, heldRequest{text: "hello", routingKey: "user-" + string(rune('a'+i%9))})
	}
	reqs = append(reqs, texts(3)...)
	routed := sendHeld(t, rt, workers, reqs)
	rp := &replayer{order: workers, follow: routed}
	policy, err := router.NewManual(router.Options{AssignmentMode: router.AssignMinLoad, TieBreak: rp.tieBreak})
	if err != nil {
		t.Fatal(err)
	}
	compareRouted(t, workers, routed, rp.run(t, policy, reqs))
}
