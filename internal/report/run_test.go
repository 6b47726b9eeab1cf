package report

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/sgltest/sgltest/internal/metrics"
)

func TestCreateMakesOneNewDirectory(t *testing.T) {
	root := filepath.Join(t.TempDir(), "reports") // created on demand
	run, err := Create(root, "run-1")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "run-1"); run.Dir() != want {
		t.Errorf("Dir() = %q, want %q", run.Dir(), want)
	}
	if fi, err := os.Stat(run.Dir()); err != nil || !fi.IsDir() {
		t.Errorf("run directory: %v, %v", fi, err)
	}
	again, err := Create(root, "run-1")
	if err != nil || again.Dir() != filepath.Join(root, "run-1-2") {
		t.Errorf("Create of an existing name = %v, %v; want a new directory run-1-2", again, err)
	}
	for _, name := range []string{"", ".", "..", "a/b", `a\b`} {
		if _, err := Create(root, name); err == nil {
			t.Errorf("Create(root, %q) succeeded, want an error", name)
		}
	}
}

func TestRunsCreatedAtOnceInOneDirectoryNeverCollide(t *testing.T) {
	root := t.TempDir()
	const n = 64
	dirs := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			run, err := Create(root, "20261202-043327.327-same-millisecond")
			errs[i] = err
			if err == nil {
				dirs[i] = run.Dir()
			}
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("run %d: %v", i, errs[i])
		}
		if seen[dirs[i]] {
			t.Fatalf("two runs got %s", dirs[i])
		}
		seen[dirs[i]] = true
	}
}

