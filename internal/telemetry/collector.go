package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// DefaultInterval is how often a Collector samples unless told otherwise.
const DefaultInterval = 100 * time.Millisecond

// CollectorOptions configure NewCollector.
type CollectorOptions struct {
	// Sampler is read at every tick; the Collector does not close it.
	Sampler Sampler
	// Now is the run's monotonic clock (an offset from the run's start);
	// every sample is stamped with it.
	Now func() time.Duration
	// Interval between samples; 0 means DefaultInterval.
	Interval time.Duration
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// Collector samples GPUs over a measured window: once at Start, every
// Interval after it, and once at Stop, so the window's energy is the
// counter's difference between its first and last samples.
type Collector struct {
	sampler  Sampler
	now      func() time.Duration
	interval time.Duration
	log      *slog.Logger

	stop, done chan struct{}

	mu       sync.Mutex
	samples  []GPU
	taken    int
	failed   int
	firstErr error
	missed   int // ticks skipped because a sample overran its interval
	state    int // 0 new, 1 started, 2 stopped
}

// NewCollector checks the options and returns a Collector not yet started.
func NewCollector(opts CollectorOptions) (*Collector, error) {
	switch {
	case opts.Sampler == nil:
		return nil, errors.New("telemetry: collector needs a Sampler")
	case opts.Now == nil:
		return nil, errors.New("telemetry: collector needs the run's clock (Now)")
	case opts.Interval < 0:
		return nil, fmt.Errorf("telemetry: sampling interval %v: want a positive duration (0 for the default %v)", opts.Interval, DefaultInterval)
	}
	if opts.Interval == 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Collector{
		sampler: opts.Sampler, now: opts.Now, interval: opts.Interval, log: opts.Logger,
		stop: make(chan struct{}), done: make(chan struct{}),
	}, nil
}

// Start takes the window's first sample and then samples every Interval,
// on a schedule anchored at that sample, until Stop or until ctx ends. A
// failed first sample is an error, and nothing is started.
func (c *Collector) Start(ctx context.Context) error {
	c.mu.Lock()
	if c.state != 0 {
		c.mu.Unlock()
		return errors.New("telemetry: collector already started")
	}
	c.mu.Unlock()
	at := c.now()
	if err := c.sampleAt(at); err != nil {
		return fmt.Errorf("telemetry: first sample of the window: %w", err)
	}
	c.mu.Lock()
	c.state = 1
	c.mu.Unlock()
	go c.run(ctx, at)
	return nil
}

func (c *Collector) run(ctx context.Context, start time.Duration) {
	defer close(c.done)
	timer := time.NewTimer(c.interval)
	timer.Stop()
	defer timer.Stop()
	next := start + c.interval
	for {
		if wait := next - c.now(); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-c.stop:
				return
			case <-timer.C:
			}
		}
		if err := c.sampleAt(c.now()); err != nil {
			c.log.Warn("sampling GPUs", "err", err)
		}
		var skipped int
		next, skipped = nextTick(next, c.now(), c.interval)
		if skipped > 0 {
			c.mu.Lock()
			c.missed += skipped
			c.mu.Unlock()
		}
	}
}

// nextTick returns the first tick of the schedule after due that lies
// after now, and how many ticks it skips: a sample that overran its
// interval delays the next one without shifting the schedule.
func nextTick(due, now, interval time.Duration) (time.Duration, int) {
	next := due + interval
	if next > now {
		return next, 0
	}
	skipped := int((now-next)/interval) + 1
	return next + time.Duration(skipped)*interval, skipped
}

func (c *Collector) sampleAt(at time.Duration) error {
	gs, err := c.sampler.Sample(at)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.taken++
	if err != nil {
		c.failed++
		if c.firstErr == nil {
			c.firstErr = err
		}
		return err
	}
	c.samples = append(c.samples, gs...)
	return nil
}

// Stop ends the sampling and takes the window's last sample. It returns an
// error when that sample fails, or when any sample of the window failed
// (the failed ones are left out of the series).
func (c *Collector) Stop() error {
	c.mu.Lock()
	if c.state != 1 {
		c.mu.Unlock()
		return errors.New("telemetry: collector stopped without being started, or twice")
	}
	c.state = 2
	c.mu.Unlock()
	close(c.stop)
	<-c.done
	lastErr := c.sampleAt(c.now())
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.missed > 0 {
		c.log.Info("GPU sampling skipped ticks: samples took longer than the interval", "skipped", c.missed, "interval", c.interval)
	}
	if lastErr != nil {
		return fmt.Errorf("telemetry: last sample of the window: %w", lastErr)
	}
	if c.failed > 0 {
		return fmt.Errorf("telemetry: %d of %d samples failed; the first: %w", c.failed, c.taken, c.firstErr)
	}
	return nil
}

// Samples returns a copy of the series so far, in time order (within one
// instant, in the Sampler's GPU order).
func (c *Collector) Samples() []GPU {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]GPU(nil), c.samples...)
}

// Summaries summarises the series per GPU (Summarize).
func (c *Collector) Summaries() []Summary { return Summarize(c.Samples()) }
