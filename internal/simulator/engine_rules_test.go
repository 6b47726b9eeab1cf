package simulator

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sgltest/sgltest/internal/api"
)

// firstPrefill returns the start of the first prefill step that computes
// part of id's prompt, or -1.
func firstPrefill(steps []Step, id string) time.Duration {
	for _, st := range steps {
		for _, c := range st.Chunks {
			if c.ID == id {
				return st.Start
			}
		}
	}
	return -1
}

// finishAt returns when id's finishing output became visible, or -1.
func finishAt(steps []Step, id string) time.Duration {
	for _, st := range steps {
		for _, o := range st.Outputs {
			if o.ID == id && o.Finished {
				return o.At
			}
		}
	}
	return -1
}

// With a 1000-token pool, r1 (100 in, 400 out) reserves 501 slots and r2
// needs 501 of the 499 left: admission fails for want of KV tokens, which
// closes the batch_is_full latch. One decode step later new_token_ratio
// (0.7) shrinks r1's reservation to 279 and 620 slots would do, but the
// latch keeps admission shut until the running batch shrinks: r2 is
// prefilled only after r1 finishes.
func TestEngine_BatchIsFullLatchHoldsAdmissionUntilTheBatchShrinks(t *testing.T) {
	e := mustEngine(t, EngineConfig{MaxTotalTokens: 1000}, mustProfile(t, "llama-3.1-8b-h100"), 1)
	reqs := []Request{
		{ID: "r1", InputIDs: seqIDs(0, 100), MaxNewTokens: 400, StopAtEOS: true, EOSAfter: 400},
		{ID: "r2", InputIDs: seqIDs(1000, 100), MaxNewTokens: 400, StopAtEOS: true, EOSAfter: 400},
	}
	var latched []bool
	steps := simulate(t, e, reqs, func(Step, Usage) { latched = append(latched, e.full) })
	if !latched[0] {
		t.Error("the latch did not close when r2 found no KV tokens")
	}
	r1Done, r2Start := finishAt(steps, "r1"), firstPrefill(steps, "r2")
	if r1Done < 0 || r2Start < r1Done {
		t.Errorf("r2 prefilled at %v, before r1 finished at %v: the latch did not hold", r2Start, r1Done)
	}
	if got := steps[1].Kind; got != StepDecode {
		t.Errorf("second step is %v, want decode while latched", got)
	}
}

// The latch also closes when the request slots run out, and opens again
// when a running request finishes.
func TestEngine_BatchIsFullLatchClosesOnSlotsAndOpensOnFinish(t *testing.T) {
	e := mustEngine(t, EngineConfig{MaxRunningRequests: 1}, mustProfile(t, "llama-3.1-8b-h100"), 1)
	reqs := []Request{
		{ID: "a", InputTokens: 10, MaxNewTokens: 3},
		{ID: "b", InputTokens: 10, MaxNewTokens: 3},
	}
	steps := simulate(t, e, reqs, nil)
	var kinds []StepKind
	for _, st := range steps {
		kinds = append(kinds, st.Kind)
	}
	// a: prefill (token 1), two decodes; b the same once a is gone.
	want := []StepKind{StepPrefill, StepDecode, StepDecode, StepPrefill, StepDecode, StepDecode}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("step kinds (-want +got):\n%s", diff)
	}
	if e.full {
		t.Error("the latch is still closed on an idle engine")
	}
}

// r1 (100 in, 100 out) and r2 (100 in, 700 out) in a 1000-token pool:
// add_one_req's budget refuses r2 (801 of 799 left), but with the radix
// cache disabled a request that ignores EOS takes add_one_req_ignore_eos,
// which plays the batch forward: r1 finishes first and frees its 200
// slots, so r2's 700 tokens fit. Both are admitted at once and nothing is
// ever retracted.
func TestEngine_IgnoreEOSPathAdmitsWhatTheBatchCanDecodeToTheEnd(t *testing.T) {
	prof := mustProfile(t, "llama-3.1-8b-h100")
	tests := []struct {
		name      string
		stopAtEOS bool
		want      []int
	}{
		{"ignore_eos without the radix cache", false, []int{100, 100}},
		{"stop at EOS: add_one_req's budget", true, []int{100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEngine(t, EngineConfig{MaxTotalTokens: 1000, DisableRadixCache: true}, prof, 1)
			reqs := []Request{
				{ID: "r1", InputTokens: 100, MaxNewTokens: 100, StopAtEOS: tt.stopAtEOS, EOSAfter: 100},
				{ID: "r2", InputTokens: 100, MaxNewTokens: 700, StopAtEOS: tt.stopAtEOS, EOSAfter: 700},
			}
			steps := simulate(t, e, reqs, func(_ Step, u Usage) {
				if u.UsedTokens > 1000 {
					t.Fatalf("pool overcommitted: %d used", u.UsedTokens)
				}
			})
			if diff := cmp.Diff(tt.want, chunkTokens(steps[0])); diff != "" {
				t.Errorf("first batch (-want +got):\n%s", diff)
			}
			if n := e.Metrics().RetractedRequests; n != 0 {
				t.Errorf("%d retractions", n)
			}
		})
	}
}

