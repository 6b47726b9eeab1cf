package router

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/zeebo/xxh3"
	"lukechampine.com/blake3"
)

// Passthrough is smg's passthrough policy, meant for a single worker:
// every request goes to the first worker.
type Passthrough struct{}

// Pick implements Policy.
func (Passthrough) Pick(_ Request, workers []Worker) (int, error) {
	if len(workers) == 0 {
		return 0, ErrNoWorkers
	}
	return 0, nil
}

// hashRing is smg's consistent-hash ring (worker/hash_ring.rs): each worker
// URL at 150 points, blake3("<url>#<i>")'s first 8 bytes read little-endian;
// a key goes to the first worker at or after blake3(key)'s point,
// clockwise. Built over the workers a policy is offered, it answers as
// smg's ring over all registered workers walking past unhealthy ones.
type hashRing struct {
	urls   []string
	points []ringPoint
}

type ringPoint struct {
	pos uint64
	url int32 // index into the workers the ring was built from
}

const ringPointsPerWorker = 150

func ringPos(s string) uint64 {
	sum := blake3.Sum256([]byte(s))
	return binary.LittleEndian.Uint64(sum[:8])
}

// ringFor returns a ring over workers' URLs, reusing r when they are the
// same in the same order.
func ringFor(r *hashRing, workers []Worker) *hashRing {
	if r != nil && len(r.urls) == len(workers) {
		same := true
		for i := range workers {
			if workers[i].URL != r.urls[i] {
				same = false
				break
			}
		}
		if same {
			return r
		}
	}
	r = &hashRing{urls: make([]string, len(workers)), points: make([]ringPoint, 0, len(workers)*ringPointsPerWorker)}
	seen := map[string]bool{}
	for i := range workers {
		u := workers[i].URL
		r.urls[i] = u
		if seen[u] {
			continue
		}
		seen[u] = true
		for v := range ringPointsPerWorker {
			r.points = append(r.points, ringPoint{ringPos(u + "#" + strconv.Itoa(v)), int32(i)})
		}
	}
	sort.Slice(r.points, func(a, b int) bool { return r.points[a].pos < r.points[b].pos })
	return r
}

// lookup returns the index of the worker key hashes to.
func (r *hashRing) lookup(key string) int {
	pos := ringPos(key)
	i := sort.Search(len(r.points), func(i int) bool { return r.points[i].pos >= pos })
	return int(r.points[i%len(r.points)].url)
}

// maxRoutingKeyBytes is the longest X-SMG-Routing-Key smg's hashing
// policies honour; a longer one counts as absent.
const maxRoutingKeyBytes = 128

func hashableKey(k string) (string, bool) {
	if k == "" || len(k) > maxRoutingKeyBytes || !utf8.ValidString(k) {
		return "", false
	}
	return k, true
}

// ConsistentHashing is smg's consistent_hashing policy: a request with a
// routing key goes where the key hashes on the ring (see hashRing), so one
// key stays on one worker while the pool is unchanged and moves only when
// its worker leaves; a request without one goes to a uniformly random
// worker. smg also hashes the Authorization, X-Forwarded-For or Cookie
// header when no key is given (so every request carrying one API key lands
// on one worker) and honours X-SMG-Target-Worker; neither is modelled.
type ConsistentHashing struct {
	ring *hashRing
	rng  *rand.Rand
}

// NewConsistentHashing returns a ConsistentHashing policy whose keyless
// choices are seeded with seed.
func NewConsistentHashing(seed uint64) *ConsistentHashing {
	return &ConsistentHashing{rng: rand.New(rand.NewPCG(seed, 0xc0a5))}
}

// Pick implements Policy.
func (p *ConsistentHashing) Pick(req Request, workers []Worker) (int, error) {
	if len(workers) == 0 {
		return 0, ErrNoWorkers
	}
	key, ok := hashableKey(req.RoutingKey)
	if !ok {
		return p.rng.IntN(len(workers)), nil
	}
	p.ring = ringFor(p.ring, workers)
	return p.ring.lookup(key), nil
}

// PrefixHash is smg's prefix_hash policy: it hashes (xxh3) the request's
// routing key, else its first PrefixTokenCount token ids, else its first
// 4 × PrefixTokenCount characters, and sends it where the hash falls on
// the ring (see hashRing), unless that worker is overloaded: in flight
// above both PrefixHashLoadFactor × and PrefixHashBalanceAbsThreshold over
// the mean (counting this request). Then it goes to the least loaded
// worker that is not, or to the ring's worker when all are. A request with
// nothing to hash goes to the least loaded worker. smg's --cache-boundaries
// (off by default) are not modelled.
type PrefixHash struct {
	opts Options
	ring *hashRing
	buf  []byte
	tied []int
}

// NewPrefixHash returns a PrefixHash policy; zero Options fields take smg
// 1.13.0's defaults.
func NewPrefixHash(opts Options) (*PrefixHash, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	return &PrefixHash{opts: o}, nil
}

