package runner

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sgltest/sgltest/internal/launcher"
	"github.com/sgltest/sgltest/internal/plan"
	"github.com/sgltest/sgltest/internal/report"
)

func TestPDServersGetTheirRoleBackendAndTimeouts(t *testing.T) {
	var tt Test
	if err := tt.AddPDServers(2, 1, Server{Simulated: true, MaxRunningRequests: 8}); err != nil {
		t.Fatal(err)
	}
	roles := make([]string, len(tt.servers))
	for i, s := range tt.servers {
		roles[i] = s.Role
		if s.MaxRunningRequests != 8 || !s.Simulated {
			t.Errorf("server %d lost its settings: %+v", i+1, s)
		}
	}
	if got := strings.Join(roles, ","); got != "prefill,prefill,decode" {
		t.Fatalf("roles %s, want prefill first", got)
	}
	if err := tt.SetKVTransferBackend("nixl"); err != nil {
		t.Fatal(err)
	}
	if err := tt.SetPDTimeouts(0, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	var cfg launcher.Config
	tt.pdLaunch(&cfg, tt.servers[2])
	if cfg.DisaggregationMode != "decode" || cfg.TransferBackend != "nixl" ||
		!slices.Equal(cfg.Env, []string{"SGLANG_DISAGGREGATION_WAITING_TIMEOUT=5"}) {
		t.Errorf("decode server launch %+v", cfg)
	}
	var regular launcher.Config
	tt.pdLaunch(&regular, Server{})
	if regular.DisaggregationMode != "" || regular.Env != nil {
		t.Errorf("a regular server got PD settings: %+v", regular)
	}
}

func TestPDSettingsRefuseWhatSGLangCannotTake(t *testing.T) {
	var tt Test
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"no decode server", tt.AddPDServers(1, 0, Server{}), "at least one prefill and one decode server"},
		{"unknown backend", tt.SetKVTransferBackend("rdma"), `"rdma": SGLang accepts mooncake`},
		{"a fraction of a second", tt.SetPDTimeouts(1500*time.Millisecond, 0), "whole number of seconds"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, tc.err, tc.want)
		}
	}
}

func TestPDHeaderNamesTheRolesAndThePolicies(t *testing.T) {
	p := &plan.Plan{Servers: []plan.Server{
		{Launch: launcher.Config{DisaggregationMode: "prefill"}}, {Launch: launcher.Config{DisaggregationMode: "decode"}},
		{Launch: launcher.Config{DisaggregationMode: "decode"}}},
		Routing: &plan.Routing{Via: plan.ViaSMG, Policy: "round_robin", Installed: "smg 1.13.0", PD: &plan.PD{PrefillPolicy: "bucket", DecodePolicy: "round_robin"}}}
	h := report.Header{GPU: "3 × simulated H100"}
	pdHeader(p, &h)
	if h.GPU != "3 × simulated H100 (1 prefill, 2 decode)" || h.Routing != "smg 1.13.0 in PD mode, prefill policy bucket, decode policy round_robin" {
		t.Errorf("header %q / %q", h.GPU, h.Routing)
	}
}
