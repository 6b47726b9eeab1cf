package gate

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

var (
	latency    = Figure{Name: "ttft_ms.p99", Label: "P99 TTFT", Unit: "ms", Worse: HigherIsWorse}
	throughput = Figure{Name: "output_throughput", Label: "output token throughput", Unit: "tok/s", Worse: LowerIsWorse}
)

func scaled(xs []float64, f float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = x * f
	}
	return out
}

func TestJudgeReachesTheVerdictTheRuleGives(t *testing.T) {
	base := []float64{100, 101.5, 99.2, 100.8, 98.9}
	tests := []struct {
		name      string
		fig       Figure
		base      []float64
		cand      []float64
		tolerance float64
		want      Outcome
		reason    []string // substrings of the explanation
	}{
		{"latency 30% higher", latency, base, scaled([]float64{100.3, 99.1, 101.2, 98.7, 100.9}, 1.3), 0.10, Regression,
			[]string{"P99 TTFT regressed", "beyond the 10% tolerance", "U test p=0.00397", "5 vs 5 repeats", "MDE "}},
		{"latency unchanged", latency, base, []float64{100.3, 99.1, 101.2, 98.7, 100.9}, 0.10, Pass,
			[]string{"P99 TTFT passes", "within the 10% tolerance"}},
		{"latency 30% lower is a pass", latency, base, scaled(base, 0.7), 0.10, Pass, []string{"-30.0%"}},
		{"latency 10% higher straddles a 10% tolerance", latency, base, scaled([]float64{100.3, 99.1, 101.2, 98.7, 100.9}, 1.1), 0.10, Inconclusive,
			[]string{"inconclusive", "straddles the 10% tolerance", "add repeats"}},
		{"2 repeats cannot confirm a regression", latency, []float64{100, 101}, []float64{150, 152}, 0.10, Inconclusive,
			[]string{"lies beyond the 10% tolerance but the U test does not confirm it", "MDE none at these repeats", "at least 3 repeats per side"}},
		{"a single repeat is no evidence either way", latency, []float64{100}, []float64{100.5}, 0.10, Inconclusive,
			[]string{"+0.5%", "a side with a single repeat gives no estimate of noise (1 vs 1 repeats)", "at least 3 times"}},
		{"a single candidate repeat", latency, base, []float64{180}, 0.10, Inconclusive, []string{"(5 vs 1 repeats)"}},
		{"throughput 30% lower", throughput, base, scaled([]float64{100.3, 99.1, 101.2, 98.7, 100.9}, 0.7), 0.05, Regression,
			[]string{"output token throughput regressed", "-29.8%", "beyond the 5% tolerance"}},
		{"throughput 30% higher is a pass", throughput, base, scaled(base, 1.3), 0.05, Pass, []string{"+30.0%"}},
		{"throughput 20% lower but a 25% tolerance", throughput, base, scaled([]float64{100.3, 99.1, 101.2, 98.7, 100.9}, 0.8), 0.25, Pass, nil},
		{"every repeat 0 on both sides", latency, []float64{0, 0, 0}, []float64{0, 0, 0}, 0.10, Pass, []string{"every repeat on both sides is 0"}},
		{"a zero baseline median", latency, []float64{0, 0, 1}, []float64{2, 3, 4}, 0.10, Inconclusive, []string{"baseline median is 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Judge(tt.fig, tt.base, tt.cand, DefaultRule(tt.tolerance))
			if err != nil {
				t.Fatal(err)
			}
			if v.Outcome != tt.want {
				t.Errorf("outcome %s, want %s: %s", v.Outcome, tt.want, v)
			}
			for _, s := range tt.reason {
				if !strings.Contains(v.Reason, s) {
					t.Errorf("reason %q lacks %q", v.Reason, s)
				}
			}
			if strings.Contains(v.Reason, "\n") {
				t.Errorf("reason spans lines: %q", v.Reason)
			}
		})
	}
}

