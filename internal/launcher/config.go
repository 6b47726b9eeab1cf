package launcher

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Backend says which program serves: real SGLang or sgltest's simulator.
// Both get the same SGLang flags; only the program and the GPU environment
// differ.
type Backend string

// The backends a Config can name.
const (
	// BackendSGLang runs `python -m sglang.launch_server`.
	BackendSGLang Backend = "sglang"
	// BackendSim runs `<sgltest binary> sim`, which accepts SGLang's flags.
	BackendSim Backend = "sim"
)

// DefaultHost is the address a server binds when Config.Host is empty. It
// is SGLang's own default: loopback, so a test server is never exposed.
const DefaultHost = "127.0.0.1"

// DefaultReadyTimeout is how long Start waits for /health when
// Config.ReadyTimeout is zero: 600 s for SGLang (the timeout of SGLang's own
// CI launcher, which covers weight loading, CUDA-graph capture and
// self-warmup) and 30 s for the simulator, which has none of those.
func DefaultReadyTimeout(b Backend) time.Duration {
	if b == BackendSGLang {
		return 600 * time.Second
	}
	return 30 * time.Second
}

// schedulePolicies are the values SGLang's --schedule-policy accepts
// (sglang-reference.md s1.3). Config.SchedulePolicy is checked against them
// so that a typo fails before a server spends minutes loading weights.
var schedulePolicies = []string{"lpm", "random", "fcfs", "dfs-weight", "lof", "priority", "routing-key"}

// Config describes one server. The zero value of every optional field means
// "do not pass the flag", so the server applies its own default; that keeps
// what a scenario did not choose visibly unchosen in the recorded argv.
type Config struct {
	// Name identifies the server in logs and errors and names its log file,
	// <logDir>/<Name>.log. Required; letters, digits, '.', '_' and '-' only.
	Name string `json:"name"`
	// Backend chooses the program; see BackendSGLang and BackendSim.
	Backend Backend `json:"backend"`
	// ModelPath is passed as --model-path. Required by both backends.
	ModelPath string `json:"model_path"`
	// Host is passed as --host. Empty means DefaultHost.
	Host string `json:"host,omitempty"`
	// Port is passed as --port. Zero asks Start to pick a free port on Host;
	// Command alone renders it as "--port 0".
	Port int `json:"port,omitempty"`
	// GPUs become CUDA_VISIBLE_DEVICES (e.g. "4,5") in an SGLang child's
	// environment; --base-gpu-id is left at 0, so SGLang's GPU 0 is GPUs[0].
	// Empty means the child inherits our CUDA_VISIBLE_DEVICES. The simulator
	// ignores this field.
	GPUs []int `json:"gpus,omitempty"`
	// TPSize is passed as --tp-size when positive.
	TPSize int `json:"tp_size,omitempty"`
	// MaxRunningRequests is passed as --max-running-requests when positive.
	MaxRunningRequests int `json:"max_running_requests,omitempty"`
	// ChunkedPrefillSize is passed as --chunked-prefill-size when non-zero;
	// -1 is SGLang's value for "chunking disabled".
	ChunkedPrefillSize int `json:"chunked_prefill_size,omitempty"`
	// MemFractionStatic is passed as --mem-fraction-static when non-zero; it
	// must lie in (0, 1).
	MemFractionStatic float64 `json:"mem_fraction_static,omitempty"`
	// SchedulePolicy is passed as --schedule-policy when non-empty; it must
	// be one SGLang accepts: lpm, random, fcfs, dfs-weight, lof, priority or
	// routing-key.
	SchedulePolicy string `json:"schedule_policy,omitempty"`
	// DPSize is passed as --dp-size when positive: SGLang's in-process
	// data parallelism, DPSize ranks of TPSize GPUs each behind one HTTP
	// server (dp.go; GPUs must then list DPSize × TPSize of them).
	DPSize int `json:"dp_size,omitempty"`
	// LoadBalanceMethod is passed as --load-balance-method when non-empty;
	// it must be one of LoadBalanceMethods.
	LoadBalanceMethod string `json:"load_balance_method,omitempty"`
	// ExtraArgs are appended verbatim after the typed flags, for the many
	// SGLang flags that have no field here (and for simulator flags such as
	// --sim-profile). They may not set --host, --port or --model-path,
	// because the launcher relies on those to find the server.
	ExtraArgs []string `json:"extra_args,omitempty"`
	// Python is the interpreter that runs sglang.launch_server, a path or a
	// name looked up in PATH (e.g. "python3"). Required for BackendSGLang.
	Python string `json:"python,omitempty"`
	// SimBinary is the sgltest binary whose "sim" subcommand is the
	// simulator. Required for BackendSim.
	SimBinary string `json:"sim_binary,omitempty"`
	// Env holds extra KEY=VALUE entries for the child's environment, which
	// otherwise is ours. Later entries win, so these override anything the
	// launcher sets.
	Env []string `json:"env,omitempty"`
	// ReadyTimeout bounds the wait for /health; zero means
	// DefaultReadyTimeout(Backend).
	ReadyTimeout time.Duration `json:"ready_timeout_ns,omitempty"`
	// DisaggregationMode is --disaggregation-mode: prefill or decode for
	// PD disaggregation (pd.go); empty does not pass the flag.
	DisaggregationMode string `json:"disaggregation_mode,omitempty"`
	// BootstrapPort is --disaggregation-bootstrap-port. Zero on a prefill
	// server asks Start to pick a free port, as Port does.
	BootstrapPort int `json:"bootstrap_port,omitempty"`
	// TransferBackend is --disaggregation-transfer-backend when non-empty.
	TransferBackend string `json:"transfer_backend,omitempty"`
}

