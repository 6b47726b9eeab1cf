package launcher

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Server is one running child process started by a Launcher.
type Server struct {
	cfg       Config // resolved: Host, Port and ReadyTimeout filled in
	pid       int    // also the process group id
	logPath   string
	logFrom   int64 // size of the log before this start, where its output begins
	killGrace time.Duration
	log       *slog.Logger
	forget    func(*Server)

	done    chan struct{} // closed once the child has been reaped
	exitErr error         // set before done is closed

	stopMu  sync.Mutex
	stopped bool
	stopErr error
}

// URL is the server's base URL, e.g. "http://127.0.0.1:30000". A server
// bound to all interfaces (0.0.0.0 or ::) is reached through loopback.
func (s *Server) URL() string {
	host := s.cfg.Host
	if a, err := netip.ParseAddr(host); err == nil && a.IsUnspecified() {
		host = "127.0.0.1"
		if a.Is6() {
			host = "::1"
		}
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(s.cfg.Port))
}

// Config returns the configuration the server runs with, with Host, Port
// and ReadyTimeout resolved. Change it and pass it to Restart to restart
// the server with other parameters on the same port.
func (s *Server) Config() Config { return s.cfg.clone() }

// PID is the child's process id, which is also its process group id.
func (s *Server) PID() int { return s.pid }

// LogPath is the file that receives the child's stdout and stderr.
func (s *Server) LogPath() string { return s.logPath }

// Done is closed when the child process has exited, whether it was stopped
// or died on its own.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err returns the child's exit status once Done is closed (nil for exit
// code 0), and nil before.
func (s *Server) Err() error {
	select {
	case <-s.done:
		return s.exitErr
	default:
		return nil
	}
}

// Stop ends the server's whole process group: SIGTERM, then SIGKILL if
// anything in the group is still alive after the Launcher's KillGrace. It
// returns once the group is gone, and an error only if it could not make it
// go; how the child exited is reported by Err, not here. Stop is
// idempotent: later calls wait for the first and return its result.
func (s *Server) Stop() error {
	s.stopMu.Lock()
	defer s.stopMu.Unlock()
	if !s.stopped {
		s.stopErr = s.stop()
		s.stopped = true
		s.forget(s)
	}
	return s.stopErr
}

// Kill ends the server's whole process group at once with SIGKILL, as a
// crash would, and returns once the group is gone. Like Stop it is
// idempotent and forgets the server; Err then reports the signal.
func (s *Server) Kill() error {
	s.stopMu.Lock()
	defer s.stopMu.Unlock()
	if !s.stopped {
		s.stopErr = s.kill()
		s.stopped = true
		s.forget(s)
	}
	return s.stopErr
}

func (s *Server) kill() error {
	if s.exited() && !groupAlive(s.pid) {
		return nil
	}
	if err := syscall.Kill(-s.pid, syscall.SIGKILL); err != nil && err != syscall.ESRCH {
		return fmt.Errorf("killing %s: SIGKILL to process group %d: %w", s.cfg.Name, s.pid, err)
	}
	if s.waitGone(killWait) {
		s.log.Info("server killed", "status", exitString(s.exitErr))
		return nil
	}
	return fmt.Errorf("killing %s: process group %d still alive %v after SIGKILL", s.cfg.Name, s.pid, killWait)
}

// Pause freezes the server's process group (SIGSTOP); Resume thaws it
// (SIGCONT). A paused server keeps its sockets and answers nothing. Stop
// and Kill work on a paused server (Stop resumes it first, so that it can
// act on SIGTERM).
func (s *Server) Pause() error { return s.signalGroup(syscall.SIGSTOP) }

// Resume thaws a server frozen by Pause.
func (s *Server) Resume() error { return s.signalGroup(syscall.SIGCONT) }

func (s *Server) signalGroup(sig syscall.Signal) error {
	if s.exited() {
		return fmt.Errorf("%s: %v: the server has exited (%s)", s.cfg.Name, sig, exitString(s.exitErr))
	}
	if err := syscall.Kill(-s.pid, sig); err != nil {
		return fmt.Errorf("%s: %v to process group %d: %w", s.cfg.Name, sig, s.pid, err)
	}
	return nil
}

