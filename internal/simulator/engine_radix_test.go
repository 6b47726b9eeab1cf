package simulator

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func seqIDs(from, n int) []int {
	ids := make([]int, n)
	for i := range ids {
		ids[i] = from + i
	}
	return ids
}

// drain steps the engine until idle and returns every output.
func drain(t *testing.T, e *Engine) []Output {
	t.Helper()
	var outs []Output
	for _, st := range simulate(t, e, nil, nil) {
		outs = append(outs, st.Outputs...)
	}
	return outs
}

func TestEngine_RadixHitPrefillsOnlyTheUncachedSuffix(t *testing.T) {
	prof := mustProfile(t, "llama-3.1-8b-h100")
	tests := []struct {
		name       string
		cfg        EngineConfig
		second     []int
		wantOffset int
		wantTokens int
	}{
		{"shared 80-token prefix", EngineConfig{}, append(seqIDs(0, 80), seqIDs(1000, 20)...), 80, 20},
		{"identical prompt still computes its last token", EngineConfig{}, seqIDs(0, 100), 99, 1},
		{"radix disabled computes everything", EngineConfig{DisableRadixCache: true}, append(seqIDs(0, 80), seqIDs(1000, 20)...), 0, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEngine(t, tt.cfg, prof, 1)
			if err := e.Add(Request{ID: "a", InputIDs: seqIDs(0, 100), MaxNewTokens: 5}); err != nil {
				t.Fatal(err)
			}
			drain(t, e)
			if err := e.Add(Request{ID: "b", InputIDs: tt.second, MaxNewTokens: 5}); err != nil {
				t.Fatal(err)
			}
			st := e.Step(e.busyUntil)
			if len(st.Chunks) != 1 || st.Chunks[0].Offset != tt.wantOffset || st.Chunks[0].Tokens != tt.wantTokens {
				t.Fatalf("chunks = %+v, want offset %d and %d tokens", st.Chunks, tt.wantOffset, tt.wantTokens)
			}
			outs := drain(t, e)
			if last := outs[len(outs)-1]; !last.Finished || last.CachedTokens != tt.wantOffset {
				t.Errorf("final output %+v, want finished with %d cached tokens", last, tt.wantOffset)
			}
		})
	}
}

func TestRadixTree_EvictsLeastRecentlyUsedUnlockedLeafFirst(t *testing.T) {
	tr := newRadixTree()
	a, _ := tr.insert(seqIDs(0, 10))
	tr.insert(seqIDs(100, 10)) // b: oldest once a is touched
	c, _ := tr.insert(seqIDs(200, 10))
	tr.match(seqIDs(0, 10)) // touch a
	tr.lock(c)              // c is pinned
	if tr.size != 30 || tr.evictable != 20 {
		t.Fatalf("size %d evictable %d, want 30 and 20", tr.size, tr.evictable)
	}
	if got := tr.evict(5); got != 10 {
		t.Fatalf("evict(5) freed %d, want the whole 10-token leaf", got)
	}
	if _, n := tr.match(seqIDs(100, 10)); n != 0 {
		t.Error("b (least recently used) survived eviction")
	}
	if _, n := tr.match(seqIDs(0, 10)); n != 10 {
		t.Error("a (recently used) was evicted before b")
	}
	if got := tr.evict(100); got != 10 {
		t.Errorf("evict(100) freed %d, want only unlocked a (10)", got)
	}
	if _, n := tr.match(seqIDs(200, 10)); n != 10 {
		t.Error("locked c was evicted")
	}
	tr.unlock(c)
	_ = a
	if tr.evictable != 10 {
		t.Errorf("evictable after unlock = %d, want 10", tr.evictable)
	}
}

func TestRadixTree_SplitKeepsLockAccounting(t *testing.T) {
	tr := newRadixTree()
	n, _ := tr.insert(seqIDs(0, 10))
	tr.lock(n)
	m, k := tr.match(append(seqIDs(0, 4), 99)) // splits the locked node at 4
	if k != 4 || m.lockRef != 1 || tr.evictable != 0 || tr.size != 10 {
		t.Fatalf("after split: matched %d, lockRef %d, evictable %d, size %d", k, m.lockRef, tr.evictable, tr.size)
	}
	tr.unlock(n)
	if tr.evictable != 10 {
		t.Errorf("evictable after unlock = %d, want 10", tr.evictable)
	}
}

