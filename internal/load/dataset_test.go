package load

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRandomDatasetHasExactLengthsAndIsSeeded(t *testing.T) {
	d := Random{Count: 50, InputTokens: 256, OutputTokens: 64, VocabSize: 32000, Seed: 9}
	a, err := d.Requests()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := d.Requests()
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("same seed, different dataset:\n%s", diff)
	}
	for i, r := range a {
		if r.Index != i || len(r.InputIDs) != 256 || r.OutputTokens != 64 {
			t.Fatalf("request %d: index %d, %d input ids, %d output tokens", i, r.Index, len(r.InputIDs), r.OutputTokens)
		}
		for _, id := range r.InputIDs {
			if id < 0 || id >= 32000 {
				t.Fatalf("request %d: token id %d outside the vocabulary", i, id)
			}
		}
	}
	d.Seed = 10
	c, _ := d.Requests()
	if cmp.Equal(a, c) {
		t.Error("different seeds gave the same dataset")
	}
}

func TestRandomDatasetRejectsBadLengths(t *testing.T) {
	for _, d := range []Random{
		{Count: 0, InputTokens: 1, OutputTokens: 1, VocabSize: 10},
		{Count: 1, InputTokens: 0, OutputTokens: 1, VocabSize: 10},
		{Count: 1, InputTokens: 1, OutputTokens: 0, VocabSize: 10},
		{Count: 1, InputTokens: 1, OutputTokens: 1, VocabSize: 1},
	} {
		if _, err := d.Requests(); err == nil {
			t.Errorf("%+v: no error", d)
		}
	}
}

func TestLengthDistributionsMatchTheirParameters(t *testing.T) {
	tests := []struct {
		name      string
		l         Length
		wantMean  float64
		wantStd   float64
		min, max  int
		tolerance float64 // relative, on mean and std
	}{
		{name: "fixed", l: Fixed(128), wantMean: 128, wantStd: 0, min: 128, max: 128, tolerance: 0},
		{name: "uniform [100, 300]", l: Uniform(100, 300), wantMean: 200, wantStd: math.Sqrt((201*201 - 1) / 12.0), min: 100, max: 300, tolerance: 0.03},
		{name: "lognormal mean 500 std 200", l: LogNormal(500, 200), wantMean: 500, wantStd: 200, min: 1, max: math.MaxInt, tolerance: 0.05},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			const n = 20000
			var sum, sq float64
			xs := make([]float64, n)
			for i := range xs {
				v := tc.l.sample(rng)
				if v < tc.min || v > tc.max {
					t.Fatalf("sample %d outside [%d, %d]", v, tc.min, tc.max)
				}
				xs[i] = float64(v)
				sum += xs[i]
			}
			mean := sum / n
			for _, x := range xs {
				sq += (x - mean) * (x - mean)
			}
			std := math.Sqrt(sq / n)
			if math.Abs(mean-tc.wantMean) > tc.tolerance*tc.wantMean+1e-9 {
				t.Errorf("mean %.2f, want %.2f", mean, tc.wantMean)
			}
			if math.Abs(std-tc.wantStd) > tc.tolerance*tc.wantStd+1e-9 {
				t.Errorf("std %.2f, want %.2f", std, tc.wantStd)
			}
		})
	}
}

func TestRandomDatasetDrawsLengthsFromDistributions(t *testing.T) {
	in, out := Uniform(10, 20), LogNormal(50, 10)
	reqs, err := Random{Count: 500, InputLength: &in, OutputLength: &out, VocabSize: 100, Seed: 4}.Requests()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, r := range reqs {
		if len(r.InputIDs) < 10 || len(r.InputIDs) > 20 {
			t.Fatalf("input length %d outside [10, 20]", len(r.InputIDs))
		}
		seen[len(r.InputIDs)] = true
	}
	if len(seen) != 11 {
		t.Errorf("%d distinct input lengths over 500 draws, want all 11 of [10, 20]", len(seen))
	}
	bad := Uniform(5, 4)
	if _, err := (Random{Count: 1, InputLength: &bad, OutputTokens: 1, VocabSize: 10}).Requests(); err == nil {
		t.Error("an empty uniform range gave no error")
	}
}

func TestSharedPrefixGroupsShareTheirSystemPrompt(t *testing.T) {
	tests := []struct {
		name string
		d    SharedPrefix
	}{
		{"uniform popularity", SharedPrefix{Groups: 4, PromptsPerGroup: 8, SystemTokens: 32, QuestionTokens: 8, OutputTokens: 4, VocabSize: 1000, Seed: 1}},
		{"zipf popularity", SharedPrefix{Groups: 8, PromptsPerGroup: 100, SystemTokens: 16, QuestionTokens: 4, OutputTokens: 4, Zipf: true, ZipfAlpha: 1.5, VocabSize: 1000, Seed: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reqs, err := tc.d.Requests()
			if err != nil {
				t.Fatal(err)
			}
			if len(reqs) != tc.d.Groups*tc.d.PromptsPerGroup {
				t.Fatalf("%d requests, want %d", len(reqs), tc.d.Groups*tc.d.PromptsPerGroup)
			}
			prefix := map[int][]int{}
			count := make([]int, tc.d.Groups)
			for _, r := range reqs {
				if len(r.InputIDs) != tc.d.SystemTokens+tc.d.QuestionTokens {
					t.Fatalf("prompt of %d tokens", len(r.InputIDs))
				}
				sys := r.InputIDs[:tc.d.SystemTokens]
				if p, ok := prefix[r.Group]; ok && !cmp.Equal(p, sys) {
					t.Fatalf("group %d has two system prompts", r.Group)
				}
				prefix[r.Group] = sys
				count[r.Group]++
			}
			if !tc.d.Zipf {
				for g, c := range count {
					if c != tc.d.PromptsPerGroup {
						t.Errorf("group %d has %d prompts, want %d", g, c, tc.d.PromptsPerGroup)
					}
				}
				return
			}
			// Zipf(1.5) over 8 groups: P(group 0) = 1/H = 0.4 about; P(1)/P(0) = 2^-1.5.
			var h float64
			for k := 1; k <= 8; k++ {
				h += math.Pow(float64(k), -1.5)
			}
			if p0 := float64(count[0]) / 800; math.Abs(p0-1/h) > 0.05 {
				t.Errorf("group 0 drew %.3f of requests, want %.3f", p0, 1/h)
			}
			if count[0] <= count[1] || count[1] <= count[3] {
				t.Errorf("popularity not decreasing: %v", count)
			}
		})
	}
}

func TestMultiTurnPromptsExtendThePreviousTurn(t *testing.T) {
	reqs, err := MultiTurn{Conversations: 3, Turns: 4, QuestionTokens: 5, AnswerTokens: 7, OutputTokens: 7, VocabSize: 100, Seed: 2}.Requests()
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 12 {
		t.Fatalf("%d requests, want 12", len(reqs))
	}
	last := map[int][]int{}
	for i, r := range reqs {
		if r.Group != i%3 {
			t.Fatalf("request %d in conversation %d, want turn-major order", i, r.Group)
		}
		turn := i / 3
		if want := 5 + turn*12; len(r.InputIDs) != want {
			t.Errorf("turn %d prompt has %d tokens, want %d", turn, len(r.InputIDs), want)
		}
		if p := last[r.Group]; p != nil && !cmp.Equal(p, r.InputIDs[:len(p)]) {
			t.Errorf("request %d does not extend its conversation's previous prompt", i)
		}
		last[r.Group] = r.InputIDs
	}
}
