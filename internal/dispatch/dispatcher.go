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
	down     []bool // workers whose health checks fail: never picked
	snapshot []router.Worker
	healthy  []router.Worker // the snapshot's healthy workers, what the policy sees
	index    []int           // healthy[j] is worker index[j]
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
		inFlight: make([]int, len(workers)), down: make([]bool, len(workers)), snapshot: make([]router.Worker, len(workers)),
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
	d.healthy, d.index = d.healthy[:0], d.index[:0]
	for i, w := range d.snapshot {
		if !d.down[i] {
			d.healthy = append(d.healthy, w)
			d.index = append(d.index, i)
		}
	}
	if len(d.healthy) == 0 {
		return 0, fmt.Errorf("no healthy worker: all %d fail their health checks", len(d.workers))
	}
	j, err := d.policy.Pick(req, d.healthy)
	if err != nil {
		return 0, err
	}
	if j < 0 || j >= len(d.healthy) {
		return 0, fmt.Errorf("policy picked worker %d of %d", j, len(d.healthy))
	}
	i := d.index[j]
	d.inFlight[i]++
	return i, nil
}

// SetHealthy marks worker i healthy or not; Pick never offers an unhealthy
// worker to the policy, as a real router drops a worker whose health
// checks fail.
func (d *Dispatcher) SetHealthy(i int, ok bool) {
	d.mu.Lock()
	d.down[i] = !ok
	d.mu.Unlock()
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
