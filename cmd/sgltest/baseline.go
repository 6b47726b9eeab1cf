package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	flag "github.com/spf13/pflag"

	"github.com/sgltest/sgltest/internal/baseline"
	"github.com/sgltest/sgltest/internal/gate"
	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/report"
	"github.com/sgltest/sgltest/internal/verdicts"
	"github.com/sgltest/sgltest/runner"
)

// baselineCmd is `sgltest baseline save|show`.
func baselineCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "sgltest baseline: expected save or show (sgltest help lists them)")
		return exitUsage
	}
	switch args[0] {
	case "save":
		return baselineSave(args[1:], stdout, stderr)
	case "show":
		return baselineShow(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "sgltest baseline: unknown command %q: expected save or show\n", args[0])
	return exitUsage
}

func baselinesDir() string {
	if d := os.Getenv(runner.EnvBaselines); d != "" {
		return d
	}
	return runner.DefaultBaselines
}

func reportsDir() string {
	if d := os.Getenv(runner.EnvReports); d != "" {
		return d
	}
	return runner.DefaultReports
}

// baselineSave blesses runs as their scenarios' baselines: every argument
// is a run directory, a directory of repeats, or a scenario's name (its
// last verdict in the reports root's verdicts.jsonl says where its runs
// are). Runs of one scenario become one baseline, their repeats.
func baselineSave(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("sgltest baseline save", flag.ContinueOnError)
	flags.SetOutput(stderr)
	dir := flags.String("dir", baselinesDir(), "the baselines directory (also "+runner.EnvBaselines+")")
	if err := flags.Parse(args); err != nil {
		return exitUsage
	}
	if flags.NArg() == 0 {
		fmt.Fprintln(stderr, "sgltest baseline save: expected run directories, repeats directories or scenario names")
		return exitUsage
	}
	var runs []loadedRun
	for _, arg := range flags.Args() {
		rs, err := resolveRuns(arg)
		if err != nil {
			fmt.Fprintln(stderr, "sgltest baseline save:", err)
			return exitUsage
		}
		runs = append(runs, rs...)
	}
	groups, err := groupRuns(runs)
	if err != nil {
		fmt.Fprintln(stderr, "sgltest baseline save:", err)
		return exitUsage
	}
	saved := time.Now().UTC().Truncate(time.Second)
	for _, g := range groups {
		b, err := g.baseline(saved)
		if err != nil {
			fmt.Fprintln(stderr, "sgltest baseline save:", err)
			return exitUsage
		}
		path, err := baseline.Path(*dir, g.scenario)
		if err != nil {
			fmt.Fprintln(stderr, "sgltest baseline save:", err)
			return exitUsage
		}
		prev, err := baseline.Save(path, g.scenario, b)
		if err != nil {
			fmt.Fprintln(stderr, "sgltest baseline save:", err)
			return exitFail
		}
		fmt.Fprintf(stdout, "saved the baseline of %q to %s: %d repeat(s) under %s\n", g.scenario, path, b.Repeats, fingerprintText(b.Fingerprint))
		if prev != nil {
			fmt.Fprintf(stdout, "  it replaces the baseline saved %s (%d repeat(s)) under the same fingerprint\n", prev.SavedAt.Format(time.RFC3339), prev.Repeats)
		}
		if b.Repeats < 5 {
			fmt.Fprintf(stdout, "  note: with %d repeat(s) most comparisons will be inconclusive; five repeats is the fewest at which the U test tolerates one repeat out of order\n", b.Repeats)
		}
		for _, f := range b.Figures {
			if f.Name == "ttft_ms.p99" || f.Name == "output_throughput" {
				fmt.Fprintf(stdout, "  %s: median %s %s over the repeats %v\n", f.Label, short(medianOf(f.Values)), f.Unit, shortAll(f.Values))
			}
		}
	}
	fmt.Fprintln(stdout, "review the change (git diff) and commit it: a baseline only changes when someone saves it")
	return exitPass
}

