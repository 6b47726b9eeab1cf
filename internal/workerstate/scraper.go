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

// Scraper reads every worker's /metrics each Interval and keeps each
// worker's samples in order. Its methods are safe for concurrent use: Run
// writes while policies read Latest.
type Scraper struct {
	urls     []string
	interval time.Duration
	now      func() time.Duration
	http     *http.Client
	log      *slog.Logger

	mu     sync.RWMutex
	series map[string][]Sample
	errs   map[string]error // the last failed scrape per worker, cleared on success
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
	}, nil
}

// ScrapeOnce scrapes every worker in parallel, appends what it read and
// returns the failures joined (a failed worker's series is left as it was).
func (s *Scraper) ScrapeOnce(ctx context.Context) error {
	errs := make([]error, len(s.urls))
	var wg sync.WaitGroup
	for i, u := range s.urls {
		wg.Go(func() {
			smp, err := s.scrape(ctx, u)
			s.mu.Lock()
			defer s.mu.Unlock()
			if err != nil {
				errs[i] = err
				s.errs[u] = err
				return
			}
			delete(s.errs, u)
			s.series[u] = append(s.series[u], smp)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
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
	defer resp.Body.Close()
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

// Series returns a copy of url's samples, oldest first.
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
