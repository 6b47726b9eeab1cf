package load

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Request is one item of a workload. Exactly one prompt form is set:
// InputIDs (exact length; /generate input_ids or a completions prompt of
// ids), Prompt (text) or Messages (a chat). A chat API given InputIDs or a
// Prompt sends it as one user message; a text API given InputIDs and no
// tokenizer sends the word-list text of WordText (approximate length).
type Request struct {
	Index        int
	InputIDs     []int
	Prompt       string
	Messages     []Message
	OutputTokens int
	// InputTokens is the prompt length as the dataset declares it: exact for
	// InputIDs, ApproxTokens for text (bench_serving reports the dataset's
	// figure too). Zero means len(InputIDs).
	InputTokens int
	// Group is the shared-prefix group or conversation the request belongs
	// to (0 when the dataset has none).
	Group int
}

// Message is one chat message.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// inputTokens is the declared prompt length of r.
func (r *Request) inputTokens() int {
	if r.InputTokens > 0 {
		return r.InputTokens
	}
	return len(r.InputIDs)
}

// Length is a distribution of token counts: a fixed value, a uniform range,
// or a lognormal fitted to a mean and standard deviation; samples are
// clamped to [Min, Max] when those are set (Max 0 means no upper bound) and
// are never below 1.
type Length struct {
	Kind     LengthKind
	Min, Max int
	// Mean and Std parameterise the lognormal (in tokens).
	Mean, Std float64
}

// LengthKind names a Length distribution.
type LengthKind int

// The length distributions.
const (
	LengthFixed LengthKind = iota
	LengthUniform
	LengthLogNormal
)

// Fixed, Uniform and LogNormal build Lengths.
func Fixed(n int) Length { return Length{Kind: LengthFixed, Min: n, Max: n} }

// Uniform draws uniformly from [lo, hi].
func Uniform(lo, hi int) Length { return Length{Kind: LengthUniform, Min: lo, Max: hi} }

// LogNormal draws from the lognormal with the given mean and standard
// deviation (μ and σ of the underlying normal fitted by moments).
func LogNormal(mean, std float64) Length {
	return Length{Kind: LengthLogNormal, Mean: mean, Std: std, Min: 1}
}

func (l Length) check(what string) error {
	switch l.Kind {
	case LengthFixed:
		if l.Min <= 0 {
			return fmt.Errorf("%s length: fixed length must be positive, got %d", what, l.Min)
		}
	case LengthUniform:
		if l.Min <= 0 || l.Max < l.Min {
			return fmt.Errorf("%s length: uniform range must be 1 ≤ min ≤ max, got [%d, %d]", what, l.Min, l.Max)
		}
	case LengthLogNormal:
		if !(l.Mean > 0) || !(l.Std >= 0) || math.IsInf(l.Mean, 0) || math.IsInf(l.Std, 0) {
			return fmt.Errorf("%s length: lognormal needs mean > 0 and std ≥ 0, got %v and %v", what, l.Mean, l.Std)
		}
	default:
		return fmt.Errorf("%s length: unknown distribution %d", what, l.Kind)
	}
	return nil
}

func (l Length) sample(rng *rand.Rand) int {
	var n int
	switch l.Kind {
	case LengthFixed:
		return l.Min
	case LengthUniform:
		return l.Min + rng.IntN(l.Max-l.Min+1)
	default:
		s2 := math.Log(1 + (l.Std*l.Std)/(l.Mean*l.Mean))
		mu := math.Log(l.Mean) - s2/2
		n = int(math.Round(math.Exp(mu + math.Sqrt(s2)*rng.NormFloat64())))
	}
	if n < max(l.Min, 1) {
		n = max(l.Min, 1)
	}
	if l.Max > 0 && n > l.Max {
		n = l.Max
	}
	return n
}

// Random is a dataset of prompts of random token ids. Prompts are sent as
// input_ids and with ignore_eos, so both lengths are exact (bench_serving's
// random-ids dataset). InputTokens and OutputTokens give fixed lengths;
// InputLength and OutputLength, when set, override them with a
// distribution.
type Random struct {
	Count        int
	InputTokens  int
	OutputTokens int
	InputLength  *Length
	OutputLength *Length
	// VocabSize bounds the token ids drawn, [0, VocabSize).
	VocabSize int
	Seed      uint64
}

// Requests builds the dataset. The same Seed always gives the same prompts.
func (d Random) Requests() ([]Request, error) {
	in, out := Fixed(d.InputTokens), Fixed(d.OutputTokens)
	if d.InputLength != nil {
		in = *d.InputLength
	}
	if d.OutputLength != nil {
		out = *d.OutputLength
	}
	switch {
	case d.Count <= 0:
		return nil, fmt.Errorf("random dataset: count must be positive, got %d", d.Count)
	case d.VocabSize <= 1:
		return nil, fmt.Errorf("random dataset: vocab size must be above 1, got %d", d.VocabSize)
	}
	if err := in.check("random dataset: input"); err != nil {
		return nil, err
	}
	if err := out.check("random dataset: output"); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(d.Seed, 0x5e1e57))
	reqs := make([]Request, d.Count)
	for i := range reqs {
		reqs[i] = Request{Index: i, InputIDs: randomIDs(rng, in.sample(rng), d.VocabSize), OutputTokens: out.sample(rng)}
	}
	return reqs, nil
}

