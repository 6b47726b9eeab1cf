package telemetry

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// series builds one GPU's samples from per-sample figures; nil means the
// figure was missing with reason why.
func series(index int, why string, util, mem, power, energy []*float64, reasons [][]string) []GPU {
	fig := func(v *float64) Figure {
		if v == nil {
			return missing[float64](why)
		}
		return known(*v)
	}
	gs := make([]GPU, len(util))
	for i := range gs {
		gs[i] = GPU{
			At: msec(100 * i), Index: index, Name: "G",
			UtilizationPct: fig(util[i]), MemoryUsedBytes: fig(mem[i]), PowerWatts: fig(power[i]), EnergyMillijoules: fig(energy[i]),
			MemoryUtilizationPct: missing[float64]("unsupported"), SMClockMHz: known(1980.0), TemperatureC: known(60.0),
			ProcessMemoryBytes: fig(mem[i]), SMActivityPct: missing[float64](baseline), MemoryTotalBytes: known(80.0),
			ThrottleReasons: known(reasons[i]),
		}
		if reasons[i] == nil {
			gs[i].ThrottleReasons = missing[[]string]("no reasons")
		}
	}
	gs[0].SMActivityPct = missing[float64](baseline)
	for i := 1; i < len(gs); i++ {
		gs[i].SMActivityPct = known(float64(10 * i))
	}
	return gs
}

func f(v float64) *float64 { return &v }

func TestSummarize_MeanP95MaxAndEnergyPerGPUWithHandWorkedNumbers(t *testing.T) {
	// GPU 0, five samples. Utilisation 10, 20, 30, 40 (the first is
	// missing): mean 25; P95 at rank 0.95 x 3 = 2.85 is 30 + 0.85 x 10 =
	// 38.5; max 40. Memory 100, 300, 200, 500, 400: mean 300; P95 at rank
	// 3.8 of the sorted values is 400 + 0.8 x 100 = 480; max 500. Power
	// 200, 250 (three missing): mean 225; P95 at rank 0.95 = 200 + 0.95 x
	// 50 = 247.5. Energy counter 1,000,000 mJ to 1,250,000 mJ: 250 J. SM
	// activity after the baseline: 10, 20, 30, 40.
	g0 := series(0, "NVML error: X",
		[]*float64{nil, f(10), f(20), f(30), f(40)},
		[]*float64{f(100), f(300), f(200), f(500), f(400)},
		[]*float64{nil, f(200), nil, f(250), nil},
		[]*float64{f(1e6), nil, nil, nil, f(1.25e6)},
		[][]string{{}, {"sw_power_cap"}, {"sw_power_cap", "hw_slowdown"}, nil, {}})
	// GPU 1, two samples, energy unread at the first.
	g1 := series(1, "unsupported",
		[]*float64{f(50), f(60)}, []*float64{f(1), f(1)}, []*float64{nil, nil}, []*float64{nil, f(5)},
		[][]string{nil, nil})
	// Interleaved as a Collector stores them: by instant, then GPU.
	samples := []GPU{g1[0], g0[0], g1[1], g0[1], g0[2], g0[3], g0[4]}
	got := Summarize(samples)
	want := []Summary{
		{
			Index: 0, Name: "G", Samples: 5, First: 0, Last: msec(400),
			UtilizationPct:       Stats{Count: 4, Mean: 25, P95: 38.5, Max: 40},
			MemoryUtilizationPct: Stats{Missing: "unsupported"},
			MemoryUsedBytes:      Stats{Count: 5, Mean: 300, P95: 480, Max: 500},
			MemoryTotalBytes:     known(80.0),
			PowerWatts:           Stats{Count: 2, Mean: 225, P95: 247.5, Max: 250},
			SMClockMHz:           Stats{Count: 5, Mean: 1980, P95: 1980, Max: 1980},
			TemperatureC:         Stats{Count: 5, Mean: 60, P95: 60, Max: 60},
			ProcessMemoryBytes:   Stats{Count: 5, Mean: 300, P95: 480, Max: 500},
			// 10, 20, 30, 40: P95 as for utilisation.
			SMActivityPct:   Stats{Count: 4, Mean: 25, P95: 38.5, Max: 40},
			ThrottleReasons: map[string]int{"sw_power_cap": 2, "hw_slowdown": 1},
			EnergyJoules:    known(250.0),
		},
		{
			Index: 1, Name: "G", Samples: 2, First: 0, Last: msec(100),
			UtilizationPct:       Stats{Count: 2, Mean: 55, P95: 59.5, Max: 60},
			MemoryUtilizationPct: Stats{Missing: "unsupported"},
			MemoryUsedBytes:      Stats{Count: 2, Mean: 1, P95: 1, Max: 1},
			MemoryTotalBytes:     known(80.0),
			PowerWatts:           Stats{Missing: "unsupported"},
			SMClockMHz:           Stats{Count: 2, Mean: 1980, P95: 1980, Max: 1980},
			TemperatureC:         Stats{Count: 2, Mean: 60, P95: 60, Max: 60},
			ProcessMemoryBytes:   Stats{Count: 2, Mean: 1, P95: 1, Max: 1},
			SMActivityPct:        Stats{Count: 1, Mean: 10, P95: 10, Max: 10},
			ThrottleReasons:      map[string]int{},
			ThrottleMissing:      "no reasons",
			EnergyJoules:         missing[float64]("energy counter unread at the window's first sample: unsupported"),
		},
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateApprox(1e-12, 0)); diff != "" {
		t.Errorf("Summarize (-want +got):\n%s", diff)
	}
}

