package capacity

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sgltest/sgltest/internal/figures"
	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/report"
)

// fakeRun is a run of n requests at rate against a server that saturates
// at capacity: TTFT and ITL grow as 1/(1 − load), throughput stops at
// capacity. Seeded, so the same arguments give the same run.
func fakeRun(dir string, rate, capacity float64, n int) *report.Result {
	st := metrics.NewStore()
	rng := rand.New(rand.NewPCG(uint64(rate*100), 7))
	load := math.Min(rate/capacity, 0.98)
	gap := time.Duration(float64(time.Second) / math.Min(rate, capacity))
	for i := range n {
		at := time.Duration(i) * gap
		ttft := time.Duration((20 + 10*rng.Float64()) / (1 - load) * float64(time.Millisecond))
		itl := time.Duration((8 + 2*rng.Float64()) / (1 - load/2) * float64(time.Millisecond))
		r := metrics.Record{Index: i, Target: "server-1", InputTokens: 128, RequestedOutputTokens: 16, OutputTokens: 16,
			Scheduled: at, Arrival: at, Sent: at, FirstToken: at + ttft, Status: 200}
		t := at + ttft
		r.Chunks = append(r.Chunks, metrics.Chunk{At: t, Tokens: 1})
		for range 15 {
			t += itl
			r.Chunks = append(r.Chunks, metrics.Chunk{At: t, Tokens: 1})
		}
		r.Done = t
		st.Add(r)
	}
	return &report.Result{Label: "fake", Dir: dir, Store: st,
		File: report.SummaryFile{Valid: true, Verdict: "pass", Summary: st.Summary()}}
}

func TestWriteSweepWritesTheTableTheCSVTheJSONAndTheCurveWithTheKnee(t *testing.T) {
	dir := t.TempDir()
	s := Sweep{Scenario: "a sweep", Axis: AxisRate}
	for _, r := range []float64{10, 20, 30, 40, 60, 80} {
		s.Points = append(s.Points, Point{Label: rate(r) + " req/s", X: r, Run: fakeRun("run-"+rate(r), r, 40, 200)})
	}
	knee, noKnee, paths, err := WriteSweep(dir, Meta{Scenario: "a sweep", Clock: "virtual"}, s)
	if err != nil {
		t.Fatal(err)
	}
	if knee == nil || noKnee != "" {
		t.Fatalf("no knee: %s", noKnee)
	}
	// Throughput saturates at 40 req/s: the knee is the last point before
	// latency climbs while throughput stays put.
	if knee.Label != "30 req/s" && knee.Label != "40 req/s" {
		t.Errorf("knee at %s (%.1f req/s, %.1f ms), want 30 or 40 req/s", knee.Label, knee.Throughput, knee.LatencyMS)
	}
	if len(paths) != 4 {
		t.Fatalf("paths %v", paths)
	}

	f, err := os.Open(filepath.Join(dir, SweepCSV))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	cols := Columns()
	if len(rows) != 7 || len(rows[0]) != 7+len(cols) {
		t.Fatalf("csv: %d rows of %d columns, want 7 of %d", len(rows), len(rows[0]), 7+len(cols))
	}
	ttft := -1
	for j, h := range rows[0] {
		if h == "ttft_p99_ms" {
			ttft = j
		}
	}
	if ttft < 0 || rows[1][ttft] == "" || rows[1][3] != "run-10" {
		t.Errorf("csv header %v, first row %v", rows[0], rows[1])
	}

	var js struct {
		Knee   *SweepKnee `json:"knee"`
		Points []struct {
			Label   string              `json:"label"`
			Figures map[string]*float64 `json:"figures"`
		} `json:"points"`
	}
	b, err := os.ReadFile(filepath.Join(dir, SweepJSON))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &js); err != nil {
		t.Fatal(err)
	}
	if js.Knee == nil || js.Knee.Label != knee.Label || len(js.Points) != 6 {
		t.Errorf("json knee %+v, %d points", js.Knee, len(js.Points))
	}
	if v := js.Points[0].Figures["request_throughput_req_s"]; v == nil || math.Abs(*v-10) > 1 {
		t.Errorf("request throughput of the 10 req/s point: %v", v)
	}
	if v, ok := js.Points[0].Figures["gpu_power_mean_w"]; !ok || v != nil {
		t.Errorf("a figure the run cannot give must be null, got %v (present %v)", v, ok)
	}

	text, err := os.ReadFile(filepath.Join(dir, SweepText))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"P99 TTFT", "request throughput", "Knee: " + knee.Label, "80 req/s", "run-80", "Kneedle"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("sweep.txt lacks %q:\n%s", want, text)
		}
	}
	pf, err := os.Open(filepath.Join(dir, CurveChart))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	cfg, err := png.DecodeConfig(pf)
	if err != nil || cfg.Width != 1440 || cfg.Height != 480 {
		t.Errorf("chart: %dx%d, %v; want 1440x480", cfg.Width, cfg.Height, err)
	}
}

