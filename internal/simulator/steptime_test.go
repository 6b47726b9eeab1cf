package simulator

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// stepModel is the named profile's model with its own CUDA-graph limit
// unless c sets one.
func stepModel(t *testing.T, profile string, c StepConfig) StepModel {
	t.Helper()
	prof := mustProfile(t, profile)
	if c.CUDAGraphMaxBS == 0 {
		c.CUDAGraphMaxBS = int(prof.Runtime.CUDAGraphMaxBS.Value)
	}
	m, err := NewStepModel(prof, c)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestStepModel_PrefillGrowsWithPromptTokens(t *testing.T) {
	m := stepModel(t, "llama-3.1-8b-h100", StepConfig{})
	var prev time.Duration
	for _, p := range []int{1, 64, 256, 1024, 2048, 4096, 8192} {
		got := m.Mean(BatchShape{PrefillTokens: p, Requests: 1, PrefillAttention: float64(p) * float64(p) / 2})
		if got <= prev {
			t.Errorf("prefill of %d tokens takes %v, not more than the smaller prefill's %v", p, got, prev)
		}
		prev = got
	}
}

func TestStepModel_DecodeGrowsWithBatchAndContext(t *testing.T) {
	m := stepModel(t, "llama-3.1-8b-a100", StepConfig{})
	var prev time.Duration
	for _, b := range []int{1, 8, 64, 256, 1024} {
		got := m.Mean(BatchShape{DecodeSeqs: b, Requests: b, DecodeContext: b * 1000})
		if got <= prev {
			t.Errorf("decode of %d sequences takes %v, not more than the smaller batch's %v", b, got, prev)
		}
		prev = got
	}
	short := m.Mean(BatchShape{DecodeSeqs: 32, Requests: 32, DecodeContext: 32 * 100})
	long := m.Mean(BatchShape{DecodeSeqs: 32, Requests: 32, DecodeContext: 32 * 8000})
	if long <= short {
		t.Errorf("decode with 8000-token contexts (%v) is not slower than with 100 (%v)", long, short)
	}
}

// The profiles must keep the step times their published runs pin down
// (docs/calibration.md): the A100 decode floor of s5.3 that SGLang's 11.9 ms
// median ITL confirms, the H100 floor of SGLang issue #1268's 4.99 ms median
// ITL at one request in flight, and the 2048-token prefills s5.3 derives
// from Vidur's measured GEMM rates.
func TestStepModel_ProfilesMatchDesignAnchors(t *testing.T) {
	decode1 := BatchShape{DecodeSeqs: 1, Requests: 1, DecodeContext: 500}
	prefill2k := BatchShape{PrefillTokens: 2048, Requests: 1, PrefillAttention: 2048 * 1024}
	tests := []struct {
		profile string
		what    string
		shape   BatchShape
		lo, hi  float64 // ms
	}{
		{"llama-3.1-8b-a100", "decode floor about 11 ms (11.9 ms measured)", decode1, 10.5, 12.5},
		{"llama-3.1-8b-h100", "decode floor about 5 ms (4.99 ms measured)", decode1, 4.8, 5.5},
		{"llama-3.1-70b-h100", "decode floor at TP 4 about 20 ms (21.67 ms median ITL at batch ~13)", decode1, 18, 21},
		{"llama-3.1-8b-a100", "2048-token prefill about 150 ms", prefill2k, 135, 165},
		{"llama-3.1-8b-h100", "2048-token prefill about 45-50 ms", prefill2k, 43, 52},
	}
	for _, tt := range tests {
		m := stepModel(t, tt.profile, StepConfig{})
		if got := ms(m.Mean(tt.shape)); got < tt.lo || got > tt.hi {
			t.Errorf("%s %s: model gives %.2f ms, want %.1f-%.1f", tt.profile, tt.what, got, tt.lo, tt.hi)
		}
	}
}

func TestStepModel_JitterIsSeededAndCentred(t *testing.T) {
	m := stepModel(t, "llama-3.1-8b-h100", StepConfig{})
	shape := BatchShape{DecodeSeqs: 16, Requests: 16, DecodeContext: 16 * 500}
	draw := func(seed uint64) []time.Duration {
		rng := rand.New(rand.NewPCG(seed, 0))
		out := make([]time.Duration, 2000)
		for i := range out {
			out[i] = m.Sample(shape, rng)
		}
		return out
	}
	a, b := draw(1), draw(1)
	var sum float64
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("draw %d differs between runs with one seed", i)
		}
		sum += float64(a[i])
	}
	mean := m.Mean(shape)
	if got := sum / float64(len(a)); got < 0.99*float64(mean) || got > 1.01*float64(mean) {
		t.Errorf("average sample %v is not within 1%% of the mean %v", time.Duration(got), mean)
	}
}

