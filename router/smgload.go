package router

import (
	"errors"
	"math/rand/v2"
	"time"
)

// ErrAllWaitingCapped is returned by least_load and smg_power_of_two when
// MaxWaitingRequests is set and every worker has reached it; smg then
// leaves the request to its admission queue.
var ErrAllWaitingCapped = errors.New("every worker's waiting queue is at MaxWaitingRequests")

// expectedWait is smg's least-load scorer (policies/least_load.rs), shared
// by least_load and smg_power_of_two. A worker's score is its expected
// time to drain plus a convex KV-pressure barrier, lower is better:
//
//	(queued tokens + tokens sent since the last load refresh) / throughput
//	    + KVPressureWeight · k / (1 − k)
//
// where queued tokens are the worker's WaitingTokens, or its Queued
// requests × MeanPrefillTokens when it reports none; throughput is its
// Throughput, or DefaultThroughput when it reports none; k is its
// TokenUsage capped at 0.999. A request credits its chosen worker with
// its token count (len(InputIDs), else MeanPrefillTokens) until that
// worker's state is refreshed (Worker.ScrapedAt changes). A worker never
// scraped while others were scores InFlight × MeanPrefillTokens / the
// mean reported throughput; with none scraped, the score is InFlight.
type expectedWait struct {
	opts Options
	rng  *rand.Rand
	// since holds, per worker URL, the work credited since its state was
	// last refreshed, and when that was.
	since map[string]*sincePoll
	tied  []int
}

type sincePoll struct {
	at               time.Duration
	tokens, requests int
}

func newExpectedWait(opts Options, stream uint64) (*expectedWait, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	return &expectedWait{opts: o, rng: rand.New(rand.NewPCG(o.Seed, stream)), since: map[string]*sincePoll{}}, nil
}

// tally returns w's credit since its last refresh, cleared when w's state
// is newer than the credit.
func (e *expectedWait) tally(w *Worker) *sincePoll {
	s := e.since[w.URL]
	if s == nil {
		s = &sincePoll{at: w.ScrapedAt}
		e.since[w.URL] = s
	}
	if w.Scraped && w.ScrapedAt != s.at {
		*s = sincePoll{at: w.ScrapedAt}
	}
	return s
}

func (e *expectedWait) score(w *Worker, nominal float64, fleetReports bool) float64 {
	switch {
	case w.Scraped:
		queued := float64(w.WaitingTokens)
		if w.WaitingTokens <= 0 {
			queued = float64(max(w.Queued, 0) * e.opts.MeanPrefillTokens)
		}
		tp := w.Throughput
		if tp <= 0 {
			tp = e.opts.DefaultThroughput
		}
		k := min(max(w.TokenUsage, 0), 0.999)
		return (queued+float64(e.tally(w).tokens))/tp + e.opts.KVPressureWeight*k/(1-k)
	case fleetReports:
		return float64(w.InFlight) * float64(e.opts.MeanPrefillTokens) / nominal
	default:
		return float64(w.InFlight)
	}
}

// best returns the candidate (an index into workers) with the lowest
// score, chosen by the tie-break among equal scores, after dropping the
// candidates at MaxWaitingRequests when that is set.
func (e *expectedWait) best(workers []Worker, candidates []int) (int, error) {
	if e.opts.MaxWaitingRequests > 0 {
		kept := candidates[:0:0]
		for _, i := range candidates {
			w := &workers[i]
			if !w.Scraped || max(w.Queued, 0)+e.tally(w).requests < e.opts.MaxWaitingRequests {
				kept = append(kept, i)
			}
		}
		candidates = kept
	}
	if len(candidates) == 0 {
		return 0, ErrAllWaitingCapped
	}
	var tpSum float64
	var tpN int
	fleetReports := false
	for _, i := range candidates {
		if w := &workers[i]; w.Scraped {
			fleetReports = true
			if w.Throughput > 0 {
				tpSum += w.Throughput
				tpN++
			}
		}
	}
	nominal := e.opts.DefaultThroughput
	if tpN > 0 {
		nominal = tpSum / float64(tpN)
	}
	tied := append(e.tied[:0], candidates[0])
	bestScore := e.score(&workers[candidates[0]], nominal, fleetReports)
	for _, i := range candidates[1:] {
		s := e.score(&workers[i], nominal, fleetReports)
		switch {
		case s < bestScore:
			tied, bestScore = append(tied[:0], i), s
		case s == bestScore:
			tied = append(tied, i)
		}
	}
	e.tied = tied
	return breakTie(e.opts.TieBreak, e.rng, tied), nil
}

