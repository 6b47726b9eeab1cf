package capacity

import (
	"context"
	"fmt"
	"math"

	"github.com/sgltest/sgltest/internal/figures"
)

// Ramp configures a stress ramp: rates From, From+Step, … up to To, one
// run each, until a step breaks.
type Ramp struct {
	From, To, Step float64
	// ErrorLimit is in percent: a step whose error rate is above it breaks
	// the ramp.
	ErrorLimit float64
}

// DefaultErrorLimit is the seeds' stress test limit: more than 5% of
// requests failing means the system is unstable.
const DefaultErrorLimit = 5.0

// Rates lists the ramp's steps.
func (r Ramp) Rates() []float64 {
	var out []float64
	for k := 0; ; k++ {
		x := r.From + float64(k)*r.Step
		if x > r.To*(1+1e-9) {
			return out
		}
		out = append(out, x)
	}
}

func (r Ramp) check() error {
	if !(r.From > 0) || !(r.Step > 0) || !(r.To >= r.From) || math.IsInf(r.To, 0) {
		return fmt.Errorf("ramp from %g to %g req/s in steps of %g: expected 0 < from <= to, a positive step", r.From, r.To, r.Step)
	}
	if !(r.ErrorLimit >= 0 && r.ErrorLimit < 100) {
		return fmt.Errorf("ramp error limit %g%%: expected 0 to 100", r.ErrorLimit)
	}
	if n := len(r.Rates()); n > MaxRampSteps {
		return fmt.Errorf("ramp from %g to %g req/s in steps of %g has %d steps: at most %d", r.From, r.To, r.Step, n, MaxRampSteps)
	}
	return nil
}

// MaxRampSteps bounds a ramp's runs.
const MaxRampSteps = 100

// RampStep is one step of a ramp, run.
type RampStep struct {
	Rate float64
	Dir  string
	// ErrorRate is the step's error rate in percent; HasErrorRate is false
	// when it could not be read (no request was sent).
	ErrorRate    float64
	HasErrorRate bool
	// Verdicts are the SLO's bounds judged on the step, when an SLO is set.
	Verdicts []figures.Verdict
	// Stopped says why the run stopped early, when it did.
	Stopped string
	// Broken lists why the step broke the ramp (filled by RunRamp).
	Broken []string
}

// StepProbe runs one step of a ramp.
type StepProbe func(ctx context.Context, rate float64) (RampStep, error)

// RampResult is a finished ramp.
type RampResult struct {
	Ramp  Ramp
	Steps []RampStep
	// LastGood indexes the last step that did not break (-1: the first
	// broke); Broke says a step broke, the one after LastGood.
	LastGood int
	Broke    bool
}

// LastGoodRate is the rate of the last good step, if any.
func (r RampResult) LastGoodRate() (float64, bool) {
	if r.LastGood < 0 {
		return 0, false
	}
	return r.Steps[r.LastGood].Rate, true
}

// RunRamp runs the ramp's steps in order until one breaks: it stopped
// early, its error rate is above the limit (or cannot be read), or a bound
// of slo (which may be empty) fails.
func RunRamp(ctx context.Context, slo SLO, cfg Ramp, probe StepProbe) (RampResult, error) {
	res := RampResult{Ramp: cfg, LastGood: -1}
	if err := cfg.check(); err != nil {
		return res, err
	}
	for _, rate := range cfg.Rates() {
		if err := ctx.Err(); err != nil {
			return res, context.Cause(ctx)
		}
		s, err := probe(ctx, rate)
		if err != nil {
			return res, err
		}
		s.Rate = rate
		s.Broken = broken(slo, cfg.ErrorLimit, s)
		res.Steps = append(res.Steps, s)
		if len(s.Broken) > 0 {
			res.Broke = true
			return res, nil
		}
		res.LastGood = len(res.Steps) - 1
	}
	return res, nil
}

func broken(slo SLO, limit float64, s RampStep) []string {
	var why []string
	if s.Stopped != "" {
		why = append(why, "the run stopped early: "+s.Stopped)
	}
	switch {
	case !s.HasErrorRate:
		why = append(why, "its error rate cannot be read: no request was sent")
	case s.ErrorRate > limit:
		why = append(why, fmt.Sprintf("error rate %.2f%% is above the %g%% limit", s.ErrorRate, limit))
	}
	for i, v := range s.Verdicts {
		if i < len(slo) && !v.Pass {
			why = append(why, v.Message)
		}
	}
	return why
}
