package telemetry

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sgltest/sgltest/internal/simtest"
	"github.com/sgltest/sgltest/internal/simulator"
)

// model1 is a simulated GPU with round numbers: 100 W idle, 500 W busy,
// 1 GB of weights and 100 kB of KV per token.
var model1 = simulator.GPUModel{Name: "sim", MemoryTotalBytes: 80e9, WeightBytes: 1e9, KVBytesPerToken: 1e5, IdleWatts: 100, TDPWatts: 500}

// notModelledFigures are a simulated sample's figures with no model.
func notModelledFigures(g GPU) GPU {
	g.MemoryUtilizationPct = missing[float64](notModelled)
	g.SMClockMHz = missing[float64](notModelled)
	g.TemperatureC = missing[float64](notModelled)
	g.ThrottleReasons = missing[[]string](notModelled)
	g.SMActivityPct = missing[float64](notModelled)
	return g
}

func TestSimulatedGPU_DifferencesTwoReadingsWithHandWorkedNumbers(t *testing.T) {
	// prev: 10 s elapsed, 4 s busy: 100 x 10 + 400 x 4 = 2600 J.
	// cur: 12 s elapsed, 5.5 s busy: 100 x 12 + 400 x 5.5 = 3400 J.
	// Over the 2 s between: busy 1.5 s = 75%; 800 J / 2 s = 400 W,
	// which is 100 + 400 x 0.75. Memory: 1e9 + 2000 x 1e5 = 1.2e9.
	prev := model1.Read(10*time.Second, 4*time.Second, 1000)
	cur := model1.Read(12*time.Second, 5500*time.Millisecond, 2000)
	noPower := model1
	noPower.NoPower = "profile p has no power range"
	tests := []struct {
		name string
		prev *simulator.GPUReading
		cur  simulator.GPUReading
		want GPU
	}{
		{"an interval", &prev, cur, notModelledFigures(GPU{
			At: 7, Index: 2, Name: "sim", Simulated: true,
			UtilizationPct: known(75.0), PowerWatts: known(400.0), EnergyMillijoules: known(3_400_000.0),
			MemoryUsedBytes: known(1.2e9), MemoryTotalBytes: known(80e9), ProcessMemoryBytes: known(1.2e9),
		})},
		{"the first reading", nil, cur, notModelledFigures(GPU{
			At: 7, Index: 2, Name: "sim", Simulated: true,
			UtilizationPct: missing[float64](baseline), PowerWatts: missing[float64](baseline), EnergyMillijoules: known(3_400_000.0),
			MemoryUsedBytes: known(1.2e9), MemoryTotalBytes: known(80e9), ProcessMemoryBytes: known(1.2e9),
		})},
		{"no power range", ptr(noPower.Read(10*time.Second, 4*time.Second, 1000)), noPower.Read(12*time.Second, 5500*time.Millisecond, 2000), notModelledFigures(GPU{
			At: 7, Index: 2, Name: "sim", Simulated: true,
			UtilizationPct: known(75.0), PowerWatts: missing[float64](noPower.NoPower), EnergyMillijoules: missing[float64](noPower.NoPower),
			MemoryUsedBytes: known(1.2e9), MemoryTotalBytes: known(80e9), ProcessMemoryBytes: known(1.2e9),
		})},
		{"no time passed", &cur, cur, notModelledFigures(GPU{
			At: 7, Index: 2, Name: "sim", Simulated: true,
			UtilizationPct:    missing[float64]("no simulator time passed since the previous sample"),
			PowerWatts:        missing[float64]("no simulator time passed since the previous sample"),
			EnergyMillijoules: known(3_400_000.0), MemoryUsedBytes: known(1.2e9), MemoryTotalBytes: known(80e9), ProcessMemoryBytes: known(1.2e9),
		})},
		{"a restarted server", &cur, prev, notModelledFigures(GPU{
			At: 7, Index: 2, Name: "sim", Simulated: true,
			UtilizationPct:    missing[float64]("the simulator's counters went back (was the server restarted?)"),
			PowerWatts:        missing[float64]("the simulator's counters went back (was the server restarted?)"),
			EnergyMillijoules: known(2_600_000.0), MemoryUsedBytes: known(1.1e9), MemoryTotalBytes: known(80e9), ProcessMemoryBytes: known(1.1e9),
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SimulatedGPU(2, 7, tt.prev, tt.cur)
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateApprox(1e-12, 0)); diff != "" {
				t.Errorf("SimulatedGPU (-want +got):\n%s", diff)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestSimSampler_FirstSampleIsTheBaselineThenEachIntervalIsDifferenced(t *testing.T) {
	// Two simulated servers; server 1 is idle throughout.
	script := [][]simulator.GPUReading{
		{model1.Read(1*time.Second, 0, 0), model1.Read(1*time.Second, 0, 0)},
		{model1.Read(2*time.Second, 500*time.Millisecond, 10), model1.Read(2*time.Second, 0, 0)},
		{model1.Read(4*time.Second, 2*time.Second, 20), model1.Read(4*time.Second, 0, 0)},
	}
	var ats []time.Duration
	s := NewSimSampler(func(at time.Duration) ([]simulator.GPUReading, error) {
		ats = append(ats, at)
		return script[len(ats)-1], nil
	})
	// Utilisation per interval: 0.5/1 = 50%, then 1.5/2 = 75%; idle 0%.
	// Power: 100 + 400 x f = 300 W, 400 W; idle 100 W.
	want := []struct{ util0, power0, util1, power1 Figure }{
		{missing[float64](baseline), missing[float64](baseline), missing[float64](baseline), missing[float64](baseline)},
		{known(50.0), known(300.0), known(0.0), known(100.0)},
		{known(75.0), known(400.0), known(0.0), known(100.0)},
	}
	for i, w := range want {
		gs, err := s.Sample(time.Duration(i) * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if len(gs) != 2 || gs[0].Index != 0 || gs[1].Index != 1 || !gs[0].Simulated || !gs[1].Simulated {
			t.Fatalf("sample %d = %+v, want two simulated GPUs 0 and 1", i, gs)
		}
		got := struct{ util0, power0, util1, power1 Figure }{gs[0].UtilizationPct, gs[0].PowerWatts, gs[1].UtilizationPct, gs[1].PowerWatts}
		if diff := cmp.Diff(w, got, cmp.AllowUnexported(got), cmpopts.EquateApprox(1e-12, 0)); diff != "" {
			t.Errorf("sample %d (-want +got):\n%s", i, diff)
		}
	}
	if diff := cmp.Diff([]time.Duration{0, time.Second, 2 * time.Second}, ats); diff != "" {
		t.Errorf("read at (-want +got):\n%s", diff)
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
}

func TestSimSampler_FailsWhenTheReadFailsOrTheGPUCountChanges(t *testing.T) {
	calls := 0
	s := NewSimSampler(func(time.Duration) ([]simulator.GPUReading, error) {
		calls++
		switch calls {
		case 1:
			return []simulator.GPUReading{{}}, nil
		case 2:
			return nil, errors.New("scrape refused")
		}
		return []simulator.GPUReading{{}, {}}, nil
	})
	if _, err := s.Sample(0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sample(1); err == nil || !strings.Contains(err.Error(), "scrape refused") {
		t.Errorf("failed read: err = %v", err)
	}
	if _, err := s.Sample(2); err == nil || !strings.Contains(err.Error(), "2 simulated GPUs, but 1") {
		t.Errorf("count change: err = %v", err)
	}
}

const simExposition = `# HELP sgltest:sim_gpu_busy_seconds_total x
# TYPE sgltest:sim_gpu_busy_seconds_total counter
sgltest:sim_gpu_busy_seconds_total{model_name="m",engine_type="unified",gpu_name="NVIDIA H100"} 1.25
# TYPE sgltest:sim_gpu_elapsed_seconds_total counter
sgltest:sim_gpu_elapsed_seconds_total{model_name="m",engine_type="unified",gpu_name="NVIDIA H100"} 10.000000001
# TYPE sgltest:sim_gpu_energy_joules_total counter
sgltest:sim_gpu_energy_joules_total{model_name="m",engine_type="unified",gpu_name="NVIDIA H100"} 1487.5
# TYPE sgltest:sim_gpu_memory_used_bytes gauge
sgltest:sim_gpu_memory_used_bytes{model_name="m",engine_type="unified",gpu_name="NVIDIA H100"} 16000000000.0
# TYPE sgltest:sim_gpu_memory_total_bytes gauge
sgltest:sim_gpu_memory_total_bytes{model_name="m",engine_type="unified",gpu_name="NVIDIA H100"} 85899345920.0
`

func parseText(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

func TestSimReading_ParsesTheSimulatorsFamilies(t *testing.T) {
	got, err := SimReading(parseText(t, simExposition))
	if err != nil {
		t.Fatal(err)
	}
	want := simulator.GPUReading{Name: "NVIDIA H100", Elapsed: 10*time.Second + 1, Busy: 1250 * time.Millisecond,
		MemoryUsedBytes: 16e9, MemoryTotalBytes: 85899345920, EnergyJoules: 1487.5}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("SimReading (-want +got):\n%s", diff)
	}
}

func TestSimReading_RefusesAnExpositionThatIsNotASimulatorsOne(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"no busy family", strings.Replace(simExposition, "sgltest:sim_gpu_busy_seconds_total{", "other{", 1),
			"no sgltest:sim_gpu_busy_seconds_total"},
		{"two samples", simExposition + `sgltest:sim_gpu_memory_used_bytes{model_name="m",engine_type="unified",gpu_name="B"} 1.0` + "\n",
			"sgltest:sim_gpu_memory_used_bytes has 2 samples"},
		{"negative", strings.Replace(simExposition, "} 1.25", "} -1.25", 1), "want a finite non-negative number"},
		{"negative energy", strings.Replace(simExposition, "} 1487.5", "} -1", 1), "want a finite non-negative number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := SimReading(parseText(t, tt.text))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
	// Without an energy sample the reading says why, and the rest is read.
	var kept []string
	for _, l := range strings.Split(simExposition, "\n") {
		if !strings.HasPrefix(l, "sgltest:sim_gpu_energy_joules_total{") {
			kept = append(kept, l)
		}
	}
	r, err := SimReading(parseText(t, strings.Join(kept, "\n")))
	if err != nil || !strings.Contains(r.NoPower, "gpu.tdp_watts") || r.Busy != 1250*time.Millisecond {
		t.Errorf("without energy: %+v, %v", r, err)
	}
}

func TestSimReading_ReadsALiveSimulatorsMetrics(t *testing.T) {
	prof, err := simulator.LoadProfile("llama-3.1-8b-h100")
	if err != nil {
		t.Fatal(err)
	}
	body := simtest.Metrics(t, simtest.InProcess(t, simulator.Config{}).URL)
	r, err := SimReading(parseText(t, body))
	if err != nil {
		t.Fatal(err)
	}
	m := simulator.NewGPUModel(prof)
	// An idle server: no busy time, the weights in memory, idle power.
	if r.Name != prof.GPU.Name || r.Busy != 0 || r.Elapsed <= 0 || r.MemoryUsedBytes != m.WeightBytes ||
		r.MemoryTotalBytes != prof.GPU.MemoryBytes.Value || r.NoPower != "" {
		t.Errorf("reading = %+v", r)
	}
	if want := m.IdleWatts * r.Elapsed.Seconds(); math.Abs(r.EnergyJoules-want) > 1e-9*want {
		t.Errorf("energy = %v J, want idle %v W x %v = %v J", r.EnergyJoules, m.IdleWatts, r.Elapsed, want)
	}
}

func TestSimReadingsReadsOneGPUGroupPerDataParallelRank(t *testing.T) {
	prof, err := simulator.LoadProfile("llama-3.1-8b-h100")
	if err != nil {
		t.Fatal(err)
	}
	body := simtest.Metrics(t, simtest.InProcess(t, simulator.Config{DPSize: 3, TPSize: 2}).URL)
	rs, err := SimReadings(parseText(t, body))
	if err != nil {
		t.Fatal(err)
	}
	// Three ranks of two GPUs: all six simulated GPUs, as three groups.
	if len(rs) != 3 {
		t.Fatalf("%d readings, want one per DP rank", len(rs))
	}
	for i, r := range rs {
		if r.Name != "2 × "+prof.GPU.Name || r.MemoryTotalBytes != 2*prof.GPU.MemoryBytes.Value || r.Elapsed <= 0 || r.NoPower != "" {
			t.Errorf("rank %d reading = %+v", i, r)
		}
	}
	// A server without DP reads as one, like SimReading.
	if rs, err := SimReadings(parseText(t, simExposition)); err != nil || len(rs) != 1 || rs[0].Busy != 1250*time.Millisecond {
		t.Errorf("without DP: %+v, %v", rs, err)
	}
	// A family missing a rank's sample is not a simulator's exposition.
	text := strings.Replace(body, `sgltest:sim_gpu_memory_used_bytes{model_name="`+prof.Model.Name+`",engine_type="unified",gpu_name="2 × `+prof.GPU.Name+`",dp_rank="1"}`, "other", 1)
	if _, err := SimReadings(parseText(t, text)); err == nil || !strings.Contains(err.Error(), "dp_rank 1: telemetry: simulator metric sgltest:sim_gpu_memory_used_bytes has 0 samples") {
		t.Errorf("a missing rank sample: %v", err)
	}
}

func TestParseSimReadingsReadsOnlyTheGPUFamiliesOfALiveSimulator(t *testing.T) {
	body := simtest.Metrics(t, simtest.InProcess(t, simulator.Config{DPSize: 2}).URL)
	whole, err := SimReadings(parseText(t, body))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, text string
		want       []simulator.GPUReading
		wantErr    string
	}{
		{name: "the whole exposition reads as the parse of all of it", text: body, want: whole},
		{name: "a broken line outside the GPU families is not read",
			text: body + "sglang:other{broken\n", want: whole},
		{name: "a broken GPU line is an error naming the families",
			text: body + "sgltest:sim_gpu_busy_seconds_total{broken\n", wantErr: "the simulator's GPU metrics"},
		{name: "an exposition without the GPU families is not a simulator's",
			text: "# TYPE sglang:num_requests_running gauge\nsglang:num_requests_running 0\n", wantErr: "no sgltest:sim_gpu_busy_seconds_total"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSimReadings(strings.NewReader(tt.text))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 {
				t.Fatalf("%d readings, want one per DP rank", len(got))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("readings (-whole parse +filtered):\n%s", diff)
			}
		})
	}
}

// BenchmarkSimReadings compares reading a live simulator's GPUs from its
// whole /metrics text with reading only the GPU families' lines.
func BenchmarkSimReadings(b *testing.B) {
	body := simtest.Metrics(b, simtest.InProcess(b, simulator.Config{}).URL)
	b.Run("whole", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			p := expfmt.NewTextParser(model.LegacyValidation)
			fams, err := p.TextToMetricFamilies(strings.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := SimReadings(fams); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gpu-lines", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := ParseSimReadings(strings.NewReader(body)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
