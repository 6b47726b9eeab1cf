package dispatch

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/sgltest/sgltest/internal/load"
	"github.com/sgltest/sgltest/router"
)

// StateSource fills workers' polled state (router.Worker's Scraped fields),
// matching them by URL and leaving a worker it knows nothing of untouched.
// *workerstate.Scraper (each worker's /metrics) and *LoadPoller (each
// worker's /v1/loads, what smg polls) are the two.
type StateSource interface {
	Fill(workers []router.Worker)
}

// ErrNoHealthyWorkers is returned by Pick when every worker is marked
// unhealthy.
var ErrNoHealthyWorkers = errors.New("no healthy worker to route to")

// Dispatcher decides, for each request, which worker its Policy picks,
// keeping the in-flight count per worker that policies see (the real
// routers' own load counter) and offering the policy only the workers
// marked healthy. The load generator sends the request (see Route).
//
// The polled state a policy reads (router.Worker's Scraped fields) is the
// State source's as of the last refresh, and refreshes happen at most
// every LoadInterval, so that a policy sees it exactly as stale as the real
// router it models would (router.LoadInterval); in-flight counts are always
// current, as in the routers.
type Dispatcher struct {
	policy  router.Policy
	workers []string
	log     *slog.Logger

	// State, when set, provides the polled worker state; set it before the
	// first Pick.
	State StateSource
	// Now is the run's monotonic clock, which times the load refreshes;
	// nil means the time since New. Set it before the first Pick.
	Now func() time.Duration
	// Key, when set, gives each request's routing key (router.Request's
	// RoutingKey) in Route. A real router reads it from the request's
	// X-SMG-Routing-Key header, which the sender must then set too.
	Key func(load.Request) string

	start time.Time

	mu           sync.Mutex
	inFlight     []int
	healthy      []bool
	loadInterval time.Duration
	refreshed    bool
	refreshedAt  time.Duration
	state        []router.Worker // the polled state as of the last refresh
	snapshot     []router.Worker // what the policy is offered
	offered      []int           // snapshot position → worker index
}

// New returns a Dispatcher over the given worker base URLs, all healthy,
// refreshing polled state every router.LoadInterval(policy). A nil logger
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
	n := len(workers)
	d := &Dispatcher{
		policy: policy, workers: append([]string(nil), workers...), log: logger, start: time.Now(),
		inFlight: make([]int, n), healthy: make([]bool, n), loadInterval: router.LoadInterval(policy),
		state: make([]router.Worker, n), snapshot: make([]router.Worker, 0, n), offered: make([]int, 0, n),
	}
	for i, u := range d.workers {
		d.healthy[i] = true
		d.state[i].URL = u
	}
	return d, nil
}

// LoadInterval is how often the polled state policies see is refreshed;
// zero means at every decision.
func (d *Dispatcher) LoadInterval() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.loadInterval
}

// SetLoadInterval sets how often the polled state is refreshed (zero: at
// every decision). The next decision refreshes.
func (d *Dispatcher) SetLoadInterval(iv time.Duration) error {
	if iv < 0 {
		return fmt.Errorf("dispatch: load interval %v: want zero or a positive duration", iv)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.loadInterval = iv
	d.refreshed = false
	return nil
}

// SetHealthy marks the worker with base URL url healthy or not; Pick
// offers the policy only healthy workers, as the routers do once their
// health checks fail.
func (d *Dispatcher) SetHealthy(url string, healthy bool) error {
	for i, u := range d.workers {
		if u == url {
			d.mu.Lock()
			if d.healthy[i] != healthy {
				d.log.Info("worker health", "worker", url, "healthy", healthy)
			}
			d.healthy[i] = healthy
			d.mu.Unlock()
			return nil
		}
	}
	return fmt.Errorf("dispatch: SetHealthy: %q is not one of the workers (%s)", url, strings.Join(d.workers, ", "))
}

// Unhealthy lists the workers marked unhealthy, in worker order.
func (d *Dispatcher) Unhealthy() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for i, ok := range d.healthy {
		if !ok {
			out = append(out, d.workers[i])
		}
	}
	return out
}

func (d *Dispatcher) now() time.Duration {
	if d.Now != nil {
		return d.Now()
	}
	return time.Since(d.start)
}

// refresh takes a new copy of the polled state when it is due.
func (d *Dispatcher) refresh() {
	if d.State == nil {
		return
	}
	now := d.now()
	if d.refreshed && now-d.refreshedAt < d.loadInterval {
		return
	}
	for i := range d.state {
		d.state[i] = router.Worker{URL: d.workers[i]}
	}
	d.State.Fill(d.state)
	d.refreshed, d.refreshedAt = true, now
}

// Pick makes one routing decision: it offers the policy the healthy
// workers, each with its current in-flight count and its polled state as
// of the last refresh, and counts the request in flight on the worker
// chosen. Done must be called when it finishes. It fails with
// ErrNoHealthyWorkers when no worker is healthy.
func (d *Dispatcher) Pick(req router.Request) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.refresh()
	d.snapshot, d.offered = d.snapshot[:0], d.offered[:0]
	for i := range d.workers {
		if !d.healthy[i] {
			continue
		}
		w := d.state[i]
		w.InFlight = d.inFlight[i]
		d.snapshot = append(d.snapshot, w)
		d.offered = append(d.offered, i)
	}
	if len(d.snapshot) == 0 {
		return 0, fmt.Errorf("%w: all %d are marked unhealthy", ErrNoHealthyWorkers, len(d.workers))
	}
	j, err := d.policy.Pick(req, d.snapshot)
	if err != nil {
		return 0, err
	}
	if j < 0 || j >= len(d.snapshot) {
		return 0, fmt.Errorf("policy picked worker %d of %d", j, len(d.snapshot))
	}
	i := d.offered[j]
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
// moment it is sent. The routing text is what both routers route on: the
// prompt, the input ids joined by spaces, or the chat messages' contents
// joined by spaces.
func (d *Dispatcher) Route(req load.Request) (string, func(), error) {
	r := router.Request{Text: router.RoutingText(req.Prompt, req.InputIDs), InputIDs: req.InputIDs}
	if r.Text == "" && len(req.Messages) > 0 {
		parts := make([]string, 0, len(req.Messages))
		for _, m := range req.Messages {
			if m.Content != "" {
				parts = append(parts, m.Content)
			}
		}
		r.Text = strings.Join(parts, " ")
	}
	if d.Key != nil {
		r.RoutingKey = d.Key(req)
	}
	i, err := d.Pick(r)
	if err != nil {
		return "", nil, err
	}
	return d.workers[i], func() { d.Done(i) }, nil
}
