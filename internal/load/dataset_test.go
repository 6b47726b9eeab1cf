package load

import (
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
