package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	flag "github.com/spf13/pflag"

	"github.com/sgltest/sgltest/internal/load"
	"github.com/sgltest/sgltest/internal/metrics"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "serve" {
		return serve(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "floor" {
		return floorCmd(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("loadbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		rates    = fs.String("rates", "500,1000,2000,3000,5000,7500,10000,15000,20000", "comma-separated request rates (req/s) to sweep, ascending")
		tokens   = fs.Int("tokens", 50, "output tokens per request (one SSE event each)")
		input    = fs.Int("input", 16, "input tokens per request")
		duration = fs.Duration("duration", 3*time.Second, "how long each rate is sent")
		apiName  = fs.String("api", "generate", "generate | completions | chat")
		stubMode = fs.String("stub", "process", "process (a separate stub process) | in-process")
		interval = fs.Int("stream-interval", 1, "tokens per SSE event from the stub (SGLang's --stream-interval)")
		stubProf = fs.String("stub-cpuprofile", "", "write a CPU profile of the stub process to this file")
		lagBound = fs.Duration("max-lag", time.Millisecond, "p99 schedule lag a rate must stay under to count as sustained")
		ttftRate = fs.Float64("ttft-rate", 1000, "rate at which the added TTFT is reported (included in the sweep)")
		seed     = fs.Uint64("seed", 1, "seed of the Poisson arrivals")
		cpuProf  = fs.String("cpuprofile", "", "write a CPU profile of the sweep to this file")
		wrkConns = fs.Int("wrk-connections", 64, "connections wrk keeps open (when wrk is installed)")
		noWrk    = fs.Bool("no-wrk", false, "do not run wrk even when it is installed")
		noFloor  = fs.Bool("no-floor", false, "do not measure the host's floor (a sleeper beside each rate)")
	)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	a, err := parseAPI(*apiName)
	if err != nil {
		fmt.Fprintln(stderr, "loadbench:", err)
		return 2
	}
	sweep, err := parseRates(*rates, *ttftRate)
	if err != nil {
		fmt.Fprintln(stderr, "loadbench:", err)
		return 2
	}
	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
		if err != nil {
			fmt.Fprintln(stderr, "loadbench:", err)
			return 1
		}
		defer func() { _ = f.Close() }() // after StopCPUProfile wrote it; a benchmark tool's profile
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "loadbench:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	target, stubPID, closeStub, err := startStub(*stubMode, *interval, *stubProf)
	if err != nil {
		fmt.Fprintln(stderr, "loadbench:", err)
		return 1
	}
	defer closeStub()

	fmt.Fprintf(stdout, "loadbench: api %s, %d input / %d output tokens, stream interval %d, %v per rate, stub %s at %s, GOMAXPROCS %d, %d CPUs\n",
		a, *input, *tokens, *interval, *duration, *stubMode, target, runtime.GOMAXPROCS(0), runtime.NumCPU())
	fmt.Fprintf(stdout, "%8s %8s %9s %8s %9s %10s %9s %8s %9s %8s %7s %8s %6s %6s %5s\n",
		"rate", "req/s", "tok/s", "lag p50", "lag p99", "floor p99", "send p99", "ttft p50", "ttft p99", "cli/req", "allocs", "stub/req", "conns", "peak", "fail")
	floor := floorRunner(*stubMode)
	if *noFloor {
		floor = nil
	}
	client := &load.Client{HTTP: load.NewHTTPClient(), API: a}
	var best, ceiling *result
	var atTTFT *result
	var all []result
	for _, rate := range sweep {
		res, err := measure(ctx, client, target, stubPID, floor, rate, *duration, *input, *tokens, *seed)
		if err != nil {
			fmt.Fprintln(stderr, "loadbench:", err)
			return 1
		}
		fmt.Fprintln(stdout, res)
		all = append(all, res)
		if rate == *ttftRate {
			r := res
			atTTFT = &r
		}
		if res.sum.Failed == 0 && time.Duration(res.sum.ScheduleLagMS.P99*float64(time.Millisecond)) < *lagBound {
			r := res
			best = &r
		}
		if ceiling == nil || res.sum.RequestThroughput > ceiling.sum.RequestThroughput {
			r := res
			ceiling = &r
		}
		if !res.health.Valid {
			fmt.Fprintf(stdout, "%8s %s\n", "", res.health.Reason)
		}
	}
	fmt.Fprintln(stdout)
	if best == nil {
		fmt.Fprintf(stdout, "no rate sustained with p99 schedule lag under %v\n", *lagBound)
	} else {
		fmt.Fprintf(stdout, "highest rate sustained with p99 schedule lag < %v: %.0f req/s offered, %.0f req/s and %.0f streamed tokens/s achieved\n",
			*lagBound, best.rate, best.sum.RequestThroughput, best.sum.OutputThroughput)
	}
	if atTTFT != nil {
		fmt.Fprintf(stdout, "added TTFT at %.0f req/s: p50 %.0f µs, p99 %.0f µs\n", *ttftRate, atTTFT.sum.TTFTMS.Median*1000, atTTFT.sum.TTFTMS.P99*1000)
	}
	if floor != nil {
		fmt.Fprintf(stdout, "host floor (a thread that only sleeps to the same schedule, beside each rate): p99 wake-up lag %s\n", floorSummary(all))
	}
	fmt.Fprintf(stdout, "ceiling: %.0f req/s and %.0f streamed tokens/s achieved (at %.0f req/s offered)\n",
		ceiling.sum.RequestThroughput, ceiling.sum.OutputThroughput, ceiling.rate)
	if *noWrk {
		return 0
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		fmt.Fprintln(stdout, "wrk: not installed, no comparison (apt-get install wrk)")
		return 0
	}
	w, err := runWrk(ctx, client, target, *duration, *wrkConns, *input, *tokens, *seed)
	if err != nil {
		fmt.Fprintln(stderr, "loadbench:", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrk on the same stub and request (%s): %.0f req/s; sgltest's ceiling is %.0f%% of it\n",
		strings.Join(w.argv, " "), w.rate, 100*ceiling.sum.RequestThroughput/w.rate)
	return 0
}

type result struct {
	rate   float64
	sum    metrics.Summary
	health load.Health
	// Per request: the client's CPU time and allocations, the stub's CPU
	// time (negative when not known).
	clientCPU, stubCPU time.Duration
	allocs             float64
	conns              int
	// floor is the host's p99 wake-up lag beside this rate (-1 when not
	// measured).
	floor time.Duration
}

func (r result) String() string {
	s := r.sum
	us := func(ms float64) string { return strconv.FormatFloat(ms*1000, 'f', 0, 64) + "µs" }
	stub := "-"
	if r.stubCPU >= 0 {
		stub = strconv.FormatFloat(float64(r.stubCPU)/1e3, 'f', 0, 64) + "µs"
	}
	floor := "-"
	if r.floor >= 0 {
		floor = strconv.FormatInt(r.floor.Microseconds(), 10) + "µs"
	}
	return fmt.Sprintf("%8.0f %8.0f %9.0f %8s %9s %10s %9s %8s %9s %8s %7.1f %8s %6d %6d %5d",
		r.rate, s.RequestThroughput, s.OutputThroughput, us(s.ScheduleLagMS.Median), us(s.ScheduleLagMS.P99), floor,
		us(s.SendLagMS.P99), us(s.TTFTMS.Median), us(s.TTFTMS.P99),
		strconv.FormatFloat(float64(r.clientCPU)/1e3, 'f', 0, 64)+"µs", r.allocs, stub, r.conns, r.health.PeakInFlight, s.Failed)
}

// measure sends Poisson arrivals at rate for d and summarises them, with
// the host's floor measured beside them when floor is not nil.
// Throughput is over the span from the start instant to the last Done.
func measure(ctx context.Context, c *load.Client, target string, stubPID int, floor floorFunc, rate float64, d time.Duration, input, tokens int, seed uint64) (result, error) {
	n := max(int(rate*d.Seconds()), 1)
	reqs, err := load.Random{Count: n, InputTokens: input, OutputTokens: tokens, VocabSize: 32000, Seed: seed}.Requests()
	if err != nil {
		return result{}, err
	}
	at, err := load.Poisson(rate, n, seed)
	if err != nil {
		return result{}, err
	}
	g := &load.Generator{Client: c, Target: target, RIDPrefix: "bench-", Bounds: load.Bounds{MaxCPUBusy: -1, MaxScheduleLag: -1}}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	cpu0 := processCPU()
	stub0 := stubCPU(stubPID)
	var floorDone <-chan floorResult
	if floor != nil {
		// Another seed: the sleeper's wake-ups should not coincide with
		// the arrivals they are compared with.
		floorDone = floor(ctx, rate, d, seed+1)
	}
	res, err := g.Play(ctx, reqs, load.Offsets(at), nil)
	stub1 := stubCPU(stubPID)
	fr := floorResult{p99: -1}
	if floorDone != nil {
		fr = <-floorDone
	}
	cpu1 := processCPU()
	runtime.ReadMemStats(&m1)
	if err == nil {
		err = fr.err
	}
	if err != nil {
		return result{}, err
	}
	r := result{rate: rate, sum: metrics.Summarize(res.Records), health: res.Health,
		clientCPU: (cpu1 - cpu0) / time.Duration(n), allocs: float64(m1.Mallocs-m0.Mallocs) / float64(n), stubCPU: -1, floor: fr.p99}
	if stub0 >= 0 && stub1 >= 0 {
		r.stubCPU = (stub1 - stub0) / time.Duration(n)
	}
	for _, rec := range res.Records {
		if rec.Connect > 0 {
			r.conns++
		}
	}
	return r, nil
}

// processCPU is this process's user and system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// stubCPU is the stub process's user and system CPU time, from
// /proc/<pid>/stat (in clock ticks of 10 ms); -1 when unknown.
func stubCPU(pid int) time.Duration {
	if pid <= 0 {
		return -1
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// The command name may hold spaces; the fields after it do not.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return -1
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// wrkResult is what wrk measured.
type wrkResult struct {
	argv []string
	rate float64
}

// runWrk runs wrk for d against target with the body the client sends for
// the benchmark's first request, on the same API.
func runWrk(ctx context.Context, c *load.Client, target string, d time.Duration, conns, input, tokens int, seed uint64) (wrkResult, error) {
	reqs, err := load.Random{Count: 1, InputTokens: input, OutputTokens: tokens, VocabSize: 32000, Seed: seed}.Requests()
	if err != nil {
		return wrkResult{}, err
	}
	path, body, headers, err := c.Wire(reqs[0], "wrk")
	if err != nil {
		return wrkResult{}, err
	}
	dir, err := os.MkdirTemp("", "loadbench-wrk-")
	if err != nil {
		return wrkResult{}, err
	}
	defer func() { _ = os.RemoveAll(dir) }() // a temporary directory; a leftover is harmless
	var lua strings.Builder
	fmt.Fprintf(&lua, "wrk.method = \"POST\"\nwrk.path = %q\nwrk.body = %q\n", path, body)
	for k, v := range headers {
		fmt.Fprintf(&lua, "wrk.headers[%q] = %q\n", k, v)
	}
	script := filepath.Join(dir, "request.lua")
	if err := os.WriteFile(script, []byte(lua.String()), 0o644); err != nil {
		return wrkResult{}, err
	}
	secs := max(1, int(d.Round(time.Second)/time.Second)) // wrk counts whole seconds
	argv := []string{"wrk", "-t", strconv.Itoa(runtime.GOMAXPROCS(0)), "-c", strconv.Itoa(conns), "-d", strconv.Itoa(secs) + "s", "-s", script, target}
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Requests/sec:"); ok {
			rate, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				break
			}
			argv[len(argv)-2] = "<request.lua>"
			return wrkResult{argv: argv, rate: rate}, nil
		}
	}
	return wrkResult{}, fmt.Errorf("%s: no Requests/sec in its output:\n%s", strings.Join(argv, " "), out)
}

func parseAPI(s string) (load.API, error) {
	for _, a := range []load.API{load.Native, load.Completions, load.Chat} {
		if a.String() == s {
			return a, nil
		}
	}
	return 0, fmt.Errorf("--api: want generate, completions or chat, got %q", s)
}

func parseRates(s string, ttft float64) ([]float64, error) {
	var out []float64
	seen := false
	for _, f := range strings.Split(s, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || r <= 0 {
			return nil, fmt.Errorf("--rates: %q is not a positive rate", f)
		}
		seen = seen || r == ttft
		out = append(out, r)
	}
	if !seen {
		out = append([]float64{ttft}, out...)
	}
	return out, nil
}

// startStub starts the stub and returns its base URL, its process id (0
// in-process) and a function that stops it.
func startStub(mode string, interval int, profile string) (string, int, func(), error) {
	switch mode {
	case "in-process":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", 0, nil, err
		}
		srv := &http.Server{Handler: load.Stub{StreamInterval: interval}}
		go func() { _ = srv.Serve(ln) }()
		return "http://" + ln.Addr().String(), 0, func() { _ = srv.Close() }, nil
	case "process":
		exe, err := os.Executable()
		if err != nil {
			return "", 0, nil, err
		}
		args := []string{"serve", "--addr", "127.0.0.1:0", "--stream-interval", strconv.Itoa(interval)}
		if profile != "" {
			args = append(args, "--cpuprofile", profile)
		}
		cmd := exec.Command(exe, args...)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return "", 0, nil, err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return "", 0, nil, err
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			return "", 0, nil, err
		}
		stop := func() {
			_ = stdin.Close() // the child exits when its stdin closes
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			stop()
			return "", 0, nil, fmt.Errorf("stub process did not report its address: %v", err)
		}
		return "http://" + strings.TrimSpace(line), cmd.Process.Pid, stop, nil
	}
	return "", 0, nil, fmt.Errorf("--stub: want process or in-process, got %q", mode)
}

// serve runs the stub until stdin closes (when started by loadbench) or
// the process is interrupted, printing its address first.
func serve(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadbench serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8099", "loopback address to listen on")
	interval := fs.Int("stream-interval", 1, "tokens per SSE event (SGLang's --stream-interval)")
	cpuProf := fs.String("cpuprofile", "", "write a CPU profile of the stub to this file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
		if err != nil {
			fmt.Fprintln(stderr, "loadbench serve:", err)
			return 1
		}
		defer func() { _ = f.Close() }() // after StopCPUProfile wrote it; a benchmark tool's profile
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "loadbench serve:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		fmt.Fprintf(stderr, "loadbench serve: --addr %q must be a loopback address\n", *addr)
		return 2
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(stderr, "loadbench serve:", err)
		return 1
	}
	fmt.Fprintln(stdout, ln.Addr().String())
	srv := &http.Server{Handler: load.Stub{StreamInterval: *interval}}
	go func() {
		// stdin reaching EOF means the parent is gone; an interactive
		// terminal never sends it, so Ctrl-C stops the stub there.
		_, _ = io.Copy(io.Discard, os.Stdin)
		if fi, err := os.Stdin.Stat(); err == nil && fi.Mode()&os.ModeCharDevice == 0 {
			_ = srv.Close()
		}
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	go func() { <-sig; _ = srv.Close() }()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(stderr, "loadbench serve:", err)
		return 1
	}
	return 0
}
