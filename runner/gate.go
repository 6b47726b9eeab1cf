package runner

// Gates for CI: a scenario's load repeated k times, its figures judged
// against the blessed baseline (internal/gate, internal/baseline), goodput
// (internal/goodput), and the one-line verdict each scenario leaves
// (internal/verdicts). Every run writes fingerprint.json, what makes its
// numbers comparable; `sgltest baseline save` blesses runs, and nothing
// here ever writes a baseline.

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sgltest/sgltest/internal/baseline"
	"github.com/sgltest/sgltest/internal/figures"
	"github.com/sgltest/sgltest/internal/gate"
	"github.com/sgltest/sgltest/internal/goodput"
	"github.com/sgltest/sgltest/internal/launcher"
	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/overlay"
	"github.com/sgltest/sgltest/internal/plan"
	"github.com/sgltest/sgltest/internal/report"
	"github.com/sgltest/sgltest/internal/simulator"
	"github.com/sgltest/sgltest/internal/verdicts"
)

// Environment variables of the gates.
const (
	// EnvBaselines is the directory holding the blessed baselines, one
	// file per scenario (the directory the user commits).
	EnvBaselines = "SGLTEST_BASELINES"
	// EnvGateRerun, set to 1, lets a comparison with the baseline that is
	// inconclusive run the scenario's load once more (as many repeats as
	// it had) and judge all the repeats together; 0 (the default) never
	// reruns.
	EnvGateRerun = "SGLTEST_GATE_RERUN"
	// EnvGateInconclusive says what an inconclusive comparison does to its
	// step: "pass" (the default: it is reported, the scenario goes on) or
	// "fail".
	EnvGateInconclusive = "SGLTEST_GATE_INCONCLUSIVE"
	// EnvAttach says what each scenario attaches to its report for the
	// cucumber formatter: "charts" (the default: texts and charts), "text"
	// (summaries, repeats and comparisons only) or "none".
	EnvAttach = "SGLTEST_ATTACH"
)

// DefaultBaselines is where baselines live when EnvBaselines is unset.
const DefaultBaselines = "baselines"

// GateSettings are the suite's settings for comparisons with baselines.
type GateSettings struct {
	// Baselines is the baselines directory.
	Baselines string
	// Rerun allows one automatic rerun of an inconclusive comparison.
	Rerun bool
	// FailInconclusive makes an inconclusive comparison fail its step.
	FailInconclusive bool
	// Attach is "charts", "text" or "none" (EnvAttach).
	Attach string
}

func gateSettingsFromEnv() (GateSettings, error) {
	g := GateSettings{Baselines: envOr(EnvBaselines, DefaultBaselines), Attach: envOr(EnvAttach, "charts")}
	if g.Attach != "charts" && g.Attach != "text" && g.Attach != "none" {
		return g, fmt.Errorf("%s=%q: expected charts, text or none", EnvAttach, g.Attach)
	}
	switch v := os.Getenv(EnvGateRerun); v {
	case "", "0":
	case "1":
		g.Rerun = true
	default:
		return g, fmt.Errorf("%s=%q: expected 1 (rerun an inconclusive comparison once) or 0", EnvGateRerun, v)
	}
	switch v := os.Getenv(EnvGateInconclusive); v {
	case "", "pass":
	case "fail":
		g.FailInconclusive = true
	default:
		return g, fmt.Errorf("%s=%q: expected pass or fail", EnvGateInconclusive, v)
	}
	return g, nil
}

// Files the gates write.
const (
	// FingerprintFile, in every run directory, is the run's
	// baseline.Fingerprint.
	FingerprintFile = "fingerprint.json"
	// RepeatsFile and RepeatsText, in the directory of a set of repeats,
	// list the repeats and every catalog figure per repeat and pooled.
	RepeatsFile = "repeats.json"
	RepeatsText = "repeats.txt"
	// GateFile and GateText hold the comparisons with the baseline, in the
	// set's directory (or the run's, for a single run).
	GateFile = "gate.json"
	GateText = "gate.txt"
)

// Seeds says how the repeats of a load are seeded.
type Seeds int

// The seedings. With SeedPerRepeat, repeat i (from 0) runs with the
// scenario's seed + i, so the repeats are independent samples and the
// whole set can be reproduced.
const (
	SeedPerRepeat Seeds = iota + 1
	SameSeed
	RandomSeeds
)

