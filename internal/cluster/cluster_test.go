package cluster

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/simulator"
)

// sharedPrefixWorkload is n requests at rate per second, each one of four
// 1000-token system prompts followed by a unique 50-token question.
func sharedPrefixWorkload(n int, rate float64, seed uint64) []Request {
	rng := rand.New(rand.NewPCG(seed, 3))
	at := poisson(rate, n, seed)
	reqs := make([]Request, n)
	for i := range reqs {
		ids := make([]int, 0, 1050)
		p := rng.IntN(4)
		for j := range 1000 {
			ids = append(ids, p*1000+j)
		}
		for j := range 50 {
			ids = append(ids, 10_000+i*50+j)
		}
		reqs[i] = Request{Arrival: at[i], InputIDs: ids, OutputTokens: 32}
	}
	return reqs
}

func TestRun_RadixCacheRaisesHitRateAndCutsTTFTOnSharedPrefixes(t *testing.T) {
	prof := mustProfile(t, "llama-3.1-8b-a100")
	reqs := sharedPrefixWorkload(400, 10, 5)
	run := func(disable bool) metrics.Summary {
		recs, err := Records(Config{Profile: prof, Engine: simulator.EngineConfig{DisableRadixCache: disable}, Engines: 2, Router: RoundRobin(), Seed: 1}, reqs)
		if err != nil {
			t.Fatal(err)
		}
		s := metrics.Summarize(recs)
		if s.Failed != 0 {
			t.Fatalf("%d failed: %v", s.Failed, s.Errors)
		}
		return s
	}
	on, off := run(false), run(true)
	hit := func(s metrics.Summary) float64 { return float64(s.TotalCachedTokens) / float64(s.TotalInputTokens) }
	t.Logf("radix on: hit rate %.3f, median TTFT %.1f ms; off: hit rate %.3f, median TTFT %.1f ms",
		hit(on), on.TTFTMS.Median, hit(off), off.TTFTMS.Median)
	if hit(off) != 0 {
		t.Errorf("hit rate with radix disabled = %v, want 0", hit(off))
	}
	if hit(on) < 0.8 {
		t.Errorf("hit rate with radix = %.3f, want above 0.8 (four 1000-token prefixes, 50-token tails)", hit(on))
	}
	if on.TTFTMS.Median >= off.TTFTMS.Median {
		t.Errorf("median TTFT with radix %.1f ms is not below %.1f ms without", on.TTFTMS.Median, off.TTFTMS.Median)
	}
}

func TestRun_RecordsAreCompleteAndDeterministic(t *testing.T) {
	prof := mustProfile(t, "llama-3.1-8b-h100")
	reqs := shareGPTWorkload(t, 300, 20, 9)
	cfg := Config{Profile: prof, Engines: 3, Router: ShortestQueue(), Seed: 4}
	a, err := Records(cfg, reqs)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Router = ShortestQueue()
	b, err := Records(cfg, reqs)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("two runs with one seed differ (-first +second):\n%s", diff)
	}
	feIn := time.Duration(prof.Frontend.InputOverhead.Value * 1e9)
	for i, r := range a {
		sum := 0
		for _, c := range r.Chunks {
			sum += c.Tokens
		}
		switch {
		case !r.OK():
			t.Errorf("request %d failed: %d %s", i, r.Status, r.Error)
		case r.OutputTokens != reqs[i].OutputTokens || sum != r.OutputTokens:
			t.Errorf("request %d: %d output tokens, chunks sum %d, want %d", i, r.OutputTokens, sum, reqs[i].OutputTokens)
		case r.Sent != reqs[i].Arrival || r.FirstToken < r.Sent+feIn || r.Done < r.FirstToken:
			t.Errorf("request %d: sent %v first %v done %v: want sent at arrival %v and TTFT over t_fe_in %v", i, r.Sent, r.FirstToken, r.Done, reqs[i].Arrival, feIn)
		}
	}
}

