package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	flag "github.com/spf13/pflag"

	"github.com/sgltest/sgltest/internal/baseline"
	"github.com/sgltest/sgltest/internal/gate"
	"github.com/sgltest/sgltest/internal/overlay"
	"github.com/sgltest/sgltest/internal/report"
)

// Files `sgltest compare` writes into its output directory, with the
// overlay charts.
const (
	compareText = "compare.txt"
	compareJSON = "compare.json"
)

// side is one side of a comparison.
type side struct {
	label       string
	scenario    string
	fingerprint *baseline.Fingerprint
	series      []gate.Series
	runs        []loadedRun // empty for a baseline whose runs are not here
	file        *baseline.File
	path        string
}

// compareCmd is `sgltest compare A B`: B (the candidate) judged against A
// (the baseline) figure by figure, the table printed and written with the
// overlaid charts. Exit 0 when no figure regressed, 1 when one did, 2 on
// bad input.
func compareCmd(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("sgltest compare", flag.ContinueOnError)
	flags.SetOutput(stderr)
	tol := flags.Float64("tolerance", 10, "the worsening tolerated, in percent")
	alpha := flags.Float64("alpha", 0.05, "the one-sided level of the U test")
	anySetup := flags.Bool("any-setup", false, "compare even when the fingerprints or the scenarios differ (the table says how)")
	all := flags.Bool("all", false, "every figure of summary.json, not only the usual ones")
	out := flags.String("out", "", "where to write compare.txt, compare.json and the charts (default: a new compare-<time> directory next to B)")
	if err := flags.Parse(args); err != nil {
		return exitUsage
	}
	if flags.NArg() != 2 {
		fmt.Fprintln(stderr, "sgltest compare: expected two arguments: A (a baseline file, run or repeats directory) and B (a run or repeats directory)")
		return exitUsage
	}
	rule := gate.DefaultRule(*tol / 100)
	rule.Alpha, rule.Confidence = *alpha, 1-2**alpha
	a, b, notes, err := loadSides(flags.Arg(0), flags.Arg(1), *anySetup)
	if err != nil {
		fmt.Fprintln(stderr, "sgltest compare:", err)
		return exitUsage
	}
	keep := map[string]bool{}
	figs := gate.Catalog()
	if *all {
		figs = gate.Every()
	}
	for _, f := range figs {
		keep[f.Name] = true
	}
	filter := func(ss []gate.Series) []gate.Series {
		var out []gate.Series
		for _, s := range ss {
			if keep[s.Name] {
				out = append(out, s)
			}
		}
		return out
	}
	tab, err := gate.Compare(gate.Set{Label: a.label, Series: filter(a.series)}, gate.Set{Label: b.label, Series: filter(b.series)}, rule)
	if err != nil {
		fmt.Fprintln(stderr, "sgltest compare:", err)
		return exitUsage
	}
	var text strings.Builder
	for _, n := range notes {
		text.WriteString("note: " + n + "\n")
	}
	text.WriteString(tab.String())

	dir := *out
	if dir == "" {
		parent := filepath.Dir(filepath.Clean(flags.Arg(1)))
		run, err := report.Create(parent, "compare-"+time.Now().Format("20060102-150405.000"))
		if err != nil {
			fmt.Fprintln(stderr, "sgltest compare:", err)
			return exitFail
		}
		dir = run.Dir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintln(stderr, "sgltest compare:", err)
		return exitFail
	}
	charts, cerr := compareCharts(dir, a, b)
	if cerr != nil {
		text.WriteString("\ncharts: " + cerr.Error() + "\n")
	}
	for _, c := range charts {
		text.WriteString("chart: " + c + "\n")
	}
	fmt.Fprint(stdout, text.String())
	fmt.Fprintf(stdout, "written to %s\n", dir)
	werr := errors.Join(
		os.WriteFile(filepath.Join(dir, compareText), []byte(text.String()), 0o644),
		writeJSONIndent(filepath.Join(dir, compareJSON), tab),
	)
	if werr != nil {
		fmt.Fprintln(stderr, "sgltest compare:", werr)
		return exitFail
	}
	if o, err := gate.Overall(tab.Verdicts()); err == nil && o == gate.Regression {
		return exitFail
	}
	return exitPass
}