// Retracted requests join the back of the waiting queue, behind every
// request that has arrived (SGLang's waiting_queue.extend), in the order
// they were retracted; requests held for later arrival stay behind them.
func TestEngine_RetractedRequestsGoToTheBackOfTheQueue(t *testing.T) {
	prof := mustProfile(t, "llama-3.1-8b-h100")
	e := mustEngine(t, EngineConfig{MaxTotalTokens: 1000, DisableRadixCache: true}, prof, 1)
	specs := []struct {
		id      string
		gen, in int
	}{{"old", 50, 100}, {"short-new", 2, 30}, {"long-new", 2, 40}, {"mid", 10, 100}}
	held := 0
	for i, s := range specs {
		r := &reqState{Request: Request{ID: s.id, InputTokens: s.in}, seq: i, maxNew: 500, end: 500, generated: s.gen, kv: s.in + s.gen - 1}
		r.fill, r.prefilled = s.in, s.in
		e.byID[s.id] = r
		e.running = append(e.running, r)
		held += r.kv
	}
	for _, r := range []Request{
		{ID: "arrived", InputTokens: 10, MaxNewTokens: 5},
		{ID: "later", InputTokens: 10, MaxNewTokens: 5, Arrival: time.Second},
	} {
		if err := e.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	e.private = held + (1000 - held - 2) // 2 slots free, 4 requests to decode
	e.retract(time.Millisecond)
	var queue []string
	for _, r := range e.waiting {
		queue = append(queue, r.ID)
	}
	if want := []string{"arrived", "long-new", "short-new", "later"}; !slices.Equal(queue, want) {
		t.Errorf("waiting queue %v, want %v", queue, want)
	}
	for _, id := range []string{"long-new", "short-new"} {
		if got := e.byID[id].retractions; got != 1 {
			t.Errorf("%s retracted %d times, want 1", id, got)
		}
	}
	m := e.Metrics()
	if m.RetractedRequests != 2 || e.retractedWindow != 2 || m.RetractedInputTokens != 70 || m.RetractedOutputTokens != 4 {
		t.Errorf("retraction metrics %+v, window %d", m, e.retractedWindow)
	}
}

// max_prefill_tokens as the scheduler's code applies it: never raised to
// the context length; without chunking it caps a batch's prompt tokens
// after the first request; with chunking it only stops admission once it
// is spent, so the request that crosses it is still admitted whole.
func TestEngine_MaxPrefillTokensFollowsTheSchedulerCode(t *testing.T) {
	prof := mustProfile(t, "llama-3.1-8b-h100")
	tests := []struct {
		name string
		cfg  EngineConfig
		reqs []Request
		want []int
	}{
		{"not raised to the context length", EngineConfig{ChunkedPrefillSize: -1, MaxPrefillTokens: 100, ContextLength: 50_000},
			sameRequests(3, 80, 10), []int{80}},
		{"without chunking the next request must fit what is left", EngineConfig{ChunkedPrefillSize: -1, MaxPrefillTokens: 1000},
			sameRequests(3, 600, 10), []int{600}},
		{"with chunking the request crossing it is admitted whole", EngineConfig{ChunkedPrefillSize: 8192, MaxPrefillTokens: 1000},
			sameRequests(3, 600, 10), []int{600, 600}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEngine(t, tt.cfg, prof, 1)
			for _, r := range tt.reqs {
				if err := e.Add(r); err != nil {
					t.Fatal(err)
				}
			}
			if e.Limits().MaxPrefillTokens != tt.cfg.MaxPrefillTokens {
				t.Errorf("max prefill tokens resolved to %d, want %d", e.Limits().MaxPrefillTokens, tt.cfg.MaxPrefillTokens)
			}
			if diff := cmp.Diff(tt.want, chunkTokens(e.Step(0))); diff != "" {
				t.Errorf("first batch (-want +got):\n%s", diff)
			}
		})
	}
}