func TestRouters_RoundRobinCyclesShortestQueuePicksLeastLoaded(t *testing.T) {
	states := []EngineState{{Running: 3, Waiting: 1}, {Running: 1, Waiting: 1}, {Running: 0, Waiting: 2}}
	rr := RoundRobin()
	var got []int
	for range 4 {
		got = append(got, rr.Route(&Request{}, states))
	}
	if want := []int{0, 1, 2, 0}; !slices.Equal(got, want) {
		t.Errorf("round robin = %v, want %v", got, want)
	}
	if got := ShortestQueue().Route(&Request{}, states); got != 1 {
		t.Errorf("shortest queue = %d, want 1 (first of the two with 2)", got)
	}
}

func TestRun_RejectsBadInput(t *testing.T) {
	prof := mustProfile(t, "llama-3.1-8b-h100")
	tests := []struct {
		name string
		cfg  Config
		reqs []Request
	}{
		{"no engines", Config{Profile: prof}, nil},
		{"arrivals out of order", Config{Profile: prof, Engines: 1}, []Request{{Arrival: time.Second, InputTokens: 5}, {InputTokens: 5}}},
		{"router out of range", Config{Profile: prof, Engines: 1, Router: RouterFunc(func(*Request, []EngineState) int { return 1 })}, []Request{{InputTokens: 5}}},
	}
	for _, tt := range tests {
		if _, err := Records(tt.cfg, tt.reqs); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}

func TestShareGPTLike_MeansMatchThePublishedSample(t *testing.T) {
	in, out, err := ShareGPTLike.Sample(20_000, 1)
	if err != nil {
		t.Fatal(err)
	}
	mean := func(v []int) float64 {
		s := 0
		for _, x := range v {
			s += x
		}
		return float64(s) / float64(len(v))
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"input", mean(in), 224.2}, {"output", mean(out), 189.1}} {
		if c.got < c.want*0.97 || c.got > c.want*1.03 {
			t.Errorf("mean %s length %.1f, want %.1f within 3%%", c.name, c.got, c.want)
		}
	}
}

// BenchServingShareGPT keeps what bench_serving's ShareGPT filter keeps
// (prompt in [4, 1024], output at least 4, both together at most 2048),
// reaches past ShareGPTLike's 1024-token outputs, and keeps the published
// means and ShareGPTLike's median output.
func TestBenchServingShareGPT_KeepsBenchServingsFilterAndTheMeans(t *testing.T) {
	in, out, err := BenchServingShareGPT.Sample(20_000, 1)
	if err != nil {
		t.Fatal(err)
	}
	var sumIn, sumOut float64
	longest := 0
	for i := range in {
		if in[i] < 4 || in[i] > 1024 || out[i] < 4 || in[i]+out[i] > 2048 {
			t.Fatalf("pair %d: %d + %d tokens, outside bench_serving's filter", i, in[i], out[i])
		}
		sumIn += float64(in[i])
		sumOut += float64(out[i])
		longest = max(longest, out[i])
	}
	if mi, mo := sumIn/20_000, sumOut/20_000; math.Abs(mi-224.2)/224.2 > 0.03 || math.Abs(mo-189.1)/189.1 > 0.03 {
		t.Errorf("mean lengths %.1f / %.1f, want 224.2 / 189.1 within 3%%", mi, mo)
	}
	if longest <= 1024 {
		t.Errorf("longest output %d tokens; bench_serving keeps outputs up to 2048 less the prompt", longest)
	}
	_, ref, err := ShareGPTLike.Sample(20_000, 1)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	slices.Sort(ref)
	if a, b := float64(out[10_000]), float64(ref[10_000]); math.Abs(a-b)/b > 0.05 {
		t.Errorf("median output %v tokens, ShareGPTLike's %v: want them within 5%%", a, b)
	}
	l := BenchServingShareGPT
	l.MaxTotal = 0
	if _, _, err := l.Sample(10, 1); err == nil {
		t.Error("MaxOutput without MaxTotal: no error")
	}
}
