package load

import (
	"fmt"
	"math/rand/v2"
)

// Request is one item of a workload: the prompt, sent as token ids so its
// length is exact, and the number of tokens to generate.
type Request struct {
	Index        int
	InputIDs     []int
	OutputTokens int
}

// Random is a dataset of prompts of random token ids with fixed input and
// output lengths. Prompts are sent as input_ids and with ignore_eos, so both
// lengths are exact (bench_serving's random-ids dataset with range ratio 1).
type Random struct {
	Count        int
	InputTokens  int
	OutputTokens int
	// VocabSize bounds the token ids drawn, [0, VocabSize).
	VocabSize int
	Seed      uint64
}

// Requests builds the dataset. The same Seed always gives the same prompts.
func (d Random) Requests() ([]Request, error) {
	switch {
	case d.Count <= 0:
		return nil, fmt.Errorf("random dataset: count must be positive, got %d", d.Count)
	case d.InputTokens <= 0:
		return nil, fmt.Errorf("random dataset: input tokens must be positive, got %d", d.InputTokens)
	case d.OutputTokens <= 0:
		return nil, fmt.Errorf("random dataset: output tokens must be positive, got %d", d.OutputTokens)
	case d.VocabSize <= 1:
		return nil, fmt.Errorf("random dataset: vocab size must be above 1, got %d", d.VocabSize)
	}
	rng := rand.New(rand.NewPCG(d.Seed, 0x5e1e57))
	reqs := make([]Request, d.Count)
	for i := range reqs {
		ids := make([]int, d.InputTokens)
		for j := range ids {
			ids[j] = rng.IntN(d.VocabSize)
		}
		reqs[i] = Request{Index: i, InputIDs: ids, OutputTokens: d.OutputTokens}
	}
	return reqs, nil
}
