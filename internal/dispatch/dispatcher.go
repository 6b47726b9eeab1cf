package dispatch

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/sgltest/sgltest/internal/load"
	"github.com/sgltest/sgltest/internal/workerstate"
	"github.com/sgltest/sgltest/router"
)

// Dispatcher decides, for each request, which worker its Policy picks,
// keeping the in-flight count per worker that policies see (sglang-router's
// own load counter). The load generator sends the request (see Route).
type Dispatcher struct {
	policy  router.Policy
	workers []string
	log     *slog.Logger

	// State, when set, fills each worker's scraped state before every
	// decision.
	State *workerstate.Scraper

	mu       sync.Mutex
	inFlight []int
	snapshot []router.Worker
}

// New returns a Dispatcher over the given worker base URLs. A nil logger
// discards.
func New(policy router.Policy, workers []string, logger *slog.Logger) (*Dispatcher, error) {
	if policy == nil {
		return nil, errors.New("dispatch: nil policy")
	}
	if len(workers) == 0 {
		return nil, errors.New("dispatch: no workers")
	}
	seen := map[string]bool{}
	for i, w := range workers {
		if !strings.HasPrefix(w, "http://") && !strings.HasPrefix(w, "https://") {
			return nil, fmt.Errorf("dispatch: worker %d: %q: want a base URL such as http://127.0.0.1:30000", i, w)
		}
		if seen[w] {
			return nil, fmt.Errorf("dispatch: worker %d: %q is listed twice", i, w)
		}
		seen[w] = true
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{
		policy: policy, workers: append([]string(nil), workers...), log: logger,
		inFlight: make([]int, len(workers)), snapshot: make([]router.Worker, len(workers)),
	}
	for i, u := range d.workers {
		d.snapshot[i].URL = u
	}
	return d, nil
}

// Pick makes one routing decision: it snapshots every worker's state
// (in-flight count, scraped state), asks the policy and counts the request
// in flight on the chosen worker. Done must be called when it finishes.
func (d *Dispatcher) Pick(req router.Request) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range d.snapshot {
		d.snapshot[i] = router.Worker{URL: d.workers[i], InFlight: d.inFlight[i]}
	}
	if d.State != nil {
		d.State.Fill(d.snapshot)
	}
	i, err := d.policy.Pick(req, d.snapshot)
	if err != nil {
		return 0, err
	}
	if i < 0 || i >= len(d.workers) {
		return 0, fmt.Errorf("policy picked worker %d of %d", i, len(d.workers))
	}
	d.inFlight[i]++
	return i, nil
}

// Done ends a request counted in flight on worker i by Pick.
func (d *Dispatcher) Done(i int) {
	d.mu.Lock()
	d.inFlight[i]--
	d.mu.Unlock()
}

// Route picks the worker for req and returns its URL, with the func that
// ends the request's in-flight count. It is load.Generator's Route hook:
// the generator owns the schedule, the APIs, the measurements and the
// self-check, and asks the dispatcher only where each request goes, at the
// moment it is sent.
func (d *Dispatcher) Route(req load.Request) (string, func(), error) {
	i, err := d.Pick(router.Request{Text: router.RoutingText(req.Prompt, req.InputIDs), InputIDs: req.InputIDs})
	if err != nil {
		return "", nil, err
	}
	return d.workers[i], func() { d.Done(i) }, nil
}