func TestWriteConfigWritesIndentedJSON(t *testing.T) {
	run := newRun(t)
	cfg := map[string]any{"scenario": "node moderate poisson", "rate": "inf", "servers": []int{1, 2}}
	if err := run.WriteConfig(cfg); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(run.Path(ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "\n  \"rate\": \"inf\",\n") || !strings.HasSuffix(string(b), "}\n") {
		t.Errorf("config.json is not indented JSON ending in a newline:\n%s", b)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if err := run.WriteConfig(func() {}); err == nil {
		t.Error("WriteConfig of a func succeeded, want an encoding error")
	}
	if entries, _ := os.ReadDir(run.Dir()); len(entries) != 1 {
		t.Errorf("run directory holds %d entries, want only config.json (no temporary files left)", len(entries))
	}
}

func TestSummaryJSONRoundTrips(t *testing.T) {
	sum := metrics.Summarize(randomRecords(rand.New(rand.NewPCG(6, 6)), 300))
	seed, seedHeader := seedSummary()
	tests := []struct {
		name string
		sum  metrics.Summary
		h    Header
	}{
		{"figures of a real run", sum, Header{Model: "m", GPU: "g", MaxRunningRequests: 8, RequestRate: 12.5}},
		{"infinite rate", sum, Header{Model: "m", RequestRate: math.Inf(1)}},
		{"hand-made summary with errors and a directory", seed, seedHeader},
		{"empty run", metrics.Summary{}, Header{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run := newRun(t)
			want := SummaryFile{Version: SummaryVersion, Verdict: "pass", Valid: true, Header: tc.h, Summary: tc.sum,
				Accounting: Accounting{Sent: tc.sum.Requests, Succeeded: tc.sum.Succeeded, Failed: tc.sum.Failed, FailedBy: tc.sum.Errors}}
			if err := run.WriteSummary(want); err != nil {
				t.Fatal(err)
			}
			got, err := ReadSummary(run.Path(SummaryJSON))
			if err != nil {
				t.Fatal(err)
			}
			if diff := gocmp.Diff(want, got); diff != "" {
				t.Errorf("summary.json round trip (-want +got):\n%s", diff)
			}
			text, err := os.ReadFile(run.Path(SummaryText))
			if err != nil {
				t.Fatal(err)
			}
			if diff := gocmp.Diff(FormatText(want), string(text)); diff != "" {
				t.Errorf("summary.txt (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSummaryJSONSchema(t *testing.T) {
	// The keys CI reads; renaming any of them breaks the contract.
	run := newRun(t)
	s, h := seedSummary()
	if err := run.WriteSummary(SummaryFile{Version: SummaryVersion, Valid: true, Header: h, Summary: s}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(run.Path(SummaryJSON))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Version int                        `json:"version"`
		Header  map[string]json.RawMessage `json:"header"`
		Summary map[string]json.RawMessage `json:"summary"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Version != 2 {
		t.Errorf("version = %d, want 2", doc.Version)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"verdict", "valid", "interrupted", "accounting", "client", "bounds"} {
		if _, ok := top[k]; !ok {
			t.Errorf("summary.json lacks %q", k)
		}
	}
	for _, k := range []string{"model", "gpu", "max_running_requests", "request_rate", "run_dir"} {
		if _, ok := doc.Header[k]; !ok {
			t.Errorf("header lacks %q", k)
		}
	}
	if got := string(doc.Header["request_rate"]); got != "10" {
		t.Errorf("request_rate = %s, want 10", got)
	}
	for _, k := range []string{"requests", "succeeded", "failed", "duration_s", "request_throughput",
		"output_throughput", "server_latency_ms", "ttft_ms", "itl_ms", "tpot_ms", "e2e_latency_ms",
		"peak_concurrency", "max_queue_depth", "errors", "cancelled"} {
		if _, ok := doc.Summary[k]; !ok {
			t.Errorf("summary lacks %q", k)
		}
	}
}

func TestHeaderJSONRequestRate(t *testing.T) {
	tests := []struct {
		rate    float64
		want    string
		wantErr bool
	}{
		{rate: 10, want: `"request_rate":10`},
		{rate: 0.25, want: `"request_rate":0.25`},
		{rate: math.Inf(1), want: `"request_rate":"inf"`},
		{rate: math.NaN(), wantErr: true},
		{rate: math.Inf(-1), wantErr: true},
	}
	for _, tc := range tests {
		b, err := json.Marshal(Header{RequestRate: tc.rate})
		if tc.wantErr {
			if err == nil {
				t.Errorf("rate %v: marshalled to %s, want an error", tc.rate, b)
			}
			continue
		}
		if err != nil || !strings.Contains(string(b), tc.want) {
			t.Errorf("rate %v: got %s, %v; want it to contain %s", tc.rate, b, err, tc.want)
		}
	}
	var h Header
	if err := json.Unmarshal([]byte(`{"request_rate":"fast"}`), &h); err == nil {
		t.Error(`request_rate "fast" was accepted`)
	}
	if err := json.Unmarshal([]byte(`{"model":"m"}`), &h); err != nil || h.RequestRate != 0 || h.Model != "m" {
		t.Errorf("missing request_rate: %+v, %v", h, err)
	}
}

func TestWriteSummaryReportsAnUnwritableRate(t *testing.T) {
	run := newRun(t)
	if err := run.WriteSummary(SummaryFile{Header: Header{RequestRate: math.NaN()}}); err == nil {
		t.Error("WriteSummary with a NaN rate succeeded")
	}
}

func TestTheVerdictPutsAnInterruptionThenAStopBeforeInvalidity(t *testing.T) {
	failing := []Bound{{Step: "the P99 TTFT is below 1 ms", Pass: false}}
	tests := []struct {
		name        string
		f           SummaryFile
		want        string
		wantInvalid bool
	}{
		{"interrupted, stopped and invalid", SummaryFile{Interrupted: true, Stopped: "server-1 exited", Invalid: "lag"}, "interrupted", false},
		{"stopped early and invalid: the stop is a fact no rerun changes", SummaryFile{Stopped: "server-1 exited", Invalid: "lag"}, "fail", false},
		{"invalid with a failing bound", SummaryFile{Invalid: "lag", Bounds: failing}, "invalid", true},
		{"valid with a failing bound", SummaryFile{Valid: true, Bounds: failing}, "fail", false},
		{"valid", SummaryFile{Valid: true}, "pass", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.f.Valid = tt.f.Valid || tt.f.Invalid == ""
			if got := tt.f.verdict(); got != tt.want {
				t.Errorf("verdict = %q, want %q", got, tt.want)
			}
			if got := tt.f.InvalidVerdict(); got != tt.wantInvalid {
				t.Errorf("InvalidVerdict = %v, want %v", got, tt.wantInvalid)
			}
		})
	}
}
