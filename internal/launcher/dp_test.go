package launcher

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sgltest/sgltest/internal/simulator"
)

func TestCommandRendersDataParallelFlagsForBothBackends(t *testing.T) {
	for _, b := range []Backend{BackendSGLang, BackendSim} {
		cfg := Config{Name: "w", Backend: b, ModelPath: "m", Python: "python3", SimBinary: "/bin/sgltest", Port: 1,
			TPSize: 2, DPSize: 4, LoadBalanceMethod: "total_requests", GPUs: []int{0, 1, 2, 3, 4, 5, 6, 7}}
		argv, env, err := cfg.Command()
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		i := slices.Index(argv, "--model-path")
		want := []string{"--model-path", "m", "--host", "127.0.0.1", "--port", "1", "--tp-size", "2",
			"--dp-size", "4", "--load-balance-method", "total_requests", "--enable-metrics"}
		if d := cmp.Diff(want, argv[i:]); d != "" {
			t.Errorf("%s argv (-want +got):\n%s", b, d)
		}
		if b == BackendSGLang && !slices.Contains(env, "CUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6,7") {
			t.Errorf("env %v lacks the eight GPUs", env)
		}
	}
}

func TestCommandRefusesDataParallelSettingsSGLangWouldNot(t *testing.T) {
	base := Config{Name: "w", Backend: BackendSGLang, ModelPath: "m", Python: "python3"}
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"negative size", func(c *Config) { c.DPSize = -1 }, "DPSize: -1: expected 0 (server default, 1) or a positive size"},
		{"shortest_queue is not an SGLang method", func(c *Config) { c.DPSize, c.LoadBalanceMethod = 4, "shortest_queue" },
			`LoadBalanceMethod: "shortest_queue": expected one of auto, round_robin, follow_bootstrap_room, total_requests, total_tokens`},
		{"too few GPUs for dp × tp", func(c *Config) { c.DPSize, c.TPSize, c.GPUs = 2, 2, []int{0, 1, 2} },
			"DPSize: 2 ranks of tensor parallel size 2 need 4 GPUs, but GPUs lists 3"},
		{"the size twice", func(c *Config) { c.DPSize, c.ExtraArgs = 2, []string{"--dp-size=4"} }, "already set by the DPSize"},
	}
	for _, tt := range tests {
		cfg := base
		tt.edit(&cfg)
		if _, _, err := cfg.Command(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Command() = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}

func TestLoadBalanceMethodsAreTheSimulatorsAndSGLangs(t *testing.T) {
	if !slices.Equal(LoadBalanceMethods, simulator.LoadBalanceMethods) {
		t.Errorf("launcher accepts %v, the simulator %v", LoadBalanceMethods, simulator.LoadBalanceMethods)
	}
}

func TestRankGPUsFollowSGLangsDataParallelController(t *testing.T) {
	tests := []struct {
		cfg  Config
		want [][]int
	}{
		{Config{GPUs: []int{4, 5, 6, 7}, DPSize: 2, TPSize: 2}, [][]int{{4, 5}, {6, 7}}},
		{Config{GPUs: []int{3, 1, 2}, DPSize: 3}, [][]int{{3}, {1}, {2}}},
		{Config{GPUs: []int{0}}, [][]int{{0}}},
		{Config{DPSize: 4}, nil},
	}
	for _, tt := range tests {
		if d := cmp.Diff(tt.want, tt.cfg.RankGPUs()); d != "" {
			t.Errorf("RankGPUs of %+v (-want +got):\n%s", tt.cfg, d)
		}
	}
}

func TestPickGPUsGivesEachServerItsShareInOrder(t *testing.T) {
	all := []int{0, 1, 2, 3, 4, 5}
	got, err := PickGPUs(all, 2, 4)
	if err != nil || !slices.Equal(got, []int{2, 3, 4, 5}) {
		t.Errorf("PickGPUs(2, 4) = %v, %v", got, err)
	}
	if got, err := PickGPUs(all, 6, 2); got != nil || err != nil {
		t.Errorf("past the list: %v, %v; want nil (unpinned), nil", got, err)
	}
	if _, err := PickGPUs(all, 4, 4); err == nil || !strings.Contains(err.Error(), "needs 4 GPUs from position 5") {
		t.Errorf("partway: %v", err)
	}
}
