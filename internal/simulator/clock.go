package simulator

import (
	"context"
	"time"

	"github.com/sgltest/sgltest/internal/monotime"
)

// Clock is the time base of a running simulator: a duration since the
// simulator started. The server and its driver read time only through it, so
// a virtual clock can replace the wall clock.
type Clock interface {
	Now() time.Duration
	// SleepUntil returns once Now() >= t, or with ctx's error if ctx ends
	// first.
	SleepUntil(ctx context.Context, t time.Duration) error
}

// WallClock is real monotonic time since NewWallClock.
type WallClock struct {
	start time.Time
}

// NewWallClock starts a wall clock at zero.
func NewWallClock() *WallClock { return &WallClock{start: time.Now()} }

// Now returns the monotonic time since the clock started.
func (c *WallClock) Now() time.Duration { return time.Since(c.start) }

// SleepUntil sleeps until t with sub-millisecond precision (see monotime):
// a Go timer alone wakes up to a millisecond late, which would lengthen
// every simulated step. Safe for concurrent use.
func (c *WallClock) SleepUntil(ctx context.Context, t time.Duration) error {
	var s monotime.Sleeper
	return s.Until(ctx, c.start.Add(t))
}
