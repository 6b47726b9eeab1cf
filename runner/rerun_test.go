package runner

import (
	"context"
	"testing"
	"time"
)

func TestRerunPausesStartAtFiveSecondsAndDouble(t *testing.T) {
	want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second}
	var total time.Duration
	for n, w := range want {
		if got := rerunPause(n); got != w {
			t.Errorf("pause before rerun %d = %s, want %s", n+1, got, w)
		}
		total += rerunPause(n)
	}
	if total != 155*time.Second {
		t.Errorf("five reruns pause %s in all, want 155s", total)
	}
}

func TestSleepBeforeARerunEndsWhenEitherContextEnds(t *testing.T) {
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name        string
		step, suite context.Context
		wait        time.Duration
		want        bool
	}{
		{"the pause runs out", context.Background(), context.Background(), time.Millisecond, true},
		{"the step's context ended", ended, context.Background(), time.Hour, false},
		{"the suite was interrupted", context.Background(), ended, time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sleepCtx(tt.step, tt.suite, tt.wait); got != tt.want {
				t.Errorf("sleepCtx = %v, want %v", got, tt.want)
			}
		})
	}
}
