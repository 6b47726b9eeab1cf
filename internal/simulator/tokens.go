package simulator

import (
	"hash/fnv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// tokenizer turns text into token ids deterministically, without a
// vocabulary file: the same text always gives the same ids, and texts that
// share a prefix share ids up to the word where they part, as a BPE
// tokenizer's do. So the radix cache keys text prompts as it keys input_ids,
// for every API. Text is cut into pieces the way Llama-3's pre-tokenizer
// cuts it (a word with its leading space, up to three digits, a run of
// punctuation, a run of whitespace), pieces longer than maxPieceBytes are cut
// again, and each piece hashes to an id. That gives about 1.3 tokens per
// English word, Llama-3's rate; exact counts need input_ids.
type tokenizer struct {
	vocab    uint64
	bos, eos int
	template string
}

// maxPieceBytes bounds a token's text: longer words become several tokens.
const maxPieceBytes = 6

// Llama-3's header tokens, which its chat template puts around each role.
const (
	llama3StartHeader = 128006
	llama3EndHeader   = 128007
)

// llama31SystemPreamble is what Llama 3.1's template writes at the top of
// every conversation's system message, with the template's default date.
const llama31SystemPreamble = "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"

func newTokenizer(p Profile) tokenizer {
	return tokenizer{
		vocab: uint64(p.Model.VocabSize.Value), bos: int(p.Tokenizer.BOSTokenID.Value),
		eos: int(p.Tokenizer.EOSTokenID.Value), template: p.Tokenizer.ChatTemplate,
	}
}

// encode appends text's ids to ids. It adds no special tokens.
func (t tokenizer) encode(ids []int, text string) []int {
	for len(text) > 0 {
		n := pieceLen(text)
		piece := text[:n]
		text = text[n:]
		for len(piece) > 0 {
			m := min(len(piece), maxPieceBytes)
			for m < len(piece) && !utf8.RuneStart(piece[m]) {
				m-- // cut on a character boundary
			}
			if m == 0 {
				m = len(piece)
			}
			ids = append(ids, t.id(piece[:m]))
			piece = piece[m:]
		}
	}
	return ids
}

// id hashes one piece into the vocabulary, clear of the BOS and EOS ids.
func (t tokenizer) id(piece string) int {
	h := fnv.New64a()
	h.Write([]byte(piece))
	id := int(splitmix64(h.Sum64()) % t.vocab)
	for id == t.bos || id == t.eos {
		id = (id + 1) % int(t.vocab)
	}
	return id
}

// pieceLen is the length of text's first pre-token piece: a space and the
// piece after it, a run of whitespace (less a last space that leads a word),
// a run of letters, up to three digits, or a run of other characters.
func pieceLen(text string) int {
	r, n := utf8.DecodeRuneInString(text)
	if r == ' ' && n < len(text) {
		if next, _ := utf8.DecodeRuneInString(text[n:]); !unicode.IsSpace(next) {
			return n + pieceLen(text[n:])
		}
	}
	switch {
	case unicode.IsSpace(r):
		i := n + runLen(text[n:], unicode.IsSpace, -1)
		if i > n && i < len(text) && text[i-1] == ' ' {
			return i - 1
		}
		return i
	case unicode.IsLetter(r):
		return n + runLen(text[n:], unicode.IsLetter, -1)
	case unicode.IsDigit(r):
		return n + runLen(text[n:], unicode.IsDigit, 2)
	}
	return n + runLen(text[n:], isSymbol, -1)
}

func isSymbol(r rune) bool { return !unicode.IsSpace(r) && !unicode.IsLetter(r) && !unicode.IsDigit(r) }

// runLen is how many bytes of text's prefix are runes in the class, at most
// maxRunes of them (no limit when negative).
func runLen(text string, in func(rune) bool, maxRunes int) int {
	i := 0
	for count := 0; i < len(text) && count != maxRunes; count++ {
		r, m := utf8.DecodeRuneInString(text[i:])
		if !in(r) {
			break
		}
		i += m
	}
	return i
}

// prompt is a /generate or completions text prompt: BOS, then the text, as
// the model's tokenizer encodes with special tokens.
func (t tokenizer) prompt(text string) []int {
	return t.encode([]int{t.bos}, text)
}

// chatMessage is one message's role and text.
type chatMessage struct{ role, text string }

// chat renders a conversation with the profile's chat template and the
// generation prompt, as ids. Llama 3.1's template: BOS; a system header
// whose text is the dated preamble plus any system message; each other
// message as a header with its role, a blank line, its trimmed text and
// <|eot_id|>; then the assistant's header.
func (t tokenizer) chat(msgs []chatMessage) []int {
	header := func(ids []int, role string) []int {
		ids = append(ids, llama3StartHeader)
		ids = t.encode(ids, role)
		ids = append(ids, llama3EndHeader)
		return t.encode(ids, "\n\n")
	}
	system := ""
	if len(msgs) > 0 && msgs[0].role == "system" {
		system, msgs = strings.TrimSpace(msgs[0].text), msgs[1:]
	}
	ids := header([]int{t.bos}, "system")
	ids = t.encode(ids, llama31SystemPreamble+system)
	ids = append(ids, t.eos)
	for _, m := range msgs {
		ids = header(ids, m.role)
		ids = t.encode(ids, strings.TrimSpace(m.text))
		ids = append(ids, t.eos)
	}
	return header(ids, "assistant")
}

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
	eos   bool  // the last token is EOS
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

// endWithEOS makes the n-th and last token the end-of-sequence token eos,
// whose text is empty (special tokens are skipped when decoding).
func (g *tokenGen) endWithEOS(n, eos int) {
	if g.eos || n == 0 {
		return
	}
	g.extend(n - 1)
	g.ids = append(g.ids[:n-1], eos)
	g.ends = append(g.ends[:n-1], g.text.Len())
	g.eos = true
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