func TestEngine_RetractsFewestGeneratedThenLongestInputKeepingOne(t *testing.T) {
	prof := mustProfile(t, "llama-3.1-8b-h100")
	e := mustEngine(t, EngineConfig{MaxTotalTokens: 1000, DisableRadixCache: true}, prof, 1)
	// gen/input pairs; the pool is left with too few free slots to decode.
	specs := []struct {
		id        string
		gen, in   int
		retracted bool
	}{
		{"old", 50, 100, false},
		{"short-new", 2, 30, true},
		{"long-new", 2, 40, true},
		{"mid", 10, 100, false},
	}
	held := 0
	for i, s := range specs {
		r := &reqState{Request: Request{ID: s.id, InputTokens: s.in}, seq: i, maxNew: 500, end: 500, generated: s.gen, kv: s.in + s.gen - 1}
		r.fill, r.prefilled = s.in, s.in
		e.byID[s.id] = r
		e.running = append(e.running, r)
		held += r.kv
	}
	e.private = held + (1000 - held - 2) // 2 slots free, 4 requests to decode
	e.retract(0)
	var kept []string
	for _, r := range e.running {
		kept = append(kept, r.ID)
	}
	// "long-new" goes first (fewest generated, longest input), freeing 41
	// slots, too few for 3 x 20 steps; then "short-new", after which the
	// two survivors have their 20 steps of headroom.
	if want := []string{"old", "mid"}; !slices.Equal(kept, want) {
		t.Errorf("kept %v, want %v", kept, want)
	}
	var queued []string
	for _, r := range e.waiting {
		queued = append(queued, r.ID)
		if r.kv != 0 || r.generated == 0 {
			t.Errorf("retracted %s holds %d KV, generated %d: want KV freed and tokens kept", r.ID, r.kv, r.generated)
		}
	}
	if len(queued) != 2 || e.metrics.RetractedRequests != 2 {
		t.Errorf("waiting %v, retracted %d; want 2", queued, e.metrics.RetractedRequests)
	}
	if e.ratio > 1 || e.ratio <= 0 {
		t.Errorf("new_token_ratio after retraction = %v, want in (0, 1]", e.ratio)
	}
}

func TestEngine_TightPoolWithCacheNeverOvercommitsAndFinishesEachOnce(t *testing.T) {
	prof := mustProfile(t, "llama-3.1-8b-h100")
	// Without the cache, requests that ignore EOS take the ignore_eos
	// admission path, which never overcommits and so never retracts; the
	// third case lets them stop at EOS (exactly at max_new_tokens) to
	// exercise retraction without the cache.
	for _, tc := range []struct {
		cfg EngineConfig
		eos bool
	}{
		{EngineConfig{MaxTotalTokens: 4000, ChunkedPrefillSize: 256}, false},
		{EngineConfig{MaxTotalTokens: 4000, ChunkedPrefillSize: 256, SchedulePolicy: "lpm"}, false},
		{EngineConfig{MaxTotalTokens: 4000, DisableRadixCache: true}, true},
	} {
		cfg := tc.cfg
		t.Run(fmt.Sprintf("%+v", cfg), func(t *testing.T) {
			e := mustEngine(t, cfg, prof, 3)
			rng := rand.New(rand.NewPCG(7, 7))
			reqs := workload(300, 50, 600, 400, 11)
			for i := range reqs {
				reqs[i].StopAtEOS, reqs[i].EOSAfter = tc.eos, reqs[i].MaxNewTokens
				// Four shared 200-token prefixes plus a unique tail.
				p := rng.IntN(4)
				reqs[i].InputIDs = append(seqIDs(p*10_000, 200), seqIDs(100_000+i*1000, reqs[i].InputTokens)...)
				reqs[i].InputTokens = 0
			}
			finished := map[string]int{}
			computed := map[string]int{}
			simulate(t, e, reqs, func(st Step, u Usage) {
				if f := e.free(); f < 0 || u.UsedTokens > e.lim.MaxTotalTokens {
					t.Fatalf("pool overcommitted: free %d, used %d of %d", f, u.UsedTokens, e.lim.MaxTotalTokens)
				}
				if e.tree != nil && (e.tree.evictable < 0 || e.tree.evictable > e.tree.size) {
					t.Fatalf("evictable %d outside [0, %d]", e.tree.evictable, e.tree.size)
				}
				for _, c := range st.Chunks {
					computed[c.ID] += c.Tokens
				}
				for _, o := range st.Outputs {
					if o.Finished {
						finished[o.ID]++
					}
				}
			})
			for _, r := range reqs {
				if finished[r.ID] != 1 {
					t.Errorf("%s finished %d times", r.ID, finished[r.ID])
				}
			}
			if e.Usage().UsedTokens != 0 || e.private != 0 {
				t.Errorf("idle engine holds %d KV (%d private)", e.Usage().UsedTokens, e.private)
			}
			t.Logf("retracted %d, cache hit tokens %d", e.metrics.RetractedRequests, e.metrics.PrefillCacheTokens)
			if e.metrics.RetractedRequests == 0 {
				t.Error("the tight pool never retracted: the test does not exercise retraction")
			}
		})
	}
}

