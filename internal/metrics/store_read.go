package metrics

import "time"

// Span is one measured request as a Store keeps it: its instants as Record
// offsets, where it went and how it ended. The charts of a run read it.
type Span struct {
	// Index is the request's position in the Store (the order added).
	Index int
	// Scheduled, Arrival, Sent and Done are the Record's instants;
	// FirstToken is zero for a request without a first token (a failed
	// one, or one that was not streamed).
	Scheduled, Arrival, Sent, FirstToken, Done time.Duration
	// Target is the Record's Target.
	Target string
	// OK is set for a successful request, Cancelled for one the run gave
	// up on; neither for a failed one.
	OK, Cancelled bool
	// InputTokens, OutputTokens and CachedTokens are the Record's.
	InputTokens, OutputTokens, CachedTokens int
}

// Each calls fn with every measured request, in the order added. fn runs
// while the Store is locked: it must not call the Store's methods (Adds
// from other goroutines wait until Each returns).
func (s *Store) Each(fn func(Span)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := walker{s: s}
	var r request
	for w.next(&r) {
		fn(Span{Index: r.index, Scheduled: r.scheduled, Arrival: r.arrival, Sent: r.sent, FirstToken: r.first,
			Done: r.done, Target: s.targets[r.target], OK: r.ok(), Cancelled: r.cancelled(),
			InputTokens: r.in, OutputTokens: r.out, CachedTokens: r.cached})
	}
}
