package runner

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sgltest/sgltest/internal/figures"
	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/report"
	"github.com/sgltest/sgltest/internal/timeline"
)

// Step names the sentence a check comes from, for the summary's list of
// bounds: its text and its file:line.
type Step struct {
	Text, Where string
}

// Bound is a bound on a figure; NewBound reads one.
type Bound = figures.Bound

// NewBound reads a bound as a sentence gives it (see figures.NewBound).
func NewBound(stat, figure, cmp, number, unit string) (Bound, error) {
	return figures.NewBound(stat, figure, cmp, number, unit)
}

// FigureNames lists the figures a bound can name.
func FigureNames() []string { return figures.Names() }

// Check judges b on the last run, records the verdict in that run's
// summary, and returns an error stating the measured value, the bound and
// the run when it fails.
func (t *Test) Check(st Step, b Bound) error {
	r, err := t.Result()
	if err != nil {
		return err
	}
	v := b.Judge(r)
	rb := report.Bound{Step: st.Text, Where: st.Where, Figure: b.Name(), Unit: string(b.Figure.Unit), Pass: v.Pass, Message: v.Message}
	if v.HasValue {
		rb.Measured = &v.Measured
	}
	return t.record(r, rb)
}

// record keeps a verdict for r's summary and turns a failure into an error.
func (t *Test) record(r *Result, b report.Bound) error {
	if t.bounds == nil {
		t.bounds = map[*Result][]report.Bound{}
	}
	t.bounds[r] = append(t.bounds[r], b)
	if !b.Pass {
		return fmt.Errorf("%s (run: %s)", b.Message, r.Dir)
	}
	return nil
}

// verdict builds a recorded bound that is not a single figure.
func verdict(st Step, pass bool, format string, args ...any) report.Bound {
	return report.Bound{Step: st.Text, Where: st.Where, Pass: pass, Message: fmt.Sprintf(format, args...)}
}

// CheckAllSucceeded fails unless every measured request succeeded, listing
// the failures by reason.
func (t *Test) CheckAllSucceeded(st Step) error {
	r, err := t.Result()
	if err != nil {
		return err
	}
	s := r.Summary()
	switch {
	case s.Requests == 0:
		return t.record(r, verdict(st, false, "no request was sent"))
	case s.Failed == 0 && s.Cancelled == 0:
		return t.record(r, verdict(st, true, "all %d requests succeeded", s.Requests))
	}
	return t.record(r, verdict(st, false, "%d of %d requests failed: %s", s.Requests-s.Succeeded, s.Requests,
		reasons(s.Errors, s.CancelReasons)))
}