func randomIDs(rng *rand.Rand, n, vocab int) []int {
	ids := make([]int, n)
	for j := range ids {
		ids[j] = rng.IntN(vocab)
	}
	return ids
}

// SharedPrefix is bench_serving's generated-shared-prefix dataset: Groups
// system prompts of SystemTokens random ids, each followed by questions of
// QuestionTokens ids. With Zipf false every group gets PromptsPerGroup
// requests; with Zipf true Groups×PromptsPerGroup requests draw their group
// from a Zipf law of exponent ZipfAlpha (> 1), group 0 the most popular.
// Requests are shuffled (seeded) so groups interleave.
type SharedPrefix struct {
	Groups, PromptsPerGroup      int
	SystemTokens, QuestionTokens int
	OutputTokens                 int
	Zipf                         bool
	ZipfAlpha                    float64
	VocabSize                    int
	Seed                         uint64
}

// Requests builds the dataset; Group is the request's group.
func (d SharedPrefix) Requests() ([]Request, error) {
	switch {
	case d.Groups <= 0 || d.PromptsPerGroup <= 0:
		return nil, fmt.Errorf("shared-prefix dataset: groups and prompts per group must be positive, got %d and %d", d.Groups, d.PromptsPerGroup)
	case d.SystemTokens <= 0 || d.QuestionTokens <= 0 || d.OutputTokens <= 0:
		return nil, fmt.Errorf("shared-prefix dataset: system, question and output lengths must be positive, got %d, %d, %d", d.SystemTokens, d.QuestionTokens, d.OutputTokens)
	case d.VocabSize <= 1:
		return nil, fmt.Errorf("shared-prefix dataset: vocab size must be above 1, got %d", d.VocabSize)
	case d.Zipf && !(d.ZipfAlpha > 1):
		return nil, fmt.Errorf("shared-prefix dataset: zipf alpha must be above 1, got %v", d.ZipfAlpha)
	}
	rng := rand.New(rand.NewPCG(d.Seed, 0x5a4ed))
	systems := make([][]int, d.Groups)
	for g := range systems {
		systems[g] = randomIDs(rng, d.SystemTokens, d.VocabSize)
	}
	n := d.Groups * d.PromptsPerGroup
	groups := make([]int, n)
	if d.Zipf {
		// Inverse CDF over the finite support 1..Groups.
		cdf := make([]float64, d.Groups)
		var sum float64
		for k := range cdf {
			sum += math.Pow(float64(k+1), -d.ZipfAlpha)
			cdf[k] = sum
		}
		for i := range groups {
			u := rng.Float64() * sum
			k := 0
			for k < len(cdf)-1 && cdf[k] < u {
				k++
			}
			groups[i] = k
		}
	} else {
		for i := range groups {
			groups[i] = i / d.PromptsPerGroup
		}
		rng.Shuffle(n, func(i, j int) { groups[i], groups[j] = groups[j], groups[i] })
	}
	reqs := make([]Request, n)
	for i, g := range groups {
		ids := make([]int, 0, d.SystemTokens+d.QuestionTokens)
		ids = append(ids, systems[g]...)
		ids = append(ids, randomIDs(rng, d.QuestionTokens, d.VocabSize)...)
		reqs[i] = Request{Index: i, InputIDs: ids, OutputTokens: d.OutputTokens, Group: g}
	}
	return reqs, nil
}

// MultiTurn is a dataset of synthetic conversations: Conversations chats of
// Turns user turns each. Turn k's prompt is the whole history (turns
// 0..k−1, each a question of QuestionTokens ids followed by AnswerTokens
// ids standing for the assistant's reply) plus a new question, so every
// turn extends the previous turn's prompt and exercises the prefix cache.
// Requests are ordered turn-major (every conversation's turn 0, then every
// turn 1, ...), so open-loop arrivals keep a conversation's turns in order;
// Group is the conversation.
type MultiTurn struct {
	Conversations, Turns         int
	QuestionTokens, AnswerTokens int
	OutputTokens                 int
	VocabSize                    int
	Seed                         uint64
}

// Requests builds the dataset.
func (d MultiTurn) Requests() ([]Request, error) {
	switch {
	case d.Conversations <= 0 || d.Turns <= 0:
		return nil, fmt.Errorf("multi-turn dataset: conversations and turns must be positive, got %d and %d", d.Conversations, d.Turns)
	case d.QuestionTokens <= 0 || d.AnswerTokens <= 0 || d.OutputTokens <= 0:
		return nil, fmt.Errorf("multi-turn dataset: question, answer and output lengths must be positive, got %d, %d, %d", d.QuestionTokens, d.AnswerTokens, d.OutputTokens)
	case d.VocabSize <= 1:
		return nil, fmt.Errorf("multi-turn dataset: vocab size must be above 1, got %d", d.VocabSize)
	}
	rng := rand.New(rand.NewPCG(d.Seed, 0x3717))
	history := make([][]int, d.Conversations)
	reqs := make([]Request, 0, d.Conversations*d.Turns)
	for t := range d.Turns {
		for c := range history {
			if t > 0 {
				history[c] = append(history[c], randomIDs(rng, d.AnswerTokens, d.VocabSize)...)
			}
			history[c] = append(history[c], randomIDs(rng, d.QuestionTokens, d.VocabSize)...)
			ids := append([]int(nil), history[c]...)
			reqs = append(reqs, Request{Index: len(reqs), InputIDs: ids, OutputTokens: d.OutputTokens, Group: c})
		}
	}
	return reqs, nil
}
