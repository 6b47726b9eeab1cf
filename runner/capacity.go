package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sgltest/sgltest/internal/capacity"
	"github.com/sgltest/sgltest/internal/figures"
	"github.com/sgltest/sgltest/internal/goodput"
	"github.com/sgltest/sgltest/internal/launcher"
	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/plan"
	"github.com/sgltest/sgltest/internal/report"
)

// Capacity planning: sweeps, stress ramps, the highest rate meeting an
// SLO, and the servers an SLO needs. Each load point is a fresh run
// (Send, with its own label and run directory); package capacity decides
// which points to run and writes one report per sweep, ramp or search in
// its own directory under the reports root.

// DefaultErrorLimit is the stress ramp's default error-rate limit, in
// percent (the seeds' 5%).
const DefaultErrorLimit = capacity.DefaultErrorLimit

// Precision is when a rate search stops (see capacity.Precision).
type Precision = capacity.Precision

// capacityState is what a scenario declared for its capacity steps and
// what they found, for the Then steps that judge it.
type capacityState struct {
	// level, when positive, is how long each load point of a sweep, ramp
	// or search lasts: its random prompts are rate × level.
	level     time.Duration
	slo       capacity.SLO
	precision Precision
	setup     string

	sweep    *capacity.Sweep
	knee     *capacity.SweepKnee
	noKnee   string
	sweepDir string
	ramp     *capacity.RampResult
	rampDir  string
}

// SetLevelDuration makes each load point of the scenario's sweeps, ramps
// and searches send d of its rate: the declared random (or ShareGPT)
// prompts' count becomes ⌈rate × d⌉.
func (t *Test) SetLevelDuration(d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("load level duration %v: expected a positive duration", d)
	}
	t.capacity.level = d
	return nil
}

// SetSLO declares the scenario's service-level objective: every bound
// must hold. The servers-needed check and the stress ramp use it.
func (t *Test) SetSLO(bounds []Bound) error {
	if len(bounds) == 0 {
		return errors.New("an SLO needs at least one bound")
	}
	t.capacity.slo = bounds
	return nil
}

// SLO returns the declared SLO, or an error saying how to declare one.
func (t *Test) SLO() ([]Bound, error) {
	if len(t.capacity.slo) == 0 {
		return nil, errors.New(`no SLO declared: add a step such as "Given the SLO is P99 TTFT below 200 ms and P99 TPOT below 50 ms"`)
	}
	return t.capacity.slo, nil
}

// SetSearchPrecision sets when the scenario's rate searches stop.
func (t *Test) SetSearchPrecision(p Precision) error {
	if !(p.Abs > 0) && !(p.Rel > 0) || p.Abs < 0 || p.Rel < 0 || p.Rel >= 1 {
		return fmt.Errorf("search precision %s: expected a positive number of req/s or a percentage below 100", p)
	}
	t.capacity.precision = p
	return nil
}

// Axis is what a sweep varies (see capacity.Axis).
type Axis = capacity.Axis

// The axes a sweep varies.
const (
	AxisRate     = capacity.AxisRate
	AxisUsers    = capacity.AxisUsers
	AxisSettings = capacity.AxisSettings
)

// RatePoints are a sweep's points over Poisson rates, labelled "40 req/s".
func RatePoints(rates []float64) []SweepPoint {
	out := make([]SweepPoint, len(rates))
	for i, r := range rates {
		out[i] = SweepPoint{Label: rateLabel(r), X: r, Arrival: Arrival{Kind: ArrivePoisson, Rate: r}}
	}
	return out
}

// UserPoints are a sweep's points over closed-loop users, labelled "8 users".
func UserPoints(users []int) []SweepPoint {
	out := make([]SweepPoint, len(users))
	for i, n := range users {
		out[i] = SweepPoint{Label: fmt.Sprintf("%d users", n), X: float64(n), Arrival: Arrival{Kind: ArriveUsers, Users: n}}
	}
	return out
}

// SweepPoint is one point of a sweep: how its run differs from what the
// scenario declared.
type SweepPoint struct {
	Label   string
	X       float64
	Arrival Arrival
	// Settings, when set, override the declared servers' settings (its
	// non-zero fields).
	Settings *Server
}

