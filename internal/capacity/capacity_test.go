package capacity

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sgltest/sgltest/internal/figures"
)

func mustBound(t *testing.T, stat, figure, cmp, number, unit string) figures.Bound {
	t.Helper()
	b, err := figures.NewBound(stat, figure, cmp, number, unit)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// queueModel is a server whose latency grows as 1/(1 − load): P99 TTFT =
// base / (1 − rate/capacity), infinite at or past capacity, plus seeded
// noise of relative size jitter per repeat.
type queueModel struct {
	capacity, base, jitter float64
	seed                   uint64
	calls                  []float64
}

func (m *queueModel) ttft(rate float64, repeat int) float64 {
	if rate >= m.capacity {
		return math.Inf(1)
	}
	v := m.base / (1 - rate/m.capacity)
	if m.jitter > 0 {
		r := rand.New(rand.NewPCG(m.seed, uint64(repeat)*7919+uint64(rate*1000)))
		v *= 1 + m.jitter*(2*r.Float64()-1)
	}
	return v
}

func (m *queueModel) probe(slo SLO) Probe {
	return func(_ context.Context, x float64, repeat int) (Trial, error) {
		m.calls = append(m.calls, x)
		v := m.ttft(x, repeat)
		vd := figures.Verdict{Pass: slo[0].Cmp.Holds(v, slo[0].Value), Measured: v, HasValue: !math.IsInf(v, 0)}
		return Trial{Repeat: repeat, Dir: fmt.Sprintf("run-%g-%d", x, repeat), Verdicts: []figures.Verdict{vd}}, nil
	}
}

// threshold is the rate at which the model's P99 TTFT equals limit.
func (m *queueModel) threshold(limit float64) float64 { return m.capacity * (1 - m.base/limit) }

func TestSearchRateBracketsTheTrueRateWithinThePrecision(t *testing.T) {
	slo := SLO{mustBound(t, "P99", "TTFT", "below", "200", "ms")}
	for _, tc := range []struct {
		name      string
		start     float64
		precision Precision
	}{
		{"start below the answer", 30, Precision{Rel: 0.05}},
		{"start above the answer", 100, Precision{Rel: 0.05}},
		{"absolute precision", 30, Precision{Abs: 0.5}},
		{"start far below", 1, Precision{Rel: 0.02}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &queueModel{capacity: 60, base: 50}
			want := m.threshold(200) // 45 req/s
			cfg := RateSearch{Start: tc.start, Min: tc.start / Bracket, Max: tc.start * Bracket, Precision: tc.precision, Noise: Noise{Runs: 1}}
			r, err := SearchRate(context.Background(), slo, cfg, m.probe(slo))
			if err != nil {
				t.Fatal(err)
			}
			if !r.Found || !(r.Rate <= want && want <= r.FirstFailing) {
				t.Fatalf("bracket [%g, %g] does not hold the true boundary %g", r.Rate, r.FirstFailing, want)
			}
			if r.Uncertainty() > tc.precision.of(r.Rate)+1e-9 {
				t.Errorf("uncertainty %g is wider than the precision %g", r.Uncertainty(), tc.precision.of(r.Rate))
			}
			if m.calls[0] != tc.start {
				t.Errorf("first rate tried %g, want the start %g", m.calls[0], tc.start)
			}
		})
	}
}

func TestSearchRateVerdictAtTheStartIsExact(t *testing.T) {
	// "at least R" is decided by the start rate: the search result's lower
	// end is at or above R exactly when R meets the SLO.
	slo := SLO{mustBound(t, "P99", "TTFT", "below", "200", "ms")}
	m := &queueModel{capacity: 60, base: 50}
	for _, start := range []float64{44.9, 45.1} {
		cfg := RateSearch{Start: start, Min: start / Bracket, Max: start * Bracket, Precision: Precision{Rel: 0.2}, Noise: Noise{Runs: 1}}
		r, err := SearchRate(context.Background(), slo, cfg, m.probe(slo))
		if err != nil {
			t.Fatal(err)
		}
		meets := start < m.threshold(200)
		if (r.Rate >= start) != meets {
			t.Errorf("start %g (meets: %v): found %g", start, meets, r.Rate)
		}
	}
}

