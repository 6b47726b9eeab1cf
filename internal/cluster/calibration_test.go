package cluster

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/simulator"
)

// poisson returns n arrival offsets at rate per second, the first at 0 and
// exponential gaps after, as bench_serving; rate +Inf puts all at 0.
func poisson(rate float64, n int, seed uint64) []time.Duration {
	rng := rand.New(rand.NewPCG(seed, 0x617272))
	at := make([]time.Duration, n)
	var t float64
	for i := 1; i < n; i++ {
		if !math.IsInf(rate, 1) {
			t += rng.ExpFloat64() / rate
		}
		at[i] = time.Duration(t * float64(time.Second))
	}
	return at
}

// shareGPTWorkload is n ShareGPT-like requests with unique random prompt ids.
func shareGPTWorkload(t testing.TB, n int, rate float64, seed uint64) []Request {
	t.Helper()
	in, out, err := ShareGPTLike.Sample(n, seed)
	if err != nil {
		t.Fatal(err)
	}
	at := poisson(rate, n, seed)
	reqs := make([]Request, n)
	for i := range reqs {
		reqs[i] = Request{Arrival: at[i], InputTokens: in[i], OutputTokens: out[i]}
	}
	return reqs
}

func mustProfile(t testing.TB, name string) simulator.Profile {
	t.Helper()
	p, err := simulator.LoadProfile(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCalibration_ReproducesPublishedSGLangLlama31A100 replays the three
// published SGLang runs of simulator-design.md s4.1 (Llama-3.1-8B-Instruct,
// one A100-80GB, radix cache off, ShareGPT) in virtual time with the same
// request counts and checks the medians and throughput: 10% on throughput
// and the E2E, ITL and TPOT medians, 20% on the TTFT median.
func TestCalibration_ReproducesPublishedSGLangLlama31A100(t *testing.T) {
	prof := mustProfile(t, "llama-3.1-8b-a100")
	type fig struct {
		name      string
		published float64
		got       func(metrics.Summary) float64
		tol       float64
	}
	e2e := func(s metrics.Summary) float64 { return s.ServerLatencyMS.Median }
	ttft := func(s metrics.Summary) float64 { return s.TTFTMS.Median }
	tpot := func(s metrics.Summary) float64 { return s.TPOTMS.Median }
	itl := func(s metrics.Summary) float64 { return s.ITLMS.Median }
	tests := []struct {
		name string
		rate float64
		n    int
		figs []fig
	}{
		{"poisson 4 req/s", 4, 1200, []fig{
			{"median E2E ms", 1564.17, e2e, 0.10},
			{"median TTFT ms", 31.98, ttft, 0.20},
			{"median TPOT ms", 13.17, tpot, 0.10},
			{"median ITL ms", 11.93, itl, 0.10},
			{"request throughput", 3.96, func(s metrics.Summary) float64 { return s.RequestThroughput }, 0.10},
			{"output tok/s", 748.9, func(s metrics.Summary) float64 { return s.OutputThroughput }, 0.10},
		}},
		{"poisson 8 req/s", 8, 2400, []fig{
			{"median E2E ms", 2175.02, e2e, 0.10},
			{"median TTFT ms", 35.68, ttft, 0.20},
			{"median TPOT ms", 17.85, tpot, 0.10},
			{"median ITL ms", 14.41, itl, 0.10},
		}},
		{"offline rate inf", math.Inf(1), 5000, []fig{
			{"request throughput", 22.03, func(s metrics.Summary) float64 { return s.RequestThroughput }, 0.10},
			{"output tok/s", 4281.51, func(s metrics.Summary) float64 { return s.OutputThroughput }, 0.10},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reqs := shareGPTWorkload(t, tt.n, tt.rate, 42)
			recs, err := Records(Config{Profile: prof, Engine: simulator.EngineConfig{DisableRadixCache: true}, Engines: 1, Seed: 1}, reqs)
			if err != nil {
				t.Fatal(err)
			}
			s := metrics.Summarize(recs)
			if s.Failed != 0 {
				t.Fatalf("%d requests failed: %v", s.Failed, s.Errors)
			}
			var tab strings.Builder
			fmt.Fprintf(&tab, "%s, %d requests, %d input / %d output tokens\n%-20s %10s %10s %8s\n",
				tt.name, tt.n, s.TotalInputTokens, s.TotalOutputTokens, "figure", "ours", "published", "error")
			var bad []string
			for _, f := range tt.figs {
				got := f.got(s)
				rel := (got - f.published) / f.published
				fmt.Fprintf(&tab, "%-20s %10.2f %10.2f %+7.1f%%\n", f.name, got, f.published, 100*rel)
				if math.Abs(rel) > f.tol {
					bad = append(bad, fmt.Sprintf("%s %.2f vs published %.2f (%+.1f%%, tolerance %.0f%%)", f.name, got, f.published, 100*rel, 100*f.tol))
				}
			}
			t.Log("\n" + tab.String())
			for _, b := range bad {
				t.Error(b)
			}
		})
	}
}
