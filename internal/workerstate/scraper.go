package workerstate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/sgltest/sgltest/router"
)

// Scraper reads every worker's /metrics each Interval, hands each sample
// to Observe, and keeps each worker's first and two newest samples (what
// Diff and policies need; the whole history is Observe's to keep). Its
// methods are safe for concurrent use: Run writes while policies read
// Latest.
type Scraper struct {
	// Observe, when set before Run, receives every successful scrape of
	// worker i (its index in the URLs given to New), in order per worker.
	Observe func(i int, s Sample)

	urls     []string
	interval time.Duration
	now      func() time.Duration
	http     *http.Client
	log      *slog.Logger

	mu     sync.RWMutex
	series map[string][]Sample
	errs   map[string]error // the last failed scrape per worker, cleared on success
	health []Health
}

// Health is what the scrapes say of one worker.
type Health struct {
	// LastOK is when the last successful scrape was read (on the caller's
	// clock); OK is false while no scrape has succeeded yet.
	LastOK time.Duration
	OK     bool
	// Failing counts the failed scrapes since the last success; Err is the
	// last of them.
	Failing int
	Err     error
}

// New returns a Scraper of the given worker base URLs. now is the run's
// monotonic clock; a nil logger discards.
func New(urls []string, interval time.Duration, now func() time.Duration, logger *slog.Logger) (*Scraper, error) {
	if len(urls) == 0 {
		return nil, errors.New("workerstate: no worker URLs")
	}
	if interval <= 0 {
		return nil, fmt.Errorf("workerstate: interval %v: want a positive duration", interval)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Scraper{
		urls: append([]string(nil), urls...), interval: interval, now: now,
		// No proxy: workers are local, whatever HTTP_PROXY says.
		http:   &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: max(interval, time.Second)},
		log:    logger,
		series: map[string][]Sample{}, errs: map[string]error{},
		health: make([]Health, len(urls)),
	}, nil
}

// ScrapeOnce scrapes every worker in parallel, appends what it read and
// returns the failures joined (a failed worker's series is left as it was).
func (s *Scraper) ScrapeOnce(ctx context.Context) error {
	return errors.Join(s.ScrapeEach(ctx)...)
}

// ScrapeEach is ScrapeOnce with each worker's error (nil when scraped) in
// the order of the URLs New was given, for a caller that excuses some.
func (s *Scraper) ScrapeEach(ctx context.Context) []error {
	errs := make([]error, len(s.urls))
	var wg sync.WaitGroup
	for i, u := range s.urls {
		wg.Go(func() {
			smp, err := s.scrape(ctx, u)
			s.mu.Lock()
			h := &s.health[i]
			if err != nil {
				errs[i] = err
				s.errs[u] = err
				h.Failing++
				h.Err = err
				s.mu.Unlock()
				return
			}
			delete(s.errs, u)
			*h = Health{LastOK: smp.At, OK: true}
			ser := append(s.series[u], smp)
			if len(ser) > 3 { // keep the first and the two newest
				ser = append(ser[:1], ser[len(ser)-2:]...)
			}
			s.series[u] = ser
			s.mu.Unlock()
			if s.Observe != nil {
				s.Observe(i, smp)
			}
		})
	}
	wg.Wait()
	return errs
}

func (s *Scraper) scrape(ctx context.Context, url string) (Sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/metrics", nil)
	if err != nil {
		return Sample{}, err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return Sample{}, fmt.Errorf("scraping %s/metrics: %w", url, err)
	}
	defer func() { _ = resp.Body.Close() }() // read to the end or abandoned: nothing to report
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return Sample{}, fmt.Errorf("scraping %s/metrics: HTTP %d: %s", url, resp.StatusCode, body)
	}
	smp, err := Parse(resp.Body)
	if err != nil {
		return Sample{}, fmt.Errorf("scraping %s/metrics: %w", url, err)
	}
	smp.At = s.now()
	return smp, nil
}

// Run scrapes at once and then every interval until ctx ends, logging
// failed scrapes; it returns nil when ctx ends. A worker that is never
// scraped successfully shows as unscraped to policies (Worker.Scraped).
func (s *Scraper) Run(ctx context.Context) error {
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for {
		if err := s.ScrapeOnce(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("scraping workers", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Health returns what the scrapes say of worker i.
func (s *Scraper) Health(i int) Health {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.health[i]
}

// Series returns a copy of url's retained samples, oldest first: its first
// and two newest.
func (s *Scraper) Series(url string) []Sample {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]Sample(nil), s.series[url]...)
}

// Latest returns url's newest sample and whether there is one.
func (s *Scraper) Latest(url string) (Sample, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ser := s.series[url]
	if len(ser) == 0 {
		return Sample{}, false
	}
	return ser[len(ser)-1], true
}

// Fill writes the newest scraped state of each worker into workers
// (matched by URL), leaving workers never scraped untouched.
func (s *Scraper) Fill(workers []router.Worker) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for i := range workers {
		ser := s.series[workers[i].URL]
		switch len(ser) {
		case 0:
		case 1:
			ser[0].Fill(&workers[i], ser[0])
		default:
			ser[len(ser)-1].Fill(&workers[i], ser[len(ser)-2])
		}
	}
}

// Diff returns each worker's counters between its first and last samples,
// the per-worker figures of a run scraped before and after it.
func (s *Scraper) Diff() (map[string]Counters, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[string]Counters, len(s.urls))
	for _, u := range s.urls {
		ser := s.series[u]
		if len(ser) < 2 {
			return nil, fmt.Errorf("workerstate: %s has %d successful scrapes; a diff needs two (last error: %v)", u, len(ser), s.errs[u])
		}
		out[u] = ser[len(ser)-1].Counters.Sub(ser[0].Counters)
	}
	return out, nil
}
