package telemetry

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func msec(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestNextTick_KeepsTheScheduleAndCountsSkippedTicks(t *testing.T) {
	tests := []struct {
		name               string
		due, now, interval time.Duration
		wantNext           time.Duration
		wantSkipped        int
	}{
		{"on time", msec(100), msec(150), msec(100), msec(200), 0},
		{"sample ended on the next tick", msec(100), msec(200), msec(100), msec(300), 1},
		// Ticks 200, 300 and 400 have passed by 450: the next is 500.
		{"overran three ticks", msec(100), msec(450), msec(100), msec(500), 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, skipped := nextTick(tt.due, tt.now, tt.interval)
			if next != tt.wantNext || skipped != tt.wantSkipped {
				t.Errorf("nextTick(%v, %v, %v) = %v, %d; want %v, %d", tt.due, tt.now, tt.interval, next, skipped, tt.wantNext, tt.wantSkipped)
			}
		})
	}
}

// scriptedSampler returns one GPU per call whose utilisation counts the
// calls, and fails the calls listed in fail.
type scriptedSampler struct {
	mu    sync.Mutex
	calls int
	fail  map[int]bool
}

func (s *scriptedSampler) Sample(at time.Duration) ([]GPU, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fail[s.calls] {
		return nil, errors.New("sample refused")
	}
	return []GPU{{At: at, UtilizationPct: known(float64(s.calls))}}, nil
}

func (s *scriptedSampler) Close() error { return nil }

func (s *scriptedSampler) n() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func newTestCollector(t *testing.T, s Sampler) *Collector {
	t.Helper()
	start := time.Now()
	c, err := NewCollector(CollectorOptions{Sampler: s, Now: func() time.Duration { return time.Since(start) }, Interval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitCalls waits until s has been sampled n times; it bounds nothing
// about timing, it only keeps a broken collector from hanging the test.
func waitCalls(t *testing.T, s *scriptedSampler, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.n() < n {
		if time.Now().After(deadline) {
			t.Fatalf("collector sampled %d times, want %d", s.n(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCollector_SamplesAtStartEveryIntervalAndAtStop(t *testing.T) {
	s := &scriptedSampler{}
	c := newTestCollector(t, s)
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := c.Samples(); len(got) != 1 || got[0].UtilizationPct.Value != 1 {
		t.Fatalf("after Start: %+v, want the first sample", got)
	}
	waitCalls(t, s, 4)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	got := c.Samples()
	if len(got) != s.n() {
		t.Fatalf("%d samples kept of %d taken", len(got), s.n())
	}
	for i := 1; i < len(got); i++ {
		if got[i].At < got[i-1].At || got[i].UtilizationPct.Value != float64(i+1) {
			t.Errorf("sample %d = %+v after %+v: want them in order", i, got[i], got[i-1])
		}
	}
	after := s.n()
	time.Sleep(5 * time.Millisecond)
	if s.n() != after {
		t.Errorf("sampling went on after Stop: %d calls, then %d", after, s.n())
	}
	if sums := c.Summaries(); len(sums) != 1 || sums[0].Samples != len(got) {
		t.Errorf("summaries = %+v", sums)
	}
}

func TestCollector_ReportsFailedSamples(t *testing.T) {
	t.Run("first", func(t *testing.T) {
		c := newTestCollector(t, &scriptedSampler{fail: map[int]bool{1: true}})
		if err := c.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "first sample of the window") {
			t.Errorf("Start = %v", err)
		}
	})
	t.Run("middle", func(t *testing.T) {
		s := &scriptedSampler{fail: map[int]bool{2: true}}
		c := newTestCollector(t, s)
		if err := c.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		waitCalls(t, s, 3)
		err := c.Stop()
		if err == nil || !strings.Contains(err.Error(), "1 of") || !strings.Contains(err.Error(), "sample refused") {
			t.Errorf("Stop = %v, want one failed sample reported", err)
		}
		if got := len(c.Samples()); got != s.n()-1 {
			t.Errorf("%d samples kept of %d taken with one failure", got, s.n())
		}
	})
	t.Run("last", func(t *testing.T) {
		s := &scriptedSampler{}
		c := newTestCollector(t, s)
		ctx, cancel := context.WithCancel(context.Background())
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		cancel() // end the ticks, so the next sample is Stop's
		<-c.done
		s.mu.Lock()
		s.fail = map[int]bool{s.calls + 1: true}
		s.mu.Unlock()
		if err := c.Stop(); err == nil || !strings.Contains(err.Error(), "last sample of the window") {
			t.Errorf("Stop = %v", err)
		}
	})
}

func TestCollector_StopsWithTheContextAndRefusesMisuse(t *testing.T) {
	s := &scriptedSampler{}
	c := newTestCollector(t, s)
	if err := c.Stop(); err == nil {
		t.Error("Stop before Start succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err == nil {
		t.Error("a second Start succeeded")
	}
	cancel()
	<-c.done
	if err := c.Stop(); err != nil {
		t.Errorf("Stop after the context ended: %v", err)
	}
	if err := c.Stop(); err == nil {
		t.Error("a second Stop succeeded")
	}
	for _, o := range []CollectorOptions{
		{Now: func() time.Duration { return 0 }},
		{Sampler: s},
		{Sampler: s, Now: func() time.Duration { return 0 }, Interval: -time.Second},
	} {
		if _, err := NewCollector(o); err == nil {
			t.Errorf("NewCollector(%+v) succeeded", o)
		}
	}
	if c, err := NewCollector(CollectorOptions{Sampler: s, Now: func() time.Duration { return 0 }}); err != nil || c.interval != DefaultInterval {
		t.Errorf("default interval: %v, %v", c, err)
	}
}