func (s *Server) stop() error {
	pgid := s.pid
	// Once the leader is reaped and the group is empty, the group id may
	// be reused by an unrelated process; do not signal it then.
	if s.exited() && !groupAlive(pgid) {
		s.log.Info("server had already exited", "status", exitString(s.exitErr))
		return nil
	}
	// A paused group cannot act on SIGTERM; SIGCONT is harmless otherwise.
	_ = syscall.Kill(-pgid, syscall.SIGCONT)
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && err != syscall.ESRCH {
		return fmt.Errorf("stopping %s: SIGTERM to process group %d: %w", s.cfg.Name, pgid, err)
	}
	if s.waitGone(s.killGrace) {
		s.log.Info("server stopped", "status", exitString(s.exitErr))
		return nil
	}
	s.log.Warn("server still running after SIGTERM; sending SIGKILL", "grace", s.killGrace)
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && err != syscall.ESRCH {
		return fmt.Errorf("stopping %s: SIGKILL to process group %d: %w", s.cfg.Name, pgid, err)
	}
	if s.waitGone(killWait) {
		s.log.Info("server killed", "status", exitString(s.exitErr))
		return nil
	}
	return fmt.Errorf("stopping %s: process group %d still alive %v after SIGKILL", s.cfg.Name, pgid, killWait)
}

// waitGone waits up to d for the child to be reaped and then for the rest
// of its process group to vanish, and reports whether both happened.
func (s *Server) waitGone(d time.Duration) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	select {
	case <-s.done:
	case <-deadline.C:
		return false
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for groupAlive(s.pid) {
		select {
		case <-tick.C:
		case <-deadline.C:
			return false
		}
	}
	return true
}

func (s *Server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// reap waits for the child, notes its exit in the log and closes done.
func (s *Server) reap(cmd *exec.Cmd, logFile *os.File) {
	err := cmd.Wait()
	fmt.Fprintf(logFile, "=== sgltest launcher %s: %s exited: %s\n", time.Now().Format(time.RFC3339), s.cfg.Name, exitString(err))
	_ = logFile.Close() // the child is gone; its log has nowhere else to report a failed close
	s.exitErr = err
	close(s.done)
}

// tailLines and tailBytes bound the log excerpt put in errors: enough for a
// Python traceback's last frames, small enough to read in a test report.
const (
	tailLines = 30
	tailBytes = 8 << 10
)

// logTail returns the last lines the child (from this start only) wrote to
// its log, formatted for the end of an error message.
func (s *Server) logTail() string {
	head := "--- last lines of " + s.logPath + " ---\n"
	f, err := os.Open(s.logPath)
	if err != nil {
		return head + "(cannot read the log: " + err.Error() + ")"
	}
	defer func() { _ = f.Close() }() // read only
	st, err := f.Stat()
	if err != nil {
		return head + "(cannot read the log: " + err.Error() + ")"
	}
	from := max(s.logFrom, st.Size()-tailBytes)
	b, err := io.ReadAll(io.NewSectionReader(f, from, st.Size()-from))
	if err != nil {
		return head + "(cannot read the log: " + err.Error() + ")"
	}
	if from > s.logFrom {
		// Started mid-line: drop the fragment.
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > tailLines {
		lines = lines[len(lines)-tailLines:]
	}
	return head + string(bytes.Join(lines, []byte("\n")))
}

func exitString(err error) string {
	if err == nil {
		return "exit status 0"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.String()
	}
	return err.Error()
}

// clone returns a copy of c that shares no slices with it.
func (c Config) clone() Config {
	c.GPUs = slices.Clone(c.GPUs)
	c.ExtraArgs = slices.Clone(c.ExtraArgs)
	c.Env = slices.Clone(c.Env)
	return c
}

// killGroup sends SIGKILL to process group pgid.
func killGroup(pgid int) error { return syscall.Kill(-pgid, syscall.SIGKILL) }
