package router

import "time"

// CacheAware is sglang-router 0.3.2's cache_aware policy
// (router-reference.md s5.2): when the workers' in-flight loads are
// imbalanced (max−min > BalanceAbsThreshold and max > min ×
// BalanceRelThreshold) it picks the least-loaded worker; otherwise it sends
// the request to the worker that was last routed the longest matching
// prefix of its text, if more than CacheThreshold of the text matched, and
// to the least-loaded worker if not. Ties go to the first worker in the
// list. Among several workers holding the matched prefix it takes the one
// whose request created the tree node reached, as 0.3.2 does. Every decision is inserted into the tree for the worker chosen, and
// each worker's share of the tree is cut back to MaxTreeSize characters,
// least recently used first, every EvictionInterval.
type CacheAware struct {
	opts      Options
	tree      *tree
	ids       map[string]tenant
	names     []string
	lastEvict time.Time
	// known is the last worker list seen, so that an unchanged list costs
	// string comparisons (same backing pointers) instead of map lookups.
	known []string
}

// NewCacheAware returns a CacheAware policy; zero Options fields take
// sglang-router 0.3.2's defaults.
func NewCacheAware(opts Options) (*CacheAware, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	return &CacheAware{
		opts: o, tree: newTree(), ids: map[string]tenant{},
		lastEvict: time.Now(),
	}, nil
}

// id returns url's tenant, adding it to the tree (as 0.3.2 does when a
// worker registers) the first time.
func (p *CacheAware) id(url string) tenant {
	if t, ok := p.ids[url]; ok {
		return t
	}
	t := tenant(len(p.names))
	p.ids[url] = t
	p.names = append(p.names, url)
	p.tree.addTenant(t)
	return t
}

func (p *CacheAware) register(workers []Worker) {
	if len(workers) == len(p.known) {
		same := true
		for i := range workers {
			if workers[i].URL != p.known[i] {
				same = false
				break
			}
		}
		if same {
			return
		}
	}
	p.known = p.known[:0]
	for i := range workers {
		p.id(workers[i].URL)
		p.known = append(p.known, workers[i].URL)
	}
}

// Pick implements Policy.
func (p *CacheAware) Pick(req Request, workers []Worker) (int, error) {
	if len(workers) == 0 {
		return 0, ErrNoWorkers
	}
	if time.Since(p.lastEvict) >= p.opts.EvictionInterval {
		p.Evict()
	}
	p.register(workers)
	text := req.Text
	lo, hi := workers[0].InFlight, workers[0].InFlight
	for _, w := range workers[1:] {
		lo, hi = min(lo, w.InFlight), max(hi, w.InFlight)
	}
	if hi-lo > p.opts.BalanceAbsThreshold && float64(hi) > float64(lo)*p.opts.BalanceRelThreshold {
		return p.chose(text, workers, minLoad(workers)), nil
	}

	matched, t := p.tree.match(text)
	rate := 0.0
	if total := countChars(text); total > 0 {
		rate = float64(matched) / float64(total)
	}
	if rate > p.opts.CacheThreshold {
		if t >= 0 {
			url := p.names[t]
			for i := range workers {
				if workers[i].URL == url {
					return p.chose(text, workers, i), nil
				}
			}
			// The worker holding the prefix is gone: forget it.
			p.tree.removeTenant(t)
		}
		return p.chose(text, workers, 0), nil
	}
	return p.chose(text, workers, minLoad(workers)), nil
}

func (p *CacheAware) chose(text string, workers []Worker, i int) int {
	p.tree.insert(text, p.ids[workers[i].URL])
	return i
}

// Evict cuts every worker's share of the tree back to MaxTreeSize
// characters. Pick calls it once per EvictionInterval, as 0.3.2's
// background task does.
func (p *CacheAware) Evict() {
	p.tree.evict(p.opts.MaxTreeSize)
	p.lastEvict = time.Now()
}

// TreeChars returns how many characters of the tree each worker holds.
func (p *CacheAware) TreeChars() map[string]int {
	out := make(map[string]int, len(p.names))
	for t, url := range p.names {
		out[url] = p.tree.chars[t]
	}
	return out
}