// Command validates c and returns the child's argument list (argv[0] is the
// program) and the entries to add to its environment. It is pure: it does
// not pick ports, touch files or look up the program in PATH.
//
// Every error names the offending field and says what was expected.
func (c Config) Command() (argv []string, env []string, err error) {
	if err := c.validate(); err != nil {
		return nil, nil, err
	}
	switch c.Backend {
	case BackendSGLang:
		argv = []string{c.Python, "-m", "sglang.launch_server"}
		// Python block-buffers stdout when it is a file; unbuffered output
		// keeps the log current, so a crash or SIGKILL loses nothing.
		env = append(env, "PYTHONUNBUFFERED=1")
		if len(c.GPUs) > 0 {
			ids := make([]string, len(c.GPUs))
			for i, g := range c.GPUs {
				ids[i] = strconv.Itoa(g)
			}
			env = append(env, "CUDA_VISIBLE_DEVICES="+strings.Join(ids, ","))
		}
	case BackendSim:
		argv = []string{c.SimBinary, "sim"}
	}
	host := c.Host
	if host == "" {
		host = DefaultHost
	}
	argv = append(argv, "--model-path", c.ModelPath, "--host", host, "--port", strconv.Itoa(c.Port))
	if c.TPSize > 0 {
		argv = append(argv, "--tp-size", strconv.Itoa(c.TPSize))
	}
	if c.MaxRunningRequests > 0 {
		argv = append(argv, "--max-running-requests", strconv.Itoa(c.MaxRunningRequests))
	}
	if c.MemFractionStatic != 0 {
		argv = append(argv, "--mem-fraction-static", strconv.FormatFloat(c.MemFractionStatic, 'g', -1, 64))
	}
	if c.ChunkedPrefillSize != 0 {
		argv = append(argv, "--chunked-prefill-size", strconv.Itoa(c.ChunkedPrefillSize))
	}
	if c.SchedulePolicy != "" {
		argv = append(argv, "--schedule-policy", c.SchedulePolicy)
	}
	argv = append(argv, c.dpArgs()...)
	argv = append(argv, c.pdArgs()...)
	// Always on: sgltest scrapes /metrics during every run.
	argv = append(argv, "--enable-metrics")
	argv = append(argv, c.ExtraArgs...)
	env = append(env, c.Env...)
	return argv, env, nil
}

