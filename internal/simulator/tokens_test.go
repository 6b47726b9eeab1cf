package simulator

import (
	"slices"
	"strings"
	"testing"
)

func TestTokenizer_SameTextSameIDsAndSharedPrefixesShareIDs(t *testing.T) {
	tok := newTokenizer(mustProfile(t, "llama-3.1-8b-h100"))
	system := "You are a helpful assistant. Answer briefly and cite your sources, 2024 edition!"
	a := tok.prompt(system + " What is the capital of France?")
	b := tok.prompt(system + " What is the capital of France?")
	c := tok.prompt(system + " Name three rivers in Spain.")
	if !slices.Equal(a, b) {
		t.Fatalf("one text tokenized twice differs:\n%v\n%v", a, b)
	}
	shared := len(tok.prompt(system))
	if common := commonPrefix(a, c); common < shared {
		t.Errorf("texts sharing a %d-token prefix share %d ids", shared, common)
	}
	if a[0] != 128000 || slices.Contains(a[1:], 128000) || slices.Contains(a, 128009) {
		t.Errorf("prompt %v: want BOS first and no special token after it", a)
	}
	for _, id := range a {
		if id < 0 || id >= 128256 {
			t.Errorf("id %d outside the vocabulary", id)
		}
	}
}

// About 1.3 tokens per English word, Llama-3's rate: a 100-word text gives
// 110-160 tokens.
func TestTokenizer_CountsAboutLlama3sTokensPerWord(t *testing.T) {
	tok := newTokenizer(mustProfile(t, "llama-3.1-8b-h100"))
	text := strings.Repeat("The quick brown fox jumps over the lazy dog while seven wizards quietly examine extraordinary manuscripts. ", 7)
	words := len(strings.Fields(text))
	if n := len(tok.encode(nil, text)); float64(n) < 1.1*float64(words) || float64(n) > 1.6*float64(words) {
		t.Errorf("%d words gave %d tokens, want 1.1-1.6 per word", words, n)
	}
}

// Llama 3.1's chat template: BOS, a dated system header, each message with
// its role's header and <|eot_id|>, and the assistant's header to generate
// after. A follow-up turn repeats the first turn's prompt as its prefix.
func TestTokenizer_ChatTemplateAddsItsTokensAndKeepsTurnsPrefixStable(t *testing.T) {
	tok := newTokenizer(mustProfile(t, "llama-3.1-8b-h100"))
	turn1 := []chatMessage{{"system", "Be terse."}, {"user", "Hello there"}}
	ids := tok.chat(turn1)
	count := func(id int) (n int) {
		for _, x := range ids {
			if x == id {
				n++
			}
		}
		return n
	}
	if ids[0] != 128000 || count(llama3StartHeader) != 3 || count(llama3EndHeader) != 3 || count(128009) != 2 {
		t.Errorf("ids %v: want BOS and three headers (system, user, assistant) with two <|eot_id|>", ids)
	}
	tail := tok.encode([]int{llama3StartHeader}, "assistant")
	tail = append(tail, llama3EndHeader)
	tail = tok.encode(tail, "\n\n")
	if !slices.Equal(ids[len(ids)-len(tail):], tail) {
		t.Errorf("prompt does not end with the assistant header %v: %v", tail, ids[len(ids)-len(tail):])
	}
	plain := tok.encode(nil, "Hello there")
	if len(ids) <= len(plain)+10 {
		t.Errorf("templated prompt has %d tokens, the text alone %d: the template added too little", len(ids), len(plain))
	}
	turn2 := tok.chat(append(turn1, chatMessage{"assistant", "Hi."}, chatMessage{"user", "Bye"}))
	if !slices.Equal(turn2[:len(ids)], ids) {
		t.Error("the second turn's prompt does not start with the first turn's")
	}
}
