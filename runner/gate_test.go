package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sgltest/sgltest/internal/baseline"
	"github.com/sgltest/sgltest/internal/figures"
	"github.com/sgltest/sgltest/internal/gate"
	"github.com/sgltest/sgltest/internal/goodput"
	"github.com/sgltest/sgltest/internal/launcher"
	"github.com/sgltest/sgltest/internal/load"
	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/report"
	"github.com/sgltest/sgltest/internal/simulator"
	"github.com/sgltest/sgltest/internal/verdicts"
)

// gateSuite is a suite writing under a temporary directory, with its
// baselines in another, and the printed output captured.
func gateSuite(t *testing.T, g GateSettings) (*Suite, *bytes.Buffer) {
	t.Helper()
	if g.Baselines == "" {
		g.Baselines = filepath.Join(t.TempDir(), "baselines")
	}
	if g.Attach == "" {
		g.Attach = "charts"
	}
	s := &Suite{Settings: Settings{Reports: filepath.Join(t.TempDir(), "reports"), Backend: launcher.BackendSim,
		SimProfile: DefaultSimProfile, Venv: DefaultVenv, Gate: g}, ctx: context.Background()}
	var out bytes.Buffer
	old := summaryOut
	summaryOut = &out
	t.Cleanup(func() { summaryOut = old })
	return s, &out
}

// gatedTest declares one simulated server in virtual time and a random
// workload of n prompts, repeated k times.
func gatedTest(t *testing.T, s *Suite, name string, maxRunning, n, k int, seeds Seeds) *Test {
	t.Helper()
	tt := s.NewTest(name)
	tt.SetSeed(1)
	tt.SetVirtualTime()
	if err := tt.AddServers(1, Server{Simulated: true, MaxRunningRequests: maxRunning}); err != nil {
		t.Fatal(err)
	}
	in, out := load.Uniform(128, 1024), load.Uniform(16, 128)
	tt.SetDataset(Dataset{Random: &load.Random{Count: n, InputLength: &in, OutputLength: &out}})
	if err := tt.SetRepeats(k, seeds); err != nil {
		t.Fatal(err)
	}
	return tt
}

func send(t *testing.T, tt *Test, rate float64) {
	t.Helper()
	if err := tt.Send(context.Background(), Arrival{Kind: ArrivePoisson, Rate: rate}, ""); err != nil {
		t.Fatal(err)
	}
}

