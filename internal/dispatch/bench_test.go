package dispatch_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/sgltest/sgltest/internal/dispatch"
	"github.com/sgltest/sgltest/router"
)

// BenchmarkDecision measures the dispatcher's routing decision (snapshot of
// 64 workers' state plus cache_aware's or smg_cache_aware's Pick, which
// matches and inserts)
// with 100k distinct prefixes already in the tree. It reports the median
// and P99 of the individually timed decisions besides the mean (ns/op).
func BenchmarkDecision(b *testing.B) {
	for _, name := range []string{"cache_aware", "smg_cache_aware"} {
		b.Run(name, func(b *testing.B) {
			policy, err := router.New(name, router.Options{})
			if err != nil {
				b.Fatal(err)
			}
			benchmarkDecision(b, policy)
		})
	}
}

func benchmarkDecision(b *testing.B, policy router.Policy) {
	const nWorkers, nPrefixes = 64, 100_000
	urls := make([]string, nWorkers)
	for i := range urls {
		urls[i] = fmt.Sprintf("http://127.0.0.1:%d", 30000+i)
	}
	d, err := dispatch.New(policy, urls, nil)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	// 1000 system prompts of 200 characters, each with 100 different user
	// turns of 100 characters.
	sys := make([]string, 1000)
	for i := range sys {
		sys[i] = randText(rng, 200)
	}
	picked := make([]int, 0, nPrefixes)
	for i := range nPrefixes {
		w, err := d.Pick(router.Request{Text: sys[i%len(sys)] + randText(rng, 100)})
		if err != nil {
			b.Fatal(err)
		}
		// Keep a bounded, varying number of requests in flight.
		picked = append(picked, w)
		if len(picked) > 256 {
			d.Done(picked[0])
			picked = picked[1:]
		}
	}
	queries := make([]string, 8192)
	for i := range queries {
		queries[i] = sys[rng.IntN(len(sys))] + randText(rng, 100)
	}
	times := make([]time.Duration, 0, 1<<20)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		t0 := time.Now()
		w, err := d.Pick(router.Request{Text: queries[i%len(queries)]})
		el := time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
		d.Done(w)
		if len(times) < cap(times) {
			times = append(times, el)
		}
	}
	b.StopTimer()
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(times[len(times)*99/100].Nanoseconds()), "p99-ns")
}

func randText(rng *rand.Rand, n int) string {
	const letters = "abcdefghijklmnopqrstuvwxyz "
	b := make([]byte, n)
	for i := range b {
		b[i] = letters[rng.IntN(len(letters))]
	}
	return string(b)
}
