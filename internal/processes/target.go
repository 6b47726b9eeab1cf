package processes

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"time"

	"github.com/sgltest/sgltest/internal/launcher"
	"github.com/sgltest/sgltest/internal/timeline"
)

// state is what the plan expects of a target right now.
type state int

const (
	up       state = iota // serving: an exit or a stall is a failure
	down                  // killed, stopped or restarting by plan
	paused                // frozen by plan
	starting              // being restored or restarted
)

// target is one server or the router: its configuration, its current
// process, and what the plan expects of it.
type target struct {
	x      *execution
	name   string
	index  int // in the plan's servers; -1 for the router
	router bool
	cfg    launcher.Config       // a server's, ports resolved once started
	rcfg   launcher.RouterConfig // the router's, ports resolved once started
	// external is the URL of a server sgltest did not start: it has no
	// process to watch or signal.
	external string

	mu        sync.Mutex
	srv       *launcher.Server // the current process
	st        state
	downAt    time.Duration
	lastOK    time.Time // the last successful scrape
	unhealthy bool
}

func (t *target) url() string {
	if t.external != "" {
		return t.external
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.srv.URL()
}

func (t *target) expectUp() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.st == up
}

func (t *target) scraped() {
	t.mu.Lock()
	t.lastOK = time.Now()
	t.mu.Unlock()
}

// setState sets what the plan expects and returns the current process.
func (t *target) setState(s state) *launcher.Server {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s == down || s == starting {
		if t.st == up || t.st == paused {
			t.downAt = t.x.now()
		}
	}
	t.st = s
	return t.srv
}

// startServer starts the server and sends kind (Started, Restored or
// Restarted) once it answers.
func (t *target) startServer(ctx context.Context, kind timeline.Kind, _ time.Duration) error {
	srv, err := t.x.l.Start(ctx, t.cfg)
	if err != nil {
		return err
	}
	t.cfg = srv.Config() // the port stays the same across restores
	argv, _, _ := t.cfg.Command()
	t.running(srv, kind, argv)
	return nil
}

// startRouter is startServer for the router.
func (t *target) startRouter(ctx context.Context, kind timeline.Kind, _ time.Duration) error {
	r, err := t.x.l.StartRouter(ctx, t.rcfg)
	if err != nil {
		return err
	}
	t.rcfg = r.Config()
	argv, _, _ := t.rcfg.Command()
	t.running(r.Server, kind, argv)
	return nil
}

// start starts the target again (restore or restart).
func (t *target) start(ctx context.Context, kind timeline.Kind) error {
	if t.router {
		return t.startRouter(ctx, kind, 0)
	}
	return t.startServer(ctx, kind, 0)
}

// running records srv as the target's process, answering, and watches it.
func (t *target) running(srv *launcher.Server, kind timeline.Kind, argv []string) {
	now := t.x.now()
	t.mu.Lock()
	ev := timeline.Event{At: now, Kind: kind, Target: t.name, URL: srv.URL(), Argv: launcher.Redact(argv)}
	if kind != timeline.Started {
		ev.Away = now - t.downAt
	}
	t.srv, t.st, t.lastOK = srv, up, time.Now()
	t.mu.Unlock()
	t.x.event(ev)
	go t.watch(srv)
}

// watch waits for srv to exit. An exit nothing planned (the target was
// expected up or paused, and the run is not over) stops the run.
func (t *target) watch(srv *launcher.Server) {
	<-srv.Done()
	at := t.x.now()
	t.mu.Lock()
	planned := t.srv != srv || t.st == down || t.st == starting
	t.mu.Unlock()
	if planned || t.x.ending.Load() {
		return
	}
	status := exitStatus(srv.Err())
	t.x.event(timeline.Event{At: at, Kind: timeline.Exited, Target: t.name, Detail: status})
	t.x.stop(fmt.Errorf("%s exited at %.1f s when nothing planned it: %s (its log: %s)", t.name, at.Seconds(), status, srv.LogPath()))
}

func exitStatus(err error) string {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return "exit status 0"
	case errors.As(err, &ee):
		return ee.String()
	}
	return err.Error()
}