// Without ignore_eos a request ends at its natural length with "stop";
// max_new_tokens still caps it, and wins a tie, as SGLang checks the length
// before the stop token; min_new_tokens defers EOS.
func TestEngine_NaturalStopEndsAtEOSWithStopUnlessTheLimitComesFirst(t *testing.T) {
	prof := mustProfile(t, fastProfile)
	tests := []struct {
		name       string
		req        Request
		tokens     int
		finishType string
	}{
		{"EOS before the limit", Request{MaxNewTokens: 10, StopAtEOS: true, EOSAfter: 5}, 5, api.FinishStop},
		{"limit before EOS", Request{MaxNewTokens: 10, StopAtEOS: true, EOSAfter: 20}, 10, api.FinishLength},
		{"limit and EOS together", Request{MaxNewTokens: 10, StopAtEOS: true, EOSAfter: 10}, 10, api.FinishLength},
		{"min_new_tokens defers EOS", Request{MaxNewTokens: 10, StopAtEOS: true, EOSAfter: 5, MinNewTokens: 8}, 8, api.FinishStop},
		{"ignore_eos runs to the limit", Request{MaxNewTokens: 10, EOSAfter: 5}, 10, api.FinishLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEngine(t, EngineConfig{}, prof, 1)
			req := tt.req
			req.ID, req.InputTokens, req.Stream = "r", 10, true
			var last Output
			for _, st := range simulate(t, e, []Request{req}, nil) {
				for _, o := range st.Outputs {
					last = o
				}
			}
			if !last.Finished || last.Generated != tt.tokens || last.FinishReason != tt.finishType {
				t.Errorf("finished %v after %d tokens with %q, want %d tokens with %q",
					last.Finished, last.Generated, last.FinishReason, tt.tokens, tt.finishType)
			}
		})
	}
}

// Natural lengths drawn from the profile depend only on the seed and the
// request ID, and follow the profile's lognormal: half fall below its
// median.
func TestNaturalLength_IsSeededPerRequestAndCentredOnTheMedian(t *testing.T) {
	dist := mustProfile(t, "llama-3.1-8b-h100").NaturalOutput
	below, n := 0, 4000
	for i := range n {
		id := "req-" + string(rune('a'+i%26)) + time.Duration(i).String()
		a, b := naturalLength(7, id, dist), naturalLength(7, id, dist)
		if a != b || a < 1 {
			t.Fatalf("%s: lengths %d and %d", id, a, b)
		}
		if float64(a) < dist.MedianTokens.Value {
			below++
		}
	}
	if frac := float64(below) / float64(n); frac < 0.46 || frac > 0.54 {
		t.Errorf("%.3f of lengths below the median %v, want about half", frac, dist.MedianTokens.Value)
	}
	if naturalLength(7, "x", dist) == naturalLength(8, "x", dist) && naturalLength(7, "y", dist) == naturalLength(8, "y", dist) {
		t.Error("the seed does not change the draws")
	}
}

// At another TP size each GPU holds 1/TP of the weights and of each
// token's KV; the pool is what the memory fraction leaves after them.
func TestNewEngine_KVPoolFollowsTheTensorParallelSize(t *testing.T) {
	prof := mustProfile(t, "llama-3.1-8b-h100")
	mem, frac := prof.GPU.MemoryBytes.Value, prof.Capacity.MemFractionStatic.Value
	params, kv := prof.Model.ParamBytes.Value, prof.StepTime.KVBytesPerToken.Value
	reserve := mem*frac - params - prof.Capacity.MaxTotalTokens.Value*kv
	for _, tp := range []int{1, 2, 4, 8} {
		e := mustEngine(t, EngineConfig{TPSize: tp}, prof, 1)
		want := int((mem*frac - params/float64(tp) - reserve) / (kv / float64(tp)))
		if got := e.Limits().MaxTotalTokens; got != want || e.Limits().TPSize != tp {
			t.Errorf("TP %d: pool %d tokens (TP %d), want %d", tp, got, e.Limits().TPSize, want)
		}
	}
	if _, err := NewEngine(EngineConfig{TPSize: 1, MemFractionStatic: 0.1}, prof, 1); err == nil || !strings.Contains(err.Error(), "leave no room for a KV pool") {
		t.Errorf("weights larger than the memory fraction: err = %v", err)
	}
}

// sglang:cache_hit_rate is the last prefill batch's hit rate, and a decode
// log (every 40 decode steps) resets it to 0.
func TestEngine_CacheHitRateIsTheLastPrefillsUntilADecodeLog(t *testing.T) {
	e := mustEngine(t, EngineConfig{}, mustProfile(t, "llama-3.1-8b-h100"), 1)
	prompt := seqIDs(0, 100)
	var rates []float64
	simulate(t, e, []Request{
		{ID: "first", InputIDs: prompt, MaxNewTokens: 1},
		{ID: "second", InputIDs: append(slices.Clone(prompt), 500), MaxNewTokens: 60, Arrival: time.Second},
	}, func(Step, Usage) { rates = append(rates, e.Metrics().CacheHitRate) })
	// first's prefill (no hit); second's prefill (100 of 101 cached); then
	// 59 decode steps, the 40th of which logs.
	if len(rates) != 61 {
		t.Fatalf("%d steps, want 61", len(rates))
	}
	if want := 100.0 / 101; rates[1] != want || rates[40] != want {
		t.Errorf("hit rate after the second prefill %v, before the decode log %v; want %v", rates[1], rates[40], want)
	}
	if rates[41] != 0 || rates[60] != 0 {
		t.Errorf("hit rate after the decode log %v, at the end %v; want 0", rates[41], rates[60])
	}
}