func TestSummarize_EnergyNeedsTwoSamplesAndAForwardCounter(t *testing.T) {
	one := series(0, "x", []*float64{f(1)}, []*float64{f(1)}, []*float64{f(1)}, []*float64{f(5)}, [][]string{{}})
	back := series(0, "x", []*float64{f(1), f(1)}, []*float64{f(1), f(1)}, []*float64{f(1), f(1)}, []*float64{f(9000), f(5)}, [][]string{{}, {}})
	lastUnread := series(0, "lost", []*float64{f(1), f(1)}, []*float64{f(1), f(1)}, []*float64{f(1), f(1)}, []*float64{f(9000), nil}, [][]string{{}, {}})
	tests := []struct {
		name    string
		samples []GPU
		want    string
	}{
		{"one sample", one, "the energy over a window needs two samples"},
		{"counter went back", back, "the energy counter went back from 9000 mJ to 5 mJ (driver reloaded or server restarted?)"},
		{"unread at the end", lastUnread, "energy counter unread at the window's last sample: lost"},
	}
	for _, tt := range tests {
		if got := Summarize(tt.samples)[0].EnergyJoules; got.Missing != tt.want {
			t.Errorf("%s: energy = %+v, want missing %q", tt.name, got, tt.want)
		}
	}
	// A figure read in no sample keeps a reason other than the baseline
	// when there is one.
	gs := series(0, "x", []*float64{nil, nil}, []*float64{f(1), f(1)}, []*float64{f(1), f(1)}, []*float64{f(1), f(1)}, [][]string{{}, {}})
	gs[0].UtilizationPct = missing[float64](baseline)
	gs[1].UtilizationPct = missing[float64]("NVML error: GPU lost")
	if got := Summarize(gs)[0].UtilizationPct; got.Missing != "NVML error: GPU lost" || got.OK() {
		t.Errorf("utilisation = %+v", got)
	}
}

func TestEnergyPerToken_DividesTheWindowsEnergyOfEveryGPUByTheOutputTokens(t *testing.T) {
	gpu := func(i int, e Figure, simulated bool) Summary {
		return Summary{Index: i, EnergyJoules: e, Simulated: simulated}
	}
	tests := []struct {
		name   string
		sums   []Summary
		tokens int
		want   Figure
	}{
		// (250 + 150) J / 1000 tokens = 0.4 J/token.
		{"two GPUs", []Summary{gpu(0, known(250.0), false), gpu(1, known(150.0), false)}, 1000, known(0.4)},
		{"simulated", []Summary{gpu(0, known(3.0), true)}, 4, known(0.75)},
		{"no tokens", []Summary{gpu(0, known(250.0), false)}, 0, missing[float64]("the run has 0 output tokens")},
		{"a GPU without energy", []Summary{gpu(0, known(250.0), false), gpu(3, missing[float64]("unsupported"), false)}, 1000,
			missing[float64]("GPU 3: unsupported")},
		{"mixed", []Summary{gpu(0, known(1.0), false), gpu(1, known(1.0), true)}, 10,
			missing[float64]("the run mixes simulated and real GPUs, whose energies do not add up")},
		{"no GPU", nil, 10, missing[float64]("no GPU was sampled")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, EnergyPerToken(tt.sums, tt.tokens), cmpopts.EquateApprox(1e-12, 0)); diff != "" {
				t.Errorf("EnergyPerToken (-want +got):\n%s", diff)
			}
		})
	}
	if got := TotalEnergy([]Summary{gpu(0, known(250.0), false), gpu(1, known(150.0), false)}); got != known(400.0) {
		t.Errorf("TotalEnergy = %+v, want 400 J", got)
	}
}
