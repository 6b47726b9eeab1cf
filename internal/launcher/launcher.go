package launcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultKillGrace is how long Stop waits after SIGTERM before it sends
// SIGKILL, when Launcher.KillGrace is zero. SGLang shuts down its
// schedulers and frees GPU memory on SIGTERM; ten seconds lets it.
const DefaultKillGrace = 10 * time.Second

// killWait bounds the wait for a process group to vanish after SIGKILL. Only
// a process stuck in the kernel (e.g. in a GPU driver call) takes longer.
const killWait = 5 * time.Second

// Readiness polling. SGLang's /health runs a one-token generation and takes
// about a second even when ready, so polling it faster gains nothing; the
// simulator answers at once, and a short interval keeps tests quick. A probe
// may take longer than the interval: SGLang answers 503 only after up to
// 20 s when its detokenizer is silent (reference s2.1).
const (
	simPollInterval    = 200 * time.Millisecond
	sglangPollInterval = 1 * time.Second
	simProbeTimeout    = 2 * time.Second
	sglangProbeTimeout = 30 * time.Second
)

// Launcher starts servers as child processes, waits until they are ready,
// keeps their logs under one directory, and stops them. It remembers every
// server it started until that server is stopped, so StopAll can clean up
// after any outcome. Its methods are safe for concurrent use.
type Launcher struct {
	// KillGrace is how long Stop waits after SIGTERM before SIGKILL; zero
	// means DefaultKillGrace. Set it before the first Start.
	KillGrace time.Duration
	// PollInterval is the interval between /health probes while waiting for
	// readiness; zero means 200 ms for the simulator and 1 s for SGLang.
	// Set it before the first Start.
	PollInterval time.Duration

	logDir string
	log    *slog.Logger
	http   *http.Client

	mu   sync.Mutex
	live map[string]*Server // by Config.Name; a server leaves when stopped
}

// New returns a Launcher that writes each server's output to
// <logDir>/<name>.log (the directory is created on first Start) and logs
// its own actions to logger. An empty logDir means the current directory;
// a nil logger discards.
func New(logDir string, logger *slog.Logger) *Launcher {
	if logDir == "" {
		logDir = "."
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Launcher{
		logDir: logDir,
		log:    logger,
		// No keep-alives: a probe must not reuse a connection to a server
		// that has since died, and probes are rare. No proxy: the server is
		// local, whatever HTTP_PROXY says.
		http: &http.Client{Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}},
		live: make(map[string]*Server),
	}
}

// Start launches the server cfg describes and returns once GET /health
// answers 200. If Port is zero it first picks a free port on Host.
//
// Start fails, after stopping the child, if the child exits first (the
// error wraps its *exec.ExitError), if cfg.ReadyTimeout passes (the error wraps
// context.DeadlineExceeded), or if ctx ends (the error wraps ctx.Err()).
// Every such error ends with the last lines of the child's log.
//
// The child's stdout and stderr are appended to <logDir>/<Name>.log, after
// a header line with the time and the argv; the log is kept after Stop.
// Only one server per Name may be running in a Launcher at a time.
func (l *Launcher) Start(ctx context.Context, cfg Config) (*Server, error) {
	if _, _, err := cfg.Command(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", cfg.Name, err)
	}
	if cfg.Host == "" {
		cfg.Host = DefaultHost
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = DefaultReadyTimeout(cfg.Backend)
	}
	pick, pickBoot := cfg.Port == 0, cfg.pickBootstrap()
	return retryTakenPorts(l, cfg.Name, pick || pickBoot, func() (*Server, error) {
		c := cfg.clone()
		if err := pickPorts(c.Host, c.Name, &c.Port, pick, &c.BootstrapPort, pickBoot, "bootstrap"); err != nil {
			return nil, err
		}
		return l.startOnce(ctx, c)
	})
}

// retryTakenPorts calls start, which picks its free ports afresh each
// time, until it succeeds, fails for another reason, or portAttempts tries
// are spent. Only a start that picks its ports (picks) is tried again:
// another process took a free port between our probe and the child's bind.
func retryTakenPorts[T any](l *Launcher, name string, picks bool, start func() (T, error)) (T, error) {
	for attempt := 1; ; attempt++ {
		v, err := start()
		if err != nil && picks && attempt < portAttempts && errors.Is(err, errPortTaken) {
			l.log.Warn("port taken before the child bound it; trying another", "name", name)
			continue
		}
		return v, err
	}
}

// pickPorts sets *port (when pick) and then *other (when pickOther) to
// free ports on host, other never the same as port; what names other in
// an error.
func pickPorts(host, name string, port *int, pick bool, other *int, pickOther bool, what string) error {
	if pick {
		p, err := pickPort(host)
		if err != nil {
			return fmt.Errorf("picking a port for %s: %w", name, err)
		}
		*port = p
	}
	for pickOther && (*other == 0 || *other == *port) {
		p, err := pickPort(host)
		if err != nil {
			return fmt.Errorf("picking a %s port for %s: %w", what, name, err)
		}
		*other = p
	}
	return nil
}

