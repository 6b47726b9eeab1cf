package monotime

import (
	"context"
	"testing"
	"time"
)

func TestUntilNeverWakesEarlyAndHonoursCancel(t *testing.T) {
	var s Sleeper
	for _, d := range []time.Duration{0, 100 * time.Microsecond, 3 * time.Millisecond} {
		deadline := time.Now().Add(d)
		if err := s.Until(context.Background(), deadline); err != nil {
			t.Fatal(err)
		}
		if now := time.Now(); now.Before(deadline) {
			t.Errorf("woke %v before the deadline", deadline.Sub(now))
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Until(ctx, time.Now().Add(time.Hour)); err == nil {
		t.Error("a cancelled sleep returned no error")
	}
}
