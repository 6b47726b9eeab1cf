package router

import (
	"math"
	"time"
)

// SMGCacheAware is smg 1.13.0's cache_aware policy over HTTP workers, in
// its default tree mode. Its source is not published for 1.13; this is the
// 1.9 source (router-reference.md s5.3; smg's policies/cache_aware.rs)
// corrected by what 1.13.0 does in front of simulators (the cross-check in
// internal/dispatch, and its debug log):
//
//   - A request carrying token ids is matched on a tree of id pages
//     (BlockSize ids each), any other on a tree of its text's characters.
//   - More than CacheThreshold of it matched (a hit): of the workers holding
//     the deepest node reached, the one with the lowest expected wait (the
//     least_load score, see LeastLoad, over those workers). Otherwise (a
//     miss): the worker with the lowest expected wait over all. Equal
//     scores are broken at random (Options.TieBreak).
//   - Spill gate on a hit: a holder whose in-flight load is above both
//     BalanceRelThreshold × the mean load and the mean plus a margin loses
//     the request to the worker with the lowest expected wait, which thereby
//     becomes a holder of the prefix too. The margin is BalanceAbsThreshold
//     capped at the count's natural swing, ⌈2·√mean⌉ but at least 4 (smg
//     --help's "two standard deviations, never under four unless this value
//     is lower"; the rounding is what 1.13.0 was seen to do).
//   - The chosen worker is credited the request's work until its state is
//     refreshed (as LeastLoad), and the request is inserted into the tree
//     for it; the whole tree is cut back to MaxTreeSize, least recently
//     inserted first, every EvictionInterval.
//
// Unlike sglang-router 0.3.2's cache_aware there is no global imbalance
// switch. Not modelled: smg's KV-usage switches (off by default), its
// warm-up slice for new workers (no effect was seen on HTTP workers), and
// how it scores workers its load monitor has not polled yet (the first
// --load-monitor-interval after start, when only the first worker to
// register has been polled).
type SMGCacheAware struct {
	opts      Options
	e         *expectedWait
	text      *symTree
	tokens    *symTree
	ids       map[string]tenant
	names     []string
	lastEvict time.Time
	buf       []int32
	cand      []int
	held      []int
	ts        []tenant
}

// NewSMGCacheAware returns an SMGCacheAware policy; zero Options fields
// take smg 1.13.0's defaults.
func NewSMGCacheAware(opts Options) (*SMGCacheAware, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	// The waiting-queue veto belongs to least_load and power_of_two.
	eo := o
	eo.MaxWaitingRequests = 0
	e, err := newExpectedWait(eo, 0x5a6c)
	if err != nil {
		return nil, err
	}
	return &SMGCacheAware{
		opts: o, e: e, text: newSymTree(1), tokens: newSymTree(o.BlockSize), ids: map[string]tenant{},
		lastEvict: time.Now(),
	}, nil
}

func (p *SMGCacheAware) id(url string) tenant {
	if t, ok := p.ids[url]; ok {
		return t
	}
	t := tenant(len(p.names))
	p.ids[url] = t
	p.names = append(p.names, url)
	p.text.grow(t)
	p.tokens.grow(t)
	return t
}

// spillMargin is the gate's absolute margin at mean load avg.
func (p *SMGCacheAware) spillMargin(avg float64) float64 {
	return min(float64(p.opts.BalanceAbsThreshold), max(4, math.Ceil(2*math.Sqrt(avg))))
}

// Pick implements Policy.
func (p *SMGCacheAware) Pick(req Request, workers []Worker) (int, error) {
	if len(workers) == 0 {
		return 0, ErrNoWorkers
	}
	if time.Since(p.lastEvict) >= p.opts.EvictionInterval {
		p.Evict()
	}
	all := p.cand[:0]
	sum := 0
	for i := range workers {
		sum += workers[i].InFlight
		all = append(all, i)
	}
	p.cand = all
	avg := float64(sum) / float64(len(workers))

	tree, syms := p.text, p.runes(req.Text)
	if len(req.InputIDs) > 0 {
		tree, syms = p.tokens, p.int32s(req.InputIDs)
	}
	matched, node := tree.match(syms)
	// smg compares in single precision: f32 rate against the f32 flag.
	var rate float32
	if len(syms) > 0 {
		rate = float32(matched) / float32(len(syms))
	}
	var chosen int
	var err error
	if rate > float32(p.opts.CacheThreshold) {
		holders := p.holders(node, workers)
		if len(holders) == 0 {
			// No holder is among the workers: smg routes to the first one
			// and records nothing.
			return 0, nil
		}
		if chosen, err = p.e.best(workers, holders); err != nil {
			return 0, err
		}
		rel := float64(float32(p.opts.BalanceRelThreshold))
		if load := float64(workers[chosen].InFlight); load > avg*rel && load > avg+p.spillMargin(avg) {
			chosen, err = p.e.best(workers, all)
		}
	} else {
		chosen, err = p.e.best(workers, all)
	}
	if err != nil {
		return 0, err
	}
	p.e.credit(req, &workers[chosen])
	tree.insert(syms, p.id(workers[chosen].URL))
	return chosen, nil
}

// holders returns the indices of workers holding n.
func (p *SMGCacheAware) holders(n *symNode, workers []Worker) []int {
	if n == nil {
		return nil
	}
	p.ts = tenantsOf(p.ts[:0], n)
	out := p.held[:0]
	for i := range workers {
		if t, ok := p.ids[workers[i].URL]; ok && containsTenant(p.ts, t) {
			out = append(out, i)
		}
	}
	p.held = out
	return out
}

func containsTenant(ts []tenant, t tenant) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

func (p *SMGCacheAware) runes(s string) []int32 {
	p.buf = p.buf[:0]
	for _, r := range s {
		p.buf = append(p.buf, r)
	}
	return p.buf
}

func (p *SMGCacheAware) int32s(ids []int) []int32 {
	p.buf = p.buf[:0]
	for _, id := range ids {
		p.buf = append(p.buf, int32(id))
	}
	return p.buf
}

// Evict cuts each tree back to MaxTreeSize symbols. Pick calls it once per
// EvictionInterval, as smg's background task does.
func (p *SMGCacheAware) Evict() {
	p.text.evict(p.opts.MaxTreeSize)
	p.tokens.evict(p.opts.MaxTreeSize)
	p.lastEvict = time.Now()
}

// Forget drops a worker that left the pool from both trees, as smg does
// when a worker is removed.
func (p *SMGCacheAware) Forget(url string) {
	if t, ok := p.ids[url]; ok {
		p.text.removeTenant(t)
		p.tokens.removeTenant(t)
	}
}

// TreeSize returns how many characters and token ids each worker holds in
// the two trees.
func (p *SMGCacheAware) TreeSize() (chars, tokens map[string]int) {
	chars, tokens = make(map[string]int, len(p.names)), make(map[string]int, len(p.names))
	for t, url := range p.names {
		chars[url], tokens[url] = p.text.held[t], p.tokens.held[t]
	}
	return chars, tokens
}