func TestWriteSweepOfSettingsHasNoKneeAndEmptyPointsStillWrite(t *testing.T) {
	dir := t.TempDir()
	s := Sweep{Axis: AxisSettings, Points: []Point{
		{Label: "max running requests 16", Run: fakeRun("a", 20, 30, 50)},
		{Label: "max running requests 64", Run: fakeRun("b", 20, 60, 50)},
		{Label: "broken", Run: &report.Result{Dir: "c", Store: metrics.NewStore(), File: report.SummaryFile{Verdict: "invalid", Invalid: "load generator fell behind"}}},
	}}
	knee, noKnee, _, err := WriteSweep(dir, Meta{Scenario: "settings"}, s)
	if err != nil {
		t.Fatal(err)
	}
	if knee != nil || !strings.Contains(noKnee, "server settings") {
		t.Errorf("knee %+v, %q", knee, noKnee)
	}
	text, _ := os.ReadFile(filepath.Join(dir, SweepText))
	if !strings.Contains(string(text), "INVALID: load generator fell behind") {
		t.Errorf("sweep.txt does not flag the invalid point:\n%s", text)
	}
}

func TestWriteSearchAndCountStateTheAnswerAndItsUncertainty(t *testing.T) {
	dir := t.TempDir()
	slo := SLO{mustBound(t, "P99", "TTFT", "below", "200", "ms")}
	m := &queueModel{capacity: 60, base: 50}
	cfg := RateSearch{Start: 30, Min: 30.0 / Bracket, Max: 30 * Bracket, Precision: DefaultPrecision, Noise: DefaultNoise}
	r, err := SearchRate(context.Background(), slo, cfg, m.probe(slo))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WriteSearch(dir, Meta{Scenario: "s", Clock: "virtual"}, slo, cfg, r); err != nil {
		t.Fatal(err)
	}
	var sf struct {
		Rate         *float64          `json:"highest_rate_req_s"`
		FirstFailing *float64          `json:"first_failing_rate_req_s"`
		Uncertainty  *float64          `json:"uncertainty_req_s"`
		Answer       string            `json:"answer"`
		Points       []json.RawMessage `json:"points"`
	}
	b, _ := os.ReadFile(filepath.Join(dir, SearchJSON))
	if err := json.Unmarshal(b, &sf); err != nil {
		t.Fatal(err)
	}
	if sf.Rate == nil || *sf.Rate != r.Rate || *sf.FirstFailing != r.FirstFailing || *sf.Uncertainty != r.Uncertainty() ||
		len(sf.Points) != len(r.Decisions) || !strings.Contains(sf.Answer, "uncertainty") {
		t.Errorf("search.json: %s", b)
	}

	probe := func(_ context.Context, n float64, k int) (Trial, error) {
		v := 600 / n
		a := math.Min(1, n/5)
		return Trial{Repeat: k, Verdicts: []figures.Verdict{{Pass: v < 200, Measured: v, HasValue: true}}, Attainment: &a}, nil
	}
	cr, err := SearchCount(context.Background(), slo, CountSearch{Max: 16, Noise: DefaultNoise}, probe)
	if err != nil {
		t.Fatal(err)
	}
	meta := CountMeta{Meta: Meta{Scenario: "c", Clock: "virtual"}, Rate: 40, Policy: "shortest_queue", GPUsPerServer: 1}
	if _, err := WriteCount(dir, meta, slo, DefaultNoise, cr); err != nil {
		t.Fatal(err)
	}
	text, _ := os.ReadFile(filepath.Join(dir, ServersText))
	if !strings.Contains(string(text), "needs 4 servers (4 GPUs)") || !strings.Contains(string(text), "attainment") {
		t.Errorf("servers.txt:\n%s", text)
	}
	pf, err := os.Open(filepath.Join(dir, AttainmentPlot))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	if _, err := png.DecodeConfig(pf); err != nil {
		t.Error(err)
	}
}