func TestEngine_LPMOrdersByCachedPrefixAndFallsBack(t *testing.T) {
	prof := mustProfile(t, "llama-3.1-8b-h100")
	tests := []struct {
		name    string
		cfg     EngineConfig
		filler  int // extra uncached waiting requests queued first
		wantLPM bool
	}{
		{"lpm picks the cached prefix first", EngineConfig{SchedulePolicy: "lpm", MaxRunningRequests: 1}, 0, true},
		{"fcfs keeps arrival order", EngineConfig{MaxRunningRequests: 1}, 0, false},
		{"lpm with radix disabled is fcfs", EngineConfig{SchedulePolicy: "lpm", MaxRunningRequests: 1, DisableRadixCache: true}, 0, false},
		{"lpm over 128 waiting is fcfs", EngineConfig{SchedulePolicy: "lpm", MaxRunningRequests: 1}, 128, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEngine(t, tt.cfg, prof, 1)
			if err := e.Add(Request{ID: "warm", InputIDs: seqIDs(0, 100), MaxNewTokens: 1}); err != nil {
				t.Fatal(err)
			}
			drain(t, e)
			for i := range tt.filler {
				if err := e.Add(Request{ID: fmt.Sprint("f", i), InputIDs: seqIDs(50_000+i*10, 10), MaxNewTokens: 1}); err != nil {
					t.Fatal(err)
				}
			}
			if err := e.Add(Request{ID: "cold", InputIDs: seqIDs(9000, 100), MaxNewTokens: 1}); err != nil {
				t.Fatal(err)
			}
			if err := e.Add(Request{ID: "hot", InputIDs: seqIDs(0, 100), MaxNewTokens: 1}); err != nil {
				t.Fatal(err)
			}
			st := e.Step(e.busyUntil)
			gotLPM := st.Chunks[0].ID == "hot"
			if gotLPM != tt.wantLPM {
				t.Errorf("first admitted %s, want lpm order %v", st.Chunks[0].ID, tt.wantLPM)
			}
		})
	}
}

func TestEngine_AddBeyondMaxQueuedRequestsIsQueueFull(t *testing.T) {
	e := mustEngine(t, EngineConfig{MaxQueuedRequests: 2}, mustProfile(t, "llama-3.1-8b-h100"), 1)
	for i := range 2 {
		if err := e.Add(Request{ID: fmt.Sprint(i), InputTokens: 10, MaxNewTokens: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Add(Request{ID: "x", InputTokens: 10, MaxNewTokens: 1}); !errors.Is(err, ErrQueueFull) {
		t.Errorf("third Add: err = %v, want ErrQueueFull", err)
	}
	e.Step(0) // admits both, emptying the queue
	if err := e.Add(Request{ID: "y", InputTokens: 10, MaxNewTokens: 1}); err != nil {
		t.Errorf("Add after the queue drained: %v", err)
	}
	if err := e.Add(Request{ID: "z", InputTokens: 3, InputIDs: []int{1, 2}}); err == nil {
		t.Error("InputTokens disagreeing with InputIDs was accepted")
	}
}
