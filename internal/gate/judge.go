package gate

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
)

// Rule holds the settings of the decision rule (doc.go states it).
type Rule struct {
	// Tolerance is the relative worsening allowed: 0.10 lets a latency
	// grow by up to 10% or a throughput fall by up to 10%. For a
	// LowerIsWorse figure it must be below 1.
	Tolerance float64
	// Alpha is the one-sided level of the U test; in (0, 0.5).
	Alpha float64
	// Confidence is the two-sided level of the bootstrap interval, in
	// (0, 1). At 1 − 2·Alpha each end is a one-sided bound at level
	// 1 − Alpha, which is what the rule reads.
	Confidence float64
	// Resamples is the number of bootstrap resamples; at least 1000.
	Resamples int
	// Seed seeds the bootstrap; each figure's stream is derived from it and
	// the figure's name, so a verdict never depends on which other
	// figures were judged.
	Seed uint64
}

// DefaultRule is the rule with the given tolerance, alpha 0.05, a 90%
// interval (each end a one-sided 95% bound), 10000 resamples and seed 1.
func DefaultRule(tolerance float64) Rule {
	return Rule{Tolerance: tolerance, Alpha: 0.05, Confidence: 0.90, Resamples: 10000, Seed: 1}
}

func (r Rule) check(worse Direction) error {
	switch {
	case math.IsNaN(r.Tolerance) || math.IsInf(r.Tolerance, 0) || r.Tolerance < 0:
		return fmt.Errorf("gate: tolerance must be a finite fraction ≥ 0 (0.10 for 10%%), got %v", r.Tolerance)
	case worse == LowerIsWorse && r.Tolerance >= 1:
		return fmt.Errorf("gate: tolerance for a figure where lower is worse must be below 1 (a fall of 100%% or more is meaningless), got %v", r.Tolerance)
	case !(r.Alpha > 0 && r.Alpha < 0.5):
		return fmt.Errorf("gate: alpha must be in (0, 0.5), got %v", r.Alpha)
	case !(r.Confidence > 0 && r.Confidence < 1):
		return fmt.Errorf("gate: confidence must be in (0, 1), got %v", r.Confidence)
	case r.Resamples < 1000:
		return fmt.Errorf("gate: resamples must be at least 1000, got %d", r.Resamples)
	}
	return nil
}

// Outcome is a verdict's conclusion.
type Outcome int

// The three outcomes, ordered from best to worst for Overall.
const (
	Pass Outcome = iota + 1
	Inconclusive
	Regression
)

