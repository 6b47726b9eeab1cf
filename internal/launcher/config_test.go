package launcher

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestCommandBuildsExactArgvAndEnv(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		wantArgv []string
		wantEnv  []string
	}{
		{
			name: "sglang with every typed field set",
			cfg: Config{
				Name:               "worker-0",
				Backend:            BackendSGLang,
				ModelPath:          "meta-llama/Llama-3.1-8B-Instruct",
				Host:               "0.0.0.0",
				Port:               30001,
				GPUs:               []int{4, 5},
				TPSize:             2,
				MaxRunningRequests: 64,
				ChunkedPrefillSize: 4096,
				MemFractionStatic:  0.85,
				SchedulePolicy:     "lpm",
				ExtraArgs:          []string{"--load-format", "dummy", "--skip-server-warmup"},
				Python:             "/opt/venv/bin/python",
				SimBinary:          "/ignored/for/sglang",
				Env:                []string{"SGLANG_HEALTH_CHECK_TIMEOUT=40", "HF_HUB_OFFLINE=1"},
				ReadyTimeout:       time.Hour,
			},
			wantArgv: []string{
				"/opt/venv/bin/python", "-m", "sglang.launch_server",
				"--model-path", "meta-llama/Llama-3.1-8B-Instruct",
				"--host", "0.0.0.0",
				"--port", "30001",
				"--tp-size", "2",
				"--max-running-requests", "64",
				"--mem-fraction-static", "0.85",
				"--chunked-prefill-size", "4096",
				"--schedule-policy", "lpm",
				"--enable-metrics",
				"--load-format", "dummy", "--skip-server-warmup",
			},
			wantEnv: []string{
				"PYTHONUNBUFFERED=1",
				"CUDA_VISIBLE_DEVICES=4,5",
				"SGLANG_HEALTH_CHECK_TIMEOUT=40", "HF_HUB_OFFLINE=1",
			},
		},
		{
			name: "sglang minimal passes no optional flag and leaves CUDA_VISIBLE_DEVICES inherited",
			cfg:  Config{Name: "w", Backend: BackendSGLang, ModelPath: "/models/m", Python: "python3"},
			wantArgv: []string{
				"python3", "-m", "sglang.launch_server",
				"--model-path", "/models/m", "--host", "127.0.0.1", "--port", "0", "--enable-metrics",
			},
			wantEnv: []string{"PYTHONUNBUFFERED=1"},
		},
		{
			name: "sglang chunked prefill -1 disables chunking",
			cfg:  Config{Name: "w", Backend: BackendSGLang, ModelPath: "m", Python: "python3", Port: 1, ChunkedPrefillSize: -1},
			wantArgv: []string{
				"python3", "-m", "sglang.launch_server",
				"--model-path", "m", "--host", "127.0.0.1", "--port", "1", "--chunked-prefill-size", "-1", "--enable-metrics",
			},
			wantEnv: []string{"PYTHONUNBUFFERED=1"},
		},
		{
			name: "sim gets the same SGLang flags and ignores GPUs",
			cfg: Config{
				Name: "sim-0", Backend: BackendSim, ModelPath: "llama-3.1-8b", Port: 40000,
				GPUs: []int{3}, TPSize: 2, MaxRunningRequests: 8, MemFractionStatic: 0.9, ChunkedPrefillSize: 2048,
				SchedulePolicy: "fcfs", ExtraArgs: []string{"--sim-profile", "llama-3.1-8b-h100", "--random-seed", "7"},
				Python: "ignored", SimBinary: "/usr/local/bin/sgltest", Env: []string{"A=b"},
			},
			wantArgv: []string{
				"/usr/local/bin/sgltest", "sim",
				"--model-path", "llama-3.1-8b", "--host", "127.0.0.1", "--port", "40000",
				"--tp-size", "2", "--max-running-requests", "8", "--mem-fraction-static", "0.9",
				"--chunked-prefill-size", "2048", "--schedule-policy", "fcfs", "--enable-metrics",
				"--sim-profile", "llama-3.1-8b-h100", "--random-seed", "7",
			},
			wantEnv: []string{"A=b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			argv, env, err := tt.cfg.Command()
			if err != nil {
				t.Fatalf("Command() error: %v", err)
			}
			if diff := cmp.Diff(tt.wantArgv, argv); diff != "" {
				t.Errorf("argv mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantEnv, env); diff != "" {
				t.Errorf("env mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCommandRejectsInvalidConfigNamingTheField(t *testing.T) {
	valid := Config{Name: "w", Backend: BackendSGLang, ModelPath: "m", Python: "python3"}
	tests := []struct {
		name   string
		modify func(*Config)
		want   []string // substrings the error must contain
	}{
		{"missing model path", func(c *Config) { c.ModelPath = "" }, []string{"ModelPath: required"}},
		{"unknown backend", func(c *Config) { c.Backend = "vllm" }, []string{`Backend: "vllm"`, `"sglang"`, `"sim"`}},
		{"empty backend", func(c *Config) { c.Backend = "" }, []string{`Backend: ""`}},
		{"missing python for sglang", func(c *Config) { c.Python = "" }, []string{"Python: required"}},
		{"missing sim binary for sim", func(c *Config) { c.Backend = BackendSim }, []string{"SimBinary: required"}},
		{"missing name", func(c *Config) { c.Name = "" }, []string{"Name: required"}},
		{"name that escapes the log dir", func(c *Config) { c.Name = "../x" }, []string{`Name: "../x"`}},
		{"negative port", func(c *Config) { c.Port = -1 }, []string{"Port: -1"}},
		{"port above 65535", func(c *Config) { c.Port = 70000 }, []string{"Port: 70000"}},
		{"negative tp size", func(c *Config) { c.TPSize = -2 }, []string{"TPSize: -2"}},
		{"negative max running requests", func(c *Config) { c.MaxRunningRequests = -1 }, []string{"MaxRunningRequests: -1"}},
		{"chunked prefill below -1", func(c *Config) { c.ChunkedPrefillSize = -2 }, []string{"ChunkedPrefillSize: -2"}},
		{"negative mem fraction", func(c *Config) { c.MemFractionStatic = -0.1 }, []string{"MemFractionStatic: -0.1"}},
		{"mem fraction of 1", func(c *Config) { c.MemFractionStatic = 1 }, []string{"MemFractionStatic: 1"}},
		{"NaN mem fraction", func(c *Config) { c.MemFractionStatic = math.NaN() }, []string{"MemFractionStatic: NaN"}},
		{"unknown schedule policy", func(c *Config) { c.SchedulePolicy = "sjf" }, []string{`SchedulePolicy: "sjf"`, "fcfs"}},
		{"negative GPU id", func(c *Config) { c.GPUs = []int{0, -1} }, []string{"GPUs[1]: -1"}},
		{"GPU listed twice", func(c *Config) { c.GPUs = []int{2, 2} }, []string{"GPUs[1]: GPU 2 is listed twice"}},
		{"tp size larger than GPU list", func(c *Config) { c.GPUs = []int{0}; c.TPSize = 2 }, []string{"TPSize: 2 needs at least 2 GPUs"}},
		{"port in extra args", func(c *Config) { c.ExtraArgs = []string{"--port=1234"} }, []string{`ExtraArgs[0]: "--port=1234"`}},
		{"model alias in extra args", func(c *Config) { c.ExtraArgs = []string{"--dtype", "half", "--model", "x"} }, []string{`ExtraArgs[2]: "--model"`}},
		{"env entry without =", func(c *Config) { c.Env = []string{"A=1", "B"} }, []string{`Env[1]: "B"`}},
		{"negative ready timeout", func(c *Config) { c.ReadyTimeout = -time.Second }, []string{"ReadyTimeout: -1s"}},
		{"several problems are all reported", func(c *Config) { c.ModelPath = ""; c.Port = -1; c.Python = "" },
			[]string{"ModelPath: required", "Port: -1", "Python: required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid.clone()
			tt.modify(&cfg)
			argv, env, err := cfg.Command()
			if err == nil {
				t.Fatalf("Command() = %q, %q, nil; want an error", argv, env)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestDefaultReadyTimeoutIsLongForSGLangAndShortForSim(t *testing.T) {
	if got := DefaultReadyTimeout(BackendSGLang); got != 600*time.Second {
		t.Errorf("DefaultReadyTimeout(sglang) = %v, want 10m", got)
	}
	if got := DefaultReadyTimeout(BackendSim); got != 30*time.Second {
		t.Errorf("DefaultReadyTimeout(sim) = %v, want 30s", got)
	}
}

func TestServerURLReachesWildcardBindingsThroughLoopback(t *testing.T) {
	tests := []struct{ host, want string }{
		{"127.0.0.1", "http://127.0.0.1:8080"},
		{"0.0.0.0", "http://127.0.0.1:8080"},
		{"::", "http://[::1]:8080"},
		{"::1", "http://[::1]:8080"},
		{"node7.example", "http://node7.example:8080"},
	}
	for _, tt := range tests {
		s := &Server{cfg: Config{Host: tt.host, Port: 8080}}
		if got := s.URL(); got != tt.want {
			t.Errorf("URL() with Host %q = %q, want %q", tt.host, got, tt.want)
		}
	}
}

func TestRedactHidesSecretsInArgvAndEnvironment(t *testing.T) {
	argv := []string{"python", "-m", "sglang.launch_server", "--api-key", "s3cret", "--port", "1", "--hf-token=hf_abc"}
	want := []string{"python", "-m", "sglang.launch_server", "--api-key", Redacted, "--port", "1", "--hf-token=" + Redacted}
	if got := Redact(argv); !slices.Equal(got, want) {
		t.Errorf("Redact = %q, want %q", got, want)
	}
	if argv[4] != "s3cret" {
		t.Error("Redact changed its argument")
	}
	env := []string{"HF_TOKEN=hf_abc", "OPENAI_API_KEY=sk", "PYTHONUNBUFFERED=1", "DB_PASSWORD=x"}
	wantEnv := []string{"HF_TOKEN=" + Redacted, "OPENAI_API_KEY=" + Redacted, "PYTHONUNBUFFERED=1", "DB_PASSWORD=" + Redacted}
	if got := RedactEnv(env); !slices.Equal(got, wantEnv) {
		t.Errorf("RedactEnv = %q, want %q", got, wantEnv)
	}
}
