package metrics

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestEachVisitsEveryMeasuredRequestAsRecorded(t *testing.T) {
	recs := randomRecords(rand.New(rand.NewPCG(3, 4)), 300)
	// A warmup request is counted apart and never visited; a duration past
	// the 4-byte range must read back exactly too.
	recs = append(recs, Record{Warmup: true, Status: 200, Done: time.Second},
		Record{Target: "http://b", Status: 200, InputTokens: 7, OutputTokens: 1, Arrival: time.Second,
			Sent: 2 * time.Second, FirstToken: 9 * time.Second, Done: 10 * time.Second,
			Chunks: []Chunk{{At: 9 * time.Second, Tokens: 1}}})
	var want []Span
	for _, r := range recs {
		if r.Warmup {
			continue
		}
		sp := Span{Index: len(want), Scheduled: r.Scheduled, Arrival: r.Arrival, Sent: r.Sent, Done: r.Done,
			Target: r.Target, OK: r.OK(), Cancelled: r.Cancelled, InputTokens: r.InputTokens,
			OutputTokens: r.OutputTokens, CachedTokens: r.CachedTokens}
		if r.OK() {
			sp.FirstToken = r.FirstToken
		}
		want = append(want, sp)
	}
	var got []Span
	storeOf(recs).Each(func(s Span) { got = append(got, s) })
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Each (-want +got):\n%s", diff)
	}
}
