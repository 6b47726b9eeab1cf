package plan

import (
	"strings"
	"testing"
	"time"

	"github.com/sgltest/sgltest/internal/launcher"
)

// validPD is valid() with server 1 a prefill and server 2 a decode
// server behind smg in PD mode.
func validPD() Plan {
	p := valid()
	p.Servers[0].Launch.DisaggregationMode = launcher.ModePrefill
	p.Servers[1].Launch.DisaggregationMode = launcher.ModeDecode
	p.Routing = &Routing{Via: ViaSMG, Policy: "round_robin", PD: &PD{PrefillPolicy: "round_robin", DecodePolicy: "round_robin"}}
	return p
}

func TestValidateRefusesWhatPDDisaggregationCannotRun(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Plan)
		want   []string // none for a valid plan
	}{
		{"a prefill and a decode server behind smg in PD mode", func(*Plan) {}, nil},
		{"sglang-router in PD mode with the bucket prefill policy", func(p *Plan) {
			p.Routing = &Routing{Via: ViaSGLangRouter, Policy: "cache_aware", PD: &PD{PrefillPolicy: "bucket", DecodePolicy: "cache_aware"}}
		}, nil},
		{"a kill and restore of the prefill server", func(p *Plan) {
			p.Timeline = []Action{{Kind: Kill, Target: "server-1", At: time.Second}, {Kind: Restore, Target: "server-1", At: 2 * time.Second}}
		}, nil},
		{"PD servers behind sgltest's dispatcher", func(p *Plan) { p.Routing = &Routing{Via: ViaDispatcher, Policy: "round_robin"} },
			[]string{"1 prefill and 1 decode servers need the real router in PD mode, not sgltest's dispatcher"}},
		{"PD servers behind smg out of PD mode", func(p *Plan) { p.Routing.PD = nil },
			[]string{"need the real router in PD mode, not smg"}},
		{"PD servers and no routing", func(p *Plan) { p.Routing = nil }, []string{"need the real router in PD mode in front of them"}},
		{"a decode server without a prefill server", func(p *Plan) { p.Servers[0].Launch.DisaggregationMode = launcher.ModeDecode },
			[]string{"no prefill server: a decode server gets each request's KV cache from a prefill server"}},
		{"a prefill server without a decode server", func(p *Plan) { p.Servers[1].Launch.DisaggregationMode = "" },
			[]string{"server-1 declared but no decode server", "server-2 are regular servers among"}},
		{"PD mode without PD servers", func(p *Plan) {
			p.Servers[0].Launch.DisaggregationMode, p.Servers[1].Launch.DisaggregationMode = "", ""
		}, []string{"the router runs in PD mode but the scenario declares no prefill or decode server"}},
		{"a decode policy the router lacks", func(p *Plan) { p.Routing.PD.DecodePolicy = "bucket" },
			[]string{`smg decode policy "bucket": expected one of`}},
		{"a prefill policy the router lacks", func(p *Plan) { p.Routing.PD.PrefillPolicy = "fastest" },
			[]string{`smg prefill policy "fastest"`}},
		{"PD mode of the dispatcher", func(p *Plan) { p.Routing.Via = ViaDispatcher },
			[]string{"PD mode is a mode of the real router"}},
		{"two transfer backends", func(p *Plan) { p.Servers[1].Launch.TransferBackend = "nixl" },
			[]string{"one KV transfer backend: server-1 use mooncake (SGLang's default); server-2 use nixl"}},
		{"power_of_two over one decode server", func(p *Plan) { p.Routing.PD.DecodePolicy = "power_of_two" },
			[]string{"smg refuses the decode policy power_of_two with 1 decode server: it needs at least 2"}},
		{"virtual time", func(p *Plan) { p.Clock = Virtual },
			[]string{"PD disaggregation runs in wall-clock time only", "cannot run the real router"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := validPD()
			tc.change(&p)
			checkValidate(t, p, tc.want)
		})
	}
}

func TestRolesNameEachServersRole(t *testing.T) {
	p := validPD()
	if got := strings.Join(p.Roles(), ","); got != "prefill,decode" {
		t.Errorf("Roles() = %s", got)
	}
	p = valid()
	if got := strings.Join(p.Roles(), ","); got != "," {
		t.Errorf("Roles() of regular servers = %q, want two empty roles", got)
	}
}