func readRepeats(t *testing.T, dir string) Repeats {
	t.Helper()
	var r Repeats
	b, err := os.ReadFile(filepath.Join(dir, RepeatsFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRepeatsRunOnFreshServersSeededAsDeclaredAndReportEachAndPooled(t *testing.T) {
	tests := []struct {
		seeds     Seeds
		wantSeeds func([]uint64) bool
	}{
		{SeedPerRepeat, func(s []uint64) bool { return s[0] == 1 && s[1] == 2 && s[2] == 3 }},
		{SameSeed, func(s []uint64) bool { return s[0] == 1 && s[1] == 1 && s[2] == 1 }},
		{RandomSeeds, func(s []uint64) bool { return s[0] != s[1] || s[1] != s[2] }},
	}
	for _, tc := range tests {
		t.Run(tc.seeds.String(), func(t *testing.T) {
			s, out := gateSuite(t, GateSettings{})
			tt := gatedTest(t, s, "repeats", 64, 100, 3, tc.seeds)
			send(t, tt, 20)
			if len(tt.runs) != 3 {
				t.Fatalf("%d runs, want 3", len(tt.runs))
			}
			set, err := tt.lastSet()
			if err != nil {
				t.Fatal(err)
			}
			if !tc.wantSeeds(set.seeds) {
				t.Errorf("seeds %v do not follow %q", set.seeds, tc.seeds)
			}
			rep := readRepeats(t, set.dir)
			if len(rep.Runs) != 3 || rep.Seeding != tc.seeds.String() || rep.Fingerprint.Clock != "virtual" {
				t.Errorf("repeats.json: %+v", rep)
			}
			for i, run := range rep.Runs {
				cfg, err := os.ReadFile(filepath.Join(filepath.Dir(set.dir), run.Dir, report.ConfigFile))
				if err != nil {
					t.Fatal(err)
				}
				var c struct{ Seed uint64 }
				if err := json.Unmarshal(cfg, &c); err != nil || c.Seed != set.seeds[i] {
					t.Errorf("repeat %d ran with seed %d (%v), want %d", i+1, c.Seed, err, set.seeds[i])
				}
			}
			stores := []*metrics.Store{}
			sums := set.summaries()
			for _, r := range set.runs {
				stores = append(stores, r.Store)
			}
			for _, f := range rep.Figures {
				want, err := gate.Extract(f.Name, sums)
				if err != nil {
					t.Fatal(err)
				}
				for i := range want.Values {
					if f.Values[i] != want.Values[i] {
						t.Errorf("%s repeat %d is %v in repeats.json, %v in its summary", f.Name, i+1, f.Values[i], want.Values[i])
					}
				}
				pooled, ok, err := gate.Pooled(f.Name, stores, sums)
				if err != nil || !ok || f.Pooled == nil || *f.Pooled != pooled {
					t.Errorf("%s pooled %v, want %v (%v)", f.Name, f.Pooled, pooled, err)
				}
				if tc.seeds == SameSeed && (f.Min != f.Max) {
					// Virtual time computes the figures: one seed, one result.
					t.Errorf("%s varies over repeats with the same seed: %v", f.Name, f.Values)
				}
			}
			for _, name := range []string{RepeatsText, "cdf_ttft.png", "cdf_itl.png", "cdf_e2e_latency.png", "throughput_over_time.png"} {
				if _, err := os.Stat(filepath.Join(set.dir, name)); err != nil {
					t.Error(err)
				}
			}
			if !strings.Contains(out.String(), "==================== Repeats") || !strings.Contains(out.String(), "pooled") {
				t.Errorf("the repeats table was not printed:\n%s", out)
			}
			if tt.plan.Seed != 1 {
				t.Errorf("the scenario's seed is %d after the repeats, want 1 again", tt.plan.Seed)
			}
		})
	}
}

// bless saves tt's last set as its scenario's baseline, as `sgltest
// baseline save` does.
func bless(t *testing.T, tt *Test) {
	t.Helper()
	set, err := tt.lastSet()
	if err != nil {
		t.Fatal(err)
	}
	fp, err := tt.setFingerprint(set)
	if err != nil {
		t.Fatal(err)
	}
	path, err := baseline.Path(tt.suite.Settings.Gate.Baselines, tt.name)
	if err != nil {
		t.Fatal(err)
	}
	b := baseline.Baseline{Fingerprint: fp, SavedAt: time.Now().UTC(), Repeats: len(set.runs), Seeds: set.seeds,
		Figures: gate.EveryFromSummaries(set.summaries())}
	if _, err := baseline.Save(path, tt.name, b); err != nil {
		t.Fatal(err)
	}
}

func figure(t *testing.T, stat, words string) gate.Figure {
	t.Helper()
	f, err := gate.Parse(stat, words)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestCheckBaselinePassesTheSameLoadCatchesASlowerOneAndRefusesAnotherSetUp(t *testing.T) {
	s, out := gateSuite(t, GateSettings{})
	const name = "gated load"
	// Four repeats a side: the fewest at which the exact U test can reach
	// alpha 0.05 (1/70) at all.
	base := gatedTest(t, s, name, 64, 200, 4, SeedPerRepeat)
	send(t, base, 10)
	bless(t, base)
	ttft := figure(t, "median", "TTFT")

	same := gatedTest(t, s, name, 64, 200, 4, SeedPerRepeat)
	send(t, same, 10)
	if err := same.CheckBaseline(context.Background(), Step{Text: "the median TTFT is no worse"}, ttft, 0.10); err != nil {
		t.Errorf("the same load against its own baseline: %v", err)
	}
	if !strings.Contains(out.String(), "gate: median TTFT passes") {
		t.Errorf("no printed verdict:\n%s", out)
	}
	set, _ := same.lastSet()
	for _, f := range []string{GateFile, GateText} {
		if _, err := os.Stat(filepath.Join(set.dir, f)); err != nil {
			t.Error(err)
		}
	}

	// Four running requests at a time instead of 64: requests queue, and
	// TTFT grows far beyond 10%.
	slower := gatedTest(t, s, name, 4, 200, 4, SeedPerRepeat)
	send(t, slower, 10)
	err := slower.CheckBaseline(context.Background(), Step{}, ttft, 0.10)
	if err == nil || !strings.Contains(err.Error(), "median TTFT regressed") || !strings.Contains(err.Error(), "MDE") {
		t.Errorf("a much slower configuration: %v; want a regression with its MDE", err)
	}
	if o, _ := gate.Overall(slower.gate.verdicts); o != gate.Regression {
		t.Errorf("overall %v, want regression", o)
	}

	other := gatedTest(t, s, name, 64, 50, 1, SeedPerRepeat)
	if err := other.SetProfile("llama-3.1-8b-a100"); err != nil {
		t.Fatal(err)
	}
	send(t, other, 10)
	err = other.CheckBaseline(context.Background(), Step{}, ttft, 0.10)
	if err == nil || !strings.Contains(err.Error(), `sim_profile: baseline "llama-3.1-8b-h100", this run "llama-3.1-8b-a100"`) {
		t.Errorf("another simulator profile: %v; want a refusal naming sim_profile", err)
	}
	if len(other.gate.verdicts) != 0 {
		t.Errorf("a refused comparison left verdicts %v", other.gate.verdicts)
	}

	missing := gatedTest(t, s, "a scenario never blessed", 64, 50, 1, SeedPerRepeat)
	send(t, missing, 10)
	err = missing.CheckBaseline(context.Background(), Step{}, ttft, 0.10)
	if err == nil || !strings.Contains(err.Error(), "sgltest baseline save") {
		t.Errorf("no baseline: %v; want the command that blesses one", err)
	}
}

func TestInconclusivePassesByDefaultFailsWhenSetAndRerunsOnceWhenAllowed(t *testing.T) {
	tests := []struct {
		name     string
		settings GateSettings
		wantErr  bool
		wantRuns int
	}{
		{"by default it passes", GateSettings{}, false, 1},
		{"it fails when set to", GateSettings{FailInconclusive: true}, true, 1},
		{"it reruns once when allowed", GateSettings{Rerun: true}, false, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, out := gateSuite(t, tc.settings)
			base := gatedTest(t, s, "inconclusive", 64, 100, 2, SeedPerRepeat)
			send(t, base, 10)
			bless(t, base)
			// One repeat cannot show its noise: the verdict is inconclusive
			// whatever the values.
			cand := gatedTest(t, s, "inconclusive", 64, 100, 1, SeedPerRepeat)
			send(t, cand, 10)
			err := cand.CheckBaseline(context.Background(), Step{}, figure(t, "P99", "TTFT"), 0.10)
			if (err != nil) != tc.wantErr {
				t.Errorf("err %v, want error %v", err, tc.wantErr)
			}
			set, _ := cand.lastSet()
			if len(set.runs) != tc.wantRuns || len(cand.runs) != tc.wantRuns {
				t.Errorf("%d runs in the set, %d in the test; want %d", len(set.runs), len(cand.runs), tc.wantRuns)
			}
			if tc.settings.Rerun {
				if !strings.Contains(out.String(), "so the load runs 1 more time(s)") || !readRepeats(t, set.dir).Rerun {
					t.Errorf("the rerun is not reported:\n%s", out)
				}
				if set.seeds[1] != 2 {
					t.Errorf("the rerun's seed is %d, want the next seed, 2", set.seeds[1])
				}
			}
			bounds := cand.bounds[set.runs[len(set.runs)-1]]
			if len(bounds) != 1 || !strings.Contains(bounds[0].Message, "inconclusive") {
				t.Errorf("recorded bounds %+v", bounds)
			}
		})
	}
}

func TestGoodputChecksPoolTheRepeats(t *testing.T) {
	s, _ := gateSuite(t, GateSettings{})
	tt := gatedTest(t, s, "goodput", 64, 150, 3, SeedPerRepeat)
	send(t, tt, 20)
	slo := goodput.SLO{TTFT: 40 * time.Millisecond, TPOT: 9 * time.Millisecond}
	set, _ := tt.lastSet()
	var good, all int
	var dur float64
	for _, r := range set.runs {
		f, err := os.Open(filepath.Join(r.Dir, report.RequestsFile))
		if err != nil {
			t.Fatal(err)
		}
		reqs, err := goodput.ReadRequests(f, "requests.jsonl")
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		res, err := goodput.Measure(reqs, slo, time.Duration(r.Summary().DurationS*float64(time.Second)))
		if err != nil {
			t.Fatal(err)
		}
		good, all, dur = good+res.Good, all+res.Requests, dur+r.Summary().DurationS
	}
	frac, rate := 100*float64(good)/float64(all), float64(good)/dur
	if good == 0 || good == all {
		t.Fatalf("%d of %d requests meet %s: pick objectives that split them", good, all, slo)
	}
	if err := tt.CheckGoodputFraction(Step{}, &slo, frac-0.01); err != nil {
		t.Errorf("fraction just below the pooled %.2f%%: %v", frac, err)
	}
	err := tt.CheckGoodputFraction(Step{}, &slo, frac+0.01)
	if err == nil || !strings.Contains(err.Error(), "over 3 repeats") {
		t.Errorf("fraction just above the pooled %.2f%%: %v", frac, err)
	}
	if err := tt.CheckGoodput(Step{}, &slo, figures.AtLeast, rate*0.999); err != nil {
		t.Errorf("goodput just below the pooled %.3f req/s: %v", rate, err)
	}
	if err := tt.CheckGoodput(Step{}, &slo, figures.AtLeast, rate*1.001); err == nil {
		t.Errorf("goodput just above the pooled %.3f req/s passed", rate)
	}
	if err := tt.CheckGoodput(Step{}, nil, figures.AtLeast, 1); err == nil || !strings.Contains(err.Error(), "no service-level objectives") {
		t.Errorf("no objectives declared: %v", err)
	}
	if err := tt.SetObjectives(slo); err != nil {
		t.Fatal(err)
	}
	if err := tt.CheckGoodput(Step{}, nil, figures.AtLeast, rate*0.999); err != nil {
		t.Errorf("declared objectives: %v", err)
	}
}

func TestConcludePrintsAndAppendsTheScenarioVerdict(t *testing.T) {
	s, out := gateSuite(t, GateSettings{})
	tt := gatedTest(t, s, "concluded", 64, 50, 2, SeedPerRepeat)
	send(t, tt, 20)
	tt.gate.verdicts = []gate.Verdict{{Outcome: gate.Pass}, {Outcome: gate.Inconclusive}}
	tests := []struct {
		err     error
		invalid bool
		want    string
	}{
		{nil, false, verdicts.Pass},
		{os.ErrInvalid, false, verdicts.Fail},
		{os.ErrInvalid, true, verdicts.Invalid},
	}
	for _, tc := range tests {
		tt.runs[0].File.Valid = !tc.invalid
		l, err := tt.Conclude("features/x.feature", tc.err)
		if err != nil {
			t.Fatal(err)
		}
		if l.Verdict != tc.want || l.Gate != "inconclusive" || len(l.Runs) != 2 || !strings.HasSuffix(l.Run, "-repeats") {
			t.Errorf("line %+v, want verdict %s, gate inconclusive, 2 runs and the repeats directory", l, tc.want)
		}
	}
	lines, err := verdicts.Read(filepath.Join(s.Settings.Reports, verdicts.File))
	if err != nil || len(lines) != 3 {
		t.Fatalf("verdicts.jsonl: %d lines, %v", len(lines), err)
	}
	if n := strings.Count(out.String(), verdicts.Prefix); n != 3 {
		t.Errorf("%d verdict lines printed, want 3", n)
	}
}

func TestFingerprintSaysWhatTheRunRanOn(t *testing.T) {
	s, _ := gateSuite(t, GateSettings{})
	tt := gatedTest(t, s, "fingerprinted", 64, 20, 1, SeedPerRepeat)
	if err := tt.AddServers(1, Server{Simulated: true, MaxRunningRequests: 64}); err != nil {
		t.Fatal(err)
	}
	if err := tt.SetRouting(Routing{Via: ViaDispatcher, Policy: "round_robin"}); err != nil {
		t.Fatal(err)
	}
	send(t, tt, 20)
	var fp baseline.Fingerprint
	b, err := os.ReadFile(filepath.Join(tt.runs[0].Dir, FingerprintFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &fp); err != nil {
		t.Fatal(err)
	}
	want := baseline.Fingerprint{Backend: "sim", Clock: "virtual", SimProfile: DefaultSimProfile, Model: fp.Model,
		SGLangVersion: simulator.Version, Router: "sgltest dispatcher", SgltestVersion: baseline.DevelVersion}
	if fp != want || fp.Model == "" {
		t.Errorf("fingerprint %+v, want %+v (no CPU in virtual time)", fp, want)
	}
}

func TestAttachmentsHoldEveryRunsSummaryAndTheLastSetsCharts(t *testing.T) {
	s, _ := gateSuite(t, GateSettings{})
	tt := gatedTest(t, s, "attached", 64, 50, 2, SeedPerRepeat)
	send(t, tt, 20)
	if err := tt.Close(); err != nil {
		t.Fatal(err)
	}
	atts, err := tt.Attachments()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range atts {
		names = append(names, a.Name+" "+a.MediaType)
		if len(a.Body) == 0 {
			t.Errorf("%s is empty", a.Name)
		}
	}
	got := strings.Join(names, "\n")
	for _, w := range []string{"run 1 repeat 1: summary.txt text/plain", "run 1 repeat 2: summary.txt text/plain",
		"run 1: repeats.txt text/plain", "run 1 repeats: cdf_ttft.png image/png", "run 1 repeat 2: latency_histogram.png image/png"} {
		if !strings.Contains(got, w) {
			t.Errorf("attachments lack %q:\n%s", w, got)
		}
	}
	s.Settings.Gate.Attach = "text"
	if atts, err = tt.Attachments(); err != nil || len(atts) != 3 {
		t.Errorf("text only: %d attachments (%v), want the 2 summaries and repeats.txt", len(atts), err)
	}
	s.Settings.Gate.Attach = "none"
	if atts, _ = tt.Attachments(); len(atts) != 0 {
		t.Errorf("none: %d attachments", len(atts))
	}
}

func TestGateSettingsFromEnvRejectWhatTheyCannotUse(t *testing.T) {
	tests := []struct {
		rerun, inconclusive string
		want                GateSettings
		wantErr             string
	}{
		{"", "", GateSettings{Baselines: DefaultBaselines, Attach: "charts"}, ""},
		{"1", "fail", GateSettings{Baselines: DefaultBaselines, Rerun: true, FailInconclusive: true, Attach: "charts"}, ""},
		{"yes", "", GateSettings{}, `SGLTEST_GATE_RERUN="yes": expected 1`},
		{"", "warn", GateSettings{}, `SGLTEST_GATE_INCONCLUSIVE="warn": expected pass or fail`},
	}
	for _, tc := range tests {
		t.Setenv(EnvGateRerun, tc.rerun)
		t.Setenv(EnvGateInconclusive, tc.inconclusive)
		t.Setenv(EnvBaselines, "")
		t.Setenv(EnvAttach, "")
		g, err := gateSettingsFromEnv()
		switch {
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%q/%q: err %v, want %q", tc.rerun, tc.inconclusive, err, tc.wantErr)
		case tc.wantErr == "" && (err != nil || g != tc.want):
			t.Errorf("%q/%q: %+v, %v; want %+v", tc.rerun, tc.inconclusive, g, err, tc.want)
		}
	}
}
