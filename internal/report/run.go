package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/telemetry"
	"github.com/sgltest/sgltest/internal/timeline"
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
// Version 2: "failed" no longer counts cancelled requests, TPOT has no
// samples from requests that were not streamed.
const SummaryVersion = 2

// Run is one run directory. Its methods write the files described in the
// package documentation; they may be called from one goroutine at a time,
// except that the RecordWriter from Requests is safe for concurrent use.
type Run struct {
	dir string
}

// Create makes a new run directory under root (created if needed), named
// name, or name with "-2", "-3", ... appended when that exists: two runs,
// even of two processes started at the same millisecond, never share a
// directory. name is one path element, e.g.
// "20261123-195501.123-node-moderate-poisson".
func Create(root, name string) (*Run, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		return nil, fmt.Errorf("report: run name %q is not a single path element", name)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	for n := 1; ; n++ {
		dir := filepath.Join(root, name)
		if n > 1 {
			dir += "-" + strconv.Itoa(n)
		}
		err := os.Mkdir(dir, 0o755) // atomic: exactly one creator succeeds
		if err == nil {
			return &Run{dir: dir}, nil
		}
		if !errors.Is(err, fs.ErrExist) || n >= maxRunSuffix {
			return nil, fmt.Errorf("report: creating run directory: %w", err)
		}
	}
}

// maxRunSuffix bounds the search for a free run directory name.
const maxRunSuffix = 10000

// CheckWritable reports whether runs can be written under root, creating
// root if needed: a probe file is created and removed. Call it before
// anything launches.
func CheckWritable(root string) error {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return fmt.Errorf("reports directory: %w", err)
	}
	f, err := os.CreateTemp(root, ".sgltest-probe-*")
	if err != nil {
		return fmt.Errorf("reports directory %s is not writable: %w", root, err)
	}
	return errors.Join(f.Close(), os.Remove(f.Name()))
}

// Dir returns the run directory's path.
func (r *Run) Dir() string { return r.dir }

// Path returns the path of the named file inside the run directory.
func (r *Run) Path(name string) string { return filepath.Join(r.dir, name) }

// WriteConfig writes v to config.json as indented JSON, replacing any
// earlier config.json.
func (r *Run) WriteConfig(v any) error { return writeJSON(r.Path(ConfigFile), v) }

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
	// Verdict is the run's one-word outcome: "pass", "fail" (a bound
	// failed, or the run stopped early: see Stopped), "invalid" (the
	// figures cannot be trusted: see Invalid) or "interrupted". Before the
	// scenario's checks run it is "pass" unless one of the others holds.
	// A run that stopped early fails even when it is also invalid: an
	// unplanned exit or stall is a fact about the deployment, which no
	// rerun on a quieter host would change.
	Verdict string `json:"verdict"`
	// Valid is false when the figures do not measure what the scenario
	// asked for; Invalid then says why.
	Valid   bool   `json:"valid"`
	Invalid string `json:"invalid_reason,omitempty"`
	// Interrupted is set when a signal stopped the run.
	Interrupted bool `json:"interrupted"`
	// Stopped says why the run stopped before its end, when it did: a
	// server or router that exited or stalled when nothing planned it, or
	// the run's deadline. Such a run fails.
	Stopped string `json:"stopped,omitempty"`
	// Header says what was measured.
	Header Header `json:"header"`
	// Summary holds the figures, as metrics.Summary defines them.
	Summary metrics.Summary `json:"summary"`
	// Accounting checks that every request is counted once.
	Accounting Accounting `json:"accounting"`
	// Client is the load generator's self-check.
	Client ClientCheck `json:"client"`
	// SimulatorSteps is the simulators' self-check, one entry per judged
	// simulated server; absent when none was judged (real SGLang, virtual
	// time, a run that stopped early).
	SimulatorSteps []SimulatorCheck `json:"simulator_steps,omitempty"`
	// GPU is what the GPUs did during the measured window.
	GPU GPUSection `json:"gpu"`
	// Windows are the figures between the timeline's events.
	Windows []Window `json:"windows,omitempty"`
	// Events is what happened during the run (events.jsonl).
	Events []timeline.Event `json:"events,omitempty"`
	// Bounds are the scenario's expectations with their measured values
	// and verdicts, added once the checks ran.
	Bounds []Bound `json:"bounds"`
	// KVTransfer is what PD prefill servers reported about their KV
	// transfers (pd.go); absent without them.
	KVTransfer *KVTransfer `json:"kv_transfer,omitempty"`
}