// credit counts req's work against w until w's state is next refreshed:
// its token count when it carries ids, else MeanPrefillTokens.
func (e *expectedWait) credit(req Request, w *Worker) {
	n := e.opts.MeanPrefillTokens
	if len(req.InputIDs) > 0 {
		n = len(req.InputIDs)
	}
	s := e.tally(w)
	s.tokens += n
	s.requests++
}

// pick is best followed by credit.
func (e *expectedWait) pick(req Request, workers []Worker, candidates []int) (int, error) {
	i, err := e.best(workers, candidates)
	if err != nil {
		return 0, err
	}
	e.credit(req, &workers[i])
	return i, nil
}

// breakTie chooses one of tied (indices into a Pick's workers): with
// TieBreak when set, else uniformly at random, as smg does.
func breakTie(tb func([]int) int, rng *rand.Rand, tied []int) int {
	if len(tied) == 1 {
		return tied[0]
	}
	if tb != nil {
		return tb(tied)
	}
	return tied[rng.IntN(len(tied))]
}

// LeastLoad is smg's least_load policy: the worker with the lowest
// expected wait (see expectedWait's score) over all workers.
type LeastLoad struct{ e *expectedWait }

// NewLeastLoad returns a LeastLoad policy; zero Options fields take smg
// 1.13.0's defaults.
func NewLeastLoad(opts Options) (*LeastLoad, error) {
	e, err := newExpectedWait(opts, 0x11a0)
	if err != nil {
		return nil, err
	}
	return &LeastLoad{e}, nil
}

// Pick implements Policy.
func (p *LeastLoad) Pick(req Request, workers []Worker) (int, error) {
	switch {
	case len(workers) == 0:
		return 0, ErrNoWorkers
	case len(workers) == 1 && p.e.opts.MaxWaitingRequests == 0:
		return 0, nil
	}
	all := make([]int, len(workers))
	for i := range all {
		all[i] = i
	}
	return p.e.pick(req, workers, all)
}

// LoadInterval is smg's default --load-monitor-interval.
func (*LeastLoad) LoadInterval() time.Duration { return SMGLoadInterval }

// SMGPowerOfTwo is smg's power_of_two policy with its default
// --power-of-two-load-metric expected_wait: two distinct workers drawn
// uniformly at random, the one with the lower expected wait (see
// LeastLoad) chosen, at random on a tie.
type SMGPowerOfTwo struct {
	e   *expectedWait
	rng *rand.Rand
}

// NewSMGPowerOfTwo returns an SMGPowerOfTwo policy; zero Options fields
// take smg 1.13.0's defaults.
func NewSMGPowerOfTwo(opts Options) (*SMGPowerOfTwo, error) {
	e, err := newExpectedWait(opts, 0x2c41)
	if err != nil {
		return nil, err
	}
	return &SMGPowerOfTwo{e: e, rng: rand.New(rand.NewPCG(e.opts.Seed, 0x2c42))}, nil
}

// Pick implements Policy.
func (p *SMGPowerOfTwo) Pick(req Request, workers []Worker) (int, error) {
	n := len(workers)
	switch n {
	case 0:
		return 0, ErrNoWorkers
	case 1:
		return 0, nil
	}
	a := p.rng.IntN(n)
	b := (a + 1 + p.rng.IntN(n-1)) % n
	return p.e.pick(req, workers, []int{a, b})
}

// LoadInterval is smg's default --load-monitor-interval.
func (*SMGPowerOfTwo) LoadInterval() time.Duration { return SMGLoadInterval }