// baselineShow prints the baselines of the named scenarios (or files), or
// every baselines file in the directory.
func baselineShow(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("sgltest baseline show", flag.ContinueOnError)
	flags.SetOutput(stderr)
	dir := flags.String("dir", baselinesDir(), "the baselines directory (also "+runner.EnvBaselines+")")
	if err := flags.Parse(args); err != nil {
		return exitUsage
	}
	paths := flags.Args()
	if len(paths) == 0 {
		var err error
		if paths, err = filepath.Glob(filepath.Join(*dir, "*.json")); err != nil || len(paths) == 0 {
			fmt.Fprintf(stderr, "sgltest baseline show: no baselines in %s\n", *dir)
			return exitUsage
		}
	}
	for i, p := range paths {
		if !strings.HasSuffix(p, ".json") {
			var err error
			if p, err = baseline.Path(*dir, p); err != nil {
				fmt.Fprintln(stderr, "sgltest baseline show:", err)
				return exitUsage
			}
		}
		f, err := baseline.Read(p)
		if err != nil {
			fmt.Fprintln(stderr, "sgltest baseline show:", err)
			return exitUsage
		}
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		fmt.Fprintf(stdout, "%s: %q, %d set-up(s)\n", p, f.Scenario, len(f.Baselines))
		for _, b := range f.Baselines {
			fmt.Fprintf(stdout, "\n  saved %s, %d repeat(s), seeds %v\n  under %s\n", b.SavedAt.Format(time.RFC3339), b.Repeats, b.Seeds, fingerprintText(b.Fingerprint))
			for _, s := range b.Figures {
				if slices.ContainsFunc(gate.Catalog(), func(c gate.Figure) bool { return c.Name == s.Name }) {
					fmt.Fprintf(stdout, "    %-24s %-6s median %-8s %v\n", s.Label, s.Unit, short(medianOf(s.Values)), shortAll(s.Values))
				}
			}
		}
	}
	return exitPass
}

// fingerprintText lists a fingerprint's fields that are set.
func fingerprintText(fp baseline.Fingerprint) string {
	b, _ := json.Marshal(fp)
	var m map[string]string
	_ = json.Unmarshal(b, &m)
	var parts []string
	for _, k := range []string{"backend", "clock", "sim_profile", "model", "gpu_model", "gpu_driver", "sglang_version", "router", "cpu_model", "sgltest_version"} {
		if m[k] != "" {
			parts = append(parts, k+" "+m[k])
		}
	}
	return strings.Join(parts, ", ")
}

// loadedRun is one run directory read back.
type loadedRun struct {
	dir         string
	scenario    string
	seed        uint64
	summary     report.SummaryFile
	fingerprint baseline.Fingerprint
}

// resolveRuns reads the runs arg names: a run directory, a directory of
// repeats, or a scenario whose last verdict names one of those.
func resolveRuns(arg string) ([]loadedRun, error) {
	st, err := os.Stat(arg)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		path := filepath.Join(reportsDir(), verdicts.File)
		lines, rerr := verdicts.Read(path)
		if rerr != nil {
			return nil, fmt.Errorf("%s is not a directory, and no scenario's verdict can be looked up: %w", arg, rerr)
		}
		l, lerr := verdicts.Latest(lines, arg)
		if lerr != nil || l.Run == "" {
			return nil, fmt.Errorf("%s is neither a run directory, a repeats directory nor a scenario with a run in %s", arg, path)
		}
		return resolveRuns(l.Run)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a directory: expected a run directory, a repeats directory or a scenario name", arg)
	}
	if data, err := os.ReadFile(filepath.Join(arg, runner.RepeatsFile)); err == nil {
		var rep runner.Repeats
		if err := json.Unmarshal(data, &rep); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(arg, runner.RepeatsFile), err)
		}
		if len(rep.Runs) == 0 {
			return nil, fmt.Errorf("%s lists no runs", filepath.Join(arg, runner.RepeatsFile))
		}
		var out []loadedRun
		for _, r := range rep.Runs {
			run, err := readRun(filepath.Join(filepath.Dir(filepath.Clean(arg)), r.Dir))
			if err != nil {
				return nil, fmt.Errorf("repeat of %s: %w", arg, err)
			}
			out = append(out, run)
		}
		return out, nil
	}
	run, err := readRun(arg)
	if err != nil {
		return nil, err
	}
	return []loadedRun{run}, nil
}

