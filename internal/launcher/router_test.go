package launcher

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sgltest/sgltest/internal/testenv"
)

func TestRouterCommandBuildsExactArgv(t *testing.T) {
	tests := []struct {
		name string
		cfg  RouterConfig
		want []string
	}{
		{"defaults pass only what the launcher needs",
			RouterConfig{Name: "r", Python: "py", Workers: []string{"http://a", "http://b"}, Port: 1, PrometheusPort: 2},
			[]string{"py", "-m", "sglang_router.launch_router", "--worker-urls", "http://a", "http://b",
				"--host", "127.0.0.1", "--port", "1", "--prometheus-host", "127.0.0.1", "--prometheus-port", "2"}},
		{"every routing knob, smg",
			RouterConfig{Name: "r", Python: "py", Module: RouterModuleSMG, Workers: []string{"http://a"}, Host: "127.0.0.2", Port: 1, PrometheusPort: 2,
				Policy: "cache_aware", CacheThreshold: 0.5, BalanceAbsThreshold: 3, BalanceRelThreshold: 1.25, EvictionIntervalSec: 5, MaxTreeSize: 100,
				ExtraArgs: []string{"--log-level", "debug"}},
			[]string{"py", "-m", "smg.launch_router", "--worker-urls", "http://a",
				"--host", "127.0.0.2", "--port", "1", "--prometheus-host", "127.0.0.2", "--prometheus-port", "2",
				"--policy", "cache_aware", "--cache-threshold", "0.5", "--balance-abs-threshold", "3", "--balance-rel-threshold", "1.25",
				"--eviction-interval-secs", "5", "--max-tree-size", "100", "--log-level", "debug"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			argv, env, err := tt.cfg.Command()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, argv); diff != "" {
				t.Errorf("argv (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"PYTHONUNBUFFERED=1", "HF_HUB_OFFLINE=1"}, env); diff != "" {
				t.Errorf("env (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRouterCommandRejectsInvalidConfigNamingTheField(t *testing.T) {
	ok := RouterConfig{Name: "r", Python: "py", Workers: []string{"http://a"}}
	tests := []struct {
		name   string
		modify func(*RouterConfig)
		want   string
	}{
		{"no workers", func(c *RouterConfig) { c.Workers = nil }, "Workers"},
		{"no python", func(c *RouterConfig) { c.Python = "" }, "Python"},
		{"bad name", func(c *RouterConfig) { c.Name = "a b" }, "Name"},
		{"unknown module", func(c *RouterConfig) { c.Module = "x" }, "Module"},
		{"threshold above one", func(c *RouterConfig) { c.CacheThreshold = 1.5 }, "CacheThreshold"},
		{"reserved flag in extra args", func(c *RouterConfig) { c.ExtraArgs = []string{"--policy", "random"} }, "ExtraArgs: --policy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.modify(&c)
			if _, _, err := c.Command(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one naming %q", err, tt.want)
			}
		})
	}
}

func TestStartRouterFailsWithItsLogWhenTheRouterExits(t *testing.T) {
	py := testenv.RouterPython(t, testenv.SGLangRouter)
	l, _ := newTestLauncher(t)
	_, err := l.StartRouter(t.Context(), RouterConfig{
		Name: "router", Python: py, Workers: []string{"http://127.0.0.1:9"}, Policy: "no_such_policy",
		ReadyTimeout: 30 * time.Second,
	})
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("StartRouter with a bad policy = %v, want an exit error", err)
	}
	if !strings.Contains(err.Error(), "no_such_policy") {
		t.Errorf("error does not show the router's complaint from its log:\n%v", err)
	}
	if err := l.StopAll(); err != nil {
		t.Errorf("StopAll after a failed start: %v", err)
	}
}
