package load

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ShareGPT selects and filters a ShareGPT file as bench_serving does
// (sglang-reference.md s6.6): keep conversations with at least two turns,
// use turn 0 as the prompt and turn 1 as the completion, drop a sample
// whose prompt or completion is under 2 tokens, and, with ContextLen set,
// one whose prompt + output exceeds it. Token counts come from
// ApproxTokens (no tokenizer is loaded; see its rule).
type ShareGPT struct {
	Path string
	// Count is the number of requests to return; 0 returns every kept one.
	Count int
	// OutputLen, when positive, replaces every completion's length (must be
	// at least 4, as bench_serving's --sharegpt-output-len).
	OutputLen int
	// ContextLen, when positive, drops samples with prompt + output above it.
	ContextLen int
	Seed       uint64
}

// ShareGPTStats counts what the loader saw and why it dropped samples.
type ShareGPTStats struct {
	Conversations int // elements of the file's array
	TooFewTurns   int // fewer than two turns
	TooShort      int // prompt or output under 2 tokens
	OverContext   int // prompt + output above ContextLen
	Kept          int // passed every filter
}

type shareGPTEntry struct {
	ID            string `json:"id"`
	Conversations []struct {
		From  string `json:"from"`
		Value string `json:"value"`
	} `json:"conversations"`
}