func (s Seeds) String() string {
	switch s {
	case SeedPerRepeat:
		return "its own seed"
	case SameSeed:
		return "the same seed"
	case RandomSeeds:
		return "a random seed"
	}
	return fmt.Sprintf("Seeds(%d)", int(s))
}

// gateState is one scenario's repeats, comparisons and objectives.
type gateState struct {
	repeats   int
	seeds     Seeds
	repeating bool // inside playRepeats: Send runs the load once
	sets      []*repeatSet
	slo       *goodput.SLO
	verdicts  []gate.Verdict
	finger    map[*Result]baseline.Fingerprint
}

// repeatSet is one load as the scenario sent it: one run, or one per
// repeat.
type repeatSet struct {
	label    string
	arrival  Arrival
	baseSeed uint64
	started  time.Time
	runs     []*Result
	seeds    []uint64
	dir      string // the set's directory, once it has more than one run
	rerun    bool
}

// where names the set's runs for messages: its directory, or its one run.
func (s *repeatSet) where() string {
	if s.dir != "" {
		return s.dir
	}
	return s.runs[len(s.runs)-1].Dir
}

func (s *repeatSet) summaries() []metrics.Summary {
	out := make([]metrics.Summary, len(s.runs))
	for i, r := range s.runs {
		out[i] = *r.Summary()
	}
	return out
}

// SetRepeats makes every load the scenario sends run k times, each on
// fresh servers, seeded as s says; figures are then reported per repeat
// and pooled, and compared with the baseline over the repeats.
func (t *Test) SetRepeats(k int, s Seeds) error {
	if k < 1 {
		return fmt.Errorf("repeats: expected at least 1, got %d", k)
	}
	if k > maxRepeats {
		return fmt.Errorf("repeats: at most %d, got %d", maxRepeats, k)
	}
	if s != SeedPerRepeat && s != SameSeed && s != RandomSeeds {
		return fmt.Errorf("repeats: unknown seeding %d", s)
	}
	t.gate.repeats, t.gate.seeds = k, s
	return nil
}

// maxRepeats bounds the repeats of one load.
const maxRepeats = 100

// wantsRepeats reports whether Send must hand the load to sendRepeats.
func (g *gateState) wantsRepeats() bool { return g.repeats > 1 && !g.repeating }

// sendRepeats runs the load once per declared repeat as one set.
func (t *Test) sendRepeats(ctx context.Context, a Arrival, label string) error {
	if label == "" {
		label = fmt.Sprintf("run %d", len(t.gate.sets)+1)
		if t.plan.Routing != nil {
			label = t.plan.Routing.Policy
		}
	}
	if _, err := t.Run(label); err == nil {
		return fmt.Errorf("a run labelled %q already exists in this scenario", label)
	}
	set := &repeatSet{label: label, arrival: a, baseSeed: t.plan.Seed, started: time.Now()}
	t.gate.sets = append(t.gate.sets, set)
	return t.playRepeats(ctx, set, t.gate.repeats)
}

// playRepeats adds k repeats to set, stopping at the first that fails, and
// (re)writes the set's files.
func (t *Test) playRepeats(ctx context.Context, set *repeatSet, k int) error {
	g := &t.gate
	g.repeating = true
	saved := t.plan.Seed
	defer func() { g.repeating, t.plan.Seed = false, saved }()
	var err error
	for i, end := len(set.runs), len(set.runs)+k; i < end && err == nil; i++ {
		var seed uint64
		if seed, err = t.seedOf(set, i); err != nil {
			break
		}
		t.plan.Seed = seed
		n := len(t.runs)
		err = t.Send(ctx, set.arrival, fmt.Sprintf("%s repeat %d", set.label, i+1))
		if len(t.runs) == n {
			break // nothing ran: err says why
		}
		set.runs = append(set.runs, t.runs[len(t.runs)-1])
		set.seeds = append(set.seeds, seed)
	}
	if len(set.runs) > 1 {
		err = errors.Join(err, t.writeSet(set))
	}
	return err
}

// seedOf is the seed of repeat i of set.
func (t *Test) seedOf(set *repeatSet, i int) (uint64, error) {
	switch t.gate.seeds {
	case SameSeed:
		return set.baseSeed, nil
	case RandomSeeds:
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("drawing a random seed: %w", err)
		}
		return uint64(binary.LittleEndian.Uint32(b[:])), nil
	}
	return set.baseSeed + uint64(i), nil
}