func TestSearchRateReportsWhenNoRateOrEveryRateMeetsTheSLO(t *testing.T) {
	slo := SLO{mustBound(t, "P99", "TTFT", "below", "10", "ms")}
	never := &queueModel{capacity: 60, base: 50}
	cfg := RateSearch{Start: 10, Min: 1, Max: 100, Precision: DefaultPrecision, Noise: Noise{Runs: 1}}
	r, err := SearchRate(context.Background(), slo, cfg, never.probe(slo))
	if err != nil {
		t.Fatal(err)
	}
	if r.Found || never.calls[len(never.calls)-1] != 1 || !strings.Contains(r.Answer(slo, cfg), "no rate down to 1 req/s") {
		t.Errorf("found %v after %v: %s", r.Found, never.calls, r.Answer(slo, cfg))
	}
	always := &queueModel{capacity: 1e9, base: 1}
	r, err = SearchRate(context.Background(), slo, cfg, always.probe(slo))
	if err != nil {
		t.Fatal(err)
	}
	if !r.Found || r.Rate != 100 || !math.IsInf(r.FirstFailing, 1) || !strings.Contains(r.Answer(slo, cfg), "at least 100 req/s") {
		t.Errorf("got %+v: %s", r, r.Answer(slo, cfg))
	}
}

func TestSearchRateRefusesABadConfiguration(t *testing.T) {
	slo := SLO{mustBound(t, "P99", "TTFT", "below", "200", "ms")}
	m := &queueModel{capacity: 60, base: 50}
	for _, cfg := range []RateSearch{
		{Start: 0, Min: 1, Max: 2, Precision: DefaultPrecision, Noise: DefaultNoise},
		{Start: 10, Min: 20, Max: 40, Precision: DefaultPrecision, Noise: DefaultNoise},
		{Start: 10, Min: 1, Max: 100, Noise: DefaultNoise},
		{Start: 10, Min: 1, Max: 100, Precision: DefaultPrecision, Noise: Noise{Runs: 0}},
	} {
		if _, err := SearchRate(context.Background(), slo, cfg, m.probe(slo)); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
	if _, err := SearchRate(context.Background(), nil, RateSearch{Start: 1, Min: 1, Max: 1, Precision: DefaultPrecision, Noise: DefaultNoise}, m.probe(slo)); !errors.Is(err, errNoSLO) {
		t.Errorf("empty SLO: %v", err)
	}
}

func TestNoiseRuleRepeatsOnlyMarginalPointsAndJudgesTheMedian(t *testing.T) {
	slo := SLO{mustBound(t, "P99", "TTFT", "below", "200", "ms")}
	values := map[float64][]float64{
		10: {100},           // clear pass: one run
		20: {300},           // clear fail: one run
		30: {195, 230, 190}, // marginal: median 195 passes although one run fails
		40: {205, 150, 240}, // marginal: median 205 fails although one run passes
	}
	probe := func(_ context.Context, x float64, k int) (Trial, error) {
		v := values[x][k]
		return Trial{Repeat: k, Verdicts: []figures.Verdict{{Pass: v < 200, Measured: v, HasValue: true}}}, nil
	}
	for x, want := range map[float64]struct {
		runs int
		pass bool
		v    float64
	}{10: {1, true, 100}, 20: {1, false, 300}, 30: {3, true, 195}, 40: {3, false, 205}} {
		d, err := decide(context.Background(), slo, DefaultNoise, x, probe)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Trials) != want.runs || d.Pass != want.pass || d.Values[0] != want.v || d.Marginal != (want.runs > 1) {
			t.Errorf("point %g: %d runs, pass %v, value %g, marginal %v; want %+v", x, len(d.Trials), d.Pass, d.Values[0], d.Marginal, want)
		}
	}
}