// Sweep runs each point as a fresh run, then writes the sweep report
// (sweep.json, sweep.csv, sweep.txt, latency_throughput.png) in its own
// directory. Every point runs even when one fails; the step then fails
// naming each failed point.
func (t *Test) Sweep(ctx context.Context, axis Axis, points []SweepPoint) error {
	if len(points) < 2 {
		return fmt.Errorf("a sweep needs at least two points, got %d", len(points))
	}
	out := t.quiet()
	defer t.loud(out)
	sw := capacity.Sweep{Scenario: t.name, Axis: axis}
	var errs []error
	for i, p := range points {
		v := variation{label: "sweep " + p.Label, arrival: p.Arrival}
		if p.Settings != nil {
			s := *p.Settings
			v.servers = func(srv []Server) []Server {
				for k := range srv {
					srv[k] = withSettings(srv[k], s)
				}
				return srv
			}
		}
		res, err := t.runPoint(ctx, v)
		if res == nil || t.suite.Interrupted() {
			return errors.Join(fmt.Errorf("sweep point %s: %w", p.Label, err), t.writeSweep(out, sw))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("sweep point %s: %w", p.Label, err))
		}
		sw.Points = append(sw.Points, capacity.Point{Label: p.Label, X: p.X, Run: res})
		fmt.Fprintf(out, "sweep point %d/%d: %s: %s (run: %s)\n", i+1, len(points), p.Label, brief(res), res.Dir)
	}
	return errors.Join(append([]error{t.writeSweep(out, sw)}, errs...)...)
}

// writeSweep writes the sweep's report and keeps it for the Then steps.
func (t *Test) writeSweep(out io.Writer, sw capacity.Sweep) error {
	if len(sw.Points) == 0 {
		return nil
	}
	dir, err := t.reportDir("sweep")
	if err != nil {
		return err
	}
	knee, noKnee, _, err := capacity.WriteSweep(dir, t.meta(), sw)
	t.capacity.sweep, t.capacity.knee, t.capacity.noKnee, t.capacity.sweepDir = &sw, knee, noKnee, dir
	if text, rerr := readText(filepath.Join(dir, capacity.SweepText)); rerr == nil {
		fmt.Fprint(out, text)
	}
	fmt.Fprintf(out, "Sweep report: %s\n", dir)
	return err
}

// Ramp raises the rate from from to to in steps of step, one fresh run
// per step (Poisson arrivals), until a step's error rate is above
// errorLimit percent, its run stops early, or the declared SLO (if any)
// breaks. It writes ramp.json and ramp.txt, and the sweep report of its
// steps, in its own directory. A step breaking is the ramp's result, not
// an error.
func (t *Test) Ramp(ctx context.Context, from, to, step, errorLimit float64) error {
	cfg := capacity.Ramp{From: from, To: to, Step: step, ErrorLimit: errorLimit}
	out := t.quiet()
	defer t.loud(out)
	errRate, err := figures.Lookup("error rate")
	if err != nil {
		return err
	}
	slo := t.capacity.slo
	sw := capacity.Sweep{Scenario: t.name, Axis: capacity.AxisRate}
	probe := func(ctx context.Context, rate float64) (capacity.RampStep, error) {
		label := "ramp " + rateLabel(rate)
		res, err := t.runPoint(ctx, variation{label: label, arrival: Arrival{Kind: ArrivePoisson, Rate: rate}})
		if err := judgeable(res, err, label); err != nil {
			return capacity.RampStep{}, err
		}
		sw.Points = append(sw.Points, capacity.Point{Label: rateLabel(rate), X: rate, Run: res})
		s := capacity.RampStep{Dir: res.Dir, Stopped: res.File.Stopped, Verdicts: capacity.SLO(slo).Judge(res)}
		if v, err := errRate.Value(figures.Query{Run: res}); err == nil {
			s.ErrorRate, s.HasErrorRate = v, true
		}
		fmt.Fprintf(out, "ramp step %s: %s (run: %s)\n", rateLabel(rate), brief(res), res.Dir)
		return s, nil
	}
	r, rerr := capacity.RunRamp(ctx, slo, cfg, probe)
	t.capacity.ramp = &r
	if len(r.Steps) == 0 {
		return rerr
	}
	dir, err := t.reportDir("ramp")
	if err != nil {
		return errors.Join(rerr, err)
	}
	t.capacity.rampDir = dir
	_, werr := capacity.WriteRamp(dir, t.meta(), slo, r)
	knee, noKnee, _, serr := capacity.WriteSweep(dir, t.meta(), sw)
	// The ramp's steps are a sweep too, for the "at every point" checks.
	t.capacity.sweep, t.capacity.knee, t.capacity.noKnee, t.capacity.sweepDir = &sw, knee, noKnee, dir
	if text, err := readText(filepath.Join(dir, capacity.RampText)); err == nil {
		fmt.Fprint(out, text)
	}
	fmt.Fprintf(out, "Ramp report: %s\n", dir)
	return errors.Join(rerr, werr, serr)
}

