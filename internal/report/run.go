package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/sgltest/sgltest/internal/metrics"
)

// File names inside a run directory.
const (
	ConfigFile   = "config.json"
	RequestsFile = "requests.jsonl"
	SummaryJSON  = "summary.json"
	SummaryText  = "summary.txt"
)

// SummaryVersion is the schema version written to summary.json. It changes
// only when a field is removed or changes meaning; adding fields keeps it.
const SummaryVersion = 1

// Run is one run directory. Its methods write the files described in the
// package documentation; they may be called from one goroutine at a time,
// except that the RecordWriter from Requests is safe for concurrent use.
type Run struct {
	dir string
}

// Create makes the run directory root/name, creating root if needed. name
// is one path element, e.g. "20261123-195501-node-moderate-poisson". It is
// an error if the directory already exists, so two runs never mix files.
func Create(root, name string) (*Run, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		return nil, fmt.Errorf("report: run name %q is not a single path element", name)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	dir := filepath.Join(root, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("report: creating run directory: %w", err)
	}
	return &Run{dir: dir}, nil
}

// Dir returns the run directory's path.
func (r *Run) Dir() string { return r.dir }

// Path returns the path of the named file inside the run directory.
func (r *Run) Path(name string) string { return filepath.Join(r.dir, name) }

// WriteConfig writes v to config.json as indented JSON, replacing any
// earlier config.json.
func (r *Run) WriteConfig(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("report: encoding %s: %w", ConfigFile, err)
	}
	return writeFile(r.Path(ConfigFile), bytes.NewReader(append(b, '\n')))
}

// Requests creates requests.jsonl and returns a writer appending one line
// per Record. It is an error if the file already exists.
func (r *Run) Requests() (*RecordWriter, error) {
	return CreateRecords(r.Path(RequestsFile))
}

// SummaryFile is the content of summary.json, the file CI reads. Its JSON
// schema is in the package documentation.
type SummaryFile struct {
	// Version is SummaryVersion when written.
	Version int `json:"version"`
	// Header says what was measured.
	Header Header `json:"header"`
	// Summary holds the figures, as metrics.Summary defines them.
	Summary metrics.Summary `json:"summary"`
}

// WriteSummary writes summary.json (SummaryFile, indented) and summary.txt
// (FormatText). h.Dir is set to the run directory when empty. Each file is
// written whole or not at all.
func (r *Run) WriteSummary(s metrics.Summary, h Header) error {
	if h.Dir == "" {
		h.Dir = r.dir
	}
	b, err := json.MarshalIndent(SummaryFile{Version: SummaryVersion, Header: h, Summary: s}, "", "  ")
	if err != nil {
		return fmt.Errorf("report: encoding %s: %w", SummaryJSON, err)
	}
	return errors.Join(
		writeFile(r.Path(SummaryJSON), bytes.NewReader(append(b, '\n'))),
		writeFile(r.Path(SummaryText), strings.NewReader(FormatText(s, h))),
	)
}

// ReadSummary reads a summary.json written by WriteSummary.
func ReadSummary(path string) (SummaryFile, error) {
	var f SummaryFile
	b, err := os.ReadFile(path)
	if err != nil {
		return f, fmt.Errorf("report: %w", err)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("report: %s: %w", path, err)
	}
	return f, nil
}

// writeFile writes path whole or not at all: it writes a temporary file
// next to it and renames that over path, so a killed run never leaves a
// half-written summary or chart.
func writeFile(path string, src io.Reader) error {
	return writeFileFunc(path, func(w io.Writer) error {
		_, err := io.Copy(w, src)
		return err
	})
}

// writeFileFunc is writeFile with the content produced by write.
func writeFileFunc(path string, write func(io.Writer) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	defer func() {
		if err != nil {
			os.Remove(f.Name())
			err = fmt.Errorf("report: writing %s: %w", path, err)
		}
	}()
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
