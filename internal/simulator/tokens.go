package simulator

import (
	"hash/fnv"
	"strings"
)

// textTokens approximates a tokenizer: one token per 4 bytes of text, rounded
// up, and at least one (a real tokenizer adds BOS even to empty text). Four
// bytes per token is the usual figure for English with Llama-family
// vocabularies; the simulator has no tokenizer, so prompts that must have an
// exact length should be sent as input_ids.
func textTokens(text string) int { return max(1, (len(text)+3)/4) }

// splitmix64 is a fast, well-mixed hash of one word (Steele et al.).
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// words are the output "vocabulary": token id i decodes to words[i%len].
// Each starts with a space so cumulative text reads as words and grows with
// every token.
var words = [...]string{
	" the", " of", " and", " to", " in", " a", " is", " that",
	" for", " it", " as", " was", " with", " be", " by", " on",
	" not", " he", " this", " are", " or", " his", " from", " at",
	" which", " but", " have", " an", " had", " they", " you", " were",
}

// tokenGen produces a request's output: deterministic pseudo-random ids in
// the vocabulary, from the seed, the request id and the position, and their
// text. It extends cumulatively, as streamed chunks need.
type tokenGen struct {
	base  uint64
	vocab uint64
	ids   []int
	text  strings.Builder
	ends  []int // ends[i] is the text's length after token i
}

func newTokenGen(seed int64, rid string, vocab int) *tokenGen {
	h := fnv.New64a()
	h.Write([]byte(rid))
	return &tokenGen{base: h.Sum64() ^ splitmix64(uint64(seed)), vocab: uint64(vocab), ids: []int{}}
}

// extend grows the output to n tokens.
func (g *tokenGen) extend(n int) {
	for i := len(g.ids); i < n; i++ {
		id := int(splitmix64(g.base+uint64(i)) % g.vocab)
		g.ids = append(g.ids, id)
		g.text.WriteString(words[id%len(words)])
		g.ends = append(g.ends, g.text.Len())
	}
}

// textBetween returns the text of tokens from..to-1; extend must have
// reached to.
func (g *tokenGen) textBetween(from, to int) string {
	start, end := 0, 0
	if from > 0 {
		start = g.ends[from-1]
	}
	if to > 0 {
		end = g.ends[to-1]
	}
	return g.text.String()[start:end]
}