// CheckLastGoodStep judges the last ramp's last good step.
func (t *Test) CheckLastGoodStep(st Step, cmp figures.Comparison, rate float64) error {
	r := t.capacity.ramp
	if r == nil || len(r.Steps) == 0 {
		return errors.New("no stress ramp ran in this scenario: a When step such as \"When the rate steps from 10 to 100 requests per second in steps of 10\" must come first")
	}
	good, ok := r.LastGoodRate()
	msg := fmt.Sprintf("the last good step is %s req/s (%s), expected %s %s req/s (ramp: %s)", strconv.FormatFloat(good, 'g', 6, 64),
		r.Outcome(), cmp, strconv.FormatFloat(rate, 'g', -1, 64), t.capacity.rampDir)
	if !ok {
		msg = fmt.Sprintf("no step was good (%s), expected the last good step %s %g req/s (ramp: %s)", r.Outcome(), cmp, rate, t.capacity.rampDir)
	}
	b := verdict(st, ok && cmp.Holds(good, rate), "%s", msg)
	if ok {
		b.Figure, b.Unit, b.Measured = "last good step", string(figures.ReqPerS), &good
	}
	return t.record(t.runs[len(t.runs)-1], b)
}

// CheckKnee judges the last sweep's knee: its achieved request throughput.
func (t *Test) CheckKnee(st Step, cmp figures.Comparison, rate float64) error {
	if t.capacity.sweep == nil {
		return errors.New("no sweep ran in this scenario: a When step that sweeps rates or users must come first")
	}
	last := t.runs[len(t.runs)-1]
	if t.capacity.knee == nil {
		return t.record(last, verdict(st, false, "the sweep has %s (sweep: %s)", strings.TrimPrefix(t.capacity.noKnee, "no knee: "), t.capacity.sweepDir))
	}
	k := t.capacity.knee
	b := verdict(st, cmp.Holds(k.Throughput, rate), "the knee of the sweep is at %s (%.2f req/s achieved, median E2E latency %.1f ms), expected %s %g req/s (sweep: %s)",
		k.Label, k.Throughput, k.LatencyMS, cmp, rate, t.capacity.sweepDir)
	b.Figure, b.Unit, b.Measured = "knee of the sweep", string(figures.ReqPerS), &k.Throughput
	return t.record(last, b)
}

// CheckEveryPoint judges b on every point of the last sweep, recording
// each verdict in that point's summary.
func (t *Test) CheckEveryPoint(st Step, b Bound) error {
	return t.everyPoint(func(r *Result) report.Bound {
		v := b.Judge(r)
		rb := report.Bound{Step: st.Text, Where: st.Where, Figure: b.Name(), Unit: string(b.Figure.Unit), Pass: v.Pass, Message: v.Message}
		if v.HasValue {
			rb.Measured = &v.Measured
		}
		return rb
	})
}

// CheckEveryPointSucceeded fails unless every request of every point of
// the last sweep succeeded.
func (t *Test) CheckEveryPointSucceeded(st Step) error {
	return t.everyPoint(func(r *Result) report.Bound { return succeeded(st, r) })
}

