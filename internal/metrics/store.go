package metrics

import (
	"fmt"
	"slices"
	"sync"
	"time"
)

// Store keeps, compactly, what the figures of a run need from each
// measured Record, so that a run of any length is summarised exactly
// (every sample kept, no sketch) without holding its Records: about 35
// bytes per request (times as 4-byte durations after one 8-byte arrival,
// token counts, target, outcome) and 4 bytes per streamed chunk of a
// successful request. Warmup records are counted and otherwise ignored,
// as every figure ignores them.
//
// Add is safe for concurrent use; the readers (Summary, Timeline, ...)
// may run while Adds continue and see the requests added so far.
type Store struct {
	mu sync.Mutex

	// One entry per measured request, in the order added.
	arrival column[time.Duration]
	lag     durations // Arrival − Scheduled
	queue   durations // Sent − Arrival
	server  durations // Done − Sent
	in      column[int32]
	out     column[int32]
	cached  column[int32]
	target  column[uint16]
	flags   column[uint8]
	nchunks column[uint32] // chunks this request holds in the chunk arena

	// The chunks of successful requests, request after request: a
	// request's entry 0 is its first chunk's time after Sent (its TTFT), and
	// entry k the gap from chunk k−1 to chunk k. sparse lists, in arena
	// order, the entries whose chunk carried other than one token, as
	// index<<20 | tokens. ttft holds the TTFT of the rare successful
	// request whose first token is not its first chunk (no chunks at all).
	chunkAt durations
	sparse  column[uint64]
	ttft    map[int]time.Duration

	targets     []string
	targetIndex map[string]uint16

	// fails lists the failed and cancelled requests in order, as
	// index<<16 | reason, where reason indexes reasons.
	fails       column[uint64]
	reasons     []string
	reasonIndex map[string]uint16

	warmup int
}

// Request outcome and shape bits, one byte per request.
const (
	flagOK        uint8 = 1 << iota // succeeded
	flagFirst                       // a first token arrived
	flagTPOT                        // TPOT applies: > 1 output token over > 1 chunk
	flagCancelled                   // the run gave up on it
)

const maxChunkTokens = 1<<20 - 1

// maxReasons bounds the distinct error texts kept; a run with more (errors
// that embed request ids, say) counts the rest under otherReasons.
const (
	maxReasons   = 1<<16 - 1
	otherReasons = "other errors (more than 65535 kinds)"
)

// NewStore returns an empty Store.
func NewStore() *Store {
	return &Store{targetIndex: map[string]uint16{}, reasonIndex: map[string]uint16{}, ttft: map[int]time.Duration{}}
}

// Add stores what the figures need of r.
func (s *Store) Add(r Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Warmup {
		s.warmup++
		return
	}
	k, ok := s.targetIndex[r.Target]
	if !ok {
		k = uint16(len(s.targets))
		s.targetIndex[r.Target] = k
		s.targets = append(s.targets, r.Target)
	}
	i := s.arrival.len()
	var f uint8
	if r.OK() {
		f |= flagOK
	} else {
		if r.Cancelled {
			f |= flagCancelled
		}
		k, ok := s.reasonIndex[r.Error]
		if !ok && len(s.reasons) < maxReasons {
			k = uint16(len(s.reasons))
			s.reasonIndex[r.Error] = k
			s.reasons = append(s.reasons, r.Error)
		} else if !ok {
			k = maxReasons // every further kind of error shares one entry
		}
		s.fails.add(uint64(i)<<16 | uint64(k))
	}
	if r.FirstToken > 0 {
		f |= flagFirst
	}
	s.arrival.add(r.Arrival)
	s.lag.add(r.Arrival - r.Scheduled)
	s.queue.add(r.Sent - r.Arrival)
	s.server.add(r.Done - r.Sent)
	s.in.add(int32(r.InputTokens))
	s.out.add(int32(r.OutputTokens))
	s.cached.add(int32(r.CachedTokens))
	s.target.add(k)
	n := 0
	if f&flagOK != 0 {
		if f&flagFirst != 0 && (len(r.Chunks) == 0 || r.Chunks[0].At != r.FirstToken) {
			s.ttft[i] = r.FirstToken - r.Sent
		}
		carrying := 0
		for j, c := range r.Chunks {
			at := c.At - r.Sent
			if j > 0 {
				at = c.At - r.Chunks[j-1].At
			}
			if c.Tokens != 1 {
				s.sparse.add(uint64(s.chunkAt.len())<<20 | uint64(min(max(c.Tokens, 0), maxChunkTokens)))
			}
			s.chunkAt.add(at)
			if c.Tokens > 0 {
				carrying++
			}
		}
		n = len(r.Chunks)
		if r.OutputTokens > 1 && r.FirstToken > 0 && carrying > 1 {
			f |= flagTPOT
		}
	}
	s.nchunks.add(uint32(n))
	s.flags.add(f)
}

