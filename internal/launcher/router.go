package launcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Router launch modules: sglang-router 0.3.2 and its successor smg (the
// release the Makefile pins; router-reference.md s1). InspectRouter reads
// the installed release and its policy names.
const (
	RouterModuleSGLang = "sglang_router.launch_router"
	RouterModuleSMG    = "smg.launch_router"
)

// DefaultRouterReadyTimeout bounds the wait for the router to list every
// worker healthy when RouterConfig.ReadyTimeout is zero. Registration of a
// worker that answers /health at once takes well under a second.
const DefaultRouterReadyTimeout = 60 * time.Second

// RouterConfig describes one real SGLang router in front of running
// workers. Zero optional fields are not passed, so the router applies its
// own defaults (router-reference.md s2.1); to pass a zero explicitly use
// ExtraArgs.
type RouterConfig struct {
	// Name names the log file <logDir>/<Name>.log. Required.
	Name string `json:"name"`
	// Python is the interpreter of the environment holding the router.
	Python string `json:"python"`
	// Module is RouterModuleSGLang or RouterModuleSMG; empty means
	// RouterModuleSGLang.
	Module string `json:"module,omitempty"`
	// Workers are the workers' base URLs, passed as --worker-urls.
	Workers []string `json:"workers"`
	// Host defaults to DefaultHost; Port and PrometheusPort zero mean a
	// free port is picked.
	Host           string `json:"host,omitempty"`
	Port           int    `json:"port,omitempty"`
	PrometheusPort int    `json:"prometheus_port,omitempty"`
	// Policy is --policy: random, round_robin, cache_aware, power_of_two,
	// manual (smg adds more; RouterInfo.Policies lists the installed
	// router's). Empty means the router's default, cache_aware.
	Policy              string  `json:"policy,omitempty"`
	CacheThreshold      float64 `json:"cache_threshold,omitempty"`
	BalanceAbsThreshold int     `json:"balance_abs_threshold,omitempty"`
	BalanceRelThreshold float64 `json:"balance_rel_threshold,omitempty"`
	EvictionIntervalSec int     `json:"eviction_interval_secs,omitempty"`
	MaxTreeSize         int     `json:"max_tree_size,omitempty"`
	// PD, when set, runs the router in PD mode in front of prefill and
	// decode servers (pd.go); Workers must then be empty.
	PD *PDRouting `json:"pd,omitempty"`
	// ExtraArgs are appended verbatim; they may not repeat a flag above.
	ExtraArgs []string `json:"extra_args,omitempty"`
	// Env holds extra KEY=VALUE entries for the router's environment.
	Env []string `json:"env,omitempty"`
	// ReadyTimeout bounds the wait for every worker to be listed healthy;
	// zero means DefaultRouterReadyTimeout.
	ReadyTimeout time.Duration `json:"ready_timeout_ns,omitempty"`
}

var routerReserved = append([]string{"--worker-urls", "--host", "--port", "--prometheus-host", "--prometheus-port", "--policy",
	"--cache-threshold", "--balance-abs-threshold", "--balance-rel-threshold", "--eviction-interval-secs", "--max-tree-size"}, pdRouterFlags...)

// Command validates c and returns the router's argv and the entries added
// to its environment. Ports must be resolved (non-zero) by then; Start
// does that.
func (c RouterConfig) Command() (argv, env []string, err error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("router config: "+format, args...)) }
	if !validName(c.Name) {
		bad("Name: %q: want letters, digits, '.', '_' or '-'", c.Name)
	}
	if c.Python == "" {
		bad("Python: empty: want the interpreter of the router's environment")
	}
	mod := c.Module
	if mod == "" {
		mod = RouterModuleSGLang
	}
	if mod != RouterModuleSGLang && mod != RouterModuleSMG {
		bad("Module: %q: want %s or %s", c.Module, RouterModuleSGLang, RouterModuleSMG)
	}
	switch {
	case c.PD != nil && len(c.Workers) > 0:
		bad("Workers: %d URLs with PD set: in PD mode the servers are PD's", len(c.Workers))
	case c.PD != nil:
		c.PD.validate(bad)
	case len(c.Workers) == 0:
		bad("Workers: empty: want at least one worker URL")
	}
	if c.CacheThreshold < 0 || c.CacheThreshold > 1 {
		bad("CacheThreshold: %v: want a value in [0, 1]", c.CacheThreshold)
	}
	if c.BalanceAbsThreshold < 0 || c.BalanceRelThreshold < 0 || c.EvictionIntervalSec < 0 || c.MaxTreeSize < 0 {
		bad("BalanceAbsThreshold, BalanceRelThreshold, EvictionIntervalSec, MaxTreeSize: want non-negative values")
	}
	for _, a := range c.ExtraArgs {
		if slices.Contains(routerReserved, a) {
			bad("ExtraArgs: %s is set by a field of RouterConfig", a)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	host := c.Host
	if host == "" {
		host = DefaultHost
	}
	argv = []string{c.Python, "-m", mod}
	if c.PD != nil {
		argv = append(argv, c.PD.args()...)
	} else {
		argv = append(argv, "--worker-urls")
		argv = append(argv, c.Workers...)
	}
	argv = append(argv, "--host", host, "--port", strconv.Itoa(c.Port),
		"--prometheus-host", host, "--prometheus-port", strconv.Itoa(c.PrometheusPort))
	if c.Policy != "" {
		argv = append(argv, "--policy", c.Policy)
	}
	if c.CacheThreshold != 0 {
		argv = append(argv, "--cache-threshold", strconv.FormatFloat(c.CacheThreshold, 'g', -1, 64))
	}
	if c.BalanceAbsThreshold != 0 {
		argv = append(argv, "--balance-abs-threshold", strconv.Itoa(c.BalanceAbsThreshold))
	}
	if c.BalanceRelThreshold != 0 {
		argv = append(argv, "--balance-rel-threshold", strconv.FormatFloat(c.BalanceRelThreshold, 'g', -1, 64))
	}
	if c.EvictionIntervalSec != 0 {
		argv = append(argv, "--eviction-interval-secs", strconv.Itoa(c.EvictionIntervalSec))
	}
	if c.MaxTreeSize != 0 {
		argv = append(argv, "--max-tree-size", strconv.Itoa(c.MaxTreeSize))
	}
	argv = append(argv, c.ExtraArgs...)
	// Unbuffered output keeps the log current; offline because the network
	// is loopback only and a local model path must not send the router to
	// the Hugging Face hub for a tokenizer.
	env = append([]string{"PYTHONUNBUFFERED=1", "HF_HUB_OFFLINE=1"}, c.Env...)
	return argv, env, nil
}

// Router is a running router: a Server (Stop, URL, LogPath, Done...) plus
// its Prometheus endpoint.
type Router struct {
	*Server
	cfg RouterConfig
}

// Config returns the configuration with ports resolved.
func (r *Router) Config() RouterConfig { return r.cfg }

// MetricsURL is the router's Prometheus endpoint (its own listener).
func (r *Router) MetricsURL() string {
	return "http://" + net.JoinHostPort(r.Server.cfg.Host, strconv.Itoa(r.cfg.PrometheusPort)) + "/metrics"
}

// StartRouter launches the router as a child in its own process group,
// with the same log, stop and cleanup handling as every server (Stop,
// StopAll), and returns once GET /workers lists every worker in
// cfg.Workers healthy: the router's own /health says nothing about workers
// and registration runs in the background (router-reference.md s4, s9.1).
func (l *Launcher) StartRouter(ctx context.Context, cfg RouterConfig) (*Router, error) {
	if cfg.Host == "" {
		cfg.Host = DefaultHost
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = DefaultRouterReadyTimeout
	}
	cfg.Workers = slices.Clone(cfg.Workers)
	if cfg.PD != nil {
		pd := *cfg.PD
		pd.Prefill, pd.Decode = slices.Clone(pd.Prefill), slices.Clone(pd.Decode)
		cfg.PD = &pd
	}
	if _, _, err := cfg.Command(); err != nil {
		return nil, err
	}
	pickMain, pickProm := cfg.Port == 0, cfg.PrometheusPort == 0
	return retryTakenPorts(l, cfg.Name, pickMain || pickProm, func() (*Router, error) {
		c := cfg
		if err := pickPorts(c.Host, c.Name, &c.Port, pickMain, &c.PrometheusPort, pickProm, "metrics"); err != nil {
			return nil, err
		}
		return l.startRouterOnce(ctx, c)
	})
}

// startRouterOnce starts cfg (its ports resolved) and waits until it lists
// its workers healthy.
func (l *Launcher) startRouterOnce(ctx context.Context, cfg RouterConfig) (*Router, error) {
	argv, env, err := cfg.Command()
	if err != nil {
		return nil, err
	}
	s, err := l.spawn(Config{Name: cfg.Name, Host: cfg.Host, Port: cfg.Port, ReadyTimeout: cfg.ReadyTimeout}, argv, env)
	if err != nil {
		return nil, err
	}
	if err := l.waitWorkers(ctx, s, cfg); err != nil {
		if serr := s.Stop(); serr != nil {
			err = errors.Join(err, serr)
		}
		return nil, fmt.Errorf("%w\n%s", markPortTaken(s, err), s.logTail())
	}
	return &Router{Server: s, cfg: cfg}, nil
}

// RouterWorker is one entry of the router's GET /workers.
type RouterWorker struct {
	ID        string `json:"id"`
	URL       string `json:"url"`
	IsHealthy bool   `json:"is_healthy"`
	// Load is the router's in-flight counter for the worker (0.3.2 counts
	// it only under cache_aware and manual).
	Load int `json:"load"`
	// WorkerType is regular, prefill or decode.
	WorkerType string `json:"worker_type"`
}

// Workers returns the router's GET /workers list, in the router's order.
func (r *Router) Workers(ctx context.Context) ([]RouterWorker, error) {
	return listWorkers(ctx, http.DefaultClient, r.URL())
}

func listWorkers(ctx context.Context, c *http.Client, base string) ([]RouterWorker, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/workers", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }() // read or abandoned: nothing to report
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/workers: %s: %s", base, resp.Status, body)
	}
	var list struct {
		Workers []RouterWorker `json:"workers"`
		Total   int            `json:"total"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("GET %s/workers: %w in %s", base, err, body)
	}
	return list.Workers, nil
}

// waitWorkers polls /workers until it lists exactly cfg.Workers, all
// healthy; it ends early if the child exits or ctx ends.
func (l *Launcher) waitWorkers(ctx context.Context, s *Server, cfg RouterConfig) error {
	what := fmt.Sprintf("ready (its %d workers listed healthy)", len(cfg.workerURLs()))
	return l.pollReady(ctx, s, cfg.ReadyTimeout, simPollInterval, what, func(ctx context.Context) (string, error) {
		probeCtx, cancel := context.WithTimeout(ctx, simProbeTimeout)
		defer cancel()
		ws, err := listWorkers(probeCtx, l.http, s.URL())
		if err != nil {
			return "", err
		}
		if cfg.PD != nil {
			return unreadyPD(ws, cfg.PD), nil
		}
		return unready(ws, cfg.Workers), nil
	})
}

// unready says what keeps the list from being ready, or "" when it lists
// exactly want, all healthy.
func unready(ws []RouterWorker, want []string) string {
	if len(ws) != len(want) {
		return fmt.Sprintf("%d of %d workers registered", len(ws), len(want))
	}
	for _, w := range ws {
		if !slices.Contains(want, w.URL) {
			return "unexpected worker " + w.URL
		}
		if !w.IsHealthy {
			return w.URL + " not healthy"
		}
	}
	return ""
}
