package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sgltest/sgltest/internal/metrics"
)

// indexLock serialises the index's writers across processes.
const indexLock = ".index.lock"

// indexRun is one row of index.html.
type indexRun struct {
	Dir, Link                     string
	Started, Scenario, Label, Why string
	Verdict                       string
	Summary                       *metrics.Summary
}

// WriteIndex writes root/index.html: every run directory under root with
// its verdict and headline figures, newest first, each linking to its
// report.html (or, for a run without one, its directory). Any number of
// processes may write runs into root at once: each rewrite holds an
// exclusive lock on root/.index.lock while it reads the runs and renames
// the new index into place, so the index written last has every run that
// finished before it.
func WriteIndex(root string) error {
	lock, err := os.OpenFile(filepath.Join(root, indexLock), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("report: index: %w", err)
	}
	defer func() { _ = lock.Close() }() // closing releases the lock; the file holds nothing
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("report: index: locking %s: %w", lock.Name(), err)
	}

	entries, err := os.ReadDir(root)
	if err != nil {
		return fmt.Errorf("report: index: %w", err)
	}
	var runs []indexRun
	counts := map[string]int{}
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		run, ok := readIndexRun(root, e.Name())
		if !ok {
			continue
		}
		counts[run.Verdict]++
		runs = append(runs, run)
	}
	slices.SortFunc(runs, func(a, b indexRun) int { return strings.Compare(b.Dir, a.Dir) })
	var parts []string
	for _, v := range []string{"pass", "fail", "invalid", "interrupted", "unfinished"} {
		if counts[v] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[v], v))
		}
	}
	var buf bytes.Buffer
	if err := indexPage.Execute(&buf, struct {
		Runs   []indexRun
		Counts string
	}{runs, strings.Join(parts, ", ")}); err != nil {
		return fmt.Errorf("report: rendering %s: %w", IndexFile, err)
	}
	return writeFile(filepath.Join(root, IndexFile), &buf)
}

// readIndexRun reads one run directory's row; false when name is not a
// run directory (it has neither summary.json nor config.json).
func readIndexRun(root, name string) (indexRun, bool) {
	dir := filepath.Join(root, name)
	run := indexRun{Dir: name, Label: name, Link: name + "/"}
	var cfg struct {
		Scenario string    `json:"scenario"`
		Label    string    `json:"label"`
		Started  time.Time `json:"started"`
	}
	b, cerr := os.ReadFile(filepath.Join(dir, ConfigFile))
	if cerr == nil && json.Unmarshal(b, &cfg) == nil {
		run.Scenario = cfg.Scenario
		if cfg.Label != "" {
			run.Label = cfg.Label
		}
		if !cfg.Started.IsZero() {
			run.Started = cfg.Started.Format("2006-01-02 15:04:05")
		}
	}
	f, serr := ReadSummary(filepath.Join(dir, SummaryJSON))
	switch {
	case serr == nil:
		run.Verdict = f.Verdict
		run.Summary = &f.Summary
		run.Why = whyText(f)
	case cerr == nil:
		run.Verdict, run.Why = "unfinished", "running, or stopped before its summary was written"
	default:
		return run, false
	}
	if _, err := os.Stat(filepath.Join(dir, HTMLFile)); err == nil {
		run.Link = name + "/" + HTMLFile
	}
	return run, true
}

// whyText says in one line why a run did not pass.
func whyText(f SummaryFile) string {
	switch {
	case f.Interrupted:
		return "interrupted by a signal"
	case !f.Valid:
		return f.Invalid
	case f.Stopped != "":
		return "stopped early: " + f.Stopped
	}
	var failed []string
	for _, b := range f.Bounds {
		if !b.Pass {
			failed = append(failed, b.Step)
		}
	}
	return strings.Join(failed, "; ")
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
