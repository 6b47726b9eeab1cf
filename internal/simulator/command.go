package simulator

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultProfile is the profile Main uses without --sim-profile.
const DefaultProfile = "llama-3.1-8b-h100"

// shutdownTimeout bounds the graceful HTTP shutdown after ctx ends.
const shutdownTimeout = 5 * time.Second

// Main runs a simulated SGLang server from SGLang's own command-line flags
// (see the package documentation for the accepted set) until ctx ends, then
// shuts the HTTP server down and returns nil. Any flag SGLang has but the
// simulator does not model is an error naming it, so a scenario never runs
// against settings that are silently ignored. -h prints the flags to stderr
// and returns nil without serving.
func Main(ctx context.Context, args []string, stderr io.Writer, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg, profileName, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	prof, err := LoadProfile(profileName)
	if err != nil {
		return err
	}
	if err := cfg.Disaggregation.readEnv(os.Getenv); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("simulator: %w", err)
	}
	cfg.Port = ln.Addr().(*net.TCPAddr).Port
	srv, err := NewServer(Options{Config: cfg, Profile: prof, Logger: logger})
	if err != nil {
		return errors.Join(err, ln.Close())
	}
	boot, err := srv.startBootstrap(cfg.Host)
	if err != nil {
		return errors.Join(err, ln.Close())
	}
	defer boot.close()

	// Request contexts derive from reqCtx, so cancelling it ends streaming
	// handlers that outlast the shutdown grace period.
	reqCtx, cancelRequests := context.WithCancel(context.Background())
	defer cancelRequests()
	httpSrv := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 30 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return reqCtx },
	}
	runCtx, stopRun := context.WithCancel(context.Background())
	defer stopRun()
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Run(runCtx) })
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpSrv.Serve(ln) }()
	logger.Info("listening", "addr", ln.Addr().String(), "profile", prof.Name, "model", cfg.ModelPath)

	var serveFailure error
	select {
	case <-ctx.Done():
	case serveFailure = <-serveErr:
		serveFailure = fmt.Errorf("simulator: %w", serveFailure)
	case <-srv.Dead():
		// SGLang's process exits at once: nothing in flight is answered.
		cancelRequests()
		_ = httpSrv.Close()
		stopRun()
		wg.Wait()
		return fmt.Errorf("simulator: %w", srv.Err())
	}
	// Shutdown stops accepting and lets short requests finish; the driver
	// keeps running meanwhile so they can.
	shutCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := httpSrv.Shutdown(shutCtx); err != nil {
		cancelRequests()
		_ = httpSrv.Close()
		logger.Warn("requests still running at shutdown were cut off", "grace", shutdownTimeout)
	}
	stopRun()
	wg.Wait()
	logger.Info("stopped")
	return serveFailure
}