// Len is the number of measured requests added.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.arrival.len()
}

// Warmup is the number of warmup records added.
func (s *Store) Warmup() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.warmup
}

// Targets lists the targets requests were sent to, in first-seen order.
func (s *Store) Targets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.targets)
}

// Bytes is the memory the Store's blocks hold for requests and chunks
// (the maps of errors and exceptions are not counted).
func (s *Store) Bytes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.arrival.bytes(8) + s.lag.short.bytes(4) + s.queue.short.bytes(4) + s.server.short.bytes(4) +
		s.in.bytes(4) + s.out.bytes(4) + s.cached.bytes(4) + s.target.bytes(2) + s.flags.bytes(1) +
		s.nchunks.bytes(4) + s.chunkAt.short.bytes(4) + s.sparse.bytes(8)
}

// request is one stored request, its times restored as Record offsets.
type request struct {
	index                                 int
	scheduled, arrival, sent, first, done time.Duration
	in, out, cached, target               int
	flags                                 uint8
	chunk0, nchunks                       int // its range in the chunk arena
}

func (r *request) ok() bool        { return r.flags&flagOK != 0 }
func (r *request) cancelled() bool { return r.flags&flagCancelled != 0 }

// walker visits the stored requests in order, and their chunks.
type walker struct {
	s      *Store
	i      int
	chunk  int // arena index of the next request's first chunk
	sparse int // next sparse entry to look at
}

// next fills r with the next request; false when there is none. The caller
// holds s.mu.
func (w *walker) next(r *request) bool {
	s := w.s
	if w.i >= s.arrival.len() {
		return false
	}
	i := w.i
	w.i++
	r.index = i
	r.arrival = s.arrival.at(i)
	r.scheduled = r.arrival - s.lag.at(i)
	r.sent = r.arrival + s.queue.at(i)
	r.done = r.sent + s.server.at(i)
	r.flags = s.flags.at(i)
	r.in, r.out, r.cached = int(s.in.at(i)), int(s.out.at(i)), int(s.cached.at(i))
	r.target = int(s.target.at(i))
	r.chunk0, r.nchunks = w.chunk, int(s.nchunks.at(i))
	w.chunk += r.nchunks
	r.first = 0
	if r.flags&flagFirst != 0 && r.ok() {
		if d, ok := s.ttft[i]; ok {
			r.first = r.sent + d
		} else {
			r.first = r.sent + s.chunkAt.at(r.chunk0)
		}
	}
	return true
}

// chunks calls fn with each chunk of r, in order: its index, its time (a
// Record offset), its gap to the previous chunk (0 for the first) and the
// tokens it carried. Requests must be visited in order.
func (w *walker) chunks(r *request, fn func(j int, at, gap time.Duration, tokens int)) {
	s := w.s
	at := r.sent
	for j := 0; j < r.nchunks; j++ {
		pos := r.chunk0 + j
		d := s.chunkAt.at(pos)
		gap := d
		if j == 0 {
			gap = 0
		}
		at += d
		tokens := 1
		for w.sparse < s.sparse.len() {
			e := s.sparse.at(w.sparse)
			p := int(e >> 20)
			if p > pos {
				break
			}
			w.sparse++
			if p == pos {
				tokens = int(e & maxChunkTokens)
				break
			}
		}
		fn(j, at, gap, tokens)
	}
}

// Summary computes the run's figures (see Summary for each definition).
func (s *Store) Summary() Summary {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.summarize(nil, 0)
}