func writeJSONIndent(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// loadSides reads A and B and checks that they are comparable: the same
// scenario under the same fingerprint, unless anySetup allows otherwise (then
// notes say what differs).
func loadSides(pathA, pathB string, anySetup bool) (a, b side, notes []string, err error) {
	if a, err = loadSide(pathA); err != nil {
		return
	}
	if b, err = loadSide(pathB); err != nil {
		return
	}
	if b.file != nil {
		return a, b, nil, fmt.Errorf("%s is a baselines file: B must be a run or repeats directory (a baseline can only be A)", pathB)
	}
	if a.file != nil {
		if err = a.pick(*b.fingerprint, anySetup, &notes); err != nil {
			return
		}
	}
	if a.scenario != b.scenario {
		msg := fmt.Sprintf("A is scenario %q, B is %q", a.scenario, b.scenario)
		if !anySetup {
			return a, b, nil, fmt.Errorf("%s: different scenarios are not compared (--any-setup compares them anyway)", msg)
		}
		notes = append(notes, msg)
	}
	if d := a.fingerprint.Diff(*b.fingerprint); len(d) > 0 {
		lines := make([]string, len(d))
		for i, x := range d {
			lines[i] = fmt.Sprintf("%s: A %q, B %q", x.Field, x.Baseline, x.Current)
		}
		msg := "A and B ran under different set-ups: " + strings.Join(lines, "; ")
		if !anySetup {
			return a, b, nil, fmt.Errorf("%s; numbers from different set-ups are not compared (--any-setup compares them anyway)", msg)
		}
		notes = append(notes, msg)
	}
	return a, b, notes, nil
}

// loadSide reads a baselines file, a repeats directory or a run directory.
func loadSide(path string) (side, error) {
	st, err := os.Stat(path)
	if err != nil {
		return side{}, err
	}
	if !st.IsDir() {
		f, err := baseline.Read(path)
		if err != nil {
			return side{}, err
		}
		return side{label: path, scenario: f.Scenario, file: &f, path: path}, nil
	}
	runs, err := resolveRuns(path)
	if err != nil {
		return side{}, err
	}
	groups, err := groupRuns(runs)
	if err != nil {
		return side{}, err
	}
	if len(groups) != 1 {
		return side{}, fmt.Errorf("%s holds runs of %d scenarios", path, len(groups))
	}
	bl, err := groups[0].baseline(time.Now())
	if err != nil {
		return side{}, err
	}
	fp := bl.Fingerprint
	return side{label: path, scenario: groups[0].scenario, fingerprint: &fp, series: bl.Figures, runs: runs, path: path}, nil
}

// pick chooses the entry of a baselines file recorded under fp, or with
// anySetup the closest one, noting how it differs.
func (s *side) pick(fp baseline.Fingerprint, anySetup bool, notes *[]string) error {
	b, err := baseline.Load(s.path, s.file.Scenario, fp)
	var mismatch *baseline.MismatchError
	switch {
	case err == nil:
	case errors.As(err, &mismatch) && anySetup:
		best := 0
		for i, e := range s.file.Baselines {
			if len(e.Fingerprint.Diff(fp)) < len(s.file.Baselines[best].Fingerprint.Diff(fp)) {
				best = i
			}
		}
		b = s.file.Baselines[best]
	default:
		return fmt.Errorf("%w (--any-setup compares with the closest entry anyway)", err)
	}
	s.fingerprint, s.series = &b.Fingerprint, b.Figures
	s.label = b.Set(s.path).Label
	// The baseline's runs, when they are here, give the charts their
	// requests.
	for _, dir := range b.Runs {
		r, err := readRun(filepath.FromSlash(dir))
		if err != nil {
			*notes = append(*notes, fmt.Sprintf("the baseline's runs are not all here (%v): the charts show B only", err))
			s.runs = nil
			break
		}
		s.runs = append(s.runs, r)
	}
	if len(b.Runs) == 0 {
		*notes = append(*notes, "the baseline lists no runs: the charts show B only")
	}
	return nil
}

// compareCharts draws the CDFs and throughput of both sides (or of B
// alone when A's requests are not here).
func compareCharts(dir string, a, b side) ([]string, error) {
	var sides []overlay.Side
	for i, s := range []side{a, b} {
		if len(s.runs) == 0 {
			continue
		}
		sts, err := stores(s.runs)
		if err != nil {
			return nil, err
		}
		sides = append(sides, overlay.Side{Label: fmt.Sprintf("%s (%d run%s)", []string{"A", "B"}[i], len(sts), plural(len(sts))), Stores: sts})
	}
	if len(sides) == 0 {
		return nil, errors.New("no side has its requests here")
	}
	return overlay.Write(dir, sides)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