func TestARunThatCannotReadAFigureOrStoppedFailsAndIsNotMarginal(t *testing.T) {
	slo := SLO{mustBound(t, "P99", "TTFT", "below", "200", "ms"), mustBound(t, "", "request throughput", "at least", "10", "req/s")}
	for name, tr := range map[string]Trial{
		"no TTFT": {Verdicts: []figures.Verdict{{Message: "no samples"}, {Pass: true, Measured: 12, HasValue: true}}},
		"stopped": {Stopped: "server-1 exited", Verdicts: []figures.Verdict{{Pass: true, Measured: 199, HasValue: true}, {Pass: true, Measured: 12, HasValue: true}}},
	} {
		d, err := decide(context.Background(), slo, DefaultNoise, 1, func(context.Context, float64, int) (Trial, error) { return tr, nil })
		if err != nil {
			t.Fatal(err)
		}
		if d.Pass || d.Marginal || len(d.Trials) != 1 || len(d.Failing(slo)) == 0 {
			t.Errorf("%s: pass %v marginal %v runs %d failing %v", name, d.Pass, d.Marginal, len(d.Trials), d.Failing(slo))
		}
	}
}

func TestSearchRateWithNoiseStillBracketsTheRate(t *testing.T) {
	slo := SLO{mustBound(t, "P99", "TTFT", "below", "200", "ms")}
	for seed := range uint64(20) {
		m := &queueModel{capacity: 60, base: 50, jitter: 0.05, seed: seed}
		cfg := RateSearch{Start: 30, Min: 30.0 / Bracket, Max: 30 * Bracket, Precision: DefaultPrecision, Noise: DefaultNoise}
		r, err := SearchRate(context.Background(), slo, cfg, m.probe(slo))
		if err != nil {
			t.Fatal(err)
		}
		// 5% jitter moves the rate where the median crosses 200 ms by at
		// most about 5% of the remaining headroom: within 2 req/s of 45.
		if !r.Found || r.Rate < 43 || r.FirstFailing > 47.5 {
			t.Errorf("seed %d: bracket [%g, %g), want about 45", seed, r.Rate, r.FirstFailing)
		}
	}
}

func TestSearchCountFindsTheFewestServers(t *testing.T) {
	slo := SLO{mustBound(t, "P99", "TTFT", "below", "200", "ms")}
	for _, need := range []int{1, 2, 3, 4, 7, 16, 33} {
		var tried []float64
		probe := func(_ context.Context, n float64, k int) (Trial, error) {
			tried = append(tried, n)
			v := 100.0
			if int(n) < need {
				v = 500
			}
			a := math.Min(1, n/float64(need))
			return Trial{Repeat: k, Verdicts: []figures.Verdict{{Pass: v < 200, Measured: v, HasValue: true}}, Attainment: &a}, nil
		}
		r, err := SearchCount(context.Background(), slo, CountSearch{Max: 64, Noise: DefaultNoise}, probe)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Found || r.Fewest != need || r.MostFailing != need-1 {
			t.Errorf("need %d: found %v fewest %d most failing %d after %v", need, r.Found, r.Fewest, r.MostFailing, tried)
		}
		if max := 2*int(math.Ceil(math.Log2(float64(need)))) + 1; len(tried) > max {
			t.Errorf("need %d: %d points tried (%v), want at most %d", need, len(tried), tried, max)
		}
		for i, d := range r.Curve() {
			if i > 0 && d.X <= r.Curve()[i-1].X {
				t.Errorf("curve not sorted: %v", tried)
			}
		}
	}
	probe := func(_ context.Context, n float64, k int) (Trial, error) {
		return Trial{Verdicts: []figures.Verdict{{Measured: 500, HasValue: true}}}, nil
	}
	r, err := SearchCount(context.Background(), slo, CountSearch{Max: 12, Noise: DefaultNoise}, probe)
	if err != nil {
		t.Fatal(err)
	}
	var xs []float64
	for _, d := range r.Decisions {
		xs = append(xs, d.X)
	}
	if r.Found || fmt.Sprint(xs) != "[1 2 4 8 12]" {
		t.Errorf("never met: found %v, tried %v; want 1 2 4 8 12", r.Found, xs)
	}
	m := CountMeta{Rate: 40, Policy: "random", GPUsPerServer: 2}
	if a := r.Answer(slo, m); a != "40 req/s with random does not meet P99 TTFT below 200 ms with up to 12 servers (24 GPUs)" {
		t.Errorf("answer %q", a)
	}
}

