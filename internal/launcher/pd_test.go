package launcher

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sgltest/sgltest/internal/testenv"
)

func TestCommandRendersTheDisaggregationFlags(t *testing.T) {
	base := Config{Name: "s", Backend: BackendSim, SimBinary: "sgltest", ModelPath: "m", Port: 30000}
	tests := []struct {
		name   string
		modify func(*Config)
		want   []string // what follows --port 30000
	}{
		{"a regular server passes none", func(*Config) {}, []string{"--enable-metrics"}},
		{"a prefill server passes its bootstrap port", func(c *Config) { c.DisaggregationMode, c.BootstrapPort = ModePrefill, 31000 },
			[]string{"--disaggregation-mode", "prefill", "--disaggregation-bootstrap-port", "31000", "--enable-metrics"}},
		{"a decode server with a backend", func(c *Config) { c.DisaggregationMode, c.TransferBackend = ModeDecode, "nixl" },
			[]string{"--disaggregation-mode", "decode", "--disaggregation-transfer-backend", "nixl", "--enable-metrics"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.modify(&c)
			argv, _, err := c.Command()
			if err != nil {
				t.Fatal(err)
			}
			want := append([]string{"sgltest", "sim", "--model-path", "m", "--host", "127.0.0.1", "--port", "30000"}, tt.want...)
			if diff := cmp.Diff(want, argv); diff != "" {
				t.Errorf("argv (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCommandRejectsBadDisaggregationFieldsNamingThem(t *testing.T) {
	base := Config{Name: "s", Backend: BackendSim, SimBinary: "sgltest", ModelPath: "m", Port: 30000}
	tests := []struct {
		name   string
		modify func(*Config)
		want   string
	}{
		{"unknown mode", func(c *Config) { c.DisaggregationMode = "encode" }, `DisaggregationMode: "encode"`},
		{"unknown backend", func(c *Config) { c.DisaggregationMode, c.TransferBackend = ModePrefill, "rdma" }, `TransferBackend: "rdma"`},
		{"bootstrap port without a role", func(c *Config) { c.BootstrapPort = 31000 }, "BootstrapPort: 31000: set for a server that is not disaggregated"},
		{"bootstrap port out of range", func(c *Config) { c.DisaggregationMode, c.BootstrapPort = ModePrefill, 70000 }, "BootstrapPort: 70000"},
		{"bootstrap port is the HTTP port", func(c *Config) { c.DisaggregationMode, c.BootstrapPort = ModePrefill, 30000 }, "is also the server's Port"},
		{"a PD flag in ExtraArgs", func(c *Config) { c.ExtraArgs = []string{"--disaggregation-mode", "prefill"} }, `ExtraArgs[0]: "--disaggregation-mode"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.modify(&c)
			if _, _, err := c.Command(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestStartPicksAFreeBootstrapPortForAPrefillServer(t *testing.T) {
	l, _ := newTestLauncher(t)
	cfg := fakeConfig(t, "prefill")
	cfg.DisaggregationMode = ModePrefill
	s, err := l.Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Stop() }()
	got := s.Config()
	if got.BootstrapPort == 0 || got.BootstrapPort == got.Port {
		t.Fatalf("bootstrap port %d beside port %d; want a free port of its own", got.BootstrapPort, got.Port)
	}
	argv, _, _ := got.Command()
	if !strings.Contains(strings.Join(argv, " "), "--disaggregation-bootstrap-port ") {
		t.Errorf("argv %v does not pass the picked bootstrap port", argv)
	}
}

func TestRouterCommandInPDMode(t *testing.T) {
	pd := &PDRouting{
		Prefill:       []PrefillWorker{{URL: "http://p1", BootstrapPort: 9001}, {URL: "http://p2"}},
		Decode:        []string{"http://d1", "http://d2"},
		PrefillPolicy: "cache_aware", DecodePolicy: "round_robin",
	}
	c := RouterConfig{Name: "r", Python: "py", Module: RouterModuleSMG, PD: pd, Port: 1, PrometheusPort: 2, Policy: "round_robin"}
	argv, _, err := c.Command()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"py", "-m", "smg.launch_router", "--pd-disaggregation",
		"--prefill", "http://p1", "9001", "--prefill", "http://p2", "none", "--decode", "http://d1", "--decode", "http://d2",
		"--prefill-policy", "cache_aware", "--decode-policy", "round_robin",
		"--host", "127.0.0.1", "--port", "1", "--prometheus-host", "127.0.0.1", "--prometheus-port", "2", "--policy", "round_robin"}
	if diff := cmp.Diff(want, argv); diff != "" {
		t.Errorf("argv (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"http://p1", "http://p2", "http://d1", "http://d2"}, c.workerURLs()); diff != "" {
		t.Errorf("the servers awaited (-want +got):\n%s", diff)
	}
}

func TestRouterCommandRejectsAnIncompletePDSetup(t *testing.T) {
	ok := RouterConfig{Name: "r", Python: "py", PD: &PDRouting{Prefill: []PrefillWorker{{URL: "http://p"}}, Decode: []string{"http://d"}}}
	tests := []struct {
		name   string
		modify func(*RouterConfig)
		want   string
	}{
		{"no decode server", func(c *RouterConfig) { c.PD.Decode = nil }, "1 prefill and 0 decode servers"},
		{"no prefill server", func(c *RouterConfig) { c.PD.Prefill = nil }, "0 prefill and 1 decode servers"},
		{"workers beside PD", func(c *RouterConfig) { c.Workers = []string{"http://w"} }, "with PD set"},
		{"one server in both roles", func(c *RouterConfig) { c.PD.Decode = []string{"http://p"} }, "a server has one role"},
		{"bad bootstrap port", func(c *RouterConfig) { c.PD.Prefill[0].BootstrapPort = -1 }, "bootstrap port -1"},
		{"PD flags in ExtraArgs", func(c *RouterConfig) { c.ExtraArgs = []string{"--decode"} }, "ExtraArgs: --decode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			pd := *ok.PD
			pd.Prefill = append([]PrefillWorker(nil), ok.PD.Prefill...)
			c.PD = &pd
			tt.modify(&c)
			if _, _, err := c.Command(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestUnreadyPDWantsEveryServerHealthyInItsRole(t *testing.T) {
	pd := &PDRouting{Prefill: []PrefillWorker{{URL: "http://p"}}, Decode: []string{"http://d"}}
	tests := []struct {
		name string
		ws   []RouterWorker
		want string
	}{
		{"ready", []RouterWorker{{URL: "http://p", IsHealthy: true, WorkerType: "prefill"}, {URL: "http://d", IsHealthy: true, WorkerType: "decode"}}, ""},
		{"one missing", []RouterWorker{{URL: "http://p", IsHealthy: true, WorkerType: "prefill"}}, "1 of 2 workers registered"},
		{"unhealthy", []RouterWorker{{URL: "http://p", IsHealthy: true, WorkerType: "prefill"}, {URL: "http://d", WorkerType: "decode"}}, "http://d not healthy"},
		{"wrong role", []RouterWorker{{URL: "http://p", IsHealthy: true, WorkerType: "regular"}, {URL: "http://d", IsHealthy: true, WorkerType: "decode"}},
			`http://p registered as "regular", not prefill`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := unreadyPD(tt.ws, pd); got != tt.want {
				t.Errorf("unreadyPD = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParsePDPolicyChoicesReadsBothFlags(t *testing.T) {
	help := `usage: smg [--prefill-policy {random,round_robin,bucket}]
  --prefill-policy {random,round_robin,bucket}
  --decode-policy {random,round_robin}
`
	got, err := ParsePDPolicyChoices(help)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(PDPolicies{Prefill: []string{"random", "round_robin", "bucket"}, Decode: []string{"random", "round_robin"}}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := ParsePDPolicyChoices("usage: router --policy {a,b}"); err == nil {
		t.Error("a help without PD policies parsed")
	}
	info := RouterInfo{Package: "smg", Version: "1"}
	if err := got.Check(info, "bucket", "round_robin"); err != nil {
		t.Error(err)
	}
	if err := got.Check(info, "round_robin", "bucket"); err == nil || !strings.Contains(err.Error(), `no decode policy "bucket"`) {
		t.Errorf("err = %v, want bucket refused on the decode side", err)
	}
}

func TestInspectPDPoliciesOfTheInstalledRouters(t *testing.T) {
	for _, r := range []struct {
		pkg, module string
		prefill     string // one choice only the prefill side has
	}{{testenv.SGLangRouter, RouterModuleSGLang, "bucket"}, {testenv.SMG, RouterModuleSMG, "bucket"}} {
		t.Run(r.pkg, func(t *testing.T) {
			py := testenv.RouterPython(t, r.pkg)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			p, err := InspectPDPolicies(ctx, py, r.module)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(strings.Join(p.Prefill, ","), r.prefill) || strings.Contains(strings.Join(p.Decode, ","), r.prefill) {
				t.Errorf("prefill %v, decode %v; want %s on the prefill side only", p.Prefill, p.Decode, r.prefill)
			}
			if !strings.Contains(strings.Join(p.Decode, ","), "round_robin") {
				t.Errorf("decode policies %v lack round_robin", p.Decode)
			}
		})
	}
}
