package live

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/timeline"
	"github.com/sgltest/sgltest/internal/workerstate"
)

// Progress is a run's progress line: requests done of the total, their
// rate, failures, time elapsed since the load started and the time left
// at that rate. On a terminal it is redrawn in place several times a
// second; otherwise it is printed as a plain line every Interval. It is a
// timeline.Observer, safe for concurrent use.
type Progress struct {
	out      io.Writer
	name     string
	total    int
	tty      bool
	width    int // the terminal's columns; 0: unknown
	interval time.Duration
	now      func() time.Time

	mu                      sync.Mutex
	began, loadStarted      time.Time
	done, failed, cancelled int
	last                    string // the latest event, in words
	drawn                   int    // the width of the line on screen
	stop                    chan struct{}
	stopped                 sync.WaitGroup
}

// Progress modes.
const (
	// Terminal redraws the line in place (a carriage return and an erase).
	Terminal = "terminal"
	// Plain prints a new line every interval, for logs.
	Plain = "plain"
)

// terminalInterval is how often the line is redrawn on a terminal.
const terminalInterval = 250 * time.Millisecond

// NewProgress returns the progress line of a run called name, of total
// requests, written to out in mode Terminal or Plain (every interval).
// Start starts drawing it.
func NewProgress(out io.Writer, name string, total int, mode string, interval time.Duration) *Progress {
	p := &Progress{out: out, name: name, total: total, tty: mode == Terminal, interval: interval, now: time.Now}
	if p.tty {
		p.interval = terminalInterval
	}
	return p
}

// Start draws the line every interval until Stop.
func (p *Progress) Start() {
	stop := make(chan struct{})
	p.mu.Lock()
	p.began = p.now()
	p.stop = stop
	p.mu.Unlock()
	if !p.tty {
		p.print() // say at once what is running
	}
	p.stopped.Add(1)
	go func() {
		defer p.stopped.Done()
		t := time.NewTicker(p.interval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				p.print()
			}
		}
	}()
}

// Stop stops drawing; on a terminal it erases the line, so that what is
// printed next (the run's summary) starts on a clean line.
func (p *Progress) Stop() {
	p.mu.Lock()
	stop := p.stop
	p.stop = nil
	p.mu.Unlock()
	if stop == nil {
		return
	}
	close(stop)
	p.stopped.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.drawn > 0 {
		fmt.Fprint(p.out, "\r\x1b[K")
		p.drawn = 0
	}
}

func (p *Progress) print() {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.lineLocked(p.now())
	if p.tty {
		if r := []rune(s); p.width > 1 && len(r) >= p.width {
			s = string(r[:p.width-2]) + "…" // a wrapped line cannot be redrawn in place
		}
		fmt.Fprint(p.out, "\r\x1b[K"+s)
		p.drawn = len(s)
		return
	}
	fmt.Fprintln(p.out, s)
}

// Line is the progress line at now.
func (p *Progress) Line(now time.Time) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lineLocked(now)
}

func (p *Progress) lineLocked(now time.Time) string {
	var b strings.Builder
	b.WriteString("sgltest: " + p.name + ": ")
	if p.loadStarted.IsZero() {
		fmt.Fprintf(&b, "servers starting, %d requests planned (%s)", p.total, duration(now.Sub(p.began)))
		if p.last != "" {
			b.WriteString(" · " + p.last)
		}
		return b.String()
	}
	elapsed := now.Sub(p.loadStarted)
	finished := p.done + p.failed + p.cancelled
	fmt.Fprintf(&b, "%d/%d requests", finished, p.total)
	if p.total > 0 {
		fmt.Fprintf(&b, " (%.0f%%)", 100*float64(finished)/float64(p.total))
	}
	rate := 0.0
	if elapsed > 0 {
		rate = float64(finished) / elapsed.Seconds()
	}
	fmt.Fprintf(&b, " · %.1f req/s · %d failed", rate, p.failed)
	if p.cancelled > 0 {
		fmt.Fprintf(&b, " · %d cancelled", p.cancelled)
	}
	fmt.Fprintf(&b, " · %s elapsed", duration(elapsed))
	switch left := p.total - finished; {
	case left <= 0:
	case rate > 0:
		fmt.Fprintf(&b, " · ETA %s", duration(time.Duration(float64(left)/rate*float64(time.Second))))
	default:
		b.WriteString(" · ETA unknown")
	}
	if p.last != "" {
		b.WriteString(" · " + p.last)
	}
	return b.String()
}

// duration writes d as "4.2 s", "3m05s" or "1h02m".
func duration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
}

// Add implements timeline.Observer.
func (p *Progress) Add(r metrics.Record) {
	if r.Warmup {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case r.OK():
		p.done++
	case r.Cancelled:
		p.cancelled++
	default:
		p.failed++
	}
}

// Event implements timeline.Observer.
func (p *Progress) Event(e timeline.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e.Kind {
	case timeline.LoadStarted:
		p.loadStarted = p.now()
	case timeline.Started, timeline.LoadFinished:
	default:
		p.last = e.String()
	}
}

// Sample implements timeline.Observer.
func (p *Progress) Sample(int, workerstate.Sample) {}