// portAttempts bounds the retries when a picked port is taken before the
// child binds it.
const portAttempts = 5

// errPortTaken marks a start that failed because the port was in use.
var errPortTaken = errors.New("address already in use")

// markPortTaken wraps err with errPortTaken when s exited saying that its
// address was in use.
func markPortTaken(s *Server, err error) error {
	if s.Err() != nil && strings.Contains(strings.ToLower(s.logTail()), "address already in use") {
		return fmt.Errorf("%w (%w)", err, errPortTaken)
	}
	return err
}

// startOnce starts cfg (its port resolved) and waits until it is ready.
func (l *Launcher) startOnce(ctx context.Context, cfg Config) (*Server, error) {
	argv, env, err := cfg.Command()
	if err != nil {
		return nil, err
	}
	s, err := l.spawn(cfg, argv, env)
	if err != nil {
		return nil, err
	}
	if err := l.waitReady(ctx, s); err != nil {
		if serr := s.Stop(); serr != nil {
			err = errors.Join(err, serr)
		}
		return nil, fmt.Errorf("%w\n%s", markPortTaken(s, err), s.logTail())
	}
	return s, nil
}

// Restart stops s and starts cfg in its place, typically s.Config() with
// some parameters changed; keeping s.Config().Port keeps the URL. cfg is
// validated first, so a bad config leaves s running. The new server's
// output is appended to the same log when the Name is the same.
func (l *Launcher) Restart(ctx context.Context, s *Server, cfg Config) (*Server, error) {
	if _, _, err := cfg.Command(); err != nil {
		return nil, err
	}
	if err := s.Stop(); err != nil {
		return nil, fmt.Errorf("restarting %s: %w", s.cfg.Name, err)
	}
	return l.Start(ctx, cfg)
}

// groups holds every process group any Launcher started and has not
// stopped, for KillAll.
var groups sync.Map // pid -> *Server

// KillAll sends SIGKILL to every process group any Launcher of this process
// started and has not stopped, without waiting: the last resort when the
// user asks to stop at once. Children exit with their parent anyway
// (Pdeathsig); this reaches their own children too.
func KillAll() {
	groups.Range(func(k, _ any) bool {
		_ = killGroup(k.(int))
		return true
	})
}

