package launcher

import (
	"errors"
	"net"
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

// TestStartRouterTriesOtherPortsWhenAPickedOneIsTakenFirst: the router's
// first try finds its port bound by another process and exits; the second
// binds fresh ports and gets as far as waiting for its (unreachable)
// worker, which is the error that comes back.
func TestStartRouterTriesOtherPortsWhenAPickedOneIsTakenFirst(t *testing.T) {
	py := testenv.RouterPython(t, testenv.SGLangRouter)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := taken.Addr().(*net.TCPAddr).Port
	var picked []int
	pickPort = func(host string) (int, error) {
		if len(picked) == 0 { // another process got there first
			picked = append(picked, takenPort)
			return takenPort, nil
		}
		p, err := freePort(host)
		picked = append(picked, p)
		return p, err
	}
	t.Cleanup(func() { pickPort = freePort })
	l, _ := newTestLauncher(t)
	_, err = l.StartRouter(t.Context(), RouterConfig{
		Name: "router", Python: py, Workers: []string{"http://127.0.0.1:9"}, ReadyTimeout: 15 * time.Second,
	})
	if err == nil {
		t.Fatal("StartRouter with an unreachable worker succeeded")
	}
	if errors.Is(err, errPortTaken) {
		t.Fatalf("StartRouter gave up on the taken port: %v", err)
	}
	if len(picked) != 4 {
		t.Errorf("picked ports %v, want two per try and two tries", picked)
	}
	if err := l.StopAll(); err != nil {
		t.Errorf("StopAll after a failed start: %v", err)
	}
}

func TestParsePolicyChoicesReadsArgparseUsage(t *testing.T) {
	tests := []struct {
		name, help string
		want       []string
		wantErr    bool
	}{
		{"usage line wins over the later prefill and decode lists",
			"usage: launch_router.py [-h]\n                        [--policy {random,round_robin,cache_aware}]\n" +
				"                        [--prefill-policy {random,bucket}]\n",
			[]string{"random", "round_robin", "cache_aware"}, false},
		{"option description", "  --policy {random,power_of_two}\n    Load balancing policy", []string{"random", "power_of_two"}, false},
		{"no choices", "usage: x [--policy POLICY]", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePolicyChoices(tt.help)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("policies (-want +got):\n%s", diff)
			}
		})
	}
}

// knownRouterPolicies is the checked table of each pinned router release's
// --policy choices (their --help, read by hand). Bumping a release in the
// Makefile fails this test until the new release's list is added here.
var knownRouterPolicies = map[string][]string{
	"sglang-router 0.3.2": {"random", "round_robin", "cache_aware", "power_of_two", "manual"},
	"smg 1.13.0": {"random", "round_robin", "passthrough", "cache_aware", "power_of_two", "least_load",
		"manual", "consistent_hashing", "prefix_hash"},
}

func TestInspectRouterReportsTheInstalledReleaseAndItsPolicies(t *testing.T) {
	for _, rt := range []struct{ pkg, module string }{
		{testenv.SGLangRouter, RouterModuleSGLang},
		{testenv.SMG, RouterModuleSMG},
	} {
		t.Run(rt.pkg, func(t *testing.T) {
			py := testenv.RouterPython(t, rt.pkg)
			info, err := InspectRouter(t.Context(), py, rt.module)
			if err != nil {
				t.Fatal(err)
			}
			key := info.Package + " " + info.Version
			want, ok := knownRouterPolicies[key]
			if !ok {
				t.Fatalf("%s is installed but not in knownRouterPolicies; add its --policy choices (%v)", key, info.Policies)
			}
			if diff := cmp.Diff(want, info.Policies); diff != "" {
				t.Errorf("%s policies (-want +got):\n%s", key, diff)
			}
			if err := info.CheckPolicy("cache_aware"); err != nil {
				t.Error(err)
			}
			if err := info.CheckPolicy("shortest_queue"); err == nil || !strings.Contains(err.Error(), key) {
				t.Errorf("CheckPolicy(shortest_queue) = %v, want an error naming %s", err, key)
			}
		})
	}
}

func TestInspectRouterRejectsAnUnknownModule(t *testing.T) {
	if _, err := InspectRouter(t.Context(), "python3", "x.launch"); err == nil || !strings.Contains(err.Error(), `"x.launch"`) {
		t.Errorf("err = %v, want one naming the module", err)
	}
}
