package baseline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/sgltest/sgltest/internal/gate"
)

// SchemaVersion is the version of the file format this package reads and
// writes. A file of another version is refused, never guessed at.
const SchemaVersion = 1

// File is one scenario's baselines file: one Baseline per fingerprint the
// scenario was blessed under (the simulator in CI and an H100 nightly, say).
type File struct {
	SchemaVersion int    `json:"schema_version"`
	Scenario      string `json:"scenario"`
	// Baselines holds at most one entry per fingerprint.
	Baselines []Baseline `json:"baselines"`
}

// Baseline is a scenario's blessed repeats under one fingerprint.
type Baseline struct {
	Fingerprint Fingerprint `json:"fingerprint"`
	// SavedAt is when the baseline was blessed (wall clock, for people).
	SavedAt time.Time `json:"saved_at"`
	// Repeats is the number of repeats; every figure has that many values.
	Repeats int `json:"repeats"`
	// Seeds are the repeats' workload seeds, in repeat order, when known.
	Seeds []uint64 `json:"seeds,omitempty"`
	// Runs are the run directories the repeats came from, in repeat order.
	Runs []string `json:"runs,omitempty"`
	// Figures are the per-repeat values of every figure.
	Figures []gate.Series `json:"figures"`
}

// Set is the baseline as side A of gate.Compare, labelled with path and
// when it was saved.
func (b Baseline) Set(path string) gate.Set {
	return gate.Set{
		Label:  fmt.Sprintf("%s (saved %s)", path, b.SavedAt.UTC().Format("2006-01-02 15:04 MST")),
		Series: b.Figures,
	}
}

// check validates a baseline; the error names the field and figure.
func (b *Baseline) check() error {
	if err := b.Fingerprint.check(); err != nil {
		return err
	}
	switch {
	case b.SavedAt.IsZero():
		return errors.New("saved_at is missing")
	case b.Repeats < 1:
		return fmt.Errorf("repeats must be at least 1, got %d", b.Repeats)
	case len(b.Seeds) != 0 && len(b.Seeds) != b.Repeats:
		return fmt.Errorf("seeds has %d entries for %d repeats", len(b.Seeds), b.Repeats)
	case len(b.Runs) != 0 && len(b.Runs) != b.Repeats:
		return fmt.Errorf("runs has %d entries for %d repeats", len(b.Runs), b.Repeats)
	case len(b.Figures) == 0:
		return errors.New("figures is empty")
	}
	seen := map[string]bool{}
	for i, f := range b.Figures {
		switch {
		case f.Name == "":
			return fmt.Errorf("figures[%d]: name is missing", i)
		case seen[f.Name]:
			return fmt.Errorf("figures[%d]: figure %s appears twice", i, f.Name)
		case f.Unit == "":
			return fmt.Errorf("figure %s: unit is missing", f.Name)
		case f.Worse != gate.HigherIsWorse && f.Worse != gate.LowerIsWorse:
			return fmt.Errorf("figure %s: worse must be \"higher\" or \"lower\"", f.Name)
		case len(f.Values) != b.Repeats:
			return fmt.Errorf("figure %s: %d values for %d repeats", f.Name, len(f.Values), b.Repeats)
		}
		seen[f.Name] = true
		for j, v := range f.Values {
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				return fmt.Errorf("figure %s: repeat %d is %v; values must be finite and not negative", f.Name, j+1, v)
			}
		}
	}
	return nil
}

var nonWord = regexp.MustCompile(`[^a-z0-9]+`)

// Slug is the file name (without .json) of a scenario's baselines: its name
// lower-cased with every run of other characters turned into one '-', at
// most 80 bytes. Different names can share a slug; the file records its
// scenario's name, and Load and Save refuse another scenario's file.
func Slug(scenario string) (string, error) {
	s := strings.Trim(nonWord.ReplaceAllString(strings.ToLower(scenario), "-"), "-")
	if len(s) > 80 {
		s = strings.TrimRight(s[:80], "-")
	}
	if s == "" {
		return "", fmt.Errorf("baseline: scenario name %q has no letters or digits to name a file after", scenario)
	}
	return s, nil
}

// Path is where the baselines of scenario live under dir:
// dir/<slug>.json.
func Path(dir, scenario string) (string, error) {
	s, err := Slug(scenario)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, s+".json"), nil
}

// MismatchError is Load's refusal when the file holds no baseline recorded
// under the current fingerprint.
type MismatchError struct {
	Path     string
	Scenario string
	// Entries has, for each stored baseline, when it was saved and how its
	// fingerprint differs from the current one.
	Entries []MismatchEntry
}

// MismatchEntry is one stored baseline that did not match.
type MismatchEntry struct {
	SavedAt     time.Time
	Differences []Difference
}

