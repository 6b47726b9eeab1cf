package simulator

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func TestGPUModel_ReadAppliesThePowerAndMemoryModel(t *testing.T) {
	h100 := GPUModel{Name: "H100", MemoryTotalBytes: 80 << 30, WeightBytes: 16e9, KVBytesPerToken: 131072, IdleWatts: 70, TDPWatts: 700}
	tests := []struct {
		name          string
		m             GPUModel
		elapsed, busy time.Duration
		tokens        int
		want          GPUReading
	}{
		{
			// 70 W x 10 s + (700 - 70) W x 4 s = 700 + 2520 = 3220 J;
			// 16e9 + 100000 x 131072 = 29.1072e9 bytes.
			name: "busy 40% of 10 s", m: h100, elapsed: 10 * time.Second, busy: 4 * time.Second, tokens: 100_000,
			want: GPUReading{Name: "H100", Elapsed: 10 * time.Second, Busy: 4 * time.Second,
				MemoryUsedBytes: 29.1072e9, MemoryTotalBytes: 80 << 30, EnergyJoules: 3220},
		},
		{
			// Idle: only the weights, 70 W x 2.5 s = 175 J.
			name: "idle", m: h100, elapsed: 2500 * time.Millisecond,
			want: GPUReading{Name: "H100", Elapsed: 2500 * time.Millisecond,
				MemoryUsedBytes: 16e9, MemoryTotalBytes: 80 << 30, EnergyJoules: 175},
		},
		{
			// Always busy: 700 W x 3 s = 2100 J.
			name: "always busy", m: h100, elapsed: 3 * time.Second, busy: 3 * time.Second, tokens: 1,
			want: GPUReading{Name: "H100", Elapsed: 3 * time.Second, Busy: 3 * time.Second,
				MemoryUsedBytes: 16e9 + 131072, MemoryTotalBytes: 80 << 30, EnergyJoules: 2100},
		},
		{
			name: "no power range", m: GPUModel{Name: "X", MemoryTotalBytes: 100, WeightBytes: 10, KVBytesPerToken: 2, NoPower: "no range"},
			elapsed: time.Second, busy: time.Second / 2, tokens: 5,
			want: GPUReading{Name: "X", Elapsed: time.Second, Busy: time.Second / 2,
				MemoryUsedBytes: 20, MemoryTotalBytes: 100, NoPower: "no range"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.m.Read(tt.elapsed, tt.busy, tt.tokens)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Read (-want +got):\n%s", diff)
			}
		})
	}
	// 70 + 630 x 0.5 = 385 W.
	if got := h100.Power(0.5); got != 385 {
		t.Errorf("Power(0.5) = %v W, want 385", got)
	}
}

func TestNewGPUModel_TakesThePowerRangeFromTheProfile(t *testing.T) {
	m := NewGPUModel(mustProfile(t, "llama-3.1-8b-h100"))
	if m.IdleWatts != 70 || m.TDPWatts != 700 || m.NoPower != "" || m.MemoryTotalBytes != 85899345920 ||
		m.WeightBytes == 0 || m.KVBytesPerToken != 131072 {
		t.Errorf("NewGPUModel(llama-3.1-8b-h100) = %+v", m)
	}
	// testdata/fast.json has no power range.
	if m := NewGPUModel(mustProfile(t, fastProfile)); !strings.Contains(m.NoPower, "fast-test") {
		t.Errorf("NoPower = %q, want it to name the profile", m.NoPower)
	}
}

func TestBusyMeter_CountsFinishedStepsAndTheStepInProgress(t *testing.T) {
	var b busyMeter
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	steps := []struct {
		do   func()
		at   time.Duration
		want time.Duration
	}{
		{func() {}, ms(5), 0},
		{func() { b.begin(ms(10), ms(30)) }, ms(10), 0},
		{func() {}, ms(25), ms(15)},                   // 15 ms into the step
		{func() {}, ms(40), ms(20)},                   // past its end: the whole step
		{func() { b.finish(ms(30)) }, ms(50), ms(20)}, // idle after it
		{func() { b.begin(ms(60), ms(70)) }, ms(55), ms(20)},
		{func() { b.finish(ms(65)) }, ms(80), ms(25)}, // stopped early: 5 ms of it
	}
	for i, s := range steps {
		s.do()
		if got := b.at(s.at); got != s.want {
			t.Errorf("step %d: at(%v) = %v, want %v", i, s.at, got, s.want)
		}
	}
}