// parseFlags reads SGLang-named flags into a Config. Go's flag package takes
// SGLang's --name value and --name=value forms as they are.
func parseFlags(args []string, stderr io.Writer) (Config, string, error) {
	fs := flag.NewFlagSet("sgltest sim", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg := Config{}
	var profile string
	str := func(p *string, def, usage string, names ...string) {
		for _, n := range names {
			fs.StringVar(p, n, def, usage)
		}
	}
	integer := func(p *int, def int, usage string, names ...string) {
		for _, n := range names {
			fs.IntVar(p, n, def, usage)
		}
	}
	str(&cfg.ModelPath, "", "model path or Hugging Face id (required)", "model-path", "model")
	str(&cfg.ServedModelName, "", "name in /v1/models and the model_name metric label (default: the model path)", "served-model-name")
	str(&cfg.Host, "127.0.0.1", "address to listen on", "host")
	integer(&cfg.Port, 30000, "port to listen on (0 picks a free one)", "port")
	integer(&cfg.TPSize, 0, "tensor-parallel size (default: the profile's)", "tp-size", "tensor-parallel-size", "tp")
	fs.BoolVar(&cfg.DisableOverlapSchedule, "disable-overlap-schedule", false, "run host work and GPU work in turn")
	integer(&cfg.CUDAGraphMaxBS, 0, "largest decode batch replayed from a CUDA graph (default: the profile's)", "cuda-graph-max-bs", "cuda-graph-max-bs-decode")
	fs.BoolVar(&cfg.DisableCUDAGraph, "disable-cuda-graph", false, "run every step eagerly")
	str(&cfg.AttentionBackend, "", "attention backend the profile has figures for (default: the profile's)", "attention-backend")
	integer(&cfg.MaxRunningRequests, 0, "cap on running requests (default: SGLang's auto rule)", "max-running-requests")
	fs.Var(humanInt{&cfg.MaxTotalTokens}, "max-total-tokens", "cap on the KV pool in tokens (accepts k, M, Ki, Mi suffixes)")
	fs.Var(humanInt{&cfg.MaxPrefillTokens}, "max-prefill-tokens", "prompt-token budget per prefill batch (default 16384)")
	fs.Var(humanInt{&cfg.ContextLength}, "context-length", "context length (default: the model's)")
	integer(&cfg.ChunkedPrefillSize, 0, "prefill chunk size; -1 disables chunking (default: by GPU memory)", "chunked-prefill-size")
	fs.Float64Var(&cfg.MemFractionStatic, "mem-fraction-static", 0, "fraction of GPU memory for weights and KV pool (default: SGLang's auto rule)")
	str(&cfg.SchedulePolicy, "fcfs", "waiting-queue order: fcfs or lpm (lpm falls back to fcfs over 128 waiting or without the radix cache)", "schedule-policy")
	integer(&cfg.StreamInterval, 1, "tokens between streamed chunks", "stream-interval")
	fs.BoolVar(&cfg.EnableMetrics, "enable-metrics", false, "serve Prometheus metrics on /metrics")
	fs.BoolVar(&cfg.SkipServerWarmup, "skip-server-warmup", false, "report healthy without the warmup request")
	fs.Int64Var(&cfg.RandomSeed, "random-seed", 0, "seed for step-time noise and generated tokens")
	fs.BoolVar(&cfg.EnableCacheReport, "enable-cache-report", false, "report cached prompt tokens in OpenAI usage")
	integer(&cfg.MaxQueuedRequests, 0, "cap on waiting requests; beyond it requests get 503 (default: unbounded)", "max-queued-requests")
	fs.BoolVar(&cfg.DisableRadixCache, "disable-radix-cache", false, "turn prefix caching off")
	fs.Float64Var(&cfg.ScheduleConservativeness, "schedule-conservativeness", 0, "scale of the admission estimate of output tokens (default 1.0)")
	str(&cfg.APIKey, "", "Bearer key required on every endpoint but /health* and /metrics", "api-key")
	integer(&cfg.DPSize, 1, "data-parallel size: independent engines (DP ranks, tp-size GPUs each) behind one front end", "dp-size", "data-parallel-size")
	str(&cfg.LoadBalanceMethod, LoadBalanceAuto, "how requests are spread over DP ranks: "+strings.Join(LoadBalanceMethods, ", ")+" (auto: round_robin)", "load-balance-method")
	for _, n := range []string{"incremental-streaming-output", "stream-output"} {
		fs.BoolVar(&cfg.IncrementalStreamingOutput, n, false, "stream /generate text and output_ids as deltas")
	}
	str(&profile, DefaultProfile, "simulator only: profile name, or a path to a profile .json file", "sim-profile")
	fs.DurationVar(&cfg.StartupDelay, "sim-startup-delay", 0, "simulator only: time /health answers 503, standing in for model loading")
	addDisaggregationFlags(fs, &cfg.Disaggregation)
	fs.DurationVar(&cfg.HealthPoll, "sim-health-poll", defaultHealthPoll, "simulator only: how often a /health check looks for its one-token generation's output (SGLang: 1s)")

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "Usage: sgltest sim --model-path MODEL [flags]\n\nFlags (named as SGLang names them):")
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return Config{}, "", err
		}
		if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: "); ok {
			return Config{}, "", fmt.Errorf("simulator: flag --%s is not supported by the simulator (run with -h for the accepted flags)",
				strings.TrimLeft(name, "-"))
		}
		return Config{}, "", fmt.Errorf("simulator: %w", err)
	}
	if fs.NArg() > 0 {
		return Config{}, "", fmt.Errorf("simulator: unexpected argument %q: give the model as --model-path", fs.Arg(0))
	}
	if cfg.ModelPath == "" {
		return Config{}, "", errors.New("simulator: --model-path is required")
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["max-running-requests"] && cfg.MaxRunningRequests < 1 {
		return Config{}, "", fmt.Errorf("simulator: --max-running-requests must be at least 1, got %d", cfg.MaxRunningRequests)
	}
	if set["max-queued-requests"] && cfg.MaxQueuedRequests < 1 {
		return Config{}, "", fmt.Errorf("simulator: --max-queued-requests must be at least 1, got %d", cfg.MaxQueuedRequests)
	}
	if set["schedule-conservativeness"] && !(cfg.ScheduleConservativeness > 0) {
		return Config{}, "", fmt.Errorf("simulator: --schedule-conservativeness must be positive, got %v", cfg.ScheduleConservativeness)
	}
	for _, n := range []string{"tp-size", "tensor-parallel-size", "tp", "cuda-graph-max-bs", "cuda-graph-max-bs-decode"} {
		if set[n] && cfg.TPSize < 1 && strings.HasPrefix(n, "t") {
			return Config{}, "", fmt.Errorf("simulator: --%s must be at least 1, got %d", n, cfg.TPSize)
		}
		if set[n] && cfg.CUDAGraphMaxBS < 1 && strings.HasPrefix(n, "c") {
			return Config{}, "", fmt.Errorf("simulator: --%s must be at least 1, got %d", n, cfg.CUDAGraphMaxBS)
		}
	}
	for _, n := range []string{"dp-size", "data-parallel-size"} {
		if set[n] && cfg.DPSize < 1 {
			return Config{}, "", fmt.Errorf("simulator: --%s must be at least 1, got %d", n, cfg.DPSize)
		}
	}
	if _, err := ResolveLoadBalanceMethod(cfg.LoadBalanceMethod, cfg.Disaggregation.Mode); err != nil {
		return Config{}, "", fmt.Errorf("simulator: %w", err)
	}
	if err := cfg.Disaggregation.check(); err != nil {
		return Config{}, "", err
	}
	if cfg.HealthPoll <= 0 {
		return Config{}, "", fmt.Errorf("simulator: --sim-health-poll must be positive, got %v", cfg.HealthPoll)
	}
	if set["chunked-prefill-size"] && cfg.ChunkedPrefillSize <= 0 {
		cfg.ChunkedPrefillSize = -1 // SGLang disables chunking for any size <= 0
	}
	return cfg, profile, nil
}

// humanInt is an integer flag that takes SGLang's human-readable suffixes:
// k, M, G, T (powers of 1000) and Ki, Mi, Gi, Ti (powers of 1024).
type humanInt struct{ p *int }

var humanSuffixes = []struct {
	suffix string
	mult   int
}{
	{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40},
	{"k", 1e3}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12},
}

func (h humanInt) String() string {
	if h.p == nil {
		return "0"
	}
	return strconv.Itoa(*h.p)
}

func (h humanInt) Set(s string) error {
	mult := 1
	for _, hs := range humanSuffixes {
		if rest, ok := strings.CutSuffix(s, hs.suffix); ok {
			s, mult = rest, hs.mult
			break
		}
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("not an integer: %q", s)
	}
	*h.p = v * mult
	return nil
}

// Check validates a simulator argument list (without the leading "sim")
// as Main would, without serving: every flag, the profile, and the
// settings against the profile. A plan checks its simulated servers with
// it before anything launches.
func Check(args []string) error {
	cfg, profileName, err := parseFlags(args, io.Discard)
	if err != nil {
		return err
	}
	prof, err := LoadProfile(profileName)
	if err != nil {
		return err
	}
	_, err = NewServer(Options{Config: cfg, Profile: prof})
	return err
}