func TestJudgeReportsTheEstimates(t *testing.T) {
	base := []float64{10, 12, 11, 13, 9}
	cand := []float64{13, 14, 12, 15, 16}
	v, err := Judge(latency, base, cand, DefaultRule(0.1))
	if err != nil {
		t.Fatal(err)
	}
	if v.BaselineMedian != 11 || v.CandidateMedian != 14 || v.BaselineN != 5 || v.CandidateN != 5 {
		t.Errorf("medians/counts: %+v", v)
	}
	if !near(v.Change, 14.0/11-1, 1e-12) {
		t.Errorf("change %v, want %v", v.Change, 14.0/11-1)
	}
	if v.Shift != hodgesLehmann(base, cand) || v.Shift != 3 {
		t.Errorf("shift %v, want 3", v.Shift)
	}
	if !(v.CILow <= v.Change && v.Change <= v.CIHigh) {
		t.Errorf("interval [%v, %v] excludes the change %v", v.CILow, v.CIHigh, v.Change)
	}
	// The U test runs on the candidate divided by 1.1.
	if want := uTest(base, scaled(cand, 1/1.1), true).P; v.P != want || !v.PExact {
		t.Errorf("p %v exact %v, want %v exact", v.P, v.PExact, want)
	}
	again, _ := Judge(latency, base, cand, DefaultRule(0.1))
	if again.CILow != v.CILow || again.CIHigh != v.CIHigh {
		t.Errorf("same inputs, different intervals")
	}
}