// Requests streams the file with a json.Decoder, one conversation at a
// time, so a 700 MB file is never held in memory: with Count set it keeps a
// seeded uniform reservoir of Count kept samples, then shuffles them. The
// prompt is sent as text (Prompt; chat APIs wrap it in one user message).
func (d ShareGPT) Requests() ([]Request, ShareGPTStats, error) {
	var st ShareGPTStats
	if d.Count < 0 {
		return nil, st, fmt.Errorf("sharegpt %s: count must not be negative, got %d", d.Path, d.Count)
	}
	if d.OutputLen != 0 && d.OutputLen < 4 {
		return nil, st, fmt.Errorf("sharegpt %s: fixed output length must be at least 4, got %d", d.Path, d.OutputLen)
	}
	f, err := os.Open(d.Path)
	if err != nil {
		return nil, st, err
	}
	defer func() { _ = f.Close() }() // read only
	dec := json.NewDecoder(bufio.NewReaderSize(f, 1<<20))
	where := func(format string, a ...any) error {
		return fmt.Errorf("sharegpt %s: byte %d: %s", d.Path, dec.InputOffset(), fmt.Sprintf(format, a...))
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, st, where("reading the opening '[': %v", err)
	}
	if delim, ok := tok.(json.Delim); !ok || delim != '[' {
		return nil, st, where("want a JSON array of conversations, got %v", tok)
	}
	rng := rand.New(rand.NewPCG(d.Seed, 0x54a7e))
	var kept []Request
	for dec.More() {
		var e shareGPTEntry
		if err := dec.Decode(&e); err != nil {
			return nil, st, where("conversation %d: %v", st.Conversations+1, err)
		}
		st.Conversations++
		if len(e.Conversations) < 2 {
			st.TooFewTurns++
			continue
		}
		prompt, completion := e.Conversations[0].Value, e.Conversations[1].Value
		in := ApproxTokens(prompt)
		out := ApproxTokens(completion)
		if d.OutputLen > 0 {
			out = d.OutputLen
		}
		if in < 2 || out < 2 {
			st.TooShort++
			continue
		}
		if d.ContextLen > 0 && in+out > d.ContextLen {
			st.OverContext++
			continue
		}
		st.Kept++
		r := Request{Prompt: prompt, InputTokens: in, OutputTokens: out}
		switch {
		case d.Count == 0 || len(kept) < d.Count:
			kept = append(kept, r)
		default: // reservoir sampling (Algorithm R)
			if j := rng.IntN(st.Kept); j < d.Count {
				kept[j] = r
			}
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim(']') {
		return nil, st, where("want the closing ']' of the array (%v)", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, st, where("data after the array")
	}
	if d.Count > 0 && len(kept) < d.Count {
		return nil, st, fmt.Errorf("sharegpt %s: want %d requests but only %d of %d conversations pass the filters (%d too few turns, %d too short, %d over context)",
			d.Path, d.Count, st.Kept, st.Conversations, st.TooFewTurns, st.TooShort, st.OverContext)
	}
	rng.Shuffle(len(kept), func(i, j int) { kept[i], kept[j] = kept[j], kept[i] })
	for i := range kept {
		kept[i].Index = i
	}
	return kept, st, nil
}

// ApproxTokens estimates a text's token count without a tokenizer. The
// rule, calibrated by eye on Llama-family BPE vocabularies and documented as
// approximate (typically within ±25% on English prose, worse on code or
// non-Latin scripts):
//
//   - a run of letters counts ⌈runes/8⌉ tokens (most words are one token,
//     long words split);
//   - a run of digits counts ⌈digits/3⌉ (Llama-3 splits numbers in threes);
//   - every other non-space rune (punctuation, symbols, CJK ideographs, emoji)
//     counts 1;
//   - whitespace counts nothing (it merges into the following word).
//
// No BOS or other special token is added.
func ApproxTokens(s string) int {
	n, letters, digits := 0, 0, 0
	flush := func() {
		n += (letters+7)/8 + (digits+2)/3
		letters, digits = 0, 0
	}
	for _, r := range s {
		switch {
		case r < utf8.RuneSelf && (r|0x20 >= 'a' && r|0x20 <= 'z') || r >= utf8.RuneSelf && unicode.IsLetter(r) && !unicode.Is(unicode.Han, r):
			if digits > 0 {
				flush()
			}
			letters++
		case r >= '0' && r <= '9':
			if letters > 0 {
				flush()
			}
			digits++
		case unicode.IsSpace(r):
			flush()
		default:
			flush()
			n++
		}
	}
	flush()
	return n
}

// customLine is one line of a custom JSONL dataset.
type customLine struct {
	Prompt    *string `json:"prompt"`
	InputIDs  []int   `json:"input_ids"`
	OutputLen *int    `json:"output_len"`
}

// LoadJSONL reads a custom dataset: one JSON object per line with either
// "prompt" (text) or "input_ids" (token ids), and "output_len". Blank lines
// are skipped; any other problem is an error naming the file and line.
// Text prompts declare ApproxTokens as their input length.
func LoadJSONL(path string) ([]Request, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }() // read only
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 256<<20)
	var reqs []Request
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var c customLine
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return nil, fmt.Errorf("%s:%d: %v (want {\"prompt\"|\"input_ids\", \"output_len\"})", path, line, err)
		}
		r := Request{Index: len(reqs)}
		switch {
		case c.Prompt != nil && c.InputIDs != nil:
			return nil, fmt.Errorf("%s:%d: give either \"prompt\" or \"input_ids\", not both", path, line)
		case c.Prompt != nil:
			if strings.TrimSpace(*c.Prompt) == "" {
				return nil, fmt.Errorf("%s:%d: \"prompt\" is empty", path, line)
			}
			r.Prompt, r.InputTokens = *c.Prompt, ApproxTokens(*c.Prompt)
		case len(c.InputIDs) > 0:
			for k, id := range c.InputIDs {
				if id < 0 {
					return nil, fmt.Errorf("%s:%d: input_ids[%d] is negative (%d)", path, line, k, id)
				}
			}
			r.InputIDs = c.InputIDs
		default:
			return nil, fmt.Errorf("%s:%d: missing \"prompt\" or non-empty \"input_ids\"", path, line)
		}
		if c.OutputLen == nil || *c.OutputLen <= 0 {
			return nil, fmt.Errorf("%s:%d: \"output_len\" must be a positive integer", path, line)
		}
		r.OutputTokens = *c.OutputLen
		reqs = append(reqs, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(reqs) == 0 {
		return nil, fmt.Errorf("%s: no requests", path)
	}
	return reqs, nil
}

// WordText renders token ids as text for APIs that take text when no
// tokenizer is available: id k becomes the k-th word (mod the list) of a
// list of common English words, each with a leading space. Each such word
// is a single token in Llama-2 and Llama-3 tokenizers, so the text is about
// len(ids) tokens (plus BOS and any chat template); it is an approximation,
// not an exact length.
func WordText(ids []int) string {
	var b strings.Builder
	b.Grow(len(ids) * 6)
	for _, id := range ids {
		b.WriteString(words[uint(id)%uint(len(words))])
	}
	return b.String()
}

var words = func() []string {
	w := strings.Fields("the of and to in is was for that on as with by he at from his it an were are which this be or has had first one their its new after who they two her she been other when time during there into school more may years over only year most would world city some where between later up such used many can state all about national out known university united then made")
	for i := range w {
		w[i] = " " + w[i]
	}
	return w
}()
