package load

import (
	"context"
	"testing"
	"time"
)

func TestSleepLagsWakesNeverEarlyAndStopsOnCancel(t *testing.T) {
	offsets := Offsets{0, time.Millisecond, 3 * time.Millisecond, 3 * time.Millisecond, 5 * time.Millisecond}
	lags, err := SleepLags(context.Background(), offsets)
	if err != nil {
		t.Fatal(err)
	}
	if len(lags) != len(offsets) {
		t.Fatalf("%d lags for %d offsets", len(lags), len(offsets))
	}
	for i, l := range lags {
		if l < 0 {
			t.Errorf("wake-up %d came %v early", i, -l)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	lags, err = SleepLags(ctx, Offsets{time.Hour})
	if err == nil || len(lags) != 0 {
		t.Errorf("a cancelled run gave %d lags and error %v; want none and the context's error", len(lags), err)
	}
}