func (t *Test) everyPoint(judge func(*Result) report.Bound) error {
	if t.capacity.sweep == nil {
		return errors.New("no sweep ran in this scenario: a When step that sweeps rates, users or settings must come first")
	}
	var failed []string
	for _, p := range t.capacity.sweep.Points {
		if err := t.record(p.Run, judge(p.Run)); err != nil {
			failed = append(failed, p.Label+": "+err.Error())
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d sweep points fail:\n  %s", len(failed), len(t.capacity.sweep.Points), strings.Join(failed, "\n  "))
	}
	return nil
}

// CheckHighestRate searches for the highest Poisson rate at which every
// bound of slo holds (see capacity.SearchRate: the search starts at
// atLeast, so the verdict is exact whatever the precision), writes
// search.json and search.txt in its own directory, and passes when that
// rate is at least atLeast.
func (t *Test) CheckHighestRate(ctx context.Context, st Step, slo []Bound, atLeast float64) error {
	if len(slo) == 0 {
		return errors.New("an SLO needs at least one bound")
	}
	prec := t.capacity.precision
	if prec == (Precision{}) {
		prec = capacity.DefaultPrecision
	}
	cfg := capacity.RateSearch{Start: atLeast, Min: atLeast / capacity.Bracket, Max: min(atLeast*capacity.Bracket, plan.MaxRate),
		Precision: prec, Noise: capacity.DefaultNoise}
	out := t.quiet()
	defer t.loud(out)
	probe := func(ctx context.Context, rate float64, repeat int) (capacity.Trial, error) {
		label := "search " + rateLabel(rate)
		if repeat > 0 {
			label += fmt.Sprintf(" repeat %d", repeat+1)
		}
		return t.trial(ctx, out, slo, variation{label: label, arrival: Arrival{Kind: ArrivePoisson, Rate: rate}, repeat: repeat}, false)
	}
	r, serr := capacity.SearchRate(ctx, slo, cfg, probe)
	if len(r.Decisions) == 0 {
		return serr
	}
	dir, err := t.reportDir("rate search")
	if err != nil {
		return errors.Join(serr, err)
	}
	_, werr := capacity.WriteSearch(dir, t.meta(), slo, cfg, r)
	if text, err := readText(filepath.Join(dir, capacity.SearchText)); err == nil {
		fmt.Fprint(out, text)
	}
	fmt.Fprintf(out, "Search report: %s\n", dir)
	if err := errors.Join(serr, werr); err != nil {
		return fmt.Errorf("%w (search: %s)", err, dir)
	}
	pass := r.Found && r.Rate >= atLeast
	b := verdict(st, pass, "the highest rate meeting %s is %s, expected at least %g req/s (search: %s)",
		capacity.SLO(slo), r.Answer(slo, cfg), atLeast, dir)
	b.Figure, b.Unit = "highest rate meeting "+capacity.SLO(slo).String(), string(figures.ReqPerS)
	if r.Found {
		b.Measured = &r.Rate
	}
	return t.record(t.runs[len(t.runs)-1], b)
}

// CheckServersNeeded searches for the fewest servers, each a copy of the
// scenario's declared server, that meet slo at rate (Poisson arrivals)
// with sgltest's dispatcher and policy (empty: the declared routing's), and
// passes when they hold at most atMost GPUs. It writes servers.json,
// servers.txt and slo_attainment.png (SLO attainment against GPUs) in its
// own directory. The search tries up to max(16, 4 × atMost) servers.
func (t *Test) CheckServersNeeded(ctx context.Context, st Step, rate float64, atMost int, policy string, slo []Bound) error {
	if len(slo) == 0 {
		return errors.New("an SLO needs at least one bound")
	}
	if len(t.servers) == 0 {
		return errors.New("no server declared: a Given step must declare the server (or the setup) to multiply")
	}
	for i, s := range t.servers[1:] {
		if s != t.servers[0] {
			return fmt.Errorf("counting servers multiplies one server, but server %d differs from server 1", i+2)
		}
	}
	routing := t.plan.Routing
	if policy != "" {
		routing = &Routing{Via: ViaDispatcher, Policy: policy}
	}
	if routing == nil {
		return errors.New("no routing policy: name one (\"... GPUs with shortest_queue\") or declare the routing")
	}
	if err := routing.Validate(); err != nil {
		return err
	}
	limit := plan.MaxServers
	if t.plan.Clock == plan.Virtual {
		limit = plan.MaxVirtualServers
	}
	gpus := launcher.Config{TPSize: t.servers[0].TPSize, DPSize: t.servers[0].DPSize}.GPUCount()
	cfg := capacity.CountSearch{Max: min(max(16, 4*atMost/gpus), limit), Noise: capacity.DefaultNoise}
	template := t.servers[0]
	out := t.quiet()
	defer t.loud(out)
	probe := func(ctx context.Context, n float64, repeat int) (capacity.Trial, error) {
		label := fmt.Sprintf("%d servers at %s", int(n), rateLabel(rate))
		if n == 1 {
			label = "1 server at " + rateLabel(rate)
		}
		if repeat > 0 {
			label += fmt.Sprintf(" repeat %d", repeat+1)
		}
		v := variation{label: label, arrival: Arrival{Kind: ArrivePoisson, Rate: rate}, routing: routing, repeat: repeat,
			servers: func([]Server) []Server { return slices.Repeat([]Server{template}, int(n)) }}
		return t.trial(ctx, out, slo, v, true)
	}
	r, serr := capacity.SearchCount(ctx, slo, cfg, probe)
	if len(r.Decisions) == 0 {
		return serr
	}
	dir, err := t.reportDir("servers needed")
	if err != nil {
		return errors.Join(serr, err)
	}
	meta := capacity.CountMeta{Meta: t.meta(), Rate: rate, Policy: routing.Policy, GPUsPerServer: gpus}
	_, werr := capacity.WriteCount(dir, meta, slo, cfg.Noise, r)
	if text, err := readText(filepath.Join(dir, capacity.ServersText)); err == nil {
		fmt.Fprint(out, text)
	}
	fmt.Fprintf(out, "Servers report: %s\n", dir)
	if err := errors.Join(serr, werr); err != nil {
		return fmt.Errorf("%w (search: %s)", err, dir)
	}
	need := r.Fewest * gpus
	b := verdict(st, r.Found && need <= atMost, "%s, expected at most %d GPUs (search: %s)", r.Answer(slo, meta), atMost, dir)
	b.Figure, b.Unit = fmt.Sprintf("GPUs needed for %s with %s", rateLabel(rate), routing.Policy), string(figures.Count)
	if r.Found {
		v := float64(need)
		b.Measured = &v
	}
	return t.record(t.runs[len(t.runs)-1], b)
}

// trial runs one point of a search and judges slo on it.
func (t *Test) trial(ctx context.Context, out io.Writer, slo []Bound, v variation, attainment bool) (capacity.Trial, error) {
	res, err := t.runPoint(ctx, v)
	if err := judgeable(res, err, v.label); err != nil {
		return capacity.Trial{}, err
	}
	tr := capacity.Trial{Repeat: v.repeat, Seed: t.plan.Seed + seedStride*uint64(v.repeat), Dir: res.Dir,
		Verdicts: capacity.SLO(slo).Judge(res), Stopped: res.File.Stopped}
	if attainment {
		a, err := sloAttainment(res, slo)
		if err != nil {
			return tr, fmt.Errorf("%s: SLO attainment: %w (run: %s)", v.label, err, res.Dir)
		}
		tr.Attainment = &a
	}
	var parts []string
	for i, vd := range tr.Verdicts {
		mark := "ok"
		if !vd.Pass {
			mark = "FAILS"
		}
		val := "unreadable"
		if vd.HasValue {
			val = figures.Format(vd.Measured, slo[i].Figure.Unit)
		}
		parts = append(parts, fmt.Sprintf("%s %s %s", slo[i].Name(), val, mark))
	}
	if tr.Stopped != "" {
		parts = append(parts, "STOPPED: "+tr.Stopped)
	}
	fmt.Fprintf(out, "%s: %s (run: %s)\n", v.label, strings.Join(parts, ", "), res.Dir)
	return tr, nil
}

// judgeable turns a point's outcome into an error when its figures cannot
// be judged: nothing ran, a signal stopped it, or it is invalid. A run
// that stopped early (a server died) can be judged: it fails.
func judgeable(res *Result, err error, label string) error {
	switch {
	case res == nil:
		return fmt.Errorf("%s: %w", label, err)
	case res.File.Interrupted:
		return fmt.Errorf("%s: interrupted (run: %s)", label, res.Dir)
	case res.File.InvalidVerdict():
		return fmt.Errorf("%s: the run is invalid, so a capacity search cannot judge it: %s (run: %s)", label, res.File.Invalid, res.Dir)
	case err != nil && res.File.Stopped == "":
		return fmt.Errorf("%s: %w", label, err)
	}
	return nil
}

// sloAttainment is the share of res's measured requests that succeeded and
// met every per-request objective slo implies: the loosest limit of its
// upper bounds on TTFT, TPOT and E2E (or server) latency, as vLLM's
// goodput counts them (see capacity.AttainmentDefinition). With no such
// bound it is the share that succeeded.
func sloAttainment(res *Result, slo []Bound) (float64, error) {
	var obj goodput.SLO
	for _, b := range slo {
		if b.Cmp != figures.Below && b.Cmp != figures.AtMost || b.Server > 0 || b.Window > 0 {
			continue
		}
		d := time.Duration(b.Value * float64(time.Millisecond))
		switch b.Figure.Name {
		case "ttft":
			obj.TTFT = max(obj.TTFT, d)
		case "tpot":
			obj.TPOT = max(obj.TPOT, d)
		case "e2e latency", "server latency":
			obj.E2E = max(obj.E2E, d)
		}
	}
	if obj == (goodput.SLO{}) {
		sent, ok, _, _ := res.Store.Outcomes(metrics.Selection{})
		if sent == 0 {
			return 0, errors.New("no request was sent")
		}
		return float64(ok) / float64(sent), nil
	}
	recs, err := report.ReadRecords(filepath.Join(res.Dir, report.RequestsFile))
	if err != nil {
		return 0, err
	}
	// Only the fraction is used; the duration only scales goodput per second.
	dur := max(time.Duration(res.Summary().DurationS*float64(time.Second)), time.Nanosecond)
	g, err := goodput.Measure(goodput.FromRecords(recs), obj, dur)
	if err != nil {
		return 0, err
	}
	return g.Fraction, nil
}

// variation is how one load point's run differs from the declaration.
type variation struct {
	label   string
	arrival Arrival
	// servers, when set, returns the point's servers from (a copy of) the
	// declared ones.
	servers func([]Server) []Server
	// routing, when set, replaces the declared routing.
	routing *Routing
	// repeat counts the point's runs from 0; each adds seedStride to the seed.
	repeat int
}

// seedStride separates the seeds of a point's repeats (each simulator of a
// run takes seed + its index, so repeats must not overlap them).
const seedStride = 1000

// runPoint runs one load point as a fresh run and returns it. A nil
// Result means nothing ran (the error says why); otherwise the error, if
// any, is the run's own (invalid, stopped early, interrupted), as Send
// returns it.
func (t *Test) runPoint(ctx context.Context, v variation) (*Result, error) {
	if t.suite.Interrupted() {
		return nil, errors.New("interrupted by signal")
	}
	servers, p := t.servers, t.plan
	defer func() { t.servers, t.plan = servers, p }()
	if v.servers != nil {
		t.servers = v.servers(slices.Clone(servers))
	}
	if v.routing != nil {
		t.plan.Routing = v.routing
	}
	t.plan.Seed += seedStride * uint64(v.repeat)
	ds, err := t.pointDataset(v.arrival)
	if err != nil {
		return nil, err
	}
	t.plan.Dataset = ds
	before := len(t.runs)
	err = t.Send(ctx, v.arrival, t.uniqueLabel(v.label))
	if len(t.runs) == before {
		return nil, err
	}
	return t.runs[len(t.runs)-1], err
}

// pointDataset is the dataset a point sends: the declared one, with its
// count set to the point's rate × the level duration when one is set;
// without a declared dataset, bench_serving's default (DefaultDataset).
func (t *Test) pointDataset(a Arrival) (Dataset, error) {
	d := t.plan.Dataset
	level := t.capacity.level
	if d == (Dataset{}) {
		var err error
		if d, err = DefaultDataset(a.Rate); err != nil {
			return d, err
		}
	}
	if level <= 0 {
		return d, nil
	}
	if a.Kind != ArrivePoisson || !(a.Rate > 0) || math.IsInf(a.Rate, 0) {
		return d, fmt.Errorf("each load level lasts %v, but this point is not a finite rate (%s): closed-loop users send the declared prompts", level, a.Describe())
	}
	n := int(math.Ceil(a.Rate * level.Seconds()))
	switch {
	case d.Random != nil:
		r := *d.Random
		r.Count = n
		d.Random = &r
	case d.ShareGPT != nil:
		s := *d.ShareGPT
		s.Count = n
		d.ShareGPT = &s
	default:
		return d, fmt.Errorf("each load level lasts %v, which sets the number of random or ShareGPT prompts; the declared prompts have a fixed count", level)
	}
	return d, nil
}

// uniqueLabel returns label, or label with " (2)", " (3)", ... when a run
// of the scenario already has it.
func (t *Test) uniqueLabel(label string) string {
	out := label
	for n := 2; ; n++ {
		if _, err := t.Run(out); err != nil {
			return out
		}
		out = fmt.Sprintf("%s (%d)", label, n)
	}
}

// quiet silences the per-run summaries while a capacity step runs many
// runs (each run's summary.txt is in its directory), returning where the
// step's own lines go; loud restores it.
func (t *Test) quiet() io.Writer {
	out := summaryOut
	summaryOut = io.Discard
	return out
}

func (t *Test) loud(out io.Writer) { summaryOut = out }

// reportDir creates a capacity report's directory under the reports root,
// named by its kind first ("…-sweep-<scenario>") so that it stands out
// among its points' run directories.
func (t *Test) reportDir(kind string) (string, error) {
	run, err := report.Create(t.suite.Settings.Reports, time.Now().Format("20060102-150405.000")+"-"+slug(kind)+"-"+slug(t.name))
	if err != nil {
		return "", err
	}
	return run.Dir(), nil
}

func (t *Test) meta() capacity.Meta {
	clock := t.plan.Clock
	if clock == "" {
		clock = plan.Wall
	}
	return capacity.Meta{Scenario: t.name, Clock: string(clock), Setup: t.capacity.setup}
}

// withSettings returns s with the non-zero settings of over.
func withSettings(s, over Server) Server {
	if over.MaxRunningRequests != 0 {
		s.MaxRunningRequests = over.MaxRunningRequests
	}
	if over.TPSize != 0 {
		s.TPSize = over.TPSize
	}
	if over.ChunkedPrefillSize != 0 {
		s.ChunkedPrefillSize = over.ChunkedPrefillSize
	}
	if over.SchedulePolicy != "" {
		s.SchedulePolicy = over.SchedulePolicy
	}
	if over.MemFractionStatic != 0 {
		s.MemFractionStatic = over.MemFractionStatic
	}
	if over.DPSize != 0 {
		s.DPSize = over.DPSize
	}
	if over.LoadBalanceMethod != "" {
		s.LoadBalanceMethod = over.LoadBalanceMethod
	}
	return s
}

// brief is one line of a run's figures for the progress output.
func brief(r *Result) string {
	s := r.Summary()
	line := fmt.Sprintf("%.2f req/s achieved, P99 TTFT %.1f ms, P99 ITL %.1f ms, P99 E2E %.1f ms, %d of %d failed",
		s.RequestThroughput, s.TTFTMS.P99, s.ITLMS.P99, s.E2ELatencyMS.P99, s.Failed, s.Requests)
	switch f := r.File; {
	case f.Invalid != "":
		line += "; INVALID: " + f.Invalid
	case f.Stopped != "":
		line += "; STOPPED: " + f.Stopped
	}
	return line
}

// rateLabel writes a rate as points are labelled: "40 req/s".
func rateLabel(r float64) string { return strconv.FormatFloat(r, 'g', 6, 64) + " req/s" }

func readText(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}

// succeeded is CheckAllSucceeded's verdict on one run.
func succeeded(st Step, r *Result) report.Bound {
	s := r.Summary()
	switch {
	case s.Requests == 0:
		return verdict(st, false, "no request was sent")
	case s.Failed == 0 && s.Cancelled == 0:
		return verdict(st, true, "all %d requests succeeded", s.Requests)
	}
	return verdict(st, false, "%d of %d requests failed: %s", s.Requests-s.Succeeded, s.Requests, reasons(s.Errors, s.CancelReasons))
}
