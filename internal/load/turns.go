package load

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Batches is static batching as clients did it before continuous
// batching: Size requests are sent together, and the next Size only when
// every one of them has ended. A batch is due when the last request of the
// one before it ended (the first at offset 0).
type Batches struct {
	size    int
	mu      sync.Mutex
	ended   int           // requests of the current batch that ended
	last    time.Duration // when the latest of them ended
	release chan time.Duration
	due     time.Duration
}

// NewBatches returns static batches of size requests.
func NewBatches(size int) (*Batches, error) {
	if size <= 0 {
		return nil, fmt.Errorf("static batches: size must be positive, got %d", size)
	}
	return &Batches{size: size, release: make(chan time.Duration, 1)}, nil
}

// Arrive returns at once within a batch and waits, at the first request of
// a batch, until the batch before it has ended.
func (b *Batches) Arrive(ctx context.Context, i int, _ *Clock) (time.Duration, error) {
	if i > 0 && i%b.size == 0 {
		select {
		case b.due = <-b.release:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return b.due, nil
}

// Finished counts request i's end; the batch's last end releases the next.
func (b *Batches) Finished(_ int, at time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ended++
	b.last = max(b.last, at)
	if b.ended == b.size {
		b.ended = 0
		b.release <- b.last
		b.last = 0
	}
}

// Conversations plays multi-turn conversations: every conversation's first
// turn is due at offset 0, and each later turn when the conversation's
// previous turn ended, whatever the other conversations do (an Orderer).
// Requests are ordered turn-major, as MultiTurn builds them: request i is
// turn i / conversations of conversation i % conversations.
type Conversations struct {
	n, conversations int
	ready            chan due
}

type due struct {
	i  int
	at time.Duration
}

// NewConversations returns the schedule of n requests in conversations
// conversations.
func NewConversations(n, conversations int) (*Conversations, error) {
	if conversations <= 0 || n%conversations != 0 {
		return nil, fmt.Errorf("conversations: %d requests do not split into %d conversations", n, conversations)
	}
	c := &Conversations{n: n, conversations: conversations, ready: make(chan due, n)}
	for i := range min(conversations, n) {
		c.ready <- due{i: i}
	}
	return c, nil
}

// Next returns the next turn due.
func (c *Conversations) Next(ctx context.Context, _ *Clock) (int, time.Duration, error) {
	select {
	case d := <-c.ready:
		return d.i, d.at, nil
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
}

// Arrive is not used: Conversations orders its own arrivals (Next).
func (c *Conversations) Arrive(context.Context, int, *Clock) (time.Duration, error) {
	return 0, fmt.Errorf("conversations: arrivals come from Next")
}

// Finished makes the conversation's next turn due.
func (c *Conversations) Finished(i int, at time.Duration) {
	if next := i + c.conversations; next < c.n {
		c.ready <- due{i: next, at: at}
	}
}
