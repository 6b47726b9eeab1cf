package runner

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sgltest/sgltest/internal/capacity"
	"github.com/sgltest/sgltest/internal/launcher"
	"github.com/sgltest/sgltest/internal/load"
)

// virtualTest is a scenario of one simulated server in virtual time,
// writing under a temporary reports root, with short random prompts.
func virtualTest(t *testing.T, name string) *Test {
	t.Helper()
	s := &Suite{Settings: Settings{Reports: t.TempDir(), Backend: launcher.BackendSim, SimProfile: DefaultSimProfile}, ctx: context.Background()}
	tt := s.NewTest(name)
	tt.SetSeed(1)
	tt.SetVirtualTime()
	if err := tt.AddServers(1, Server{Simulated: true, MaxRunningRequests: 64}); err != nil {
		t.Fatal(err)
	}
	tt.SetDataset(Dataset{Random: &load.Random{Count: 10, InputTokens: 128, OutputTokens: 16}})
	old := summaryOut
	summaryOut = io.Discard
	t.Cleanup(func() { summaryOut = old })
	return tt
}

func bounds(t *testing.T, spec ...[5]string) []Bound {
	t.Helper()
	var out []Bound
	for _, s := range spec {
		b, err := NewBound(s[0], s[1], s[2], s[3], s[4])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func TestSweepRunsEachPointFreshAndWritesItsReportWithoutChangingTheDeclaration(t *testing.T) {
	tt := virtualTest(t, "sweep")
	if err := tt.SetLevelDuration(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := tt.Sweep(context.Background(), AxisRate, RatePoints([]float64{5, 10, 20})); err != nil {
		t.Fatal(err)
	}
	if len(tt.runs) != 3 {
		t.Fatalf("%d runs, want one per point", len(tt.runs))
	}
	for i, want := range []int{10, 20, 40} { // rate × 2 s
		if got := tt.runs[i].Summary().Requests; got != want {
			t.Errorf("point %d sent %d requests, want %d", i, got, want)
		}
	}
	if tt.plan.Dataset.Random.Count != 10 || len(tt.servers) != 1 {
		t.Errorf("the declaration changed: %d prompts, %d servers", tt.plan.Dataset.Random.Count, len(tt.servers))
	}
	dir := tt.capacity.sweepDir
	for _, f := range []string{capacity.SweepJSON, capacity.SweepCSV, capacity.SweepText, capacity.CurveChart} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	if !strings.Contains(filepath.Base(dir), "-sweep-sweep") {
		t.Errorf("report directory %s is not named by its kind", dir)
	}
	// A second sweep of the same rates gets labels of its own.
	if l := tt.uniqueLabel("sweep 5 req/s"); l != "sweep 5 req/s (2)" {
		t.Errorf("label %q, want a unique one", l)
	}
	b := bounds(t, [5]string{"P99", "ttft", "below", "10", "s"})[0]
	if err := tt.CheckEveryPoint(Step{}, b); err != nil {
		t.Errorf("every point: %v", err)
	}
	if err := tt.CheckEveryPointSucceeded(Step{}); err != nil {
		t.Errorf("every point succeeded: %v", err)
	}
	if len(tt.bounds[tt.runs[2]]) != 2 {
		t.Errorf("each point's verdicts land in its own summary: %v", tt.bounds[tt.runs[2]])
	}
}

func TestSweepOverSettingsOverlaysEachRowOnTheDeclaredServers(t *testing.T) {
	tt := virtualTest(t, "settings")
	points := []SweepPoint{
		{Label: "max running requests 8", Arrival: Arrival{Kind: ArrivePoisson, Rate: 10}, Settings: &Server{MaxRunningRequests: 8}},
		{Label: "chunked prefill size 2048", Arrival: Arrival{Kind: ArrivePoisson, Rate: 10}, Settings: &Server{ChunkedPrefillSize: 2048}},
	}
	if err := tt.Sweep(context.Background(), AxisSettings, points); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(tt.runs[1].Dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Servers []struct {
			Launch launcher.Config `json:"launch"`
		} `json:"servers"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	if l := cfg.Servers[0].Launch; l.ChunkedPrefillSize != 2048 || l.MaxRunningRequests != 64 {
		t.Errorf("second point ran %+v, want chunked prefill 2048 over the declared max running requests 64", l)
	}
	if tt.servers[0].ChunkedPrefillSize != 0 {
		t.Error("the declared server changed")
	}
}

func TestLevelDurationScalesOnlyDatasetsWithACount(t *testing.T) {
	tt := virtualTest(t, "level")
	if err := tt.SetLevelDuration(3 * time.Second); err != nil {
		t.Fatal(err)
	}
	d, err := tt.pointDataset(Arrival{Kind: ArrivePoisson, Rate: 2.5})
	if err != nil || d.Random.Count != 8 {
		t.Errorf("random prompts at 2.5 req/s for 3 s: %+v, %v; want 8", d.Random, err)
	}
	if _, err := tt.pointDataset(Arrival{Kind: ArriveUsers, Users: 4}); err == nil || !strings.Contains(err.Error(), "closed-loop users") {
		t.Errorf("users with a level duration: %v", err)
	}
	tt.SetDataset(Dataset{SharedPrefix: &load.SharedPrefix{Groups: 2, PromptsPerGroup: 2, SystemTokens: 8, QuestionTokens: 8, OutputTokens: 4}})
	if _, err := tt.pointDataset(Arrival{Kind: ArrivePoisson, Rate: 1}); err == nil || !strings.Contains(err.Error(), "fixed count") {
		t.Errorf("shared prefix with a level duration: %v", err)
	}
	if err := tt.SetLevelDuration(0); err == nil {
		t.Error("a zero level duration was accepted")
	}
}

func TestHighestRateAndServersNeededWriteTheirReportsAndVerdicts(t *testing.T) {
	tt := virtualTest(t, "search")
	if err := tt.SetLevelDuration(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := tt.SetSearchPrecision(Precision{Abs: 10}); err != nil {
		t.Fatal(err)
	}
	// Light loads are served as offered: the throughput bound breaks
	// between 10 and 20 req/s, so the search runs 5, 10 and 20 req/s and
	// stops there, 10 req/s apart.
	slo := bounds(t, [5]string{"", "request throughput", "at most", "12", "req/s"})
	if err := tt.CheckHighestRate(context.Background(), Step{Text: "the highest rate"}, slo, 5); err != nil {
		t.Fatalf("the highest rate from 5 req/s: %v", err)
	}
	last := tt.runs[len(tt.runs)-1]
	rec := tt.bounds[last]
	if len(rec) != 1 || !rec[0].Pass || rec[0].Measured == nil || *rec[0].Measured != 10 || !strings.Contains(rec[0].Message, "[10, 20) req/s") {
		t.Errorf("recorded verdict %+v", rec)
	}
	if err := tt.CheckHighestRate(context.Background(), Step{}, slo, 20); err == nil || !strings.Contains(err.Error(), "expected at least 20 req/s") {
		t.Errorf("20 req/s breaks the SLO: %v", err)
	}

	loose := bounds(t, [5]string{"P99", "ttft", "below", "10", "s"})
	n := len(tt.runs)
	if err := tt.CheckServersNeeded(context.Background(), Step{}, 5, 2, "round_robin", loose); err != nil {
		t.Errorf("a loose SLO: %v", err)
	}
	if len(tt.runs)-n != 1 || len(tt.servers) != 1 || tt.plan.Routing != nil {
		t.Errorf("%d runs, want 1; the declaration changed: %d servers, routing %+v", len(tt.runs)-n, len(tt.servers), tt.plan.Routing)
	}
	if err := tt.CheckServersNeeded(context.Background(), Step{}, 5, 2, "", loose); err == nil || !strings.Contains(err.Error(), "no routing policy") {
		t.Errorf("no policy: %v", err)
	}
}

func TestRampEndsAtTheFirstStepThatBreaksTheSLO(t *testing.T) {
	tt := virtualTest(t, "ramp")
	if err := tt.SetLevelDuration(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := tt.SetSLO(bounds(t, [5]string{"", "request throughput", "at most", "12", "req/s"})); err != nil {
		t.Fatal(err)
	}
	if err := tt.Ramp(context.Background(), 5, 40, 5, DefaultErrorLimit); err != nil {
		t.Fatal(err)
	}
	r := tt.capacity.ramp
	good, ok := r.LastGoodRate()
	if !r.Broke || !ok || good != 10 || len(r.Steps) != 3 {
		t.Errorf("ramp: %s (%d steps)", r.Outcome(), len(r.Steps))
	}
	if err := tt.CheckLastGoodStep(Step{}, "at least", 10); err != nil {
		t.Error(err)
	}
	if err := tt.CheckLastGoodStep(Step{}, "at least", 15); err == nil || !strings.Contains(err.Error(), "the last good step is 10 req/s") {
		t.Errorf("last good step 10 against 15: %v", err)
	}
	for _, f := range []string{capacity.RampJSON, capacity.RampText, capacity.SweepJSON} {
		if _, err := os.Stat(filepath.Join(tt.capacity.rampDir, f)); err != nil {
			t.Error(err)
		}
	}
}

func TestUseSetupDeclaresItsServersProfileAndRouting(t *testing.T) {
	s := &Suite{Settings: Settings{Reports: t.TempDir(), Backend: launcher.BackendSim, SimProfile: DefaultSimProfile}, ctx: context.Background()}
	tt := s.NewTest("setup")
	if err := tt.UseSetup("a100-tp1-high-throughput"); err != nil {
		t.Fatal(err)
	}
	want := Server{MaxRunningRequests: 512, TPSize: 1, ChunkedPrefillSize: 8192, MemFractionStatic: 0.85}
	if len(tt.servers) != 4 || tt.servers[3] != want || tt.Profile() != "llama-3.1-8b-a100" ||
		tt.plan.Routing == nil || tt.plan.Routing.Policy != "cache_aware" {
		t.Errorf("servers %+v, profile %s, routing %+v", tt.servers, tt.Profile(), tt.plan.Routing)
	}
	if err := tt.UseSetup("no-such-setup"); err == nil || !strings.Contains(err.Error(), "shipped:") {
		t.Errorf("unknown setup: %v", err)
	}
}
