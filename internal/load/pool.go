package load

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// pool runs requests on workers: goroutines that each send one request at
// a time and then wait for the next, so that a request in flight costs one
// goroutine whose stack has already grown, and no goroutine is started
// per request. Workers are started as they are needed, up to max; with
// max busy, an arrived request waits for the next one free, and the run
// is then invalid (Health.BoundWaits).
type pool struct {
	ctx  context.Context
	run  *run
	jobs chan job
	// idle is the workers waiting for a job minus the jobs sent to them and
	// not yet taken: negative while jobs wait at the bound.
	idle    atomic.Int64
	started int // only the dispatching goroutine touches it
	max     int
	wg      sync.WaitGroup

	inFlight, peak atomic.Int64

	mu      sync.Mutex
	waits   int
	waitMax time.Duration

	// handoffs[i] is request i's hand-off (Health.HandoffP99), -1 until a
	// worker starts on it or when it waited at the bound. Each index is
	// written by the one worker that runs request i and read after close.
	handoffs []time.Duration
}

// newPool returns a pool of at most max workers for a run of n requests.
// Its queue holds up to 65536 waiting requests; past that the dispatching
// goroutine itself waits, and its lateness shows in the schedule lag.
func newPool(ctx context.Context, r *run, max, n int) *pool {
	h := make([]time.Duration, n)
	for i := range h {
		h[i] = -1
	}
	return &pool{ctx: ctx, run: r, max: max, jobs: make(chan job, min(n+1, 1<<16)), handoffs: h}
}

// dispatch hands j to an idle worker, starts a new one below the bound, or
// queues j for the next free worker. One goroutine at a time calls it.
func (p *pool) dispatch(j job) {
	j.readyAt = p.run.now()
	if p.idle.Add(-1) >= 0 {
		p.jobs <- j
		return
	}
	if p.started < p.max {
		p.idle.Add(1)
		p.started++
		p.wg.Add(1)
		go p.work(j)
		return
	}
	j.queuedAt = p.run.now()
	p.jobs <- j
}

func (p *pool) work(j job) {
	defer p.wg.Done()
	for {
		if j.queuedAt != 0 {
			p.waited(p.run.now() - j.queuedAt)
		} else {
			p.handoffs[j.i] = p.run.now() - j.readyAt
		}
		if err := p.ctx.Err(); err != nil {
			if j.release != nil {
				j.release()
			}
			p.run.unsent(p.ctx, j, err)
		} else {
			n := p.inFlight.Add(1)
			for {
				old := p.peak.Load()
				if n <= old || p.peak.CompareAndSwap(old, n) {
					break
				}
			}
			p.run.execute(p.ctx, j)
			p.inFlight.Add(-1)
		}
		p.idle.Add(1)
		var ok bool
		if j, ok = <-p.jobs; !ok {
			return
		}
	}
}

func (p *pool) waited(d time.Duration) {
	p.mu.Lock()
	p.waits++
	p.waitMax = max(p.waitMax, d)
	p.mu.Unlock()
}

// close waits for every dispatched request to end.
func (p *pool) close() {
	close(p.jobs)
	p.wg.Wait()
}

// handedOff returns the hand-offs of the requests workers started on
// without waiting at the bound; call it after close.
func (p *pool) handedOff() []time.Duration {
	out := make([]time.Duration, 0, len(p.handoffs))
	for _, d := range p.handoffs {
		if d >= 0 {
			out = append(out, d)
		}
	}
	return out
}

// report adds the pool's figures to h, failing it when requests waited at
// the bound; sent is the number of requests of the run.
func (p *pool) report(h *Health, sent int) {
	h.MaxInFlight = p.max
	h.PeakInFlight = int(p.peak.Load())
	h.BoundWaits, h.BoundWaitMax = p.waits, p.waitMax
	if p.waits == 0 {
		return
	}
	h.Invalidate(fmt.Sprintf("load generator reached its bound of %d requests in flight: %d of %d requests (%.1f%%) waited up to %v for one to end, so they were sent later than scheduled",
		p.max, p.waits, sent, 100*float64(p.waits)/float64(max(sent, 1)), p.waitMax.Round(time.Microsecond)))
}

// inFlightBound resolves Generator.MaxInFlight: the default for zero, and
// at most what the open-file limit allows (one connection per request in
// flight, with room for everything else the process has open).
func inFlightBound(n int) (int, error) {
	if n < 0 {
		return 0, fmt.Errorf("load: MaxInFlight must not be negative, got %d", n)
	}
	if n == 0 {
		n = DefaultMaxInFlight
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < uint64(n)+256 {
		n = max(int(lim.Cur)-256, 1)
	}
	return n, nil
}