// withRuntime returns the profile with its runtime's overlap flag, eager
// floor and host costs set, for tests of those terms alone.
func withRuntime(p Profile, overlap bool, eager, tStep float64) Profile {
	p.Runtime.OverlapSchedule.Value = 0
	if overlap {
		p.Runtime.OverlapSchedule.Value = 1
	}
	p.Runtime.EagerFloor.Value = eager
	p.StepTime.StepOverhead.Value = tStep
	return p
}

// The overlap scheduler hides host time behind the GPU's: a step takes the
// longer of the two instead of their sum.
func TestStepModel_OverlapTakesTheLongerOfHostAndGPUTime(t *testing.T) {
	prof := mustProfile(t, "llama-3.1-8b-h100")
	shape := BatchShape{DecodeSeqs: 8, Requests: 8, DecodeContext: 8 * 300}
	for _, tStep := range []float64{0.001, 0.05} { // below and above the GPU time
		p := withRuntime(prof, false, 0, tStep)
		serial, _ := NewStepModel(p, StepConfig{CUDAGraphMaxBS: 256})
		overlapped, _ := NewStepModel(p, StepConfig{CUDAGraphMaxBS: 256, Overlap: true})
		noHost := withRuntime(prof, false, 0, 0)
		noHost.StepTime.RequestOverhead.Value = 0
		gpuOnly, _ := NewStepModel(noHost, StepConfig{CUDAGraphMaxBS: 256})
		gpu := gpuOnly.Mean(shape)
		cpu := seconds(tStep + 8*prof.StepTime.RequestOverhead.Value)
		if got, want := serial.Mean(shape), gpu+cpu; got != want {
			t.Errorf("t_step %v: serial step %v, want GPU %v + host %v", tStep, got, gpu, cpu)
		}
		if got, want := overlapped.Mean(shape), max(gpu, cpu); got != want {
			t.Errorf("t_step %v: overlapped step %v, want max(GPU %v, host %v)", tStep, got, gpu, cpu)
		}
	}
}

// Decode batches up to cuda_graph_max_bs replay a graph; a larger batch,
// every batch without graphs, and every prefill run eagerly and cannot be
// shorter than the eager launch floor.
func TestStepModel_EagerStepsAboveTheGraphLimitTakeTheLaunchFloor(t *testing.T) {
	const floor = 0.5 // far above any GPU time here
	prof := withRuntime(mustProfile(t, "llama-3.1-8b-h100"), false, floor, 0)
	decode := func(b int) BatchShape { return BatchShape{DecodeSeqs: b, Requests: b, DecodeContext: b * 100} }
	tests := []struct {
		name  string
		graph int
		shape BatchShape
		eager bool
	}{
		{"decode at the limit", 256, decode(256), false},
		{"decode above the limit", 256, decode(257), true},
		{"graphs disabled", 0, decode(1), true},
		{"prefill", 256, BatchShape{PrefillTokens: 100, Requests: 1, PrefillAttention: 5000}, true},
	}
	for _, tt := range tests {
		m, err := NewStepModel(prof, StepConfig{CUDAGraphMaxBS: tt.graph})
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Mean(tt.shape).Seconds(); (got >= floor) != tt.eager {
			t.Errorf("%s: step %.4f s; eager floor %v applied = %v, want %v", tt.name, got, floor, got >= floor, tt.eager)
		}
	}
}

// Tensor parallelism splits weights, FLOPs and KV reads over the GPUs and
// adds two all-reduces per layer: a TP-2 decode step is faster than TP 1's
// but slower than half of it, by exactly the all-reduce term.
func TestStepModel_TensorParallelSplitsWorkAndAddsAllReduces(t *testing.T) {
	prof := withRuntime(mustProfile(t, "llama-3.1-8b-h100"), false, 0, 0)
	prof.StepTime.RequestOverhead.Value = 0
	shape := BatchShape{DecodeSeqs: 4, Requests: 4, DecodeContext: 4 * 1000}
	tp1, _ := NewStepModel(prof, StepConfig{TPSize: 1, CUDAGraphMaxBS: 256})
	tp2, _ := NewStepModel(prof, StepConfig{TPSize: 2, CUDAGraphMaxBS: 256})
	one, two := tp1.Mean(shape), tp2.Mean(shape)
	comm := 2 * prof.Model.NumLayers.Value * (prof.GPU.AllReduceLatency.Value +
		4*prof.Model.HiddenSize.Value*2*2*0.5/prof.GPU.AllReduceBandwidth.Value)
	if got, want := two.Seconds(), one.Seconds()/2+comm; math.Abs(got-want) > 1e-8 {
		t.Errorf("TP 2 decode %.6f s, want half of TP 1's %.6f s plus all-reduces %.6f s", got, one.Seconds(), comm)
	}
	if _, err := NewStepModel(prof, StepConfig{TPSize: 3}); err == nil {
		t.Error("TP 3 of 32 heads was accepted")
	}
}
