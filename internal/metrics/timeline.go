package metrics

import (
	"cmp"
	"slices"
	"time"
)

// Bucket is one fixed-width interval of a run, [Start, Start+width), and what
// happened in it. Only measured requests count (warmup is excluded).
type Bucket struct {
	// Start is the bucket's start, as an offset from the run's start.
	Start time.Duration
	// Completed counts successful requests whose Done falls in the bucket.
	Completed int
	// Failed counts failed requests whose Done falls in the bucket.
	Failed int
	// OutputTokens counts output tokens of successful requests by when they
	// arrived: each streamed chunk's tokens go to the bucket holding its At,
	// and whatever the chunks do not account for of the request's
	// OutputTokens (all of them for a non-streamed request) goes to the
	// bucket holding Done. Summed over all buckets it equals
	// Summary.TotalOutputTokens.
	OutputTokens int
}

// Timeline cuts a run into buckets of the given width, from offset 0 to the
// bucket holding the last Done of a measured request, and counts completions
// and output tokens per bucket (see Bucket). Buckets are half-open, so an
// event exactly on a boundary k*width belongs to bucket k, the later one.
// An event before offset 0 (it cannot happen with a monotonic clock) is
// counted in bucket 0.
//
// It returns nil when there is no measured request, and panics if width is
// not positive.
func Timeline(records []Record, width time.Duration) []Bucket {
	return storeOf(records).Timeline(width)
}

// storeOf adds records to a new Store.
func storeOf(records []Record) *Store {
	st := NewStore()
	for i := range records {
		st.Add(records[i])
	}
	return st
}

// Timeline is the package function Timeline over the stored requests.
func (s *Store) Timeline(width time.Duration) []Bucket {
	if width <= 0 {
		panic("metrics: Timeline width must be positive")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.arrival.len() == 0 {
		return nil
	}
	var last time.Duration
	w := walker{s: s}
	var r request
	for w.next(&r) {
		last = max(last, r.done)
	}
	buckets := make([]Bucket, int(last/width)+1)
	for i := range buckets {
		buckets[i].Start = time.Duration(i) * width
	}
	at := func(d time.Duration) *Bucket {
		return &buckets[min(max(int(d/width), 0), len(buckets)-1)]
	}
	w = walker{s: s}
	for w.next(&r) {
		if !r.ok() {
			at(r.done).Failed++
			continue
		}
		at(r.done).Completed++
		streamed := 0
		w.chunks(&r, func(_ int, t, _ time.Duration, n int) {
			if n > 0 {
				at(t).OutputTokens += n
				streamed += n
			}
		})
		if rest := r.out - streamed; rest > 0 {
			at(r.done).OutputTokens += rest
		}
	}
	return buckets
}

// Step is one point of a step function: from At on (until the next Step) the
// value is Value.
type Step struct {
	At    time.Duration
	Value int
}

// InFlight returns the number of requests in flight (between Sent and Done)
// over the run, as the steps where it changes. Like Summary.PeakConcurrency
// it counts successful measured requests only, so its largest Value equals
// that figure.
func InFlight(records []Record) []Step { return storeOf(records).InFlight() }

// QueueDepth returns the number of requests arrived but not yet sent (the
// client-side queue) over the run, as the steps where it changes. Like
// Summary.MaxQueueDepth it counts successful measured requests only, so its
// largest Value equals that figure.
func QueueDepth(records []Record) []Step { return storeOf(records).QueueDepth() }

// InFlight is the package function InFlight over the stored requests.
func (s *Store) InFlight() []Step {
	return s.occupancy(func(r *request) span { return span{r.sent, r.done} })
}

// QueueDepth is the package function QueueDepth over the stored requests.
func (s *Store) QueueDepth() []Step {
	return s.occupancy(func(r *request) span { return span{r.arrival, r.sent} })
}

// occupancy returns how many spans of successful measured requests contain
// each instant, as the steps where that number changes. Changes at one
// instant are merged into one Step, and an instant where the number does
// not change in the end gives none. Zero-length spans never count. The
// result starts with {0, 0} when the first change comes later than 0, and
// is nil when no span has positive length.
func (s *Store) occupancy(of func(*request) span) []Step {
	type edge struct {
		at    time.Duration
		delta int
	}
	var edges []edge
	s.mu.Lock()
	w := walker{s: s}
	var r request
	for w.next(&r) {
		if !r.ok() {
			continue
		}
		if sp := of(&r); sp.end > sp.start {
			edges = append(edges, edge{sp.start, +1}, edge{sp.end, -1})
		}
	}
	s.mu.Unlock()
	if len(edges) == 0 {
		return nil
	}
	slices.SortFunc(edges, func(x, y edge) int { return cmp.Compare(x.at, y.at) })
	var steps []Step
	if edges[0].at > 0 {
		steps = append(steps, Step{})
	}
	cur := 0
	for i := 0; i < len(edges); {
		at := edges[i].at
		for ; i < len(edges) && edges[i].at == at; i++ {
			cur += edges[i].delta
		}
		if len(steps) == 0 || steps[len(steps)-1].Value != cur {
			steps = append(steps, Step{At: at, Value: cur})
		}
	}
	return steps
}
