package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/sgltest/sgltest/internal/api"
	"github.com/sgltest/sgltest/router"
)

// LoadPoller reads every worker's GET /v1/loads at an interval, as smg's
// load monitor does (router-reference.md s3.5), and keeps the latest
// answer of each. Unlike /metrics, /v1/loads reports the prompt tokens
// still waiting for prefill (router.Worker.WaitingTokens), which smg's
// expected-wait score prefers to the queued request count. Its methods are
// safe for concurrent use.
type LoadPoller struct {
	urls     []string
	interval time.Duration
	now      func() time.Duration
	http     *http.Client
	log      *slog.Logger

	mu     sync.RWMutex
	latest map[string]polledLoad
}

// polledLoad is one worker's /v1/loads summed over its DP ranks, as smg
// sums them: token usage is the ranks' mean.
type polledLoad struct {
	at                              time.Duration
	running, waiting, waitingTokens int
	usedTokens                      int
	tokenUsage, throughput, hitRate float64
}

// NewLoadPoller returns a LoadPoller of the given worker base URLs; now is
// the run's monotonic clock, and a nil logger discards.
func NewLoadPoller(urls []string, interval time.Duration, now func() time.Duration, logger *slog.Logger) (*LoadPoller, error) {
	if len(urls) == 0 {
		return nil, errors.New("dispatch: load poller: no worker URLs")
	}
	if interval <= 0 {
		return nil, fmt.Errorf("dispatch: load poller: interval %v: want a positive duration", interval)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &LoadPoller{
		urls: append([]string(nil), urls...), interval: interval, now: now, log: logger,
		// No proxy: workers are local, whatever HTTP_PROXY says. smg gives
		// a load fetch 5 s.
		http:   &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 5 * time.Second},
		latest: map[string]polledLoad{},
	}, nil
}

// PollOnce reads every worker in parallel and returns the failures joined;
// a worker whose poll failed keeps its previous answer, as in smg.
func (p *LoadPoller) PollOnce(ctx context.Context) error {
	errs := make([]error, len(p.urls))
	var wg sync.WaitGroup
	for i, u := range p.urls {
		wg.Go(func() {
			l, err := p.poll(ctx, u)
			if err != nil {
				errs[i] = err
				return
			}
			p.mu.Lock()
			p.latest[u] = l
			p.mu.Unlock()
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (p *LoadPoller) poll(ctx context.Context, url string) (polledLoad, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v1/loads", nil)
	if err != nil {
		return polledLoad{}, err
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return polledLoad{}, fmt.Errorf("polling %s/v1/loads: %w", url, err)
	}
	defer func() { _ = resp.Body.Close() }() // read or abandoned: nothing to report
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return polledLoad{}, fmt.Errorf("polling %s/v1/loads: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return polledLoad{}, fmt.Errorf("polling %s/v1/loads: HTTP %d: %.200s", url, resp.StatusCode, body)
	}
	var ls api.Loads
	if err := json.Unmarshal(body, &ls); err != nil {
		return polledLoad{}, fmt.Errorf("polling %s/v1/loads: %w in %.200s", url, err, body)
	}
	if len(ls.Loads) == 0 {
		return polledLoad{}, fmt.Errorf("polling %s/v1/loads: no DP rank in %.200s", url, body)
	}
	l := polledLoad{at: p.now()}
	for _, r := range ls.Loads {
		l.running += r.NumRunningReqs
		l.waiting += r.NumWaitingReqs
		l.waitingTokens += r.NumWaitingUncachedTokens
		l.usedTokens += r.NumUsedTokens
		l.tokenUsage += r.TokenUsage / float64(len(ls.Loads))
		l.throughput += r.GenThroughput
		l.hitRate = max(l.hitRate, r.CacheHitRate)
	}
	return l, nil
}

// Run polls at once and then every interval until ctx ends, logging failed
// polls; it returns nil when ctx ends.
func (p *LoadPoller) Run(ctx context.Context) error {
	tick := time.NewTicker(p.interval)
	defer tick.Stop()
	for {
		if err := p.PollOnce(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("polling worker loads", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Fill writes each worker's latest polled load into workers (matched by
// URL); /v1/loads has no latency, so Latency stays zero.
func (p *LoadPoller) Fill(workers []router.Worker) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	for i := range workers {
		l, ok := p.latest[workers[i].URL]
		if !ok {
			continue
		}
		w := &workers[i]
		w.Scraped, w.ScrapedAt = true, l.at
		w.Running, w.Queued, w.WaitingTokens = l.running, l.waiting, l.waitingTokens
		w.UsedTokens, w.TokenUsage = l.usedTokens, l.tokenUsage
		w.Throughput, w.CacheHitRate = l.throughput, l.hitRate
		w.Latency = 0
	}
}