// readRun reads a run directory's summary, configuration and fingerprint,
// and refuses a run whose figures cannot stand for its set-up.
func readRun(dir string) (loadedRun, error) {
	r := loadedRun{dir: dir}
	var err error
	if r.summary, err = report.ReadSummary(filepath.Join(dir, report.SummaryJSON)); err != nil {
		return r, fmt.Errorf("%s is not a run directory: %w", dir, err)
	}
	var cfg struct {
		Scenario string `json:"scenario"`
		Seed     uint64 `json:"seed"`
	}
	if err := readJSON(filepath.Join(dir, report.ConfigFile), &cfg); err != nil {
		return r, err
	}
	if cfg.Scenario == "" {
		return r, fmt.Errorf("%s names no scenario", filepath.Join(dir, report.ConfigFile))
	}
	r.scenario, r.seed = cfg.Scenario, cfg.Seed
	if err := readJSON(filepath.Join(dir, runner.FingerprintFile), &r.fingerprint); err != nil {
		return r, fmt.Errorf("%w (the run predates fingerprints: run it again with this sgltest)", err)
	}
	switch f := r.summary; {
	case f.Interrupted:
		return r, fmt.Errorf("%s was interrupted: its figures cover part of the load", dir)
	case !f.Valid:
		return r, fmt.Errorf("%s is invalid (%s): its figures measure the client, not the server", dir, f.Invalid)
	case f.Stopped != "":
		return r, fmt.Errorf("%s stopped early (%s)", dir, f.Stopped)
	}
	return r, nil
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// runGroup is the runs of one scenario.
type runGroup struct {
	scenario string
	runs     []loadedRun
}

// groupRuns groups runs by scenario, in order of first appearance, and
// refuses a run given twice.
func groupRuns(runs []loadedRun) ([]*runGroup, error) {
	var groups []*runGroup
	seen := map[string]bool{}
	for _, r := range runs {
		abs, err := filepath.Abs(r.dir)
		if err != nil {
			return nil, err
		}
		if seen[abs] {
			return nil, fmt.Errorf("%s is given twice", r.dir)
		}
		seen[abs] = true
		i := slices.IndexFunc(groups, func(g *runGroup) bool { return g.scenario == r.scenario })
		if i < 0 {
			groups = append(groups, &runGroup{scenario: r.scenario})
			i = len(groups) - 1
		}
		groups[i].runs = append(groups[i].runs, r)
	}
	return groups, nil
}

// baseline makes the group's runs one baseline; they must share one
// fingerprint.
func (g *runGroup) baseline(saved time.Time) (baseline.Baseline, error) {
	first := g.runs[0]
	b := baseline.Baseline{Fingerprint: first.fingerprint, SavedAt: saved, Repeats: len(g.runs)}
	sums := make([]metrics.Summary, len(g.runs))
	for i, r := range g.runs {
		if d := first.fingerprint.Diff(r.fingerprint); len(d) > 0 {
			var what []string
			for _, x := range d {
				what = append(what, fmt.Sprintf("%s: %q in %s, %q in %s", x.Field, x.Baseline, first.dir, x.Current, r.dir))
			}
			return b, fmt.Errorf("the runs of %q ran under different set-ups, so they are not repeats of one: %s", g.scenario, strings.Join(what, "; "))
		}
		sums[i] = r.summary.Summary
		b.Seeds = append(b.Seeds, r.seed)
		b.Runs = append(b.Runs, filepath.ToSlash(r.dir))
	}
	b.Figures = gate.EveryFromSummaries(sums)
	if len(b.Figures) == 0 {
		return b, fmt.Errorf("the runs of %q have no figure in common (no successful request?)", g.scenario)
	}
	return b, nil
}

// stores reads each run's requests.jsonl into a metrics.Store, one record
// at a time.
func stores(runs []loadedRun) ([]*metrics.Store, error) {
	out := make([]*metrics.Store, len(runs))
	for i, r := range runs {
		st, err := readStore(filepath.Join(r.dir, report.RequestsFile))
		if err != nil {
			return nil, err
		}
		out[i] = st
	}
	return out, nil
}

func readStore(path string) (*metrics.Store, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }() // read only
	st := metrics.NewStore()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 256<<20)
	for line := 1; sc.Scan(); line++ {
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		var rec metrics.Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, line, err)
		}
		st.Add(rec)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
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

// short formats a figure's value with about four significant digits and
// no exponent.
func short(v float64) string {
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

func shortAll(vs []float64) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = short(v)
	}
	return out
}
