package monotime

import (
	"context"
	"time"
)

// Fine is the stretch before a deadline that Until sleeps in the kernel
// (nanosleep) rather than on a Go timer. Go's timers, when the process is
// idle, wait in epoll with millisecond resolution, so a timer fires up to a
// millisecond late; nanosleep blocks only the calling goroutine's thread
// and wakes within the kernel's timer slack (about 50 µs).
const Fine = 2 * time.Millisecond

// Sleeper sleeps one goroutine at a time; it keeps its timer between calls.
// The zero value is ready to use.
type Sleeper struct {
	timer *time.Timer
}

// Until sleeps until deadline; it returns at once when that is past, and
// ctx's error if ctx ends first. The last Fine before the deadline is slept
// in the kernel, so a cancellation is seen at most that late.
func (s *Sleeper) Until(ctx context.Context, deadline time.Time) error {
	wait := time.Until(deadline)
	if wait <= 0 {
		return ctx.Err()
	}
	if wait > Fine {
		if err := s.timerSleep(ctx, wait-Fine); err != nil {
			return err
		}
	}
	for {
		wait = time.Until(deadline)
		if wait <= 0 {
			return ctx.Err()
		}
		kernelSleep(wait)
	}
}

func (s *Sleeper) timerSleep(ctx context.Context, wait time.Duration) error {
	if s.timer == nil {
		s.timer = time.NewTimer(wait)
	} else {
		s.timer.Reset(wait)
	}
	select {
	case <-s.timer.C:
		return nil
	case <-ctx.Done():
		s.timer.Stop()
		return ctx.Err()
	}
}