// StopAll stops every server this Launcher started and has not stopped yet,
// in parallel, and returns their Stop errors joined. It is idempotent and
// takes no lock while stopping, so it is safe to defer (it runs during a
// panic too) and to call from the goroutine that handles Ctrl-C while a
// Start is still waiting: that Start then fails because its child exited.
// A server started after StopAll began is not stopped by it.
func (l *Launcher) StopAll() error {
	l.mu.Lock()
	servers := slices.Collect(maps.Values(l.live))
	l.mu.Unlock()
	errs := make([]error, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		wg.Go(func() { errs[i] = s.Stop() })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// spawn opens the log, starts the child and registers it, all under l.mu so
// that StopAll never misses a child that has been forked.
func (l *Launcher) spawn(cfg Config, argv, env []string) (*Server, error) {
	if err := os.MkdirAll(l.logDir, 0o755); err != nil {
		return nil, fmt.Errorf("starting %s: %w", cfg.Name, err)
	}
	logPath := filepath.Join(l.logDir, cfg.Name+".log")
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, dup := l.live[cfg.Name]; dup {
		return nil, fmt.Errorf("starting %s: Name: a server named %q is still running; stop it or use Restart", cfg.Name, cfg.Name)
	}
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", cfg.Name, err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close() // the error returned says what went wrong
		return nil, fmt.Errorf("starting %s: %w", cfg.Name, err)
	}
	fmt.Fprintf(f, "=== sgltest launcher %s: starting %s: %s\n", time.Now().Format(time.RFC3339), cfg.Name, quoteArgv(Redact(argv)))

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	// An *os.File is handed to the child as its fd: no copying goroutine,
	// so Wait returns when the child exits even if grandchildren still
	// hold the file open.
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = sysProcAttr()
	if err := startCmd(cmd); err != nil {
		fmt.Fprintf(f, "=== sgltest launcher: could not start: %v\n", err)
		_ = f.Close() // the error returned says what went wrong
		return nil, fmt.Errorf("starting %s: %w", cfg.Name, err)
	}
	grace := l.KillGrace
	if grace <= 0 {
		grace = DefaultKillGrace
	}
	s := &Server{
		cfg:       cfg,
		pid:       cmd.Process.Pid,
		logPath:   logPath,
		logFrom:   st.Size(),
		killGrace: grace,
		log:       l.log.With("server", cfg.Name),
		done:      make(chan struct{}),
		forget:    l.forget,
	}
	l.live[cfg.Name] = s
	groups.Store(s.pid, s)
	go s.reap(cmd, f)
	s.log.Info("server started", "pid", s.pid, "argv", Redact(argv), "env", RedactEnv(env), "log", logPath)
	return s, nil
}

func (l *Launcher) forget(s *Server) {
	groups.Delete(s.pid)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.live[s.cfg.Name] == s {
		delete(l.live, s.cfg.Name)
	}
}

// waitReady polls GET /health until it answers 200, the child exits, the
// ready timeout passes or ctx ends, whichever comes first.
func (l *Launcher) waitReady(ctx context.Context, s *Server) error {
	interval, probeTimeout := simPollInterval, simProbeTimeout
	if s.cfg.Backend == BackendSGLang {
		interval, probeTimeout = sglangPollInterval, sglangProbeTimeout
	}
	url := s.URL() + "/health"
	return l.pollReady(ctx, s, s.cfg.ReadyTimeout, interval, "ready", func(ctx context.Context) (string, error) {
		return "", l.probe(ctx, url, probeTimeout)
	})
}

// pollReady calls check every interval (l.PollInterval when set) until it
// reports ready (an empty reason and no error), the child exits, timeout
// passes or ctx ends. check returns why it is not ready yet, or an error;
// the last of these is named in the timeout error. what says what was
// awaited, for logs and errors.
func (l *Launcher) pollReady(ctx context.Context, s *Server, timeout, interval time.Duration, what string,
	check func(context.Context) (notReady string, err error)) error {
	if l.PollInterval > 0 {
		interval = l.PollInterval
	}
	began := time.Now()
	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// A dead child ends the wait at once, even mid-probe.
	go func() {
		select {
		case <-s.done:
			cancel()
		case <-waitCtx.Done():
		}
	}()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	last := "no probe finished"
	for {
		notReady, err := check(waitCtx)
		switch {
		case err == nil && notReady == "":
			s.log.Info(what, "url", s.URL(), "after", time.Since(began).Round(time.Millisecond))
			return nil
		case err == nil:
			last = notReady
		case waitCtx.Err() == nil:
			last = err.Error()
		}
		select {
		case <-waitCtx.Done():
			select {
			case <-s.done:
				if s.Err() == nil {
					return fmt.Errorf("%s exited before it was %s: exit status 0", s.cfg.Name, what)
				}
				return fmt.Errorf("%s exited before it was %s: %w", s.cfg.Name, what, s.Err())
			default:
			}
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("waiting for %s to be %s: %w", s.cfg.Name, what, err)
			}
			return fmt.Errorf("%s was not %s within %v (last probe: %s): %w",
				s.cfg.Name, what, timeout, last, context.DeadlineExceeded)
		case <-tick.C:
		}
	}
}

// probe makes one GET request and returns nil on 200.
func (l *Launcher) probe(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := l.http.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16)) // unwanted: read so the connection is reused
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// pickPort picks the port of a server started with Port 0; tests replace it.
var pickPort = freePort

// freePort asks the kernel for a free port on host and releases it. Another
// process may take the port before the child binds it; the window is short,
// and the child then fails to bind and Start reports its exit.
func freePort(host string) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	return port, ln.Close()
}

// quoteArgv renders argv for the log header, quoting only where a shell
// reader would need it.
func quoteArgv(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsAny(a, " \t\n\"'\\$`") {
			a = strconv.Quote(a)
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

// secretFlags take a secret as their value; Redact hides it.
var secretFlags = []string{"--api-key", "--admin-api-key", "--hf-token", "--token"}

// Redacted stands in for a secret in argv, environments and logs.
const Redacted = "[redacted]"

// Redact returns argv with the value of every secret flag (--api-key K or
// --api-key=K) replaced by Redacted, for logs, events and config.json.
func Redact(argv []string) []string {
	out := slices.Clone(argv)
	for i := 0; i < len(out); i++ {
		name, _, hasValue := strings.Cut(out[i], "=")
		if !slices.Contains(secretFlags, name) {
			continue
		}
		if hasValue {
			out[i] = name + "=" + Redacted
		} else if i+1 < len(out) {
			out[i+1] = Redacted
			i++
		}
	}
	return out
}

// RedactEnv returns env (KEY=VALUE entries) with the value of every entry
// whose name says it holds a secret (KEY, TOKEN, SECRET, PASSWORD)
// replaced by Redacted.
func RedactEnv(env []string) []string {
	out := slices.Clone(env)
	for i, e := range out {
		k, _, ok := strings.Cut(e, "=")
		u := strings.ToUpper(k)
		if ok && (strings.Contains(u, "KEY") || strings.Contains(u, "TOKEN") || strings.Contains(u, "SECRET") || strings.Contains(u, "PASSWORD")) {
			out[i] = k + "=" + Redacted
		}
	}
	return out
}
