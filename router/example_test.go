package router_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/sgltest/sgltest/router"
)

// BestScore is the template for a custom policy. It sends each request to
// the worker with the highest score = throughput / (latency × (1 + queue
// depth)), using the state sgltest scrapes from each worker's /metrics.
// Copy it into your own package, change Pick, and register it under a name
// a scenario can use.
type BestScore struct{}

// Pick never fails on a non-empty list; a policy returns an error only when
// it cannot decide at all.
func (BestScore) Pick(_ router.Request, workers []router.Worker) (int, error) {
	if len(workers) == 0 {
		return 0, router.ErrNoWorkers
	}
	best, bestScore := 0, -1.0
	for i, w := range workers {
		score := 0.0
		// A worker not scraped yet, or with no finished request in the
		// last interval, has no latency: score it as idle-but-unknown (0),
		// so measured workers win and the first worker breaks the tie.
		if w.Scraped && w.Latency > 0 {
			score = w.Throughput / (w.Latency.Seconds() * float64(1+w.Queued))
		}
		if score > bestScore {
			best, bestScore = i, score
		}
	}
	return best, nil
}

func Example_customPolicy() {
	// Register once, e.g. from your package's init or main, before the
	// scenario that names it runs.
	err := router.Register("best_score", func(router.Options) (router.Policy, error) { return BestScore{}, nil })
	if err != nil {
		fmt.Println(err)
		return
	}
	p, err := router.New("best_score", router.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	workers := []router.Worker{
		{URL: "http://127.0.0.1:30001", Scraped: true, Throughput: 2000, Latency: 2 * time.Second, Queued: 3}, // 2000/(2·4) = 250
		{URL: "http://127.0.0.1:30002", Scraped: true, Throughput: 1500, Latency: time.Second, Queued: 1},     // 1500/(1·2) = 750
		{URL: "http://127.0.0.1:30003"}, // not scraped yet: 0
	}
	i, err := p.Pick(router.Request{Text: "Hello"}, workers)
	fmt.Println(workers[i].URL, err)
	// A second registration under the same name is refused.
	fmt.Println(errors.Is(router.Register("best_score", func(router.Options) (router.Policy, error) { return BestScore{}, nil }), nil))
	// Output:
	// http://127.0.0.1:30002 <nil>
	// false
}
