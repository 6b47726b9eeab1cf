package live

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/timeline"
	"github.com/sgltest/sgltest/internal/workerstate"
)

// Environment variables that configure what a running test shows.
const (
	// EnvProgress chooses the progress line: "auto" (the default: redrawn
	// in place when standard error is a terminal, else a plain line every
	// EnvProgressInterval), "terminal", "plain" or "off".
	EnvProgress = "SGLTEST_PROGRESS"
	// EnvProgressInterval is how often the plain line is printed (a Go
	// duration; default 10s).
	EnvProgressInterval = "SGLTEST_PROGRESS_INTERVAL"
	// EnvPrometheus, when set to host:port (e.g. 127.0.0.1:9464), serves
	// the running test's figures at http://host:port/metrics for the rest
	// of the process.
	EnvPrometheus = "SGLTEST_PROMETHEUS"
)

// DefaultProgressInterval is the plain progress line's period.
const DefaultProgressInterval = 10 * time.Second

// Watch is what one run shows while it goes: its progress line and, when
// EnvPrometheus is set, the process's exporter. It is a
// timeline.Observer; Stop ends it.
type Watch struct {
	progress *Progress
	exporter *Exporter
}

// The process's exporter, started by the first Start that asks for it.
var shared struct {
	sync.Mutex
	addr string
	exp  *Exporter
}

// Start starts showing a run called name, of total measured requests,
// over servers (named in the plan's order), as the environment asks, on
// standard error. A bad setting, or an exporter address that cannot be
// listened on, is an error naming the variable.
func Start(name string, total int, servers []string) (*Watch, error) {
	return start(os.Stderr, name, total, servers, os.Getenv)
}

func start(out io.Writer, name string, total int, servers []string, env func(string) string) (*Watch, error) {
	w := &Watch{}
	interval := DefaultProgressInterval
	if v := env(EnvProgressInterval); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%s=%q: expected a positive duration such as 10s", EnvProgressInterval, v)
		}
		interval = d
	}
	mode := env(EnvProgress)
	width := 0
	if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if mode == "" || mode == "auto" {
			mode = Terminal
		}
		width, _, _ = term.GetSize(int(f.Fd()))
	}
	switch mode {
	case "", "auto":
		mode = Plain
	case Terminal, Plain, "off":
	default:
		return nil, fmt.Errorf("%s=%q: expected auto, terminal, plain or off", EnvProgress, mode)
	}
	if addr := env(EnvPrometheus); addr != "" {
		exp, err := sharedExporter(addr)
		if err != nil {
			return nil, fmt.Errorf("%s=%q: %w", EnvPrometheus, addr, err)
		}
		w.exporter = exp
		exp.Begin(name, total, servers)
	}
	if mode != "off" {
		w.progress = NewProgress(out, name, total, mode, interval)
		w.progress.width = width
		w.progress.Start()
	}
	return w, nil
}

func sharedExporter(addr string) (*Exporter, error) {
	shared.Lock()
	defer shared.Unlock()
	if shared.exp != nil {
		if shared.addr != addr {
			return nil, fmt.Errorf("the exporter already serves on %s", shared.addr)
		}
		return shared.exp, nil
	}
	exp, err := NewExporter(addr)
	if err != nil {
		return nil, err
	}
	shared.addr, shared.exp = addr, exp
	return exp, nil
}

// Stop ends the progress line (erasing it on a terminal) and the
// exporter's run; the exporter keeps serving its counters.
func (w *Watch) Stop() {
	if w.progress != nil {
		w.progress.Stop()
	}
	if w.exporter != nil {
		w.exporter.End()
	}
}

// Add implements timeline.Observer.
func (w *Watch) Add(r metrics.Record) {
	if w.progress != nil {
		w.progress.Add(r)
	}
	if w.exporter != nil {
		w.exporter.Add(r)
	}
}

// Event implements timeline.Observer.
func (w *Watch) Event(e timeline.Event) {
	if w.progress != nil {
		w.progress.Event(e)
	}
	if w.exporter != nil {
		w.exporter.Event(e)
	}
}

// Sample implements timeline.Observer.
func (w *Watch) Sample(i int, s workerstate.Sample) {
	if w.exporter != nil {
		w.exporter.Sample(i, s)
	}
}