// afterRun is called for every finished run: it writes the run's
// fingerprint.json and, outside a set of repeats, makes the run a set of
// its own.
func (t *Test) afterRun(res *Result, p *plan.Plan) error {
	g := &t.gate
	fp := t.fingerprint(p, res)
	if g.finger == nil {
		g.finger = map[*Result]baseline.Fingerprint{}
	}
	g.finger[res] = fp
	if !g.repeating {
		g.sets = append(g.sets, &repeatSet{label: res.Label, arrival: p.Arrival, baseSeed: p.Seed, started: p.Started,
			runs: []*Result{res}, seeds: []uint64{p.Seed}})
	}
	return writeJSONFile(filepath.Join(res.Dir, FingerprintFile), fp)
}

// lastOf returns the last run of the set labelled label.
func (g *gateState) lastOf(label string) *Result {
	for i := len(g.sets) - 1; i >= 0; i-- {
		if s := g.sets[i]; s.label == label && len(s.runs) > 0 {
			return s.runs[len(s.runs)-1]
		}
	}
	return nil
}

func (t *Test) lastSet() (*repeatSet, error) {
	for i := len(t.gate.sets) - 1; i >= 0; i-- {
		if len(t.gate.sets[i].runs) > 0 {
			return t.gate.sets[i], nil
		}
	}
	return nil, errors.New("no load has run in this scenario yet: a When step that sends load must come first")
}

// setFingerprint is the fingerprint every run of set shares.
func (t *Test) setFingerprint(set *repeatSet) (baseline.Fingerprint, error) {
	fp := t.gate.finger[set.runs[0]]
	for i, r := range set.runs[1:] {
		if d := fp.Diff(t.gate.finger[r]); len(d) > 0 {
			return fp, fmt.Errorf("repeat %d ran under another set-up than repeat 1 (%s), so the repeats are not one sample", i+2, diffText(d))
		}
	}
	return fp, nil
}

func diffText(ds []baseline.Difference) string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.String()
	}
	return strings.Join(out, "; ")
}

// Repeats is repeats.json: a load repeated, one run per repeat, and the
// catalog's figures per repeat and pooled over the repeats.
type Repeats struct {
	Scenario string `json:"scenario"`
	Label    string `json:"label"`
	// Seeding says how the repeats were seeded ("its own seed", "the same
	// seed", "a random seed").
	Seeding     string               `json:"seeding"`
	Fingerprint baseline.Fingerprint `json:"fingerprint"`
	// Rerun is set when an inconclusive comparison added the second half
	// of the runs.
	Rerun   bool           `json:"rerun,omitempty"`
	Runs    []RepeatRun    `json:"runs"`
	Figures []RepeatFigure `json:"figures"`
}

// RepeatRun is one repeat.
type RepeatRun struct {
	// Dir is the run directory's name; runs and their set are siblings in
	// the reports root.
	Dir     string `json:"dir"`
	Seed    uint64 `json:"seed"`
	Verdict string `json:"verdict"`
}

// RepeatFigure is one figure over the repeats.
type RepeatFigure struct {
	gate.Series
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	// Pooled is the figure over every request of every repeat
	// (gate.Pooled); null when there is no data.
	Pooled *float64 `json:"pooled"`
}

// writeSet writes the set's directory: repeats.json, repeats.txt and the
// repeats' CDFs overlaid, and prints repeats.txt.
func (t *Test) writeSet(set *repeatSet) error {
	if set.dir == "" {
		run, err := report.Create(t.suite.Settings.Reports, set.started.Format("20060102-150405.000")+"-"+slug(t.name+" "+set.label)+"-repeats")
		if err != nil {
			return err
		}
		set.dir = run.Dir()
	}
	fp, err := t.setFingerprint(set)
	if err != nil {
		return err
	}
	rep := Repeats{Scenario: t.name, Label: set.label, Seeding: t.gate.seeds.String(), Fingerprint: fp, Rerun: set.rerun}
	stores := make([]*metrics.Store, len(set.runs))
	sides := make([]overlay.Side, len(set.runs))
	for i, r := range set.runs {
		rep.Runs = append(rep.Runs, RepeatRun{Dir: filepath.Base(r.Dir), Seed: set.seeds[i], Verdict: r.File.Verdict})
		stores[i] = r.Store
		sides[i] = overlay.Side{Label: fmt.Sprintf("repeat %d (seed %d)", i+1, set.seeds[i]), Stores: []*metrics.Store{r.Store}}
	}
	sums := set.summaries()
	series := gate.FromSummaries(sums)
	names := make([]string, len(series))
	for i, s := range series {
		names[i] = s.Name
	}
	pooled, oks, err := gate.PooledAll(names, stores, sums)
	if err != nil {
		return err
	}
	for i, s := range series {
		f := RepeatFigure{Series: s, Median: medianOf(s.Values), Min: slices.Min(s.Values), Max: slices.Max(s.Values)}
		if oks[i] {
			f.Pooled = &pooled[i]
		}
		rep.Figures = append(rep.Figures, f)
	}
	text := rep.Text(set.dir)
	fmt.Fprint(summaryOut, text)
	_, cerr := overlay.Write(set.dir, sides)
	return errors.Join(
		writeJSONFile(filepath.Join(set.dir, RepeatsFile), rep),
		os.WriteFile(filepath.Join(set.dir, RepeatsText), []byte(text), 0o644),
		cerr,
	)
}

