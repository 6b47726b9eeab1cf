package live

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/timeline"
)

// clock is a settable time for Progress.now.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestProgressLineSaysDoneRateErrorsElapsedAndETA(t *testing.T) {
	c := &clock{t: time.Date(2026, 11, 23, 19, 55, 0, 0, time.UTC)}
	p := NewProgress(&bytes.Buffer{}, "node moderate run 1", 200, Plain, time.Hour)
	p.now = c.now
	p.began = c.t
	c.t = c.t.Add(1500 * time.Millisecond)
	if got, want := p.Line(c.t), "sgltest: node moderate run 1: servers starting, 200 requests planned (1.5 s)"; got != want {
		t.Errorf("before the load:\n got %q\nwant %q", got, want)
	}
	p.Event(timeline.Event{Kind: timeline.LoadStarted})
	for i := range 50 {
		r := metrics.Record{Status: 200}
		switch {
		case i < 3:
			r.Status, r.Error = 503, "HTTP 503"
		case i < 5:
			r.Error, r.Cancelled = "interrupted", true
		}
		p.Add(r)
	}
	p.Add(metrics.Record{Warmup: true, Status: 200}) // not counted
	tests := []struct {
		after time.Duration
		event *timeline.Event
		want  string
	}{
		{10 * time.Second, nil, "sgltest: node moderate run 1: 50/200 requests (25%) · 5.0 req/s · 3 failed · 2 cancelled · 10.0 s elapsed · ETA 30.0 s"},
		{100 * time.Second, &timeline.Event{At: 8103 * time.Millisecond, Kind: timeline.Killed, Target: "server-2"},
			"sgltest: node moderate run 1: 50/200 requests (25%) · 0.5 req/s · 3 failed · 2 cancelled · 1m40s elapsed · ETA 5m00s · 8.103 s server-2 killed"},
	}
	for _, tc := range tests {
		if tc.event != nil {
			p.Event(*tc.event)
		}
		if got := p.Line(c.t.Add(tc.after)); got != tc.want {
			t.Errorf("after %v:\n got %q\nwant %q", tc.after, got, tc.want)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the progress goroutine and the
// test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestPlainProgressPrintsALineAtOnceAndEveryInterval(t *testing.T) {
	var out syncBuffer
	p := NewProgress(&out, "run", 10, Plain, 5*time.Millisecond)
	p.Start()
	p.Event(timeline.Event{Kind: timeline.LoadStarted})
	p.Add(metrics.Record{Status: 200})
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "1/10 requests") && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	p.Stop()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if !strings.HasPrefix(lines[0], "sgltest: run: servers starting, 10 requests planned") {
		t.Errorf("first line %q, want the run announced at once", lines[0])
	}
	if !strings.Contains(lines[len(lines)-1], "1/10 requests (10%)") || strings.Contains(out.String(), "\r") {
		t.Errorf("plain output %q: want whole lines, the last with 1/10 requests", out.String())
	}
	n := len(out.String())
	time.Sleep(20 * time.Millisecond)
	if len(out.String()) != n {
		t.Error("lines printed after Stop")
	}
}

func TestTerminalProgressRedrawsInPlaceAndErasesItselfAtStop(t *testing.T) {
	var out syncBuffer
	p := NewProgress(&out, "run", 10, Terminal, time.Hour)
	p.width = 30
	p.interval = 2 * time.Millisecond
	p.Start()
	p.Event(timeline.Event{Kind: timeline.LoadStarted})
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(out.String(), "\r\x1b[K") < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	p.Stop()
	s := out.String()
	if strings.Contains(s, "\n") {
		t.Errorf("terminal output has a newline: %q", s)
	}
	draws := strings.Split(s, "\r\x1b[K")[1:]
	if len(draws) < 3 || draws[len(draws)-1] != "" {
		t.Fatalf("draws %q: want redraws, then an erase", draws)
	}
	for _, d := range draws[:len(draws)-1] {
		if n := len([]rune(d)); n >= 30 || !strings.HasSuffix(d, "…") {
			t.Errorf("draw %q (%d runes) not cut to the terminal's 30 columns", d, n)
		}
	}
}

func TestDurationReadsAsSecondsMinutesOrHours(t *testing.T) {
	for d, want := range map[time.Duration]string{
		4200 * time.Millisecond: "4.2 s", 185 * time.Second: "3m05s", 3720 * time.Second: "1h02m",
	} {
		if got := duration(d); got != want {
			t.Errorf("duration(%v) = %q, want %q", d, got, want)
		}
	}
}
