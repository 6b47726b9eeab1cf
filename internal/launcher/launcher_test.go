//go:build linux

package launcher

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// logBuffer collects the launcher's JSON log so tests can learn the pids of
// children whose Start failed.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// startedPIDs returns the pid of every "server started" record.
func (b *logBuffer) startedPIDs(t *testing.T) []int {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var pids []int
	sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec struct {
			Msg string `json:"msg"`
			PID int    `json:"pid"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("launcher log line %q: %v", sc.Text(), err)
		}
		if rec.Msg == "server started" {
			pids = append(pids, rec.PID)
		}
	}
	return pids
}

func newTestLauncher(t *testing.T) (*Launcher, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	l := New(filepath.Join(t.TempDir(), "logs"), slog.New(slog.NewJSONHandler(logs, nil)))
	l.PollInterval = 20 * time.Millisecond
	l.KillGrace = 5 * time.Second
	t.Cleanup(func() {
		if err := l.StopAll(); err != nil {
			t.Errorf("cleanup StopAll: %v", err)
		}
	})
	return l, logs
}

// fakeConfig launches the test binary as a fake server through the sim
// backend, so the tests exercise the same command line the simulator gets.
func fakeConfig(t *testing.T, name string, fakeArgs ...string) Config {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Config{
		Name: name, Backend: BackendSim, ModelPath: "fake-model", SimBinary: exe,
		Env:          []string{helperEnv + "=" + helperServer},
		ExtraArgs:    fakeArgs,
		ReadyTimeout: 20 * time.Second,
	}
}

// alive reports whether pid exists and is not a zombie (an orphan's zombie
// may never be reaped where PID 1 does not reap, but it holds nothing).
func alive(pid int) bool {
	state, _, ok := procStat(pid)
	return ok && state != 'Z' && state != 'X'
}

// readPIDs waits for the fake's pidfile and returns the child and
// grandchild pids (0 if none).
func readPIDs(t *testing.T, path string) (child, grandchild int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			if _, err := fmt.Sscan(string(b), &child, &grandchild); err != nil {
				t.Fatalf("pidfile %q: %v", b, err)
			}
			return child, grandchild
		}
		if time.Now().After(deadline) {
			t.Fatalf("pidfile %s never appeared", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readLog(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestStartWaitsForHealthThenStopEndsChildAndKeepsLog(t *testing.T) {
	l, _ := newTestLauncher(t)
	cfg := fakeConfig(t, "worker-0", "-fake-healthy-after", "3")
	s, err := l.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	resp, err := http.Get(s.URL() + "/health")
	if err != nil {
		t.Fatalf("GET /health after Start: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /health after Start = %d, want 200", resp.StatusCode)
	}
	if got := s.Config(); got.Port == 0 || got.Host != DefaultHost || got.ReadyTimeout != cfg.ReadyTimeout {
		t.Errorf("Config() = %+v, want Port picked, Host %q, ReadyTimeout kept", got, DefaultHost)
	}

	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if alive(s.PID()) {
		t.Errorf("child %d alive after Stop", s.PID())
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v, want nil (idempotent)", err)
	}
	if got := s.Err(); got == nil || !strings.Contains(got.Error(), "signal: terminated") {
		t.Errorf("Err() = %v, want the child ended by SIGTERM", got)
	}

	log := readLog(t, filepath.Join(l.logDir, "worker-0.log"))
	if s.LogPath() != filepath.Join(l.logDir, "worker-0.log") {
		t.Errorf("LogPath() = %q, want <logDir>/worker-0.log", s.LogPath())
	}
	for _, want := range []string{
		"starting worker-0: " + cfg.SimBinary + " sim --model-path fake-model",
		"fake: listening on",     // child's stdout
		"fake: a line on stderr", // child's stderr
		"exited: signal: terminated",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q; log:\n%s", want, log)
		}
	}
}

func TestStartFailsAndLeavesNoChild(t *testing.T) {
	tests := []struct {
		name         string
		fakeArgs     []string
		readyTimeout time.Duration
		wantIs       error
		wantExitCode int
		want         []string // substrings of the error
		notWant      []string
	}{
		{
			name:         "child exits before ready: error has exit status and log tail",
			fakeArgs:     []string{"-fake-noise", "100", "-fake-exit", "3"},
			wantExitCode: 3,
			want:         []string{"exited before it was ready: exit status 3", "last lines of", "fake: noise 99", "fake: fatal: asked to exit with code 3"},
			notWant:      []string{"fake: noise 0\n"},
		},
		{
			name:         "never healthy: ready timeout",
			fakeArgs:     []string{"-fake-healthy-after", "-1"},
			readyTimeout: time.Second,
			wantIs:       context.DeadlineExceeded,
			want:         []string{"not ready within 1s (last probe: ", "last lines of"},
		},
		{
			name:         "ignores SIGTERM and never healthy: ready timeout still kills it",
			fakeArgs:     []string{"-fake-healthy-after", "-1", "-fake-ignore-term"},
			readyTimeout: time.Second,
			wantIs:       context.DeadlineExceeded,
			want:         []string{"not ready within 1s"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, logs := newTestLauncher(t)
			l.KillGrace = 200 * time.Millisecond
			cfg := fakeConfig(t, "w", tt.fakeArgs...)
			if tt.readyTimeout > 0 {
				cfg.ReadyTimeout = tt.readyTimeout
			}
			s, err := l.Start(context.Background(), cfg)
			if err == nil {
				s.Stop()
				t.Fatal("Start succeeded, want an error")
			}
			t.Logf("Start error:\n%v", err)
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("Start error %v is not %v", err, tt.wantIs)
			}
			var ee *exec.ExitError
			if tt.wantExitCode != 0 && (!errors.As(err, &ee) || ee.ExitCode() != tt.wantExitCode) {
				t.Errorf("Start error %v does not carry exit code %d", err, tt.wantExitCode)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Start error lacks %q:\n%v", w, err)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(err.Error(), w) {
					t.Errorf("Start error has %q, which is not in the log tail:\n%v", w, err)
				}
			}
			pids := logs.startedPIDs(t)
			if len(pids) != 1 {
				t.Fatalf("started %d children, want 1", len(pids))
			}
			if alive(pids[0]) {
				t.Errorf("child %d alive after Start failed", pids[0])
			}
			if len(l.live) != 0 {
				t.Errorf("launcher still tracks %d servers after a failed Start", len(l.live))
			}
		})
	}
}

func TestStartCancelledDuringWaitStopsChild(t *testing.T) {
	l, _ := newTestLauncher(t)
	pidFile := filepath.Join(t.TempDir(), "pids")
	cfg := fakeConfig(t, "w", "-fake-healthy-after", "-1", "-fake-pidfile", pidFile, "-fake-grandchild")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		s, err := l.Start(ctx, cfg)
		if err == nil {
			s.Stop()
		}
		errc <- err
	}()
	child, grandchild := readPIDs(t, pidFile)
	cancel()
	err := <-errc
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Start error = %v, want context.Canceled", err)
	}
	for _, pid := range []int{child, grandchild} {
		if alive(pid) {
			t.Errorf("pid %d alive after Start was cancelled", pid)
		}
	}
}

func TestStopEscalatesToSIGKILLWhenSIGTERMIsIgnored(t *testing.T) {
	l, _ := newTestLauncher(t)
	l.KillGrace = 200 * time.Millisecond
	s, err := l.Start(context.Background(), fakeConfig(t, "w", "-fake-ignore-term"))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	var ee *exec.ExitError
	if !errors.As(s.Err(), &ee) {
		t.Fatalf("Err() = %v, want an *exec.ExitError", s.Err())
	}
	if ws := ee.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("child ended by %v, want SIGKILL", ee)
	}
	if alive(s.PID()) {
		t.Errorf("child %d alive after Stop", s.PID())
	}
}

func TestStopKillsTheWholeProcessGroup(t *testing.T) {
	tests := []struct {
		name     string
		fakeArgs []string
	}{
		{"grandchild ends on SIGTERM", []string{"-fake-grandchild"}},
		{"grandchild ignores SIGTERM after child exits", []string{"-fake-grandchild", "-fake-grandchild-ignores-term"}},
		{"child and grandchild ignore SIGTERM", []string{"-fake-grandchild", "-fake-grandchild-ignores-term", "-fake-ignore-term"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _ := newTestLauncher(t)
			l.KillGrace = 200 * time.Millisecond
			pidFile := filepath.Join(t.TempDir(), "pids")
			s, err := l.Start(context.Background(), fakeConfig(t, "w", append(tt.fakeArgs, "-fake-pidfile", pidFile)...))
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			child, grandchild := readPIDs(t, pidFile)
			if child != s.PID() || grandchild == 0 {
				t.Fatalf("pidfile says child %d grandchild %d; server PID %d", child, grandchild, s.PID())
			}
			if !alive(grandchild) {
				t.Fatalf("grandchild %d not running before Stop", grandchild)
			}
			if err := s.Stop(); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			for _, pid := range []int{child, grandchild} {
				if alive(pid) {
					t.Errorf("pid %d alive after Stop", pid)
				}
			}
		})
	}
}

func TestStopAllStopsEveryServerAndIsIdempotent(t *testing.T) {
	l, _ := newTestLauncher(t)
	var servers []*Server
	var grandchildren []int
	for i := range 3 {
		pidFile := filepath.Join(t.TempDir(), "pids")
		s, err := l.Start(context.Background(), fakeConfig(t, fmt.Sprintf("w%d", i), "-fake-grandchild", "-fake-pidfile", pidFile))
		if err != nil {
			t.Fatalf("Start w%d: %v", i, err)
		}
		servers = append(servers, s)
		_, g := readPIDs(t, pidFile)
		grandchildren = append(grandchildren, g)
	}
	if err := l.StopAll(); err != nil {
		t.Fatalf("StopAll: %v", err)
	}
	for i, s := range servers {
		if alive(s.PID()) || alive(grandchildren[i]) {
			t.Errorf("%s: child %d or grandchild %d alive after StopAll", s.Config().Name, s.PID(), grandchildren[i])
		}
		select {
		case <-s.Done():
		default:
			t.Errorf("%s: Done not closed after StopAll", s.Config().Name)
		}
	}
	if err := l.StopAll(); err != nil {
		t.Errorf("second StopAll: %v", err)
	}
	if err := servers[0].Stop(); err != nil {
		t.Errorf("Stop after StopAll: %v", err)
	}
}

func TestStopAllEndsAStartStillWaiting(t *testing.T) {
	l, _ := newTestLauncher(t)
	pidFile := filepath.Join(t.TempDir(), "pids")
	errc := make(chan error, 1)
	go func() {
		s, err := l.Start(context.Background(), fakeConfig(t, "w", "-fake-healthy-after", "-1", "-fake-pidfile", pidFile))
		if err == nil {
			s.Stop()
		}
		errc <- err
	}()
	child, _ := readPIDs(t, pidFile)
	if err := l.StopAll(); err != nil {
		t.Fatalf("StopAll: %v", err)
	}
	if err := <-errc; err == nil || !strings.Contains(err.Error(), "exited before it was ready") {
		t.Errorf("Start error = %v, want it to report the child's exit", err)
	}
	if alive(child) {
		t.Errorf("child %d alive after StopAll", child)
	}
}

func TestRestartReplacesServerOnSamePortAndAppendsLog(t *testing.T) {
	l, _ := newTestLauncher(t)
	cfg := fakeConfig(t, "w")
	cfg.MaxRunningRequests = 8
	old, err := l.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}

	bad := old.Config()
	bad.MaxRunningRequests = -1
	if _, err := l.Restart(context.Background(), old, bad); err == nil {
		t.Fatal("Restart with an invalid config succeeded")
	}
	if !alive(old.PID()) {
		t.Fatal("Restart with an invalid config stopped the running server")
	}

	next := old.Config()
	next.MaxRunningRequests = 16
	s, err := l.Restart(context.Background(), old, next)
	if err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if alive(old.PID()) {
		t.Errorf("old child %d alive after Restart", old.PID())
	}
	if s.URL() != old.URL() {
		t.Errorf("URL after Restart = %s, want %s", s.URL(), old.URL())
	}
	if s.Config().MaxRunningRequests != 16 {
		t.Errorf("restarted MaxRunningRequests = %d, want 16", s.Config().MaxRunningRequests)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	log := readLog(t, s.LogPath())
	i8 := strings.Index(log, "--max-running-requests 8 ")
	i16 := strings.Index(log, "--max-running-requests 16 ")
	if i8 < 0 || i16 < i8 {
		t.Errorf("log does not show the start with 8, then the start with 16:\n%s", log)
	}
}

func TestStartRejectsANameAlreadyRunning(t *testing.T) {
	l, _ := newTestLauncher(t)
	if _, err := l.Start(context.Background(), fakeConfig(t, "w")); err != nil {
		t.Fatalf("Start: %v", err)
	}
	_, err := l.Start(context.Background(), fakeConfig(t, "w"))
	if err == nil || !strings.Contains(err.Error(), `a server named "w" is still running`) {
		t.Errorf("second Start of w: %v, want a name conflict", err)
	}
}

func TestStartRejectsInvalidConfigWithoutSpawning(t *testing.T) {
	l, logs := newTestLauncher(t)
	cfg := fakeConfig(t, "w")
	cfg.ModelPath = ""
	if _, err := l.Start(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "ModelPath") {
		t.Errorf("Start error = %v, want it to name ModelPath", err)
	}
	if pids := logs.startedPIDs(t); len(pids) != 0 {
		t.Errorf("started %v for an invalid config", pids)
	}
}

func TestChildIsKilledWhenLauncherProcessDies(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), helperEnv+"="+helperParent, parentLogDirEnv+"="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var child int
	if _, err := fmt.Fscanf(bufio.NewReader(out), "child %d\n", &child); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("reading the child's pid from the parent helper: %v; stderr:\n%s", err, stderr.String())
	}
	t.Cleanup(func() { syscall.Kill(-child, syscall.SIGKILL) }) // if the test fails

	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for alive(child) {
		if time.Now().After(deadline) {
			t.Fatalf("child %d still alive 10s after its launcher was SIGKILLed", child)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStartTriesAnotherPortWhenThePickedOneIsTakenFirst(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	picks := 0
	pickPort = func(host string) (int, error) {
		picks++
		if picks == 1 { // another process got there first
			return taken.Addr().(*net.TCPAddr).Port, nil
		}
		return freePort(host)
	}
	t.Cleanup(func() { pickPort = freePort })
	l, _ := newTestLauncher(t)
	s, err := l.Start(t.Context(), fakeConfig(t, "retry"))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if picks != 2 || s.Config().Port == taken.Addr().(*net.TCPAddr).Port {
		t.Errorf("picked %d ports, serving on %d (the taken one is %d)", picks, s.Config().Port, taken.Addr().(*net.TCPAddr).Port)
	}
}