// Accounting is every measured request counted once:
// Sent = Succeeded + Failed + Cancelled, and requests.jsonl has Sent lines.
type Accounting struct {
	Sent        int            `json:"sent"`
	Succeeded   int            `json:"succeeded"`
	Failed      int            `json:"failed"`
	FailedBy    map[string]int `json:"failed_by,omitempty"`
	Cancelled   int            `json:"cancelled"`
	CancelledBy map[string]int `json:"cancelled_by,omitempty"`
	// Lines is the number of lines in requests.jsonl; Warmup the warmup
	// requests, written to warmup.jsonl instead.
	Lines  int64 `json:"requests_jsonl_lines"`
	Warmup int   `json:"warmup"`
	// Error says what does not add up; empty when everything does.
	Error string `json:"error,omitempty"`
}

// Line is the accounting as one line of text, e.g. "sent 200 = 190
// succeeded + 8 failed (5 HTTP 503, 3 timed out) + 2 cancelled".
func (a Accounting) Line() string {
	s := fmt.Sprintf("sent %d = %d succeeded + %d failed", a.Sent, a.Succeeded, a.Failed)
	if len(a.FailedBy) > 0 {
		s += " (" + byReason(a.FailedBy) + ")"
	}
	s += fmt.Sprintf(" + %d cancelled", a.Cancelled)
	if len(a.CancelledBy) > 0 {
		s += " (" + byReason(a.CancelledBy) + ")"
	}
	if a.Warmup > 0 {
		s += fmt.Sprintf("; %d warmup", a.Warmup)
	}
	return s
}

func byReason(m map[string]int) string {
	var parts []string
	parts = append(parts, topErrors(m, 3)...)
	return strings.Join(parts, "; ")
}

// ClientCheck is the load generator's self-check figures.
type ClientCheck struct {
	ScheduleLagP99MS float64 `json:"schedule_lag_p99_ms"`
	// HandoffP99MS is the p99 of the client's own delay between a request
	// being ready to send and a worker starting on it (load.Health).
	HandoffP99MS float64 `json:"handoff_p99_ms"`
	CPUBusy      float64 `json:"cpu_busy"`
	// BoundWaits counts requests that waited for the in-flight cap, and
	// BoundWaitMaxMS is the longest wait; any fails the run.
	BoundWaits     int     `json:"bound_waits"`
	BoundWaitMaxMS float64 `json:"bound_wait_max_ms"`
}

// SimulatorCheck is one simulated server's step lateness over a run: of
// its Steps engine steps, LateSteps ended more than LateMS behind its
// model; past MaxLateFraction of them the run is invalid.
type SimulatorCheck struct {
	Server          string  `json:"server"`
	URL             string  `json:"url"`
	Steps           int     `json:"steps"`
	LateSteps       int     `json:"late_steps"`
	LateFraction    float64 `json:"late_fraction"`
	LateMS          float64 `json:"late_ms"`
	MaxLateFraction float64 `json:"max_late_fraction"`
}

// simulatorChecks names each judged server by the URL it answered at.
func simulatorChecks(c *timeline.StepCheck, servers []ServerRef) []SimulatorCheck {
	if c == nil {
		return nil
	}
	out := make([]SimulatorCheck, 0, len(c.Servers))
	for _, v := range c.Servers {
		s := SimulatorCheck{URL: v.Worker, Steps: int(v.Steps), LateSteps: int(v.Late), LateFraction: v.Fraction,
			LateMS: ms(c.Bound.Late), MaxLateFraction: c.Bound.MaxFraction}
		for _, ref := range servers {
			if ref.URL == v.Worker {
				s.Server = ref.Name
			}
		}
		out = append(out, s)
	}
	return out
}

// GPUSection is the run's GPU telemetry, summarised per GPU.
type GPUSection struct {
	// Source is "nvml" (real GPUs) or "simulated" (the simulator's model);
	// Unavailable says why there is no telemetry, Incomplete why some
	// samples failed.
	Source      string              `json:"source,omitempty"`
	Unavailable string              `json:"unavailable,omitempty"`
	Incomplete  string              `json:"incomplete,omitempty"`
	GPUs        []telemetry.Summary `json:"gpus,omitempty"`
	// EnergyJoules is every GPU's energy over the window;
	// EnergyPerOutputTokenJ divides it by the successful requests' output
	// tokens.
	EnergyJoules          telemetry.Figure `json:"energy_joules"`
	EnergyPerOutputTokenJ telemetry.Figure `json:"energy_per_output_token_j"`
}

