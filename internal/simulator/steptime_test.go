package simulator

import (
	"math/rand/v2"
	"testing"
	"time"
)

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func TestStepModel_PrefillGrowsWithPromptTokens(t *testing.T) {
	m := NewStepModel(mustProfile(t, "llama-3.1-8b-h100").StepTime)
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
	m := NewStepModel(mustProfile(t, "llama-3.1-8b-a100").StepTime)
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

// The profiles must reproduce the predictions simulator-design.md s5.3 makes
// for them, which match the published SGLang measurements of s4.1.
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
		{"llama-3.1-8b-h100", "decode floor about 6.5-7 ms", decode1, 6.3, 7.3},
		{"llama-3.1-8b-a100", "2048-token prefill about 150 ms", prefill2k, 135, 165},
		{"llama-3.1-8b-h100", "2048-token prefill about 45-50 ms", prefill2k, 43, 52},
	}
	for _, tt := range tests {
		m := NewStepModel(mustProfile(t, tt.profile).StepTime)
		if got := ms(m.Mean(tt.shape)); got < tt.lo || got > tt.hi {
			t.Errorf("%s %s: model gives %.2f ms, want %.1f-%.1f", tt.profile, tt.what, got, tt.lo, tt.hi)
		}
	}
}

func TestStepModel_JitterIsSeededAndCentred(t *testing.T) {
	m := NewStepModel(mustProfile(t, "llama-3.1-8b-h100").StepTime)
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