// Text renders the repeats as a table: one line per figure with its value
// in each repeat, their median, min and max, and the pooled value.
func (r Repeats) Text(dir string) string {
	var b strings.Builder
	seeds := make([]string, len(r.Runs))
	for i, run := range r.Runs {
		seeds[i] = strconv.FormatUint(run.Seed, 10)
	}
	fmt.Fprintf(&b, "==================== Repeats ====================\n")
	fmt.Fprintf(&b, "%q, %s: %d repeats on fresh servers, each with %s (seeds %s)", r.Scenario, r.Label, len(r.Runs), r.Seeding, strings.Join(seeds, ", "))
	if r.Rerun {
		b.WriteString("; the second half is the rerun of an inconclusive comparison")
	}
	b.WriteString("\n")
	head := []string{"figure", "unit"}
	for i := range r.Runs {
		head = append(head, fmt.Sprintf("#%d", i+1))
	}
	head = append(head, "median", "min", "max", "pooled")
	cells := [][]string{head}
	for _, f := range r.Figures {
		row := []string{f.Label, f.Unit}
		for _, v := range f.Values {
			row = append(row, num(v))
		}
		pooled := "n/a"
		if f.Pooled != nil {
			pooled = num(*f.Pooled)
		}
		cells = append(cells, append(row, num(f.Median), num(f.Min), num(f.Max), pooled))
	}
	writeTable(&b, cells)
	b.WriteString("pooled: latencies over every request of every repeat together; rates as all repeats' counts over their summed durations\n")
	for i, run := range r.Runs {
		fmt.Fprintf(&b, "  #%d %s (%s)\n", i+1, run.Dir, run.Verdict)
	}
	fmt.Fprintf(&b, "Repeats directory: %s\n", dir)
	b.WriteString("=================================================\n")
	return b.String()
}