func TestMetrics_SimGPUFamiliesFollowTheEngine(t *testing.T) {
	prof := mustProfile(t, fastProfile)
	prof.GPU.IdleWatts = &Param{Value: 100, Provenance: "test"}
	prof.GPU.TDPWatts = &Param{Value: 500, Provenance: "test"}
	const feIn = 3 * time.Millisecond
	prof.Frontend.InputOverhead = Param{Value: feIn.Seconds(), Provenance: "test"}
	clock := &stepClock{}
	_, ts := startServer(t, Config{EnableMetrics: true, ServedModelName: "m", SkipServerWarmup: true}, prof, clock)
	// No /health: its check runs a generation, which would keep the engine busy.

	before := scrapeGPU(t, ts)
	if before.busy != 0 || before.elapsed != 0 || before.memUsed != 1e6 || before.memTotal != 85899345920 || before.energy != 0 {
		t.Fatalf("before any request: %+v", before)
	}

	done := make(chan string, 1)
	go func() {
		_, body := post(t, ts, `{"input_ids":[`+strings.Repeat("1,", 99)+`1],"sampling_params":{"max_new_tokens":20,"ignore_eos":true}}`)
		done <- body
	}()
	var mid gpuFamilies
	deadline := time.Now().Add(10 * time.Second)
	for steps := 0; ; {
		select {
		case body := <-done:
			if !strings.Contains(body, `"completion_tokens":20`) {
				t.Fatalf("generate: %s", body)
			}
			after := scrapeGPU(t, ts)
			// One request, arriving after t_fe_in, keeps the engine
			// busy from its arrival to its last step's end.
			if got, want := after.busy, after.elapsed-feIn.Seconds(); !near(got, want) {
				t.Errorf("busy = %v s, want elapsed %v s - t_fe_in %v s = %v s", got, after.elapsed, feIn.Seconds(), want)
			}
			if want := 100*after.elapsed + (500-100)*after.busy; !near(after.energy, want) {
				t.Errorf("energy = %v J, want 100 W x %v s + 400 W x %v s = %v J", after.energy, after.elapsed, after.busy, want)
			}
			// The finished request's KV stays in the radix cache unpinned,
			// which num_used_tokens does not count: only the weights.
			if after.memUsed != 1e6 {
				t.Errorf("memory used after the request = %v bytes, want the weights' 1e6", after.memUsed)
			}
			if mid.memUsed <= 1e6 {
				t.Errorf("memory used during the request = %v bytes, want the weights plus its KV", mid.memUsed)
			}
			return
		default:
		}
		if steps == 5 {
			mid = scrapeGPU(t, ts)
		}
		if clock.tryAdvance() {
			steps++
			continue
		}
		if time.Now().After(deadline) {
			t.Fatal("the request did not finish")
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func TestMetrics_NoEnergySampleWithoutAPowerRange(t *testing.T) {
	_, ts := startServer(t, Config{EnableMetrics: true, SkipServerWarmup: true}, mustProfile(t, fastProfile), &stepClock{})
	// No /health: its check runs a generation, which would keep the engine busy.
	if _, body := get(t, ts, "/metrics"); !strings.Contains(body, "# TYPE "+MetricGPUEnergy+" counter\n") ||
		strings.Contains(body, MetricGPUEnergy+"{") {
		t.Errorf("/metrics has no %s TYPE line or has a sample:\n%s", MetricGPUEnergy, body)
	}
	fams := scrapeFamilies(t, ts)
	for _, name := range []string{MetricGPUBusy, MetricGPUElapsed, MetricGPUMemoryUsed, MetricGPUMemoryTotal} {
		if f := fams[name]; f == nil || len(f.GetMetric()) != 1 {
			t.Errorf("%s = %v, want one sample", name, f)
		}
	}
}

type gpuFamilies struct{ busy, elapsed, energy, memUsed, memTotal float64 }

func scrapeFamilies(t *testing.T, ts *httptest.Server) map[string]*dto.MetricFamily {
	t.Helper()
	resp, body := get(t, ts, "/metrics")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics = %d %s", resp.StatusCode, body)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("expfmt: %v\n%s", err, body)
	}
	return fams
}

// scrapeGPU reads the sim_gpu families, each of which must have exactly one
// sample labelled with the GPU's name.
func scrapeGPU(t *testing.T, ts *httptest.Server) gpuFamilies {
	t.Helper()
	fams := scrapeFamilies(t, ts)
	one := func(name string) float64 {
		t.Helper()
		ms := fams[name].GetMetric()
		if len(ms) != 1 {
			t.Fatalf("%s has %d samples, want 1", name, len(ms))
		}
		labels := map[string]string{}
		for _, l := range ms[0].GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["gpu_name"] != "NVIDIA H100 80GB HBM3 (SXM)" {
			t.Errorf("%s labels = %v, want gpu_name", name, labels)
		}
		if c := ms[0].GetCounter(); c != nil {
			return c.GetValue()
		}
		return ms[0].GetGauge().GetValue()
	}
	return gpuFamilies{busy: one(MetricGPUBusy), elapsed: one(MetricGPUElapsed), energy: one(MetricGPUEnergy),
		memUsed: one(MetricGPUMemoryUsed), memTotal: one(MetricGPUMemoryTotal)}
}

func near(a, b float64) bool { d := a - b; return d < 1e-9 && d > -1e-9 }

func TestParseProfile_PowerRangeNeedsBothEndsWithIdleAtMostTDP(t *testing.T) {
	base, err := os.ReadFile(fastProfile)
	if err != nil {
		t.Fatal(err)
	}
	watts := func(v float64, prov string) map[string]any { return map[string]any{"value": v, "provenance": prov} }
	tests := []struct {
		name         string
		idle, tdp    map[string]any
		field, issue string // empty: valid
	}{
		{name: "both", idle: watts(70, "guess"), tdp: watts(700, "datasheet")},
		{name: "neither"},
		{name: "idle only", idle: watts(70, "guess"), field: "gpu.tdp_watts", issue: "is missing"},
		{name: "tdp only", tdp: watts(700, "datasheet"), field: "gpu.idle_watts", issue: "is missing"},
		{name: "idle above tdp", idle: watts(800, "guess"), tdp: watts(700, "datasheet"), field: "gpu.idle_watts", issue: "must not exceed gpu.tdp_watts 700"},
		{name: "zero tdp", idle: watts(0, "guess"), tdp: watts(0, "datasheet"), field: "gpu.tdp_watts", issue: "must be positive"},
		{name: "no provenance", idle: watts(70, ""), tdp: watts(700, "datasheet"), field: "gpu.idle_watts", issue: "has no provenance"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(base, &m); err != nil {
				t.Fatal(err)
			}
			if tt.idle != nil {
				group(m, "gpu")["idle_watts"] = tt.idle
			}
			if tt.tdp != nil {
				group(m, "gpu")["tdp_watts"] = tt.tdp
			}
			data, _ := json.Marshal(m)
			p, err := ParseProfile("power.json", data)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("valid profile refused: %v", err)
				}
				if (p.GPU.IdleWatts == nil) != (tt.idle == nil) || (p.GPU.TDPWatts == nil) != (tt.tdp == nil) {
					t.Errorf("power range = %v, %v", p.GPU.IdleWatts, p.GPU.TDPWatts)
				}
				return
			}
			if err == nil {
				t.Fatal("invalid profile accepted")
			}
			for _, part := range []string{"power.json", tt.field, tt.issue} {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q does not contain %q", err, part)
				}
			}
		})
	}
}

func TestProfiles_EmbeddedProfilesHaveAPowerRange(t *testing.T) {
	for _, name := range ProfileNames() {
		if m := NewGPUModel(mustProfile(t, name)); m.NoPower != "" || m.TDPWatts <= m.IdleWatts {
			t.Errorf("%s: power model %+v", name, m)
		}
	}
}