func TestRampStopsAtTheFirstBrokenStepAndNamesTheLastGoodOne(t *testing.T) {
	slo := SLO{mustBound(t, "P99", "TTFT", "below", "200", "ms")}
	step := func(errAt, sloAt, stopAt float64) StepProbe {
		return func(_ context.Context, r float64) (RampStep, error) {
			s := RampStep{HasErrorRate: true}
			if r >= errAt {
				s.ErrorRate = 7
			} else {
				s.ErrorRate = 5 // at the limit is still good: the limit is "more than"
			}
			ttft := 100.0
			if r >= sloAt {
				ttft = 300
			}
			s.Verdicts = []figures.Verdict{{Pass: ttft < 200, Measured: ttft, HasValue: true, Message: fmt.Sprintf("P99 TTFT is %g ms", ttft)}}
			if r >= stopAt {
				s.Stopped = "server-1 exited"
			}
			return s, nil
		}
	}
	inf := math.Inf(1)
	for _, tc := range []struct {
		name                 string
		errAt, sloAt, stopAt float64
		steps                int
		lastGood             float64
		hasGood, broke       bool
		why                  string
	}{
		{"error rate", 40, inf, inf, 4, 30, true, true, "error rate 7.00% is above the 5% limit"},
		{"SLO", inf, 30, inf, 3, 20, true, true, "P99 TTFT is 300 ms"},
		{"stopped", inf, inf, 20, 2, 10, true, true, "stopped early"},
		{"first step", 10, inf, inf, 1, 0, false, true, "error rate"},
		{"never", inf, inf, inf, 5, 50, true, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := RunRamp(context.Background(), slo, Ramp{From: 10, To: 50, Step: 10, ErrorLimit: DefaultErrorLimit}, step(tc.errAt, tc.sloAt, tc.stopAt))
			if err != nil {
				t.Fatal(err)
			}
			good, ok := r.LastGoodRate()
			if len(r.Steps) != tc.steps || ok != tc.hasGood || good != tc.lastGood || r.Broke != tc.broke {
				t.Errorf("%d steps, last good %g (%v), broke %v: %s", len(r.Steps), good, ok, r.Broke, r.Outcome())
			}
			if !strings.Contains(r.Outcome(), tc.why) {
				t.Errorf("outcome %q does not say %q", r.Outcome(), tc.why)
			}
		})
	}
}

func TestRampRatesAreExactMultiplesOfTheStep(t *testing.T) {
	got := fmt.Sprint(Ramp{From: 0.1, To: 0.5, Step: 0.1}.Rates())
	if got != "[0.1 0.2 0.30000000000000004 0.4 0.5]" && got != "[0.1 0.2 0.3 0.4 0.5]" {
		t.Errorf("rates %s", got)
	}
	if err := (Ramp{From: 1, To: 1000, Step: 1, ErrorLimit: 5}).check(); err == nil {
		t.Error("a 1000-step ramp was accepted")
	}
}

func TestKneeIsTheCornerOfAHockeyStick(t *testing.T) {
	for _, tc := range []struct {
		name string
		x, y []float64
		want int
		none string
	}{
		{"hockey stick", []float64{10, 20, 30, 38, 39, 39.5}, []float64{100, 105, 115, 180, 900, 4000}, 3, ""},
		{"saturated throughput", []float64{10, 20, 40, 41, 41}, []float64{50, 52, 60, 2000, 8000}, 2, ""},
		{"straight", []float64{10, 20, 30, 40}, []float64{100, 200, 300, 400}, 0, "does not bend"},
		{"two points", []float64{10, 20}, []float64{1, 2}, 0, "at least 3"},
		{"flat latency", []float64{10, 20, 30}, []float64{5, 5, 5}, 0, "does not vary"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, depth, err := Knee(tc.x, tc.y)
			if tc.none != "" {
				if err == nil || !strings.Contains(err.Error(), tc.none) {
					t.Errorf("knee %d (%g), error %v; want none: %s", k, depth, err, tc.none)
				}
				return
			}
			if err != nil || k != tc.want || depth < KneeDepth {
				t.Errorf("knee %d depth %g err %v, want %d", k, depth, err, tc.want)
			}
		})
	}
}
