//go:build linux

package launcher

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the child processes the tests launch: when
// helperEnv is set, TestMain runs the named helper instead of the tests.
const (
	helperEnv = "LAUNCHER_TEST_HELPER"
	// helperServer: a fake server that accepts the simulator's command line.
	helperServer = "server"
	// helperGrandchild: a process the fake server spawns; it only sleeps.
	helperGrandchild = "grandchild"
	// helperParent: a process that launches a fake server and then waits to
	// be killed, to prove Pdeathsig.
	helperParent = "parent"

	grandchildIgnoresTermEnv = "LAUNCHER_TEST_GRANDCHILD_IGNORES_TERM"
	parentLogDirEnv          = "LAUNCHER_TEST_LOG_DIR"
)

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case helperServer:
		fakeServer(os.Args[1:])
	case helperGrandchild:
		if os.Getenv(grandchildIgnoresTermEnv) != "" {
			signal.Ignore(syscall.SIGTERM)
		}
		time.Sleep(time.Hour)
	case helperParent:
		parent()
	default:
		fmt.Fprintf(os.Stderr, "unknown %s=%q\n", helperEnv, os.Getenv(helperEnv))
		os.Exit(2)
	}
	os.Exit(0)
}

// fakeServer parses what Config.Command builds for the sim backend, plus
// -fake-* flags (passed as ExtraArgs) that choose a behaviour, and serves
// GET /health.
func fakeServer(args []string) {
	if len(args) == 0 || args[0] != "sim" {
		fmt.Fprintf(os.Stderr, "fake: want the sim subcommand, got %q\n", args)
		os.Exit(2)
	}
	fs := flag.NewFlagSet("fake", flag.ContinueOnError)
	host := fs.String("host", "", "")
	port := fs.Int("port", 0, "")
	fs.String("model-path", "", "")
	fs.Int("max-running-requests", 0, "")
	fs.Bool("enable-metrics", false, "")
	fs.String("disaggregation-mode", "", "")
	fs.Int("disaggregation-bootstrap-port", 0, "")
	fs.String("disaggregation-transfer-backend", "", "")
	healthyAfter := fs.Int("fake-healthy-after", 0, "answer 503 to this many /health probes first; -1: never healthy")
	exitCode := fs.Int("fake-exit", -1, "exit at once with this code")
	noise := fs.Int("fake-noise", 0, "print this many lines first")
	ignoreTerm := fs.Bool("fake-ignore-term", false, "ignore SIGTERM")
	grandchild := fs.Bool("fake-grandchild", false, "spawn a grandchild that sleeps")
	grandchildIgnoresTerm := fs.Bool("fake-grandchild-ignores-term", false, "the grandchild ignores SIGTERM")
	pidFile := fs.String("fake-pidfile", "", "write 'pid grandchild-pid' here once running")
	if err := fs.Parse(args[1:]); err != nil {
		os.Exit(2)
	}
	fmt.Printf("fake: argv %q\n", args)
	for i := range *noise {
		fmt.Printf("fake: noise %d\n", i)
	}
	if *exitCode >= 0 {
		fmt.Fprintf(os.Stderr, "fake: fatal: asked to exit with code %d\n", *exitCode)
		os.Exit(*exitCode)
	}
	if *ignoreTerm {
		signal.Ignore(syscall.SIGTERM)
	}
	gpid := 0
	if *grandchild {
		exe, _ := os.Executable()
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), helperEnv+"="+helperGrandchild)
		if *grandchildIgnoresTerm {
			cmd.Env = append(cmd.Env, grandchildIgnoresTermEnv+"=1")
		}
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Start(); err != nil {
			fmt.Fprintf(os.Stderr, "fake: spawning grandchild: %v\n", err)
			os.Exit(1)
		}
		gpid = cmd.Process.Pid
	}
	if *pidFile != "" {
		// Rename makes the file appear complete.
		tmp := *pidFile + ".tmp"
		if err := os.WriteFile(tmp, fmt.Appendf(nil, "%d %d\n", os.Getpid(), gpid), 0o644); err != nil {
			os.Exit(1)
		}
		if err := os.Rename(tmp, *pidFile); err != nil {
			os.Exit(1)
		}
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(*host, strconv.Itoa(*port)))
	if err != nil {
		fmt.Fprintf(os.Stderr, "fake: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("fake: listening on %s\n", ln.Addr())
	fmt.Fprintln(os.Stderr, "fake: a line on stderr")
	var probes atomic.Int64
	http.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		n := probes.Add(1)
		if *healthyAfter < 0 || n <= int64(*healthyAfter) {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	fmt.Fprintln(os.Stderr, http.Serve(ln, nil))
	os.Exit(1)
}

// parent launches a healthy fake server, prints its pid and sleeps until
// it is killed.
func parent() {
	exe, _ := os.Executable()
	l := New(os.Getenv(parentLogDirEnv), nil)
	l.PollInterval = 20 * time.Millisecond
	s, err := l.Start(context.Background(), Config{
		Name: "orphan-candidate", Backend: BackendSim, ModelPath: "fake", SimBinary: exe,
		Env: []string{helperEnv + "=" + helperServer},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("child %d\n", s.PID())
	time.Sleep(time.Hour)
}