// writeTable writes cells as columns, the first two left-aligned and the
// numbers right-aligned.
func writeTable(b *strings.Builder, cells [][]string) {
	width := make([]int, len(cells[0]))
	for _, row := range cells {
		for i, c := range row {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	for _, row := range cells {
		var line strings.Builder
		for i, c := range row {
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			if i > 0 {
				line.WriteString("  ")
			}
			if i < 2 {
				line.WriteString(c + pad)
			} else {
				line.WriteString(pad + c)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
}

func num(v float64) string {
	switch a := max(v, -v); {
	case a >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}

func medianOf(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// fingerprint says what makes res's numbers comparable, from the plan and
// what the run measured (see baseline.Fingerprint). A field that applies
// but cannot be read says "unknown (why)", never nothing.
func (t *Test) fingerprint(p *plan.Plan, res *Result) baseline.Fingerprint {
	var backends, profiles, models, sglang []string
	for _, s := range p.Servers {
		backends = append(backends, string(s.Launch.Backend))
		models = append(models, s.Launch.ModelPath)
		switch s.Launch.Backend {
		case launcher.BackendSim:
			profiles = append(profiles, s.Profile)
			sglang = append(sglang, simulator.Version)
		default:
			sglang = append(sglang, memo("sglang "+s.Launch.Python, func() (string, error) { return sglangVersion(s.Launch.Python) }))
		}
	}
	fp := baseline.Fingerprint{
		Backend: joinUnique(backends), Clock: "real", SimProfile: joinUnique(profiles), Model: joinUnique(models),
		SGLangVersion: joinUnique(sglang), SgltestVersion: baseline.SgltestVersion(buildVersion()),
	}
	if p.Clock == plan.Virtual {
		// Virtual time computes the figures instead of timing them: they do
		// not depend on the host, so its CPU is not part of the set-up.
		fp.Clock = "virtual"
	} else {
		fp.CPUModel = memo("cpu", baseline.CPUModel)
	}
	if res.File.GPU.Source == "nvml" {
		var names []string
		for _, g := range res.File.GPU.GPUs {
			names = append(names, g.Name)
		}
		fp.GPUModel = joinUnique(names)
		fp.GPUDriver = memo("driver", baseline.GPUDriver)
	}
	if r := p.Routing; r != nil {
		venv := t.suite.Settings.Venv
		switch r.Via {
		case plan.ViaDispatcher:
			fp.Router = "sgltest dispatcher"
		case plan.ViaSGLangRouter:
			fp.Router = "sglang-router " + memo("router "+venv, func() (string, error) {
				return baseline.PackageVersion(filepath.Join(venv, "sglang-router"), "sglang_router")
			})
		case plan.ViaSMG:
			fp.Router = "smg " + memo("smg "+venv, func() (string, error) {
				return baseline.PackageVersion(filepath.Join(venv, "smg"), "smg")
			})
		default:
			fp.Router = r.Via
		}
	}
	return fp
}

var memos sync.Map // key -> string

// memo returns read's value once per key and process; a failure reads
// "unknown (why)".
func memo(key string, read func() (string, error)) string {
	if v, ok := memos.Load(key); ok {
		return v.(string)
	}
	v, err := read()
	if err != nil {
		v = "unknown (" + err.Error() + ")"
	}
	memos.Store(key, v)
	return v
}

// sglangVersion asks python for the installed sglang distribution's
// version, without importing sglang (which takes seconds).
func sglangVersion(python string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, "-c", "import importlib.metadata as m; print(m.version('sglang'))").Output()
	if err != nil {
		return "", fmt.Errorf("%s: reading the sglang version: %v", python, err)
	}
	return strings.TrimSpace(string(out)), nil
}

func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.Main.Version
	}
	return ""
}

// joinUnique joins the distinct non-empty values in first-seen order.
func joinUnique(vs []string) string {
	var out []string
	for _, v := range vs {
		if v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return strings.Join(out, ", ")
}

func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// CheckBaseline judges figure f of the scenario's last load (over its
// repeats) against the scenario's baseline with tolerance (0.10 for "no
// worse by more than 10%"), by gate.Judge. The baseline is the entry of
// baselines/<scenario>.json recorded under this load's fingerprint;
// another set-up is refused, naming what differs. A regression fails; an
// inconclusive verdict is rerun once when EnvGateRerun allows, and then
// passes (reported as inconclusive) or fails as EnvGateInconclusive says.
// Every verdict is printed with its interval and minimum detectable
// effect, kept in summary.json's bounds and in gate.txt.
func (t *Test) CheckBaseline(ctx context.Context, st Step, f gate.Figure, tolerance float64) error {
	set, err := t.lastSet()
	if err != nil {
		return err
	}
	settings := t.suite.Settings.Gate
	// A comparison that cannot be made fails, and is no verdict.
	fail := func(msg string) error {
		return t.recordSet(set, report.Bound{Step: st.Text, Where: st.Where, Figure: f.Label + " against the baseline", Pass: false, Message: msg})
	}
	fp, err := t.setFingerprint(set)
	if err != nil {
		return fail(err.Error())
	}
	path, err := baseline.Path(settings.Baselines, t.name)
	if err != nil {
		return err
	}
	b, err := baseline.Load(path, t.name, fp)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fail(fmt.Sprintf("no baseline for this scenario: %s does not exist; bless this load with `sgltest baseline save %s`, review it and commit it",
			path, set.where()))
	case err != nil:
		return fail(err.Error() + fmt.Sprintf(" (bless this set-up with `sgltest baseline save %s`)", set.where()))
	}
	i := slices.IndexFunc(b.Figures, func(s gate.Series) bool { return s.Name == f.Name })
	if i < 0 {
		return fail(fmt.Sprintf("the baseline in %s has no %s (%s); save it again with this sgltest", path, f.Label, f.Name))
	}
	base := b.Figures[i]
	rule := gate.DefaultRule(tolerance)
	judge := func() (gate.Verdict, error) {
		cand, err := gate.Extract(f.Name, set.summaries())
		if err != nil {
			return gate.Verdict{}, fmt.Errorf("%w (runs: %s)", err, set.where())
		}
		return gate.Judge(f, base.Values, cand.Values, rule)
	}
	v, err := judge()
	if err != nil {
		return err
	}
	if v.Outcome == gate.Inconclusive && settings.Rerun && !set.rerun {
		n := len(set.runs)
		fmt.Fprintf(summaryOut, "gate: %s\ngate: inconclusive, so the load runs %d more time(s) and every repeat is judged together (%s=1)\n", v.Reason, n, EnvGateRerun)
		set.rerun = true
		if err := t.playRepeats(ctx, set, n); err != nil {
			return err
		}
		if v, err = judge(); err != nil {
			return err
		}
	}
	t.gate.verdicts = append(t.gate.verdicts, v)
	werr := t.writeGate(set, b, path, fp, rule)
	fmt.Fprintln(summaryOut, "gate: "+v.Reason)
	pass := v.Outcome == gate.Pass || (v.Outcome == gate.Inconclusive && !settings.FailInconclusive)
	msg := v.Reason
	if v.Outcome == gate.Inconclusive {
		if pass {
			msg += fmt.Sprintf("; an inconclusive comparison does not fail the scenario (%s=fail makes it)", EnvGateInconclusive)
		} else {
			msg += fmt.Sprintf("; %s=fail makes an inconclusive comparison fail", EnvGateInconclusive)
		}
	}
	measured := v.CandidateMedian
	rb := report.Bound{Step: st.Text, Where: st.Where, Figure: f.Label + " against the baseline (median over repeats)", Unit: f.Unit,
		Measured: &measured, Pass: pass, Message: msg}
	return errors.Join(t.recordSet(set, rb), werr)
}

// recordSet records b on the set's last run and, when it fails, returns
// the error naming the set's runs.
func (t *Test) recordSet(set *repeatSet, b report.Bound) error {
	if err := t.record(set.runs[len(set.runs)-1], b); err != nil {
		return fmt.Errorf("%s (runs: %s)", b.Message, set.where())
	}
	return nil
}

// GateReport is gate.json: the baseline compared with and every verdict
// of the scenario's comparisons so far.
type GateReport struct {
	Baseline    string               `json:"baseline"`
	SavedAt     time.Time            `json:"baseline_saved_at"`
	Fingerprint baseline.Fingerprint `json:"fingerprint"`
	Verdicts    []gate.Verdict       `json:"verdicts"`
}

// writeGate writes gate.json and gate.txt where the set's runs are: the
// verdicts so far, and the table of every catalog figure (and every gated
// one) at the last verdict's rule.
func (t *Test) writeGate(set *repeatSet, b baseline.Baseline, path string, fp baseline.Fingerprint, rule gate.Rule) error {
	dir := set.where()
	rep := GateReport{Baseline: path, SavedAt: b.SavedAt, Fingerprint: fp, Verdicts: t.gate.verdicts}
	names := map[string]bool{}
	for _, f := range gate.Catalog() {
		names[f.Name] = true
	}
	for _, v := range rep.Verdicts {
		names[v.Figure.Name] = true
	}
	var baseSide []gate.Series
	for _, s := range b.Figures {
		if names[s.Name] {
			baseSide = append(baseSide, s)
		}
	}
	var candSide []gate.Series
	for _, s := range gate.EveryFromSummaries(set.summaries()) {
		if names[s.Name] {
			candSide = append(candSide, s)
		}
	}
	var text strings.Builder
	text.WriteString("Comparisons with the baseline:\n")
	for _, v := range rep.Verdicts {
		text.WriteString("  " + v.Outcome.String() + ": " + v.Reason + "\n")
	}
	tab, err := gate.Compare(gate.Set{Label: b.Set(path).Label, Series: baseSide}, gate.Set{Label: dir, Series: candSide}, rule)
	if err != nil {
		return err
	}
	text.WriteString("\nEvery figure, at the last comparison's tolerance (informational: only the sentences above gate):\n")
	text.WriteString(tab.String())
	return errors.Join(writeJSONFile(filepath.Join(dir, GateFile), rep), os.WriteFile(filepath.Join(dir, GateText), []byte(text.String()), 0o644))
}

// SetObjectives declares the service-level objectives goodput is measured
// against.
func (t *Test) SetObjectives(s goodput.SLO) error {
	if s.TTFT < 0 || s.TPOT < 0 || s.E2E < 0 || s == (goodput.SLO{}) {
		return fmt.Errorf("service-level objectives %s: expected at least one positive bound on TTFT, TPOT or E2E latency", s)
	}
	t.gate.slo = &s
	return nil
}

// objectives is slo when given, else the declared objectives.
func (t *Test) objectives(slo *goodput.SLO) (goodput.SLO, error) {
	switch {
	case slo != nil:
		return *slo, nil
	case t.gate.slo != nil:
		return *t.gate.slo, nil
	}
	return goodput.SLO{}, errors.New("no service-level objectives: declare them (Given the service-level objectives are TTFT below 200 ms and TPOT below 50 ms) or name them in the sentence")
}

// measureGoodput measures every run of set against slo, from each run's
// requests.jsonl, and pools them.
func (t *Test) measureGoodput(set *repeatSet, slo goodput.SLO) (goodput.Result, []goodput.Result, error) {
	per := make([]goodput.Result, len(set.runs))
	durs := make([]time.Duration, len(set.runs))
	for i, r := range set.runs {
		path := filepath.Join(r.Dir, report.RequestsFile)
		f, err := os.Open(path)
		if err != nil {
			return goodput.Result{}, nil, err
		}
		reqs, err := goodput.ReadRequests(f, path)
		_ = f.Close() // read only
		if err != nil {
			return goodput.Result{}, nil, err
		}
		durs[i] = time.Duration(r.Summary().DurationS * float64(time.Second))
		if per[i], err = goodput.Measure(reqs, slo, durs[i]); err != nil {
			return goodput.Result{}, nil, fmt.Errorf("%w (run: %s)", err, r.Dir)
		}
	}
	pooled, err := goodput.Pool(per, durs)
	return pooled, per, err
}

// goodputText is the pooled result, with each repeat's value when there
// are several.
func goodputText(pooled goodput.Result, per []goodput.Result, each func(goodput.Result) string) string {
	s := pooled.String()
	if len(per) > 1 {
		vals := make([]string, len(per))
		for i, r := range per {
			vals[i] = each(r)
		}
		s += fmt.Sprintf(" over %d repeats (each: %s)", len(per), strings.Join(vals, ", "))
	}
	return s
}

// CheckGoodputFraction fails unless at least atLeast percent of the last
// load's requests (over all its repeats) met every objective of slo (the
// declared objectives when nil). A failed request never meets them.
func (t *Test) CheckGoodputFraction(st Step, slo *goodput.SLO, atLeast float64) error {
	set, err := t.lastSet()
	if err != nil {
		return err
	}
	o, err := t.objectives(slo)
	if err != nil {
		return err
	}
	pooled, per, err := t.measureGoodput(set, o)
	if err != nil {
		return err
	}
	got := 100 * pooled.Fraction
	text := goodputText(pooled, per, func(r goodput.Result) string { return fmt.Sprintf("%.1f%%", 100*r.Fraction) })
	return t.recordSet(set, report.Bound{Step: st.Text, Where: st.Where, Figure: "requests meeting " + o.String(), Unit: "%",
		Measured: &got, Pass: got >= atLeast, Message: fmt.Sprintf("%s; expected at least %g%%", text, atLeast)})
}

// CheckGoodput judges the goodput (good requests per second, vLLM's
// request_goodput) of the last load, pooled over its repeats, against
// bound req/s.
func (t *Test) CheckGoodput(st Step, slo *goodput.SLO, c figures.Comparison, bound float64) error {
	set, err := t.lastSet()
	if err != nil {
		return err
	}
	o, err := t.objectives(slo)
	if err != nil {
		return err
	}
	pooled, per, err := t.measureGoodput(set, o)
	if err != nil {
		return err
	}
	text := goodputText(pooled, per, func(r goodput.Result) string { return fmt.Sprintf("%.2f req/s", r.Goodput) })
	got := pooled.Goodput
	return t.recordSet(set, report.Bound{Step: st.Text, Where: st.Where, Figure: "goodput with " + o.String(), Unit: "req/s",
		Measured: &got, Pass: c.Holds(got, bound), Message: fmt.Sprintf("%s; expected %s %g req/s", text, c, bound)})
}

// Conclude ends the scenario for CI: it prints its one-line verdict
// (verdicts.Prefix and JSON) and appends it to verdicts.jsonl in the
// reports root. feature is the feature file; scenarioErr is what failed
// the scenario, if anything.
func (t *Test) Conclude(feature string, scenarioErr error) (verdicts.Line, error) {
	l := verdicts.Line{Scenario: t.name, Feature: feature, Verdict: verdicts.Pass, Time: time.Now().UTC().Truncate(time.Second)}
	interrupted, invalid := t.suite.Interrupted(), false
	for _, r := range t.runs {
		interrupted = interrupted || r.File.Interrupted
		invalid = invalid || r.File.InvalidVerdict()
		l.Runs = append(l.Runs, r.Dir)
	}
	switch {
	case interrupted:
		l.Verdict = verdicts.Interrupted
	case scenarioErr != nil && invalid:
		l.Verdict = verdicts.Invalid
	case scenarioErr != nil:
		l.Verdict = verdicts.Fail
	}
	if scenarioErr != nil {
		l.Reason, _, _ = strings.Cut(scenarioErr.Error(), "\n")
	}
	if o, err := gate.Overall(t.gate.verdicts); err == nil {
		l.Gate = o.String()
	}
	if set, err := t.lastSet(); err == nil {
		l.Run = set.where()
	}
	if len(l.Runs) < 2 {
		l.Runs = nil
	}
	return l, t.suite.writeVerdict(l)
}

// ConcludeUnstarted is Conclude for a scenario that never got as far as a
// Test: a sentence matched nothing, or the suite was interrupted before it.
func (s *Suite) ConcludeUnstarted(scenario, feature string, scenarioErr error) (verdicts.Line, error) {
	l := verdicts.Line{Scenario: scenario, Feature: feature, Verdict: verdicts.Fail, Time: time.Now().UTC().Truncate(time.Second)}
	if s.Interrupted() {
		l.Verdict = verdicts.Interrupted
	}
	if scenarioErr != nil {
		l.Reason, _, _ = strings.Cut(scenarioErr.Error(), "\n")
	}
	return l, s.writeVerdict(l)
}

// writeVerdict prints l and appends it to the reports root's verdicts.jsonl.
func (s *Suite) writeVerdict(l verdicts.Line) error {
	fmt.Fprintln(summaryOut, l.String())
	root := s.Settings.Reports
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	return verdicts.Append(filepath.Join(root, verdicts.File), l)
}

// Attachment is a file of the scenario's runs for a CI report (godog
// attaches it to the scenario's last step, and the cucumber JSON
// formatter embeds it).
type Attachment struct {
	Name, MediaType string
	Body            []byte
}

// Attachments are the scenario's files for a CI report, as EnvAttach
// allows: every run's summary.txt, each set's repeats.txt and gate.txt,
// and the charts of the last set (its repeats' CDFs overlaid) and of its
// last run.
func (t *Test) Attachments() ([]Attachment, error) {
	var out []Attachment
	var errs []error
	what := t.suite.Settings.Gate.Attach
	add := func(name, media, path string) {
		if what == "none" || (what == "text" && media != "text/plain") {
			return
		}
		b, err := os.ReadFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			errs = append(errs, err)
		default:
			out = append(out, Attachment{Name: name, MediaType: media, Body: b})
		}
	}
	for _, set := range t.gate.sets {
		for _, r := range set.runs {
			add(r.Label+": "+report.SummaryText, "text/plain", filepath.Join(r.Dir, report.SummaryText))
		}
		if set.dir != "" {
			add(set.label+": "+RepeatsText, "text/plain", filepath.Join(set.dir, RepeatsText))
		}
		if len(set.runs) > 0 {
			add(set.label+": "+GateText, "text/plain", filepath.Join(set.where(), GateText))
		}
	}
	if set, err := t.lastSet(); err == nil {
		if set.dir != "" {
			for _, c := range []string{overlay.TTFTChart, overlay.ITLChart, overlay.E2EChart, overlay.ThroughputChart} {
				add(set.label+" repeats: "+c, "image/png", filepath.Join(set.dir, c))
			}
		}
		last := set.runs[len(set.runs)-1]
		for _, c := range []string{report.LatencyChart, report.ThroughputChart, report.ConcurrencyChart} {
			add(last.Label+": "+c, "image/png", filepath.Join(last.Dir, c))
		}
	}
	return out, errors.Join(errs...)
}