// Pick implements Policy.
func (p *PrefixHash) Pick(req Request, workers []Worker) (int, error) {
	if len(workers) == 0 {
		return 0, ErrNoWorkers
	}
	var prefix []byte
	if key, ok := hashableKey(req.RoutingKey); ok {
		prefix = append(p.buf[:0], key...)
	} else if len(req.InputIDs) > 0 {
		n := min(len(req.InputIDs), p.opts.PrefixTokenCount)
		prefix = p.buf[:0]
		for _, id := range req.InputIDs[:n] {
			prefix = binary.LittleEndian.AppendUint32(prefix, uint32(id))
		}
	} else if req.Text != "" {
		end, budget := len(req.Text), 4*p.opts.PrefixTokenCount
		for i := range req.Text {
			if budget == 0 {
				end = i
				break
			}
			budget--
		}
		prefix = append(p.buf[:0], req.Text[:end]...)
	} else {
		return minLoad(workers), nil
	}
	p.buf = prefix
	p.ring = ringFor(p.ring, workers)
	target := p.ring.lookup(fmt.Sprintf("%016x", xxh3.Hash(prefix)))

	total := 0
	for i := range workers {
		total += workers[i].InFlight
	}
	ok := func(load int) bool {
		if total == 0 {
			return true
		}
		avg := float64(total+1) / float64(len(workers))
		return float64(load) <= max(avg*p.opts.PrefixHashLoadFactor, avg+float64(p.opts.PrefixHashBalanceAbsThreshold))
	}
	if ok(workers[target].InFlight) {
		return target, nil
	}
	// smg takes the first least loaded worker in its registry's order,
	// which is random per run; here it is the order given, or TieBreak's
	// choice when set.
	p.tied = p.tied[:0]
	for i := range workers {
		if !ok(workers[i].InFlight) {
			continue
		}
		if len(p.tied) > 0 && workers[i].InFlight < workers[p.tied[0]].InFlight {
			p.tied = p.tied[:0]
		}
		if len(p.tied) == 0 || workers[i].InFlight == workers[p.tied[0]].InFlight {
			p.tied = append(p.tied, i)
		}
	}
	switch {
	case len(p.tied) == 0:
		return target, nil
	case len(p.tied) > 1 && p.opts.TieBreak != nil:
		return p.opts.TieBreak(p.tied), nil
	}
	return p.tied[0], nil
}

// Manual is the manual policy of sglang-router 0.3.2 and smg: a sticky map
// from routing key to worker. A key seen before goes to the first of its
// (at most two) remembered workers still offered; a new key, or one whose
// workers are all gone, is placed by AssignmentMode (a uniformly random
// worker, or the least loaded with random ties) and remembered, the older
// worker kept as a fallback. A request without a key is placed the same
// way and not remembered. Keys unused for MaxIdle are dropped every
// EvictionInterval.
type Manual struct {
	opts      Options
	rng       *rand.Rand
	keys      map[string]*stickyKey
	lastEvict time.Time
	now       func() time.Time
	tied      []int
}

type stickyKey struct {
	urls []string
	used time.Time
}

// NewManual returns a Manual policy; zero Options fields take the routers'
// defaults.
func NewManual(opts Options) (*Manual, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Manual{opts: o, rng: rand.New(rand.NewPCG(o.Seed, 0x3a17)), keys: map[string]*stickyKey{}, now: time.Now}, nil
}

func (p *Manual) place(workers []Worker) int {
	if p.opts.AssignmentMode == AssignMinLoad {
		tied := append(p.tied[:0], 0)
		for i := 1; i < len(workers); i++ {
			switch {
			case workers[i].InFlight < workers[tied[0]].InFlight:
				tied = append(tied[:0], i)
			case workers[i].InFlight == workers[tied[0]].InFlight:
				tied = append(tied, i)
			}
		}
		p.tied = tied
		return breakTie(p.opts.TieBreak, p.rng, tied)
	}
	return p.rng.IntN(len(workers))
}

// Pick implements Policy.
func (p *Manual) Pick(req Request, workers []Worker) (int, error) {
	if len(workers) == 0 {
		return 0, ErrNoWorkers
	}
	now := p.now()
	if p.lastEvict.IsZero() {
		p.lastEvict = now
	}
	if now.Sub(p.lastEvict) >= p.opts.EvictionInterval {
		for k, v := range p.keys {
			if now.Sub(v.used) >= p.opts.MaxIdle {
				delete(p.keys, k)
			}
		}
		p.lastEvict = now
	}
	if req.RoutingKey == "" {
		return p.place(workers), nil
	}
	k := p.keys[req.RoutingKey]
	if k == nil {
		i := p.place(workers)
		p.keys[req.RoutingKey] = &stickyKey{urls: []string{workers[i].URL}, used: now}
		return i, nil
	}
	k.used = now
	for _, u := range k.urls {
		if i := slices.IndexFunc(workers, func(w Worker) bool { return w.URL == u }); i >= 0 {
			return i, nil
		}
	}
	i := p.place(workers)
	if len(k.urls) >= 2 {
		k.urls = k.urls[1:]
	}
	k.urls = append(k.urls, workers[i].URL)
	return i, nil
}

// Keys returns how many routing keys are remembered.
func (p *Manual) Keys() int { return len(p.keys) }