func (o Outcome) String() string {
	switch o {
	case Pass:
		return "pass"
	case Inconclusive:
		return "inconclusive"
	case Regression:
		return "regression"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// MarshalText writes the outcome's name.
func (o Outcome) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// Overall is the scenario's outcome from its figures' verdicts: regression
// when any figure regressed, otherwise inconclusive when any figure was,
// otherwise pass. No verdicts is an error: a gate that judged nothing must
// not pass.
func Overall(vs []Verdict) (Outcome, error) {
	if len(vs) == 0 {
		return 0, fmt.Errorf("gate: no figure was judged")
	}
	o := Pass
	for _, v := range vs {
		o = max(o, v.Outcome)
	}
	return o, nil
}

// Verdict is the judgement of one figure, candidate against baseline.
type Verdict struct {
	Figure  Figure
	Outcome Outcome
	// Rule is the rule applied.
	Rule Rule
	// BaselineN and CandidateN are the repeats on each side.
	BaselineN, CandidateN int
	// BaselineMedian and CandidateMedian are the medians over repeats, in
	// the figure's unit.
	BaselineMedian, CandidateMedian float64
	// Change is CandidateMedian/BaselineMedian − 1, signed: +0.2 is 20%
	// higher whichever way is worse. NaN when the baseline median is 0.
	Change float64
	// CILow and CIHigh bound Change at Rule.Confidence (bootstrap).
	CILow, CIHigh float64
	// Shift is the Hodges-Lehmann estimate of candidate − baseline, in the
	// figure's unit.
	Shift float64
	// P is the one-sided exact U test's p-value for "the candidate is worse
	// than the baseline by more than the tolerance" (NaN when not run).
	P float64
	// PExact says whether P is exact (otherwise a normal approximation).
	PExact bool
	// MDE is the smallest worsening, as a fraction like Tolerance, that
	// this many repeats would call a regression with 80% probability under
	// the noise these repeats show (+Inf when no worsening can be, see
	// doc.go).
	MDE float64
	// Reason is the one-line explanation, naming the figure.
	Reason string
}

func (v Verdict) String() string { return v.Reason }

// MarshalJSON writes the verdict for reports: the figure, the outcome, the
// tolerance and alpha, the counts and estimates (null where not finite:
// no p-value, an undefined change, an MDE of "none") and the reason.
func (v Verdict) MarshalJSON() ([]byte, error) {
	finite := func(f float64) *float64 {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil
		}
		return &f
	}
	return json.Marshal(struct {
		Figure          Figure   `json:"figure"`
		Outcome         Outcome  `json:"outcome"`
		Tolerance       float64  `json:"tolerance"`
		Alpha           float64  `json:"alpha"`
		Confidence      float64  `json:"confidence"`
		BaselineN       int      `json:"baseline_repeats"`
		CandidateN      int      `json:"candidate_repeats"`
		BaselineMedian  float64  `json:"baseline_median"`
		CandidateMedian float64  `json:"candidate_median"`
		Change          *float64 `json:"change"`
		CILow           *float64 `json:"ci_low"`
		CIHigh          *float64 `json:"ci_high"`
		Shift           float64  `json:"hodges_lehmann_shift"`
		P               *float64 `json:"p"`
		PExact          bool     `json:"p_exact"`
		MDE             *float64 `json:"mde"`
		Reason          string   `json:"reason"`
	}{
		v.Figure, v.Outcome, v.Rule.Tolerance, v.Rule.Alpha, v.Rule.Confidence, v.BaselineN, v.CandidateN,
		v.BaselineMedian, v.CandidateMedian, finite(v.Change), finite(v.CILow), finite(v.CIHigh), v.Shift,
		finite(v.P), v.PExact, finite(v.MDE), v.Reason,
	})
}

// mdePower is the detection probability the MDE is quoted at.
const mdePower = 0.80

// Judge compares a candidate's repeats of one figure with a baseline's by
// the rule documented in doc.go. Values must be finite and not negative;
// the error names the figure, side and repeat otherwise.
func Judge(f Figure, baseline, candidate []float64, r Rule) (Verdict, error) {
	if f.Worse != HigherIsWorse && f.Worse != LowerIsWorse {
		return Verdict{}, fmt.Errorf("gate: %s: direction is not set (higher or lower is worse)", f.Name)
	}
	if err := r.check(f.Worse); err != nil {
		return Verdict{}, fmt.Errorf("%w (figure %s)", err, f.Name)
	}
	if err := checkValues(f, "baseline", baseline); err != nil {
		return Verdict{}, err
	}
	if err := checkValues(f, "candidate", candidate); err != nil {
		return Verdict{}, err
	}
	v := Verdict{
		Figure: f, Rule: r, BaselineN: len(baseline), CandidateN: len(candidate),
		BaselineMedian: median(baseline), CandidateMedian: median(candidate),
		Shift: hodgesLehmann(baseline, candidate), P: math.NaN(),
		Change: math.NaN(), CILow: math.NaN(), CIHigh: math.NaN(),
	}
	v.MDE = mde(baseline, candidate, f.Worse, r)
	name := f.label()
	reps := fmt.Sprintf("%d vs %d repeats", v.BaselineN, v.CandidateN)
	if v.BaselineMedian == 0 {
		if allZero(baseline) && allZero(candidate) {
			v.Outcome, v.Change, v.CILow, v.CIHigh = Pass, 0, 0, 0
			v.Reason = fmt.Sprintf("%s passes: every repeat on both sides is 0 (%s)", name, reps)
			return v, nil
		}
		v.Outcome = Inconclusive
		v.Reason = fmt.Sprintf("%s inconclusive: the baseline median is 0, so a relative change is undefined (%s)", name, reps)
		return v, nil
	}
	v.Change = v.CandidateMedian/v.BaselineMedian - 1
	if v.BaselineN < 2 || v.CandidateN < 2 {
		// One repeat says nothing about noise: its "interval" would be a
		// point, and a pass from it would be the absolute-threshold gate
		// this package replaces.
		v.Outcome = Inconclusive
		v.Reason = fmt.Sprintf("%s inconclusive: %s, but a side with a single repeat gives no estimate of noise (%s); repeat each side at least %d times",
			name, pct(v.Change), reps, max(2, minRepeats(r.Alpha)))
		return v, nil
	}
	v.CILow, v.CIHigh = bootstrapChange(baseline, candidate, r.Confidence, r.Resamples, figureSeed(r.Seed, f.Name))

	// The U test asks whether the candidate, brought back by the tolerance,
	// is still worse than the baseline: evidence of a worsening beyond the
	// tolerance, not merely of some change.
	greater := f.Worse == HigherIsWorse
	allowed := 1 + r.Tolerance
	if !greater {
		allowed = 1 - r.Tolerance
	}
	scaled := make([]float64, len(candidate))
	for i, c := range candidate {
		scaled[i] = c / allowed
	}
	u := uTest(baseline, scaled, greater)
	v.P, v.PExact = u.P, u.Exact

	// Oriented so that positive is worse.
	worseLo, worseHi := v.CILow, v.CIHigh
	if !greater {
		worseLo, worseHi = -v.CIHigh, -v.CILow
	}
	change := fmt.Sprintf("%s (%s CI %s to %s)", pct(v.Change), pct0(r.Confidence), pct(v.CILow), pct(v.CIHigh))
	tol := "the " + pct0(r.Tolerance) + " tolerance"
	mdeText := "MDE " + mdeString(v.MDE)
	switch {
	case worseLo > r.Tolerance && v.P <= r.Alpha:
		v.Outcome = Regression
		v.Reason = fmt.Sprintf("%s regressed: %s is beyond %s; U test p=%.3g ≤ %g (%s, %s)", name, change, tol, v.P, r.Alpha, reps, mdeText)
	case worseHi <= r.Tolerance:
		v.Outcome = Pass
		v.Reason = fmt.Sprintf("%s passes: %s is within %s (%s, %s)", name, change, tol, reps, mdeText)
	case worseLo > r.Tolerance:
		v.Outcome = Inconclusive
		v.Reason = fmt.Sprintf("%s inconclusive: %s lies beyond %s but the U test does not confirm it (p=%.3g > %g with %s, %s); %s",
			name, change, tol, v.P, r.Alpha, reps, mdeText, advice(v))
	default:
		v.Outcome = Inconclusive
		v.Reason = fmt.Sprintf("%s inconclusive: %s straddles %s (%s, %s); %s", name, change, tol, reps, mdeText, advice(v))
	}
	return v, nil
}

// advice says what to do about an inconclusive verdict.
func advice(v Verdict) string {
	if math.IsInf(v.MDE, 1) {
		return fmt.Sprintf("the U test needs at least %d repeats per side to reach alpha %g: add repeats", minRepeats(v.Rule.Alpha), v.Rule.Alpha)
	}
	return "add repeats or reduce noise, or rerun to see if it recurs"
}

// minRepeats is the smallest k for which k vs k repeats can reach p ≤
// alpha.
func minRepeats(alpha float64) int {
	k := 1
	for minP(k, k) > alpha {
		k++
	}
	return k
}

// mdeScale converts the noise of one repeat into that of the rule's
// decision: √(π/2) ≈ 1.25 is a median's efficiency loss against a mean
// under normal noise, and requiring both the interval and the U test costs
// a little more. The constant is calibrated by simulation, and
// TestMDEIsDetectedAboutFourTimesInFive checks it.
const mdeScale = 1.3

// mde is the minimum detectable worsening (doc.go). The rule works on
// ratios (the U test divides the candidate by 1 ± tolerance), so the
// margin beyond the tolerance is a factor: with
// L = (z₁₋α + z_power)·mdeScale·s·√(1/n₁ + 1/n₂), s the pooled relative
// standard deviation of the repeats around each side's median, the MDE is
// (1 + tolerance)·e^L − 1 where higher is worse and 1 − (1 − tolerance)·e^−L
// where lower is worse. It is +Inf when the exact U test cannot reach
// alpha with these sample sizes.
func mde(baseline, candidate []float64, worse Direction, r Rule) float64 {
	n1, n2 := len(baseline), len(candidate)
	if minP(n1, n2) > r.Alpha || n1+n2 < 3 {
		return math.Inf(1)
	}
	var ss float64
	for _, side := range [][]float64{baseline, candidate} {
		m := median(side)
		if m == 0 {
			return math.Inf(1)
		}
		var mean float64
		for _, x := range side {
			mean += x/m - 1
		}
		mean /= float64(len(side))
		for _, x := range side {
			d := x/m - 1 - mean
			ss += d * d
		}
	}
	s := math.Sqrt(ss / float64(n1+n2-2))
	l := (normQuantile(1-r.Alpha) + normQuantile(mdePower)) * mdeScale * s * math.Sqrt(1/float64(n1)+1/float64(n2))
	if worse == LowerIsWorse {
		return 1 - (1-r.Tolerance)*math.Exp(-l)
	}
	return (1+r.Tolerance)*math.Exp(l) - 1
}

func normQuantile(p float64) float64 { return math.Sqrt2 * math.Erfinv(2*p-1) }

func allZero(xs []float64) bool {
	return !slices.ContainsFunc(xs, func(x float64) bool { return x != 0 })
}

// figureSeed derives a figure's bootstrap seed from the rule's seed and
// the figure's name.
func figureSeed(seed uint64, name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return seed ^ h.Sum64()
}

// pct formats a signed fraction as a percentage with one decimal.
func pct(f float64) string {
	switch {
	case math.IsNaN(f):
		return "n/a"
	case math.IsInf(f, 1):
		return "+∞%"
	}
	return fmt.Sprintf("%+.1f%%", 100*f)
}

// pct0 formats an unsigned fraction (a tolerance, a confidence) compactly.
func pct0(f float64) string { return fmt.Sprintf("%g%%", math.Round(1000*f)/10) }

func mdeString(f float64) string {
	if math.IsInf(f, 1) {
		return "none at these repeats"
	}
	return pct0(f)
}