// reservedFlags are the flags the launcher sets itself and reads back (to
// build the URL it polls), so ExtraArgs may not override them. --model is
// SGLang's alias of --model-path.
var reservedFlags = append([]string{"--host", "--port", "--model-path", "--model"}, pdServerFlags...)

func (c Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if c.Name == "" {
		bad("Name: required (it names the log file)")
	} else if !validName(c.Name) {
		bad("Name: %q: expected letters, digits, '.', '_' or '-', not starting with '.'", c.Name)
	}
	switch c.Backend {
	case BackendSGLang:
		if c.Python == "" {
			bad("Python: required for backend %q (e.g. \"python3\")", c.Backend)
		}
	case BackendSim:
		if c.SimBinary == "" {
			bad("SimBinary: required for backend %q (the sgltest binary)", c.Backend)
		}
	default:
		bad("Backend: %q: expected %q or %q", c.Backend, BackendSGLang, BackendSim)
	}
	if c.ModelPath == "" {
		bad("ModelPath: required")
	}
	if strings.HasPrefix(c.Host, "-") || strings.ContainsFunc(c.Host, isSpace) {
		bad("Host: %q: expected a host name or IP address", c.Host)
	}
	if c.Port < 0 || c.Port > 65535 {
		bad("Port: %d: expected 0 (pick a free port) to 65535", c.Port)
	}
	if c.Backend == BackendSGLang {
		for i, g := range c.GPUs {
			if g < 0 {
				bad("GPUs[%d]: %d: expected a GPU id >= 0", i, g)
			} else if slices.Contains(c.GPUs[:i], g) {
				bad("GPUs[%d]: GPU %d is listed twice", i, g)
			}
		}
		if len(c.GPUs) > 0 && c.TPSize > len(c.GPUs) {
			bad("TPSize: %d needs at least %d GPUs, but GPUs lists %d", c.TPSize, c.TPSize, len(c.GPUs))
		}
	}
	if c.TPSize < 0 {
		bad("TPSize: %d: expected 0 (server default) or a positive size", c.TPSize)
	}
	if c.MaxRunningRequests < 0 {
		bad("MaxRunningRequests: %d: expected 0 (server default) or a positive count", c.MaxRunningRequests)
	}
	if c.ChunkedPrefillSize < -1 {
		bad("ChunkedPrefillSize: %d: expected 0 (server default), -1 (disabled) or a positive size", c.ChunkedPrefillSize)
	}
	if f := c.MemFractionStatic; math.IsNaN(f) || f < 0 || f >= 1 {
		bad("MemFractionStatic: %v: expected 0 (server default) or a fraction in (0, 1)", f)
	}
	if c.SchedulePolicy != "" && !slices.Contains(schedulePolicies, c.SchedulePolicy) {
		bad("SchedulePolicy: %q: expected one of %s", c.SchedulePolicy, strings.Join(schedulePolicies, ", "))
	}
	c.validateDP(bad)
	for i, a := range c.ExtraArgs {
		name, _, _ := strings.Cut(a, "=")
		if slices.Contains(reservedFlags, name) {
			bad("ExtraArgs[%d]: %q: set the Config field for it instead (Host, Port, ModelPath or the disaggregation fields)", i, a)
		}
	}
	for i, e := range c.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			bad("Env[%d]: %q: expected KEY=VALUE", i, e)
		}
	}
	c.validatePD(bad)
	if c.ReadyTimeout < 0 {
		bad("ReadyTimeout: %v: expected 0 (backend default) or a positive duration", c.ReadyTimeout)
	}
	if len(errs) > 0 {
		return fmt.Errorf("launcher config %q: %w", c.Name, errors.Join(errs...))
	}
	return nil
}

func validName(s string) bool {
	if s == "" || s[0] == '.' {
		return false
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		if !ok {
			return false
		}
	}
	return true
}

func isSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }
