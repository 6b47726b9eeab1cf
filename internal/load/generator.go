package load

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sgltest/sgltest/internal/metrics"
)

// Generator sends a workload open-loop: each request is sent when its
// planned arrival comes, whether or not earlier requests have finished.
type Generator struct {
	Client *Client
	// Target is the base URL every request goes to (a server or a router).
	Target string
	// RIDPrefix is prepended to each request's index to form its rid, so
	// server logs and /abort_request can name it.
	RIDPrefix string
	Logger    *slog.Logger
}

// Sink receives each Record as its request finishes, from the request's own
// goroutine: it must be safe for concurrent use. An error from it is kept
// and returned by Run; measuring goes on, since the other records are still
// worth keeping.
type Sink func(metrics.Record) error

// Run sends reqs[i] at start+arrivals[i] and returns every Record, in
// workload order, once all have finished. start, the run's time base, is
// taken once every request body is encoded, so arrival 0 is not late by
// the encoding time. All Record offsets are measured from it on the
// monotonic clock, and the schedule counts from it, so a late wake-up
// delays one request but never the ones after it.
//
// Cancelling ctx stops sending: requests in flight end with a context
// error, requests not yet arrived are not sent and get no Record. Run then
// returns the records it has with ctx's error.
func (g *Generator) Run(ctx context.Context, reqs []Request, arrivals []time.Duration, sink Sink) ([]metrics.Record, error) {
	if len(reqs) != len(arrivals) {
		return nil, fmt.Errorf("load: %d requests but %d arrival times", len(reqs), len(arrivals))
	}
	log := g.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	prep := make([]prepared, len(reqs))
	for i, r := range reqs {
		p, err := prepare(r, fmt.Sprintf("%s%d", g.RIDPrefix, r.Index))
		if err != nil {
			return nil, fmt.Errorf("load: encoding request %d: %w", r.Index, err)
		}
		prep[i] = p
	}
	start := time.Now()
	now := func() time.Duration { return time.Since(start) }

	records := make([]metrics.Record, len(reqs))
	sent := make([]bool, len(reqs))
	var (
		wg      sync.WaitGroup
		sinkMu  sync.Mutex
		sinkErr error
	)
	timer := time.NewTimer(0)
	<-timer.C
	defer timer.Stop()

	log.Info("load started", "requests", len(reqs), "target", g.Target)
	var cancelled error
	for i := range prep {
		if wait := time.Until(start.Add(arrivals[i])); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				cancelled = ctx.Err()
			}
		} else if ctx.Err() != nil {
			cancelled = ctx.Err()
		}
		if cancelled != nil {
			break
		}
		rec := &records[i]
		rec.Arrival = now()
		rec.Scheduled = arrivals[i]
		rec.Index = prep[i].req.Index
		rec.RID = prep[i].rid
		rec.Target = g.Target
		rec.InputTokens = len(prep[i].req.InputIDs)
		rec.RequestedOutputTokens = prep[i].req.OutputTokens
		sent[i] = true
		wg.Add(1)
		go func(p prepared) {
			defer wg.Done()
			g.Client.do(ctx, g.Target, p, now, rec)
			if sink == nil {
				return
			}
			if err := sink(*rec); err != nil {
				sinkMu.Lock()
				sinkErr = errors.Join(sinkErr, err)
				sinkMu.Unlock()
			}
		}(prep[i])
	}
	wg.Wait()

	out := records[:0]
	for i := range records {
		if sent[i] {
			out = append(out, records[i])
		}
	}
	log.Info("load finished", "sent", len(out), "of", len(reqs))
	return out, errors.Join(cancelled, sinkErr)
}