func TestJudgeRefusesBadInput(t *testing.T) {
	ok := []float64{1, 2, 3}
	bad := func(mut func(*Rule)) Rule { r := DefaultRule(0.1); mut(&r); return r }
	tests := []struct {
		name       string
		fig        Figure
		base, cand []float64
		rule       Rule
		want       string
	}{
		{"no direction", Figure{Name: "x"}, ok, ok, DefaultRule(0.1), "x: direction is not set"},
		{"empty baseline", latency, nil, ok, DefaultRule(0.1), "ttft_ms.p99: baseline has no repeats"},
		{"NaN candidate", latency, ok, []float64{1, math.NaN()}, DefaultRule(0.1), "candidate repeat 2 is NaN"},
		{"negative value", latency, []float64{1, -2}, ok, DefaultRule(0.1), "baseline repeat 2 is -2"},
		{"infinite value", latency, ok, []float64{math.Inf(1)}, DefaultRule(0.1), "candidate repeat 1 is +Inf"},
		{"negative tolerance", latency, ok, ok, DefaultRule(-0.1), "tolerance must be a finite fraction"},
		{"tolerance 1 on a throughput", throughput, ok, ok, DefaultRule(1), "must be below 1"},
		{"alpha 0", latency, ok, ok, bad(func(r *Rule) { r.Alpha = 0 }), "alpha must be in (0, 0.5), got 0"},
		{"confidence 1", latency, ok, ok, bad(func(r *Rule) { r.Confidence = 1 }), "confidence must be in (0, 1)"},
		{"few resamples", latency, ok, ok, bad(func(r *Rule) { r.Resamples = 10 }), "resamples must be at least 1000, got 10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Judge(tt.fig, tt.base, tt.cand, tt.rule)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestOverallIsTheWorstOutcomeAndRefusesNothing(t *testing.T) {
	vs := func(os ...Outcome) []Verdict {
		var out []Verdict
		for _, o := range os {
			out = append(out, Verdict{Outcome: o})
		}
		return out
	}
	for _, tt := range []struct {
		in   []Verdict
		want Outcome
	}{
		{vs(Pass, Pass), Pass},
		{vs(Pass, Inconclusive, Pass), Inconclusive},
		{vs(Inconclusive, Regression, Pass), Regression},
	} {
		if got, err := Overall(tt.in); err != nil || got != tt.want {
			t.Errorf("Overall(%v) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	if _, err := Overall(nil); err == nil {
		t.Error("Overall(nil) passed; a gate that judged nothing must not")
	}
}

// TestMDEIsDetectedAboutFourTimesInFive draws repeats with normal noise of
// known relative σ, makes the candidate worse by exactly the MDE that σ
// gives, and counts regressions over 200 seeded trials: the MDE is quoted
// at 80% power, and the band allows for the formula being approximate.
// At the tolerance itself the exact U test caps the regression rate at
// alpha = 0.05; 200 trials estimate a rate of 0.05 with a standard error
// of 0.015, so up to 0.08 agrees with that cap.
func TestMDEIsDetectedAboutFourTimesInFive(t *testing.T) {
	const trials = 200
	for _, tt := range []struct {
		fig   Figure
		n     int
		sigma float64
	}{
		{latency, 3, 0.02}, {latency, 5, 0.02}, {latency, 5, 0.06}, {latency, 10, 0.06}, {throughput, 5, 0.04},
	} {
		r := DefaultRule(0.10)
		r.Resamples = 2000
		l := (normQuantile(1-r.Alpha) + normQuantile(mdePower)) * mdeScale * tt.sigma * math.Sqrt(2/float64(tt.n))
		m := (1+r.Tolerance)*math.Exp(l) - 1
		if tt.fig.Worse == LowerIsWorse {
			m = 1 - (1-r.Tolerance)*math.Exp(-l)
		}
		rate := func(worsening float64) float64 {
			rng := newTestRand(uint64(tt.n*1000) + uint64(tt.sigma*1000))
			factor := 1 + worsening
			if tt.fig.Worse == LowerIsWorse {
				factor = 1 - worsening
			}
			hits := 0
			for i := range trials {
				x := make([]float64, tt.n)
				y := make([]float64, tt.n)
				for j := range x {
					x[j] = 100 * (1 + tt.sigma*rng.NormFloat64())
					y[j] = 100 * factor * (1 + tt.sigma*rng.NormFloat64())
				}
				r.Seed = uint64(i)
				v, err := Judge(tt.fig, x, y, r)
				if err != nil {
					t.Fatal(err)
				}
				if v.Outcome == Regression {
					hits++
				}
			}
			return float64(hits) / trials
		}
		atMDE, atTol := rate(m), rate(r.Tolerance)
		t.Logf("%s n=%d σ=%.2f: MDE %.3f detected in %.2f of trials; at the tolerance in %.2f", tt.fig.Worse, tt.n, tt.sigma, m, atMDE, atTol)
		if atMDE < 0.70 || atMDE > 0.92 {
			t.Errorf("%s n=%d σ=%.2f: a worsening of the MDE %.3f was a regression in %.2f of trials; want about 0.8 (0.70-0.92)", tt.fig.Worse, tt.n, tt.sigma, m, atMDE)
		}
		if atTol > 0.08 {
			t.Errorf("%s n=%d σ=%.2f: a worsening of exactly the tolerance was a regression in %.2f of trials; want at most alpha, 0.05 (0.08 with 200 trials)", tt.fig.Worse, tt.n, tt.sigma, atTol)
		}
	}
}

func TestVerdictMarshalsNonFiniteEstimatesAsNull(t *testing.T) {
	v, err := Judge(latency, []float64{100, 101}, []float64{150, 152}, DefaultRule(0.10))
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if got["outcome"] != "inconclusive" || got["mde"] != nil || got["baseline_repeats"] != 2.0 || got["tolerance"] != 0.1 {
		t.Errorf("JSON %s", data)
	}
	if f := got["figure"].(map[string]any); f["name"] != "ttft_ms.p99" || f["worse"] != "higher" {
		t.Errorf("figure %v", f)
	}
	z, _ := Judge(latency, []float64{0, 0, 1}, []float64{2, 3, 4}, DefaultRule(0.10))
	if data, err := json.Marshal(z); err != nil || !strings.Contains(string(data), `"change":null`) || !strings.Contains(string(data), `"p":null`) {
		t.Errorf("zero baseline: %s, %v", data, err)
	}
}
