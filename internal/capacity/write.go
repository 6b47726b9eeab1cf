package capacity

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/sgltest/sgltest/internal/figures"
)

// File names in a capacity report's directory.
const (
	SweepJSON      = "sweep.json"
	SweepCSV       = "sweep.csv"
	SweepText      = "sweep.txt"
	CurveChart     = "latency_throughput.png"
	RampJSON       = "ramp.json"
	RampText       = "ramp.txt"
	SearchJSON     = "search.json"
	SearchText     = "search.txt"
	ServersJSON    = "servers.json"
	ServersText    = "servers.txt"
	AttainmentPlot = "slo_attainment.png"
)

// Meta says what a capacity report is about.
type Meta struct {
	Scenario string `json:"scenario"`
	// Clock is "wall" or "virtual".
	Clock string `json:"clock"`
	// Setup names the named setup the scenario used, if any.
	Setup string `json:"setup,omitempty"`
}

// num is a figure for JSON: null when it is not a finite number.
func num(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// cell writes a figure for a table: compact, in its unit's precision.
func cell(v float64, u figures.Unit) string {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return "-"
	}
	switch u {
	case figures.MS, figures.Watts:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case figures.Count:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case figures.Ratio, figures.Joules:
		return strconv.FormatFloat(v, 'f', 4, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// rate writes a rate or count compactly ("12.5").
func rate(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

// writeFile writes path whole or not at all (a temporary file renamed into
// place), so an interrupted run never leaves half a report.
func writeFile(path string, write func(io.Writer) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("capacity report: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(f.Name()) // err already says what went wrong
		}
	}()
	if err = write(f); err != nil {
		_ = f.Close() // the error returned says what went wrong
		return fmt.Errorf("capacity report: writing %s: %w", filepath.Base(path), err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("capacity report: %w", err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("capacity report: %w", err)
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("capacity report: encoding %s: %w", filepath.Base(path), err)
	}
	return writeFile(path, func(w io.Writer) error { _, err := w.Write(append(b, '\n')); return err })
}

func writeText(path, text string) error {
	return writeFile(path, func(w io.Writer) error { _, err := io.WriteString(w, text); return err })
}

// table lays rows out in columns: the first column and those listed in
// left (text) left-aligned, the others (numbers) right-aligned.
func table(rows [][]string, left ...int) string {
	width := map[int]int{}
	for _, r := range rows {
		for j, c := range r {
			width[j] = max(width[j], len([]rune(c)))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		var line strings.Builder
		for j, c := range r {
			pad := strings.Repeat(" ", width[j]-len([]rune(c)))
			switch {
			case j == 0:
				line.WriteString(c + pad)
			case slices.Contains(left, j):
				line.WriteString("  " + c + pad)
			default:
				line.WriteString("  " + pad + c)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
	return b.String()
}

// --- sweep ---

type sweepFile struct {
	Meta
	Axis           Axis        `json:"axis"`
	Unit           string      `json:"x_unit,omitempty"`
	Columns        []Column    `json:"columns"`
	Points         []pointFile `json:"points"`
	Knee           *SweepKnee  `json:"knee"`
	NoKnee         string      `json:"no_knee,omitempty"`
	KneeDefinition string      `json:"knee_definition"`
}

type pointFile struct {
	Label   string              `json:"label"`
	X       *float64            `json:"x,omitempty"`
	RunDir  string              `json:"run_dir"`
	Verdict string              `json:"verdict"`
	Invalid string              `json:"invalid_reason,omitempty"`
	Stopped string              `json:"stopped,omitempty"`
	Figures map[string]*float64 `json:"figures"`
}

// WriteSweep writes the sweep's report into dir: sweep.json, sweep.csv
// (one row per point, one column per figure), sweep.txt (every figure per
// point, as a table) and latency_throughput.png. It returns the knee, or
// the reason there is none, and the paths written.
func WriteSweep(dir string, meta Meta, s Sweep) (*SweepKnee, string, []string, error) {
	t := s.Table()
	cols, vals := t.Columns, t.Values
	f := sweepFile{Meta: meta, Axis: s.Axis, Unit: s.Axis.Unit(), Columns: cols, KneeDefinition: KneeDefinition}
	knee, kerr := s.Knee(t)
	var kp *SweepKnee
	if kerr != nil {
		f.NoKnee = kerr.Error()
	} else {
		kp = &knee
		f.Knee = kp
	}
	for i, p := range s.Points {
		pf := pointFile{Label: p.Label, Figures: map[string]*float64{}}
		if s.Axis != AxisSettings {
			pf.X = num(p.X)
		}
		if p.Run != nil {
			pf.RunDir, pf.Verdict, pf.Invalid, pf.Stopped = p.Run.Dir, p.Run.File.Verdict, p.Run.File.Invalid, p.Run.File.Stopped
		}
		for j, c := range cols {
			pf.Figures[c.Key] = num(vals[i][j])
		}
		f.Points = append(f.Points, pf)
	}
	paths := []string{filepath.Join(dir, SweepJSON), filepath.Join(dir, SweepCSV), filepath.Join(dir, SweepText), filepath.Join(dir, CurveChart)}
	errs := []error{
		writeJSON(paths[0], f),
		writeFile(paths[1], func(w io.Writer) error { return sweepCSV(w, s, cols, vals) }),
		writeText(paths[2], SweepTable(meta, s, cols, vals, kp, f.NoKnee)),
		writeFile(paths[3], func(w io.Writer) error { return curveChart(w, s, t, kp) }),
	}
	return kp, f.NoKnee, paths, errors.Join(errs...)
}

func sweepCSV(w io.Writer, s Sweep, cols []Column, vals [][]float64) error {
	cw := csv.NewWriter(w)
	head := []string{"point", "x", "x_unit", "run_dir", "verdict", "invalid_reason", "stopped"}
	for _, c := range cols {
		head = append(head, c.Key)
	}
	if err := cw.Write(head); err != nil {
		return err
	}
	for i, p := range s.Points {
		row := []string{p.Label, "", s.Axis.Unit(), "", "", "", ""}
		if s.Axis != AxisSettings {
			row[1] = strconv.FormatFloat(p.X, 'g', -1, 64)
		}
		if p.Run != nil {
			row[3], row[4], row[5], row[6] = p.Run.Dir, p.Run.File.Verdict, p.Run.File.Invalid, p.Run.File.Stopped
		}
		for j := range cols {
			v := ""
			if !math.IsNaN(vals[i][j]) {
				v = strconv.FormatFloat(vals[i][j], 'g', -1, 64)
			}
			row = append(row, v)
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// SweepTable is sweep.txt: every figure (rows) of every point (columns),
// the knee, and where each point's run is.
func SweepTable(meta Meta, s Sweep, cols []Column, vals [][]float64, knee *SweepKnee, noKnee string) string {
	var b strings.Builder
	what := map[Axis]string{AxisRate: "offered rate", AxisUsers: "closed-loop users", AxisSettings: "server settings"}[s.Axis]
	fmt.Fprintf(&b, "Sweep: %s\nVaries: %s, %d points (%s clock)\n", meta.Scenario, what, len(s.Points), meta.Clock)
	if meta.Setup != "" {
		fmt.Fprintf(&b, "Setup: %s\n", meta.Setup)
	}
	if knee != nil {
		fmt.Fprintf(&b, "Knee: %s: %s req/s achieved, median E2E latency %s ms (%.2f below the line)\n",
			knee.Label, cell(knee.Throughput, figures.ReqPerS), cell(knee.LatencyMS, figures.MS), knee.Depth)
	} else {
		fmt.Fprintf(&b, "Knee: %s\n", noKnee)
	}
	fmt.Fprintf(&b, "(the knee is %s)\n\n", KneeDefinition)
	head := []string{"figure", "unit"}
	for _, p := range s.Points {
		head = append(head, p.Label)
	}
	rows := [][]string{head}
	for j, c := range cols {
		row := []string{c.Name, string(c.Unit)}
		if c.Unit == figures.Count || c.Unit == figures.Ratio {
			row[1] = ""
		}
		for i := range s.Points {
			row = append(row, cell(vals[i][j], c.Unit))
		}
		rows = append(rows, row)
	}
	b.WriteString(table(rows))
	b.WriteString("\n(- : the figure cannot be read from that run, e.g. no GPU telemetry or no sample)\n\nRuns:\n")
	for _, p := range s.Points {
		dir, note := "(no run)", ""
		if p.Run != nil {
			dir = p.Run.Dir
			switch f := p.Run.File; {
			case f.Invalid != "":
				note = " INVALID: " + f.Invalid
			case f.Stopped != "":
				note = " STOPPED: " + f.Stopped
			}
		}
		fmt.Fprintf(&b, "  %s: %s%s\n", p.Label, dir, note)
	}
	return b.String()
}

// --- ramp ---

type rampFile struct {
	Meta
	From       float64        `json:"from_req_s"`
	To         float64        `json:"to_req_s"`
	Step       float64        `json:"step_req_s"`
	ErrorLimit float64        `json:"error_limit_pct"`
	SLO        string         `json:"slo,omitempty"`
	LastGood   *float64       `json:"last_good_rate_req_s"`
	BrokeAt    *float64       `json:"broke_at_req_s"`
	Outcome    string         `json:"outcome"`
	Steps      []rampStepFile `json:"steps"`
}

type rampStepFile struct {
	Rate      float64  `json:"rate_req_s"`
	RunDir    string   `json:"run_dir"`
	ErrorRate *float64 `json:"error_rate_pct"`
	Bounds    []judged `json:"bounds,omitempty"`
	Stopped   string   `json:"stopped,omitempty"`
	Broken    []string `json:"broken,omitempty"`
}

type judged struct {
	Bound    string   `json:"bound"`
	Measured *float64 `json:"measured"`
	Unit     string   `json:"unit"`
	Pass     bool     `json:"pass"`
}

// Outcome says how the ramp ended, in one sentence.
func (r RampResult) Outcome() string {
	if len(r.Steps) == 0 {
		return "no step ran"
	}
	last := r.Steps[len(r.Steps)-1]
	if !r.Broke {
		return fmt.Sprintf("no step broke up to %s req/s: the last good step is the top of the ramp", rate(last.Rate))
	}
	good := "none: the first step broke"
	if v, ok := r.LastGoodRate(); ok {
		good = rate(v) + " req/s"
	}
	return fmt.Sprintf("broke at %s req/s (%s); last good step: %s", rate(last.Rate), strings.Join(last.Broken, "; "), good)
}

// WriteRamp writes ramp.json and ramp.txt into dir.
func WriteRamp(dir string, meta Meta, slo SLO, r RampResult) ([]string, error) {
	f := rampFile{Meta: meta, From: r.Ramp.From, To: r.Ramp.To, Step: r.Ramp.Step, ErrorLimit: r.Ramp.ErrorLimit,
		SLO: slo.String(), Outcome: r.Outcome()}
	if v, ok := r.LastGoodRate(); ok {
		f.LastGood = &v
	}
	if r.Broke {
		f.BrokeAt = num(r.Steps[len(r.Steps)-1].Rate)
	}
	rows := [][]string{{"step", "rate (req/s)", "error rate", "verdict", "run"}}
	for i, s := range r.Steps {
		sf := rampStepFile{Rate: s.Rate, RunDir: s.Dir, Stopped: s.Stopped, Broken: s.Broken}
		er := "-"
		if s.HasErrorRate {
			sf.ErrorRate = num(s.ErrorRate)
			er = fmt.Sprintf("%.2f%%", s.ErrorRate)
		}
		for k, v := range s.Verdicts {
			if k < len(slo) {
				sf.Bounds = append(sf.Bounds, judgedOf(slo[k], v))
			}
		}
		f.Steps = append(f.Steps, sf)
		verdict := "good"
		if len(s.Broken) > 0 {
			verdict = "BROKE: " + strings.Join(s.Broken, "; ")
		}
		rows = append(rows, []string{strconv.Itoa(i + 1), rate(s.Rate), er, verdict, s.Dir})
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Stress ramp: %s\nRates %s to %s req/s in steps of %s (%s clock); a step breaks when more than %g%% of its requests fail",
		meta.Scenario, rate(r.Ramp.From), rate(r.Ramp.To), rate(r.Ramp.Step), meta.Clock, r.Ramp.ErrorLimit)
	if len(slo) > 0 {
		fmt.Fprintf(&b, ", when %s does not hold,", slo)
	}
	fmt.Fprintf(&b, " or when its run stops early.\nOutcome: %s\n\n%s", r.Outcome(), table(rows, 3, 4))
	paths := []string{filepath.Join(dir, RampJSON), filepath.Join(dir, RampText)}
	return paths, errors.Join(writeJSON(paths[0], f), writeText(paths[1], b.String()))
}

func judgedOf(b figures.Bound, v figures.Verdict) judged {
	j := judged{Bound: bound(b), Unit: string(b.Figure.Unit), Pass: v.Pass}
	if v.HasValue {
		j.Measured = num(v.Measured)
	}
	return j
}

// --- decisions (rate search and server count) ---

type decisionFile struct {
	X          float64     `json:"x"`
	Pass       bool        `json:"pass"`
	Marginal   bool        `json:"marginal"`
	Values     []judgedVal `json:"values"`
	Attainment *float64    `json:"slo_attainment,omitempty"`
	Runs       []trialFile `json:"runs"`
}

type judgedVal struct {
	Bound string   `json:"bound"`
	Value *float64 `json:"value"`
	Unit  string   `json:"unit"`
	Pass  bool     `json:"pass"`
}

type trialFile struct {
	Repeat     int      `json:"repeat"`
	Seed       uint64   `json:"seed"`
	RunDir     string   `json:"run_dir"`
	Bounds     []judged `json:"bounds"`
	Stopped    string   `json:"stopped,omitempty"`
	Attainment *float64 `json:"slo_attainment,omitempty"`
}

func decisionOf(slo SLO, d Decision) decisionFile {
	f := decisionFile{X: d.X, Pass: d.Pass, Marginal: d.Marginal}
	for i, b := range slo {
		f.Values = append(f.Values, judgedVal{Bound: bound(b), Value: num(d.Values[i]), Unit: string(b.Figure.Unit),
			Pass: b.Cmp.Holds(d.Values[i], b.Value)})
	}
	if a, ok := d.Attainment(); ok {
		f.Attainment = &a
	}
	for _, t := range d.Trials {
		tf := trialFile{Repeat: t.Repeat, Seed: t.Seed, RunDir: t.Dir, Stopped: t.Stopped, Attainment: t.Attainment}
		for i, v := range t.Verdicts {
			tf.Bounds = append(tf.Bounds, judgedOf(slo[i], v))
		}
		f.Runs = append(f.Runs, tf)
	}
	return f
}

// decisionRows is the text table of decisions: the point, each bound's
// value, the verdict, the runs.
func decisionRows(slo SLO, ds []Decision, what string, x func(float64) string, attainment bool) string {
	head := []string{"#", what}
	for _, b := range slo {
		head = append(head, b.Name()+" ("+string(b.Figure.Unit)+")")
	}
	if attainment {
		head = append(head, "attainment")
	}
	head = append(head, "verdict", "runs")
	text := []int{len(head) - 2, len(head) - 1}
	rows := [][]string{head}
	for i, d := range ds {
		row := []string{strconv.Itoa(i + 1), x(d.X)}
		for k, b := range slo {
			row = append(row, cell(d.Values[k], b.Figure.Unit))
		}
		if attainment {
			a := "-"
			if v, ok := d.Attainment(); ok {
				a = fmt.Sprintf("%.1f%%", 100*v)
			}
			row = append(row, a)
		}
		v := "meets"
		if !d.Pass {
			v = "FAILS"
		}
		if d.Marginal {
			v += fmt.Sprintf(" (median of %d)", len(d.Trials))
		}
		dirs := make([]string, len(d.Trials))
		for k, t := range d.Trials {
			dirs[k] = t.Dir
		}
		row = append(row, v, strings.Join(dirs, " "))
		rows = append(rows, row)
	}
	return table(rows, text...)
}

// --- rate search ---

type searchFile struct {
	Meta
	SLO          string         `json:"slo"`
	Precision    string         `json:"precision"`
	Noise        string         `json:"noise_rule"`
	Start        float64        `json:"start_req_s"`
	Min          float64        `json:"min_req_s"`
	Max          float64        `json:"max_req_s"`
	Found        bool           `json:"found"`
	Rate         *float64       `json:"highest_rate_req_s"`
	FirstFailing *float64       `json:"first_failing_rate_req_s"`
	Uncertainty  *float64       `json:"uncertainty_req_s"`
	Answer       string         `json:"answer"`
	Points       []decisionFile `json:"points"`
}

// Answer states the search's result and its uncertainty in one sentence.
func (r RateResult) Answer(slo SLO, cfg RateSearch) string {
	switch {
	case !r.Found:
		return fmt.Sprintf("no rate down to %s req/s meets %s", rate(r.FirstFailing), slo)
	case math.IsInf(r.FirstFailing, 1):
		return fmt.Sprintf("every rate tried up to %s req/s meets %s: the highest rate is at least %s req/s (the search stops at %s× its start)",
			rate(r.Rate), slo, rate(r.Rate), rate(Bracket))
	}
	return fmt.Sprintf("%s req/s: %s req/s meets %s and %s req/s does not, so the highest rate lies in [%s, %s) req/s (uncertainty %s req/s, precision %s)",
		rate(r.Rate), rate(r.Rate), slo, rate(r.FirstFailing), rate(r.Rate), rate(r.FirstFailing), rate(r.Uncertainty()), cfg.Precision)
}

// WriteSearch writes search.json and search.txt into dir.
func WriteSearch(dir string, meta Meta, slo SLO, cfg RateSearch, r RateResult) ([]string, error) {
	f := searchFile{Meta: meta, SLO: slo.String(), Precision: cfg.Precision.String(), Noise: cfg.Noise.String(),
		Start: cfg.Start, Min: cfg.Min, Max: cfg.Max, Found: r.Found, FirstFailing: num(r.FirstFailing), Answer: r.Answer(slo, cfg)}
	if r.Found {
		f.Rate = num(r.Rate)
		f.Uncertainty = num(r.Uncertainty())
	}
	for _, d := range r.Decisions {
		f.Points = append(f.Points, decisionOf(slo, d))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Highest rate meeting %s\nScenario: %s (%s clock)\nSearch: from %s req/s, doubling or halving within [%s, %s] req/s, then bisection to %s; %s.\n\nAnswer: %s\n\n",
		slo, meta.Scenario, meta.Clock, rate(cfg.Start), rate(cfg.Min), rate(cfg.Max), cfg.Precision, cfg.Noise, f.Answer)
	b.WriteString(decisionRows(slo, r.Decisions, "rate (req/s)", rate, false))
	paths := []string{filepath.Join(dir, SearchJSON), filepath.Join(dir, SearchText)}
	return paths, errors.Join(writeJSON(paths[0], f), writeText(paths[1], b.String()))
}

// --- server count ---

// CountMeta describes a server-count search.
type CountMeta struct {
	Meta
	Rate   float64 `json:"rate_req_s"`
	Policy string  `json:"policy"`
	// GPUsPerServer is the tensor-parallel size: GPUs = servers × it.
	GPUsPerServer int `json:"gpus_per_server"`
}

type countFile struct {
	CountMeta
	SLO        string         `json:"slo"`
	Noise      string         `json:"noise_rule"`
	Attainment string         `json:"slo_attainment_definition"`
	MaxServers int            `json:"max_servers"`
	Found      bool           `json:"found"`
	Fewest     *int           `json:"fewest_servers"`
	FewestGPUs *int           `json:"fewest_gpus"`
	Answer     string         `json:"answer"`
	Points     []decisionFile `json:"points"`
}

// AttainmentDefinition is how reports define SLO attainment.
const AttainmentDefinition = "the share of measured requests that succeeded and met every per-request objective the SLO implies " +
	"(the limits of its TTFT, TPOT and E2E latency bounds, as vLLM's goodput counts them); with no such bound, the share that succeeded"

// Answer states the result in one sentence.
func (r CountResult) Answer(slo SLO, m CountMeta) string {
	if !r.Found {
		return fmt.Sprintf("%s req/s with %s does not meet %s with up to %d servers (%d GPUs)", rate(m.Rate), m.Policy, slo, r.Max, r.Max*m.GPUsPerServer)
	}
	fewer := "one server is enough"
	switch {
	case r.MostFailing == 1:
		fewer = "1 does not"
	case r.MostFailing > 1:
		fewer = fmt.Sprintf("%d do not", r.MostFailing)
	}
	return fmt.Sprintf("%s req/s with %s needs %d servers (%d GPUs) to meet %s; %s", rate(m.Rate), m.Policy, r.Fewest,
		r.Fewest*m.GPUsPerServer, slo, fewer)
}

// WriteCount writes servers.json, servers.txt and slo_attainment.png into dir.
func WriteCount(dir string, m CountMeta, slo SLO, noise Noise, r CountResult) ([]string, error) {
	f := countFile{CountMeta: m, SLO: slo.String(), Noise: noise.String(), Attainment: AttainmentDefinition, MaxServers: r.Max,
		Found: r.Found, Answer: r.Answer(slo, m)}
	if r.Found {
		n, g := r.Fewest, r.Fewest*m.GPUsPerServer
		f.Fewest, f.FewestGPUs = &n, &g
	}
	curve := r.Curve()
	for _, d := range curve {
		f.Points = append(f.Points, decisionOf(slo, d))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Servers needed for %s req/s with %s to meet %s\nScenario: %s (%s clock)\nSearch: 1, 2, 4, ... servers (at most %d) until the SLO holds, then bisection; %s.\nSLO attainment: %s.\n\nAnswer: %s\n\n",
		rate(m.Rate), m.Policy, slo, m.Scenario, m.Clock, r.Max, noise, AttainmentDefinition, f.Answer)
	b.WriteString(decisionRows(slo, curve, "servers", rate, true))
	paths := []string{filepath.Join(dir, ServersJSON), filepath.Join(dir, ServersText), filepath.Join(dir, AttainmentPlot)}
	var png bytes.Buffer
	errs := []error{writeJSON(paths[0], f), writeText(paths[1], b.String()), attainmentChart(&png, m, slo, r)}
	if errs[2] == nil {
		errs[2] = writeFile(paths[2], func(w io.Writer) error { _, err := w.Write(png.Bytes()); return err })
	}
	return paths, errors.Join(errs...)
}