// gpuSection summarises a run's GPU samples.
func gpuSection(g timeline.GPU, outputTokens int) GPUSection {
	sec := GPUSection{Source: g.Source, Unavailable: g.Unavailable, Incomplete: g.Incomplete}
	if len(g.Samples) == 0 && sec.Unavailable == "" {
		sec.Unavailable = "no GPU was sampled (the run ended before the first sample)"
	}
	sec.GPUs = telemetry.Summarize(g.Samples)
	sec.EnergyJoules = telemetry.TotalEnergy(sec.GPUs)
	sec.EnergyPerOutputTokenJ = telemetry.EnergyPerToken(sec.GPUs, outputTokens)
	return sec
}

// Window is the figures of the requests that arrived between two events.
type Window struct {
	Label     string  `json:"label"`
	FromS     float64 `json:"from_s"`
	ToS       float64 `json:"to_s"`
	Requests  int     `json:"requests"`
	Succeeded int     `json:"succeeded"`
	Failed    int     `json:"failed"`
	Cancelled int     `json:"cancelled"`
	// ErrorRate is Failed / Requests; null when no request arrived.
	ErrorRate         *float64             `json:"error_rate"`
	RequestThroughput float64              `json:"request_throughput"`
	OutputThroughput  float64              `json:"output_throughput"`
	TTFTMS            metrics.Distribution `json:"ttft_ms"`
	E2ELatencyMS      metrics.Distribution `json:"e2e_latency_ms"`
}

// Bound is one expectation of the scenario, judged.
type Bound struct {
	// Step is the sentence as written, Where its file and line.
	Step  string `json:"step"`
	Where string `json:"where,omitempty"`
	// Figure names what was measured, Measured its value in Unit; both
	// empty for a check that is not a number (all requests succeed).
	Figure   string   `json:"figure,omitempty"`
	Measured *float64 `json:"measured,omitempty"`
	Unit     string   `json:"unit,omitempty"`
	// Pass is the verdict; Message says what was measured against what.
	Pass    bool   `json:"pass"`
	Message string `json:"message,omitempty"`
}

// InvalidVerdict reports whether the run's verdict is "invalid": its
// figures cannot be trusted, and it neither stopped early nor was
// interrupted (either of which decides the verdict first).
func (f *SummaryFile) InvalidVerdict() bool { return f.verdict() == "invalid" }

// verdict is the run's one word before or after its bounds are judged.
func (f *SummaryFile) verdict() string {
	switch {
	case f.Interrupted:
		return "interrupted"
	case f.Stopped != "":
		return "fail"
	case !f.Valid:
		return "invalid"
	}
	for _, b := range f.Bounds {
		if !b.Pass {
			return "fail"
		}
	}
	return "pass"
}

// WriteSummary writes summary.json (f, indented) and summary.txt
// (FormatText). Each file is written whole or not at all.
func (r *Run) WriteSummary(f SummaryFile) error {
	f.Verdict = f.verdict()
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("report: encoding %s: %w", SummaryJSON, err)
	}
	return errors.Join(
		writeFile(r.Path(SummaryJSON), bytes.NewReader(append(b, '\n'))),
		writeFile(r.Path(SummaryText), strings.NewReader(FormatText(f))),
	)
}

// WriteVerdict adds the scenario's judged bounds to res's summary.json,
// summary.txt and report.html, and rewrites the suite's index.html.
func WriteVerdict(res *Result, bounds []Bound) error {
	res.File.Bounds = bounds
	res.File.Verdict = res.File.verdict()
	if err := (&Run{dir: res.Dir}).WriteSummary(res.File); err != nil {
		return err
	}
	return WriteHTML(res)
}

// writeJSON writes v as indented JSON to path, whole or not at all.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("report: encoding %s: %w", filepath.Base(path), err)
	}
	return writeFile(path, bytes.NewReader(append(b, '\n')))
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
			_ = os.Remove(f.Name()) // err already says what went wrong
			err = fmt.Errorf("report: writing %s: %w", path, err)
		}
	}()
	if err := write(f); err != nil {
		_ = f.Close() // the error returned says what went wrong
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