func reasons(failed, cancelled map[string]int) string {
	var out []string
	for _, m := range []map[string]int{failed, cancelled} {
		for _, k := range sortedKeys(m) {
			out = append(out, fmt.Sprintf("%d× %s", m[k], k))
		}
	}
	return strings.Join(out, "; ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// CheckEveryServerServed fails unless every server got at least n of the
// last run's requests (counted by the servers themselves).
func (t *Test) CheckEveryServerServed(st Step, n int) error {
	r, err := t.Result()
	if err != nil {
		return err
	}
	if r.Routing == nil {
		return t.record(r, verdict(st, false, "no per-server counts for this run"))
	}
	var short []string
	for _, w := range r.Routing.Workers {
		if w.Requests < float64(n) {
			short = append(short, fmt.Sprintf("%s served %.0f", w.Label(), w.Requests))
		}
	}
	if len(short) > 0 {
		return t.record(r, verdict(st, false, "expected every server to serve at least %d requests, but %s", n, strings.Join(short, ", ")))
	}
	return t.record(r, verdict(st, true, "every server served at least %d requests", n))
}

// CheckRouterOverhead judges what the router added to a latency statistic:
// the statistic of run "router" minus that of run "direct" (see
// SendDirectAndRouted and metrics.RouterOverhead).
func (t *Test) CheckRouterOverhead(st Step, stat, name string, c figures.Comparison, bound float64, unit string) error {
	direct, err := t.Run("direct")
	if err != nil {
		return err
	}
	routed, err := t.Run("router")
	if err != nil {
		return err
	}
	o, err := metrics.RouterOverhead(*routed.Summary(), *direct.Summary())
	if err != nil {
		return err
	}
	var d metrics.Distribution
	switch strings.ToLower(name) {
	case "server latency", "e2e latency":
		d = o.ServerLatencyMS
	case "ttft":
		d = o.TTFTMS
	default:
		return fmt.Errorf("router overhead is measured on server latency, E2E latency or TTFT, not %q", name)
	}
	v, ok := d.Get(strings.ToLower(stat))
	if !ok {
		return fmt.Errorf("unknown statistic %q: expected mean, median, min, max, p90, p95 or p99", stat)
	}
	scale := map[string]float64{"ms": 1, "s": 1000}[unit]
	if scale == 0 {
		return fmt.Errorf("unknown unit %q: expected ms or s", unit)
	}
	pass := c.Holds(v, bound*scale)
	return t.record(routed, verdict(st, pass, "the router adds %.2f ms to the %s %s, expected %s %g %s (runs: %s, %s)",
		v, stat, name, c, bound, unit, direct.Dir, routed.Dir))
}

// event finds the first event of kind on target in r's timeline.
func event(r *Result, kind timeline.Kind, target string) (timeline.Event, error) {
	for _, e := range r.File.Events {
		if e.Kind == kind && e.Target == target {
			return e, nil
		}
	}
	return timeline.Event{}, fmt.Errorf("no %s event for %s in this run (run: %s)", kind, target, r.Dir)
}

// CheckFailover judges how fast requests stop failing after target is
// killed (or stopped): from the fault to the end of the last failed
// request that arrived before the target was back (or the run ended). A
// fault that failed no request takes no time.
func (t *Test) CheckFailover(st Step, target string, within time.Duration) error {
	r, err := t.Result()
	if err != nil {
		return err
	}
	down, err := event(r, timeline.Killed, target)
	if err != nil {
		if down, err = event(r, timeline.Stopped, target); err != nil {
			return fmt.Errorf("%s was neither killed nor stopped in this run (run: %s)", target, r.Dir)
		}
	}
	until := time.Duration(0)
	for _, e := range r.File.Events {
		if e.Target == target && e.At > down.At && (e.Kind == timeline.Restoring || e.Kind == timeline.Restored) {
			until = e.At
			break
		}
	}
	last, failed := r.Store.LastFailure(metrics.Selection{From: down.At, To: until})
	took := time.Duration(0)
	if failed {
		took = max(last-down.At, 0)
	}
	v := float64(took) / float64(time.Millisecond)
	b := verdict(st, took <= within, "requests stopped failing %s after %s went down at %.3f s, expected within %v",
		figures.Format(v, figures.MS), target, down.At.Seconds(), within)
	b.Figure, b.Unit, b.Measured = "failover time after "+target+" went down", string(figures.MS), &v
	return t.record(r, b)
}

// CheckRecovery judges how soon after target is restored (or restarted, or
// resumed) a bound holds again: the earliest delay d such that the bound
// holds in every full window (of step length) from the event plus d to the
// end of the run. It passes when d is at most within.
func (t *Test) CheckRecovery(st Step, b Bound, target string, within time.Duration) error {
	r, err := t.Result()
	if err != nil {
		return err
	}
	var back timeline.Event
	for _, k := range []timeline.Kind{timeline.Restored, timeline.Restarted, timeline.Resumed} {
		if back, err = event(r, k, target); err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("%s never came back in this run (no restored, restarted or resumed event) (run: %s)", target, r.Dir)
	}
	const step = time.Second
	end := time.Duration(r.Summary().DurationS * float64(time.Second))
	windowOK := func(from time.Duration) (bool, bool) {
		v, err := b.Figure.Value(figures.Query{Run: r, Stat: b.Stat, Server: b.Server, From: from, To: from + step})
		if err != nil {
			return true, false // no samples in this window: nothing to judge
		}
		return b.Cmp.Holds(v, b.Value), true
	}
	// Scan back from the end: the recovery point is just after the last
	// window that breaks the bound.
	recovered := back.At
	judged := false
	for from := back.At; from+step <= end; from += step {
		ok, has := windowOK(from)
		judged = judged || has
		if has && !ok {
			recovered = from + step
		}
	}
	if !judged {
		return t.record(r, verdict(st, false, "no full %v window with samples after %s came back at %.3f s", step, target, back.At.Seconds()))
	}
	took := recovered - back.At
	v := float64(took) / float64(time.Millisecond)
	pass := took <= within
	rb := verdict(st, pass, "%s held again %s after %s came back at %.3f s (every %v window from then on), expected within %v",
		b.Name()+" "+string(b.Cmp)+" "+b.Given, figures.Format(v, figures.MS), target, back.At.Seconds(), step, within)
	rb.Figure, rb.Unit, rb.Measured = "recovery time after "+target+" came back", string(figures.MS), &v
	return t.record(r, rb)
}

// ParseComparison reads a comparison in words or symbols.
func ParseComparison(s string) (figures.Comparison, error) { return figures.ParseComparison(s) }

// FigureInfo describes one figure of the registry for the vocabulary.
type FigureInfo struct {
	Name, Unit, Doc     string
	PerServer, Windowed bool
}

// Figures lists the registry, in its order.
func Figures() []FigureInfo {
	out := make([]FigureInfo, len(figures.Defs))
	for i := range figures.Defs {
		d := &figures.Defs[i]
		out[i] = FigureInfo{Name: d.Name, Unit: string(d.Unit), Doc: d.Doc, PerServer: d.PerServer(), Windowed: d.Windowed()}
	}
	return out
}

// CheckCompare judges a figure of the run labelled a against the same
// figure of the run labelled b: higher (or lower, when higher is false).
func (t *Test) CheckCompare(st Step, stat, figure string, a, b string, higher bool) error {
	ra, err := t.Run(a)
	if err != nil {
		return err
	}
	rb, err := t.Run(b)
	if err != nil {
		return err
	}
	cmp := figures.Below
	if higher {
		cmp = figures.Above
	}
	def, err := figures.Lookup(figure)
	if err != nil {
		return err
	}
	bd := figures.Bound{Figure: def}
	switch {
	case def.Latency() && stat == "":
		return fmt.Errorf("%s needs a statistic: mean, median or a percentile such as P99", def.Name)
	case def.Latency():
		if bd.Stat, err = figures.ParseStat(stat); err != nil {
			return err
		}
	case stat != "":
		return fmt.Errorf("%s takes no statistic (%s)", def.Name, stat)
	}
	read := func(r *Result) (float64, error) {
		v, err := def.Value(figures.Query{Run: r, Stat: bd.Stat})
		if err != nil {
			return 0, fmt.Errorf("%s of run %q cannot be read: %w (run: %s)", bd.Name(), r.Label, err, r.Dir)
		}
		return v, nil
	}
	va, err := read(ra)
	if err != nil {
		return err
	}
	vb, err := read(rb)
	if err != nil {
		return err
	}
	word := "lower"
	if higher {
		word = "higher"
	}
	pass := cmp.Holds(va, vb)
	v := verdict(st, pass, "%s with %q is %s, against %s with %q: expected %s (runs: %s, %s)", bd.Name(), a,
		figures.Format(va, def.Unit), figures.Format(vb, def.Unit), b, word, ra.Dir, rb.Dir)
	v.Figure, v.Unit, v.Measured = bd.Name()+" with "+a, string(def.Unit), &va
	return t.record(t.runs[len(t.runs)-1], v)
}
