package steps

import (
	"flag"
	"os"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite VOCABULARY.md from the step definitions")

func TestVocabularyFileMatchesTheStepDefinitions(t *testing.T) {
	const path = "VOCABULARY.md"
	if *update {
		if err := os.WriteFile(path, []byte(Vocabulary()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run make vocab)", err)
	}
	if diff := cmp.Diff(Vocabulary(), string(got)); diff != "" {
		t.Errorf("%s is stale; run make vocab (-want +got):\n%s", path, diff)
	}
}

func TestEveryExampleMatchesExactlyItsOwnPattern(t *testing.T) {
	for _, s := range sentences {
		text := regexp.MustCompile(`^(Given|When|Then|And) `).ReplaceAllString(s.example, "")
		if !regexp.MustCompile(s.pattern).MatchString(text) {
			t.Errorf("example %q does not match its pattern %s", s.example, s.pattern)
		}
		if n := match(text); n != 1 {
			t.Errorf("example %q matches %d sentences, want exactly 1", s.example, n)
		}
	}
}

func TestMisspelledSentencesMatchNothing(t *testing.T) {
	for _, text := range []string{
		"the P99 total latncy is below 10 s",
		"the P99 total latency is below 10 minutes",
		"200 random prompts with 256 input and 64 output tokens arrive at fast requests per second",
		"a simulated SGLang server with max running requests",
	} {
		if n := match(text); n != 0 {
			t.Errorf("%q matches %d sentences, want 0", text, n)
		}
	}
}