func (e *MismatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "baseline %s for scenario %q was recorded under a different fingerprint, and numbers from different set-ups are not compared:", e.Path, e.Scenario)
	for _, m := range e.Entries {
		if len(e.Entries) > 1 {
			fmt.Fprintf(&b, "\n  the baseline saved %s differs in:", m.SavedAt.UTC().Format(time.RFC3339))
		}
		for _, d := range m.Differences {
			b.WriteString("\n    " + d.String())
		}
	}
	b.WriteString("\nsave a baseline under this set-up to compare against it")
	return b.String()
}

// Read decodes and validates the baselines file at path. A missing file is
// an error that wraps fs.ErrNotExist.
func Read(path string) (File, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return File{}, fmt.Errorf("baseline: no baselines file %s: %w", path, err)
	}
	if err != nil {
		return File{}, fmt.Errorf("baseline: %w", err)
	}
	return parse(path, data)
}

func parse(path string, data []byte) (File, error) {
	var version struct {
		V *int `json:"schema_version"`
	}
	if err := json.Unmarshal(data, &version); err != nil {
		return File{}, fmt.Errorf("baseline %s: %w", path, err)
	}
	if version.V == nil {
		return File{}, fmt.Errorf("baseline %s: schema_version is missing", path)
	}
	if *version.V != SchemaVersion {
		return File{}, fmt.Errorf("baseline %s: schema_version is %d; this sgltest reads version %d", path, *version.V, SchemaVersion)
	}
	var f File
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return File{}, fmt.Errorf("baseline %s: %w", path, err)
	}
	if f.Scenario == "" {
		return File{}, fmt.Errorf("baseline %s: scenario is missing", path)
	}
	for i := range f.Baselines {
		b := &f.Baselines[i]
		if err := b.check(); err != nil {
			return File{}, fmt.Errorf("baseline %s: baselines[%d]: %w", path, i, err)
		}
		for j := range i {
			if len(f.Baselines[j].Fingerprint.Diff(b.Fingerprint)) == 0 {
				return File{}, fmt.Errorf("baseline %s: baselines[%d] and baselines[%d] have the same fingerprint", path, j, i)
			}
		}
	}
	return f, nil
}

// Load returns the baseline of scenario recorded under fp from the file at
// path. It refuses another scenario's file, and returns a *MismatchError,
// saying which fields differ, when no stored baseline has fingerprint fp.
func Load(path, scenario string, fp Fingerprint) (Baseline, error) {
	f, err := Read(path)
	if err != nil {
		return Baseline{}, err
	}
	if f.Scenario != scenario {
		return Baseline{}, fmt.Errorf("baseline %s holds scenario %q, not %q (their names make the same file name; rename one)", path, f.Scenario, scenario)
	}
	mismatch := &MismatchError{Path: path, Scenario: scenario}
	for _, b := range f.Baselines {
		d := b.Fingerprint.Diff(fp)
		if len(d) == 0 {
			return b, nil
		}
		mismatch.Entries = append(mismatch.Entries, MismatchEntry{SavedAt: b.SavedAt, Differences: d})
	}
	if len(mismatch.Entries) == 0 {
		return Baseline{}, fmt.Errorf("baseline %s holds no baseline for scenario %q", path, scenario)
	}
	// The closest set-up first.
	slices.SortStableFunc(mismatch.Entries, func(a, b MismatchEntry) int { return len(a.Differences) - len(b.Differences) })
	return Baseline{}, mismatch
}

// Save blesses b as scenario's baseline under b's fingerprint in the file
// at path: it replaces the entry with the same fingerprint (returned as
// previous) or adds one, and keeps the others. The file is written
// atomically — a temporary file in the same directory, synced, then
// renamed over the old one — so a reader sees the old file or the new one,
// never a torn one; of two concurrent saves the later rename wins.
func Save(path, scenario string, b Baseline) (previous *Baseline, err error) {
	if scenario == "" {
		return nil, errors.New("baseline: scenario is missing")
	}
	if err := b.check(); err != nil {
		return nil, fmt.Errorf("baseline for %q: %w", scenario, err)
	}
	f, err := Read(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		f = File{SchemaVersion: SchemaVersion, Scenario: scenario}
	case err != nil:
		return nil, err
	case f.Scenario != scenario:
		return nil, fmt.Errorf("baseline %s holds scenario %q, not %q (their names make the same file name; rename one)", path, f.Scenario, scenario)
	}
	replaced := false
	for i := range f.Baselines {
		if len(f.Baselines[i].Fingerprint.Diff(b.Fingerprint)) == 0 {
			old := f.Baselines[i]
			previous = &old
			f.Baselines[i] = b
			replaced = true
		}
	}
	if !replaced {
		f.Baselines = append(f.Baselines, b)
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("baseline %s: %w", path, err)
	}
	if err := writeAtomic(path, append(data, '\n')); err != nil {
		return nil, fmt.Errorf("baseline %s: %w", path, err)
	}
	return previous, nil
}

// writeAtomic writes data to path through a synced temporary file renamed
// over it, then syncs the directory so the rename itself is durable.
func writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close() // err already says what went wrong
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Chmod(0o644); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return err
	}
	return d.Close()
}
