package simulator

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func chunkTokens(st Step) []int {
	var n []int
	for _, c := range st.Chunks {
		n = append(n, c.Tokens)
	}
	return n
}

func sameRequests(n, input, output int) []Request {
	reqs := make([]Request, n)
	for i := range reqs {
		reqs[i] = Request{ID: fmt.Sprintf("r%d", i), InputTokens: input, MaxNewTokens: output}
	}
	return reqs
}

func TestEngine_FirstPrefillBatchStopsAtEachBudget(t *testing.T) {
	prof := mustProfile(t, "llama-3.1-8b-h100")
	tests := []struct {
		name string
		cfg  EngineConfig
		reqs []Request
		want []int // chunk sizes of the first step
	}{
		{
			name: "max_running_requests",
			cfg:  EngineConfig{MaxRunningRequests: 4},
			reqs: sameRequests(10, 100, 20),
			want: []int{100, 100, 100, 100},
		},
		{
			name: "max_prefill_tokens without chunking",
			cfg:  EngineConfig{ChunkedPrefillSize: -1, MaxPrefillTokens: 2000, ContextLength: 1024},
			reqs: sameRequests(10, 600, 20),
			want: []int{600, 600, 600}, // the fourth would need 600 of the 200 left
		},
		{
			name: "chunked_prefill_size truncates the request that crosses it",
			cfg:  EngineConfig{ChunkedPrefillSize: 1000},
			reqs: sameRequests(10, 300, 20),
			want: []int{300, 300, 300, 100},
		},
		{
			name: "KV pool reserves input plus max_new_tokens",
			cfg:  EngineConfig{MaxTotalTokens: 1000},
			reqs: sameRequests(10, 200, 200),
			want: []int{200, 200}, // a third would need 400 of the 200 left
		},
		{
			name: "prefill budget is raised to the context length",
			cfg:  EngineConfig{ChunkedPrefillSize: -1, MaxPrefillTokens: 100, ContextLength: 50_000},
			reqs: sameRequests(2, 30_000, 10),
			want: []int{30_000}, // the second would need 30000 of the 20000 left

		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEngine(t, tt.cfg, prof, 1)
			for _, r := range tt.reqs {
				if err := e.Add(r); err != nil {
					t.Fatal(err)
				}
			}
			st := e.Step(0)
			if st.Kind != StepPrefill {
				t.Fatalf("first step is %v, want prefill", st.Kind)
			}
			if diff := cmp.Diff(tt.want, chunkTokens(st)); diff != "" {
				t.Errorf("first batch chunks (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEngine_RunningRequestsNeverExceedMaxRunningRequests(t *testing.T) {
	e := mustEngine(t, EngineConfig{MaxRunningRequests: 4}, mustProfile(t, "llama-3.1-8b-h100"), 1)
	peak := 0
	simulate(t, e, sameRequests(20, 100, 30), func(_ Step, u Usage) {
		peak = max(peak, u.Running)
	})
	if peak != 4 {
		t.Errorf("peak running = %d, want exactly the cap 4", peak)
	}
}

func TestEngine_ChunkedPrefillChunksSumToInputOneChunkedAtATime(t *testing.T) {
	e := mustEngine(t, EngineConfig{ChunkedPrefillSize: 512}, mustProfile(t, "llama-3.1-8b-h100"), 1)
	reqs := []Request{
		{ID: "long", InputTokens: 2000, MaxNewTokens: 4},
		{ID: "short", InputTokens: 100, MaxNewTokens: 4},
		{ID: "later", InputTokens: 700, MaxNewTokens: 4, Arrival: time.Millisecond},
	}
	input := map[string]int{}
	for _, r := range reqs {
		input[r.ID] = r.InputTokens
	}
	done := map[string]int{}
	for _, st := range simulate(t, e, reqs, nil) {
		if st.Kind != StepPrefill {
			continue
		}
		partial, total := 0, 0
		for _, c := range st.Chunks {
			if c.Offset != done[c.ID] {
				t.Errorf("%s: chunk starts at %d, want %d", c.ID, c.Offset, done[c.ID])
			}
			done[c.ID] += c.Tokens
			total += c.Tokens
			if done[c.ID] < input[c.ID] {
				partial++
			}
		}
		if partial > 1 {
			t.Errorf("step at %v leaves %d requests part-way: %+v", st.Start, partial, st.Chunks)
		}
		if total > 512 {
			t.Errorf("step at %v prefills %d tokens, over the chunk size", st.Start, total)
		}
	}
	if diff := cmp.Diff(input, done); diff != "" {
		t.Errorf("prefilled tokens per request (-want +got):\n%s", diff)
	}
}

func TestEngine_EveryRequestFinishesOnceWithMaxNewTokensAndKVStaysInPool(t *testing.T) {
	const pool = 20_000
	e := mustEngine(t, EngineConfig{MaxTotalTokens: pool, ChunkedPrefillSize: 1024, MaxRunningRequests: 32},
		mustProfile(t, "llama-3.1-8b-h100"), 3)
	reqs := workload(300, 40, 3000, 400, 9)
	tokens := map[string]int{}
	finished := map[string]int{}
	peakUsed := 0
	simulate(t, e, reqs, func(st Step, u Usage) {
		if u.UsedTokens > pool {
			t.Fatalf("step at %v: %d KV tokens used, pool is %d", st.Start, u.UsedTokens, pool)
		}
		peakUsed = max(peakUsed, u.UsedTokens)
		for _, o := range st.Outputs {
			tokens[o.ID] += o.NewTokens
			if tokens[o.ID] != o.Generated {
				t.Fatalf("%s: outputs add up to %d tokens but Generated is %d", o.ID, tokens[o.ID], o.Generated)
			}
			if o.Finished {
				finished[o.ID]++
				if o.FinishReason != "length" {
					t.Errorf("%s: finish reason %q, want length", o.ID, o.FinishReason)
				}
			}
		}
	})
	for _, r := range reqs {
		if finished[r.ID] != 1 {
			t.Errorf("%s finished %d times, want 1", r.ID, finished[r.ID])
		}
		if tokens[r.ID] != r.MaxNewTokens {
			t.Errorf("%s generated %d tokens, want max_new_tokens %d", r.ID, tokens[r.ID], r.MaxNewTokens)
		}
	}
	if u := e.Usage(); u != (Usage{}) {
		t.Errorf("drained engine usage = %+v, want zero", u)
	}
	if peakUsed < pool/2 {
		t.Errorf("peak KV use %d never pressed the %d-token pool; the test does not exercise the KV budget", peakUsed, pool)
	}
}

func TestEngine_SameSeedSameSteps(t *testing.T) {
	prof := mustProfile(t, "llama-3.1-8b-a100")
	run := func(seed int64) []Step {
		e := mustEngine(t, EngineConfig{MaxTotalTokens: 30_000}, prof, seed)
		return simulate(t, e, workload(100, 20, 2000, 200, 5), nil)
	}
	a, b := run(7), run(7)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("same seed, different steps (-first +second):\n%s", diff)
	}
	c := run(8)
	if len(a) == len(c) && slices.EqualFunc(a, c, func(x, y Step) bool { return x.End == y.End }) {
		t.Error("a different seed gave identical step times; jitter is not seeded")
	}
}

func TestEngine_WaitingAdmissibleRequestPausesDecodes(t *testing.T) {
	e := mustEngine(t, EngineConfig{}, mustProfile(t, "llama-3.1-8b-h100"), 1)
	if err := e.Add(Request{ID: "a", InputTokens: 100, MaxNewTokens: 50, Stream: true}); err != nil {
		t.Fatal(err)
	}
	st := e.Step(0)
	st = e.Step(st.End)
	if st.Kind != StepDecode {
		t.Fatalf("second step is %v, want decode", st.Kind)
	}
	if err := e.Add(Request{ID: "b", InputTokens: 300, MaxNewTokens: 5, Arrival: st.End, Stream: true}); err != nil {
		t.Fatal(err)
	}
	st = e.Step(st.End)
	if st.Kind != StepPrefill || len(st.Chunks) != 1 || st.Chunks[0].ID != "b" {
		t.Fatalf("step after b arrives = %v %+v, want a prefill of b alone", st.Kind, st.Chunks)
	}
	if st.Shape.DecodeSeqs != 0 || len(st.Outputs) != 1 || st.Outputs[0].ID != "b" {
		t.Errorf("prefill step decoded a or emitted for it: shape %+v outputs %+v", st.Shape, st.Outputs)
	}
	st = e.Step(st.End)
	if st.Kind != StepDecode || st.Shape.DecodeSeqs != 2 {
		t.Errorf("step after the prefill = %v with %d decodes, want a decode of both", st.Kind, st.Shape.DecodeSeqs)
	}
}

func TestEngine_OutputsFollowStreamInterval(t *testing.T) {
	tests := []struct {
		name     string
		stream   bool
		interval int
		want     []int // Generated at each output
	}{
		{"every token", true, 1, []int{1, 2, 3, 4, 5, 6, 7, 8}},
		{"tokens 1, k+1, 2k+1 and the finish", true, 3, []int{1, 4, 7, 8}},
		{"finish only when not streamed", false, 1, []int{8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEngine(t, EngineConfig{}, mustProfile(t, "llama-3.1-8b-h100"), 1)
			req := Request{ID: "r", InputTokens: 10, MaxNewTokens: 8, Stream: tt.stream, StreamInterval: tt.interval}
			var got []int
			for _, st := range simulate(t, e, []Request{req}, nil) {
				for _, o := range st.Outputs {
					got = append(got, o.Generated)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("outputs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEngine_AbortFreesSlotAndKV(t *testing.T) {
	e := mustEngine(t, EngineConfig{MaxRunningRequests: 1}, mustProfile(t, "llama-3.1-8b-h100"), 1)
	for _, r := range []Request{{ID: "a", InputTokens: 100, MaxNewTokens: 1000}, {ID: "b", InputTokens: 50, MaxNewTokens: 2}} {
		if err := e.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	st := e.Step(0)
	st = e.Step(st.End)
	if u := e.Usage(); u.Running != 1 || u.Queued != 1 {
		t.Fatalf("before abort usage = %+v, want a running and b queued", u)
	}
	if !e.Abort("a") || e.Abort("a") {
		t.Fatal("Abort should report a once")
	}
	st = e.Step(st.End)
	if st.Kind != StepPrefill || st.Chunks[0].ID != "b" {
		t.Fatalf("after abort step = %v %+v, want b admitted", st.Kind, st.Chunks)
	}
	if u := e.Usage(); u.UsedTokens != 50 {
		t.Errorf("KV used after abort and b's prefill = %d, want b's 50", u.UsedTokens)
	}
}

func TestEngine_IdleStepWaitsForNextArrival(t *testing.T) {
	e := mustEngine(t, EngineConfig{}, mustProfile(t, "llama-3.1-8b-h100"), 1)
	if st := e.Step(0); st.Kind != StepIdle || st.End != Forever {
		t.Fatalf("empty engine step = %v until %v, want idle forever", st.Kind, st.End)
	}
	if err := e.Add(Request{ID: "r", InputTokens: 10, MaxNewTokens: 1, Arrival: time.Second}); err != nil {
		t.Fatal(err)
	}
	if st := e.Step(0); st.Kind != StepIdle || st.End != time.Second {
		t.Errorf("step before arrival = %v until %v, want idle until 1s", st.Kind, st.End)
	}
	if st := e.Step(time.Second); st.Kind != StepPrefill {
		t.Errorf("step at arrival = %v, want prefill", st.Kind)
	}
}

func TestEngine_AddClampsAndRejects(t *testing.T) {
	e := mustEngine(t, EngineConfig{MaxTotalTokens: 1000}, mustProfile(t, "llama-3.1-8b-h100"), 1)
	if err := e.Add(Request{ID: "huge", InputTokens: 100, MaxNewTokens: -1}); err != nil {
		t.Fatal(err)
	}
	var got int
	for _, st := range simulate(t, e, nil, nil) {
		for _, o := range st.Outputs {
			got = o.Generated
		}
	}
	// max_new_tokens is cut to what the pool leaves: 1000 - 100 - 2.
	if got != 898 {
		t.Errorf("unbounded request generated %d tokens, want 898", got)
	}
	if err := e.Add(Request{ID: "long", InputTokens: 995}); err == nil || !strings.Contains(err.Error(), "exceeds the maximum allowed length") {
		t.Errorf("over-long input: err = %v", err)
	}
	if err := e.Add(Request{ID: "x", InputTokens: 1}); err != nil {
		t.Fatal(err)
	}
	if err := e.Add(Request{ID: "x", InputTokens: 1}); err == nil {
		t.Error("duplicate ID was accepted")
	}
}

func TestNewEngine_ResolvesSGLangDefaults(t *testing.T) {
	tests := []struct {
		name    string
		profile string
		cfg     EngineConfig
		check   func(Limits) string
	}{
		{"auto max_running_requests floor", "llama-3.1-8b-h100", EngineConfig{}, func(l Limits) string {
			return want(l.MaxRunningRequests, 2048) // 440000/131072*512 = 1718, raised to 2048
		}},
		{"auto max_running_requests ceiling", "llama-3.1-8b-h100", EngineConfig{ContextLength: 4096}, func(l Limits) string {
			return want(l.MaxRunningRequests, 4096) // 440000/4096*512 = 55000, cut to 4096
		}},
		{"max_running_requests capped at half the pool", "llama-3.1-8b-h100", EngineConfig{MaxRunningRequests: 500, MaxTotalTokens: 600}, func(l Limits) string {
			return want(l.MaxRunningRequests, 300)
		}},
		{"chunked prefill from the profile", "llama-3.1-8b-h100", EngineConfig{}, func(l Limits) string {
			return want(l.ChunkedPrefillSize, 8192)
		}},
		{"chunking disabled", "llama-3.1-8b-h100", EngineConfig{ChunkedPrefillSize: -1}, func(l Limits) string {
			return want(l.ChunkedPrefillSize, -1)
		}},
		{"max_total_tokens only lowers the pool", "llama-3.1-8b-h100", EngineConfig{MaxTotalTokens: 10_000_000}, func(l Limits) string {
			return want(l.MaxTotalTokens, 440_000)
		}},
		{"a larger memory fraction grows the pool", "llama-3.1-8b-h100", EngineConfig{MemFractionStatic: 0.9}, func(l Limits) string {
			// 0.025 x 80 GiB / 128 KiB = 16384 more tokens.
			return want(l.MaxTotalTokens, 456_384)
		}},
		{"request limits follow context and pool", "llama-3.1-8b-h100", EngineConfig{ContextLength: 4096}, func(l Limits) string {
			return want(l.MaxReqLen, 4095) + want(l.MaxReqInputLen, 4090) + want(l.MaxPrefillTokens, 16384)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEngine(t, tt.cfg, mustProfile(t, tt.profile), 1)
			if msg := tt.check(e.Limits()); msg != "" {
				t.Errorf("%+v: %s", e.Limits(), msg)
			}
		})
	}
}

func want(got, want int) string {
	if got != want {
		return fmt.Sprintf("got %d, want %d; ", got, want)
	}
	return ""
}

func TestNewEngine_RejectsWhatItCannotSimulate(t *testing.T) {
	prof := mustProfile(t, "llama-3.1-8b-h100")
	tests := []struct {
		cfg  EngineConfig
		want string
	}{
		{EngineConfig{SchedulePolicy: "dfs-weight"}, `schedule policy "dfs-weight" is not simulated yet`},
		{EngineConfig{ScheduleConservativeness: -1}, "schedule conservativeness must be positive"},
		{EngineConfig{MaxQueuedRequests: -1}, "max queued requests must not be negative"},
		{EngineConfig{SchedulePolicy: "shortest"}, `unknown schedule policy "shortest"`},
		{EngineConfig{ContextLength: 200_000}, "longer than the model's 131072"},
		{EngineConfig{MemFractionStatic: 1.5}, "mem fraction static"},
	}
	for _, tt := range tests {
		if _, err := NewEngine(tt.cfg, prof, 1); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewEngine(%+v) error = %v, want it to contain %q", tt.cfg, err, tt.want)
		}
	}
}