// Window computes the figures of the requests that arrived in [from, to),
// with every throughput over the window's length, which is its DurationS.
func (s *Store) Window(from, to time.Duration) (Summary, error) {
	if to <= from {
		return Summary{}, fmt.Errorf("metrics: window [%v, %v) is empty", from, to)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.summarize(func(r *request) bool { return r.arrival >= from && r.arrival < to }, to-from), nil
}

// summarize computes a Summary over the requests keep accepts (all when
// nil). With window zero the duration runs from the start instant to the
// last Done; otherwise it is window. The caller holds s.mu.
func (s *Store) summarize(keep func(*request) bool, window time.Duration) Summary {
	var sum Summary
	var server, total, queue, ttft, itl, itlChunk, tpot, lag, sendLag []float64
	var last, sumLatency time.Duration
	var inFlight, queued []span
	w := walker{s: s}
	var r request
	for w.next(&r) {
		if keep != nil && !keep(&r) {
			continue
		}
		sum.Requests++
		lag = append(lag, ms(r.arrival-r.scheduled))
		sendLag = append(sendLag, ms(r.sent-r.scheduled))
		last = max(last, r.done)
		if !r.ok() {
			if r.cancelled() {
				sum.Cancelled++
			} else {
				sum.Failed++
			}
			continue
		}
		sum.Succeeded++
		sum.TotalInputTokens += r.in
		sum.TotalOutputTokens += r.out
		sum.TotalCachedTokens += r.cached
		lat := r.done - r.sent
		sumLatency += lat
		server = append(server, ms(lat))
		total = append(total, ms(r.done-r.arrival))
		queue = append(queue, ms(r.sent-r.arrival))
		if r.first > 0 {
			first := r.first - r.sent
			ttft = append(ttft, ms(first))
			if r.flags&flagTPOT != 0 {
				tpot = append(tpot, ms(lat-first)/float64(r.out-1))
			}
		}
		w.chunks(&r, func(j int, _, gap time.Duration, n int) {
			if j == 0 {
				return
			}
			itlChunk = append(itlChunk, ms(gap))
			if n <= 0 {
				return
			}
			per := ms(gap) / float64(n)
			for range n {
				itl = append(itl, per)
			}
		})
		inFlight = append(inFlight, span{r.sent, r.done})
		queued = append(queued, span{r.arrival, r.sent})
	}
	sum.Errors, sum.CancelReasons = s.countReasons(keep)
	sum.DurationS = last.Seconds()
	if window > 0 {
		sum.DurationS = window.Seconds()
	}
	if d := sum.DurationS; d > 0 {
		sum.RequestThroughput = float64(sum.Succeeded) / d
		sum.InputThroughput = float64(sum.TotalInputTokens) / d
		sum.OutputThroughput = float64(sum.TotalOutputTokens) / d
		sum.TotalThroughput = float64(sum.TotalInputTokens+sum.TotalOutputTokens) / d
		sum.MeanConcurrency = sumLatency.Seconds() / d
	}
	sum.ServerLatencyMS = Distribute(server)
	sum.E2ELatencyMS = sum.ServerLatencyMS
	sum.TotalLatencyMS = Distribute(total)
	sum.QueueTimeMS = Distribute(queue)
	sum.TTFTMS = Distribute(ttft)
	sum.ITLMS = Distribute(itl)
	sum.TPOTMS = Distribute(tpot)
	sum.ITLPerChunkMS = Distribute(itlChunk)
	sum.ScheduleLagMS = Distribute(lag)
	sum.SendLagMS = Distribute(sendLag)
	sum.PeakConcurrency = peakOverlap(inFlight)
	sum.MaxQueueDepth = peakOverlap(queued)
	return sum
}

// countReasons counts the error texts of the failed and of the cancelled
// requests keep accepts (all when nil); nil maps when there are none. The
// caller holds s.mu.
func (s *Store) countReasons(keep func(*request) bool) (failed, cancelled map[string]int) {
	w := walker{s: s}
	var r request
	for k := 0; k < s.fails.len(); k++ {
		e := s.fails.at(k)
		i, reason := int(e>>16), int(e&0xffff)
		if keep != nil {
			for w.i <= i {
				w.next(&r)
			}
			if !keep(&r) {
				continue
			}
		}
		text := otherReasons
		if reason < len(s.reasons) {
			text = s.reasons[reason]
		}
		m := &failed
		if s.flags.at(i)&flagCancelled != 0 {
			m = &cancelled
		}
		if *m == nil {
			*m = map[string]int{}
		}
		(*m)[text]++
	}
	return failed, cancelled
}

// Latencies returns, in milliseconds and in the order added, the server
// latency, total latency and TTFT (requests with a first token only) of
// the successful requests, and the last Done among them.
func (s *Store) Latencies() (server, total, ttft []float64, end time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := walker{s: s}
	var r request
	for w.next(&r) {
		if !r.ok() {
			continue
		}
		server = append(server, ms(r.done-r.sent))
		total = append(total, ms(r.done-r.arrival))
		if r.first > 0 {
			ttft = append(ttft, ms(r.first-r.sent))
		}
		end = max(end, r.done)
	}
	return server, total, ttft, end
}

// Selection picks requests from a Store: those that arrived in [From, To)
// (To zero: no upper end), sent to Target (empty: any).
type Selection struct {
	From, To time.Duration
	Target   string
}

func (sel Selection) keeps(s *Store, r *request) bool {
	return r.arrival >= sel.From && (sel.To == 0 || r.arrival < sel.To) &&
		(sel.Target == "" || s.targets[r.target] == sel.Target)
}

// Latency names the per-request (and per-token) samples Samples returns,
// as Summary defines them.
const (
	ServerLatency = "server latency"
	TotalLatency  = "total latency"
	QueueTime     = "queue time"
	E2ELatency    = "e2e latency"
	TTFT          = "ttft"
	ITL           = "itl"
	ITLPerChunk   = "itl per chunk"
	TPOT          = "tpot"
	ScheduleLag   = "schedule lag"
	SendLag       = "send lag"
)

// Samples returns the named samples of the selected requests, in
// milliseconds, sorted: the same samples the Summary's Distribution of that
// name is computed from (successful requests only, but for the client's
// schedule and send lag, which count every request).
func (s *Store) Samples(name string, sel Selection) ([]float64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []float64
	w := walker{s: s}
	var r request
	for w.next(&r) {
		if !sel.keeps(s, &r) {
			continue
		}
		switch name {
		case ScheduleLag:
			out = append(out, ms(r.arrival-r.scheduled))
			continue
		case SendLag:
			out = append(out, ms(r.sent-r.scheduled))
			continue
		}
		if !r.ok() {
			continue
		}
		switch name {
		case ServerLatency, E2ELatency:
			out = append(out, ms(r.done-r.sent))
		case TotalLatency:
			out = append(out, ms(r.done-r.arrival))
		case QueueTime:
			out = append(out, ms(r.sent-r.arrival))
		case TTFT:
			if r.first > 0 {
				out = append(out, ms(r.first-r.sent))
			}
		case TPOT:
			if r.flags&flagTPOT != 0 {
				out = append(out, ms(r.done-r.first)/float64(r.out-1))
			}
		case ITL, ITLPerChunk:
			w.chunks(&r, func(j int, _, gap time.Duration, n int) {
				switch {
				case j == 0:
				case name == ITLPerChunk:
					out = append(out, ms(gap))
				case n > 0:
					per := ms(gap) / float64(n)
					for range n {
						out = append(out, per)
					}
				}
			})
		default:
			return nil, fmt.Errorf("metrics: no samples named %q", name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Outcomes counts the selected requests that arrived, succeeded, failed
// and were cancelled.
func (s *Store) Outcomes(sel Selection) (sent, succeeded, failed, cancelled int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := walker{s: s}
	var r request
	for w.next(&r) {
		if !sel.keeps(s, &r) {
			continue
		}
		sent++
		switch {
		case r.ok():
			succeeded++
		case r.cancelled():
			cancelled++
		default:
			failed++
		}
	}
	return sent, succeeded, failed, cancelled
}

// LastFailure is the latest Done of a failed (not cancelled) request that
// arrived in the selection; ok is false when none failed.
func (s *Store) LastFailure(sel Selection) (done time.Duration, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := walker{s: s}
	var r request
	for w.next(&r) {
		if sel.keeps(s, &r) && !r.ok() && !r.cancelled() {
			done, ok = max(done, r.done), true
		}
	}
	return done, ok
}
