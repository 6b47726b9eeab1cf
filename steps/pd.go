package steps

import (
	"context"
	"fmt"

	"github.com/sgltest/sgltest/runner"
)

// pdGivens declare PD disaggregation: prefill and decode servers, the real
// router in PD mode in front of them, and their KV transfer.
var pdGivens = []step{
	{
		kind: "Given",
		pattern: `^(a|an|one|\d+) (simulated )?SGLang prefill servers? and (a|an|one|\d+) decode servers?(?: with ` + settings +
			`)?(?: on an? (A100|H100))?$`,
		doc: "Declares PD disaggregation: prefill servers (--disaggregation-mode prefill, each with its own bootstrap port) " +
			"that run each request's prefill and send its KV cache to decode servers (--disaggregation-mode decode) that " +
			"generate the rest. Settings, as for any server, apply to both. They need the real router in PD mode in front of " +
			"them. Simulated servers time the KV transfer from the profile's kv_transfer link (an assumption, not a " +
			"calibrated figure: docs/calibration.md). Servers are numbered prefill first: with 2 and 2, servers 1-2 prefill, 3-4 decode.",
		example: "Given 2 simulated SGLang prefill servers and 2 decode servers",
		also:    []string{"Given a simulated SGLang prefill server and a decode server with max running requests 64 on an H100"},
		fn: func(ctx context.Context, np, simulated, nd, set, gpu string) error {
			prefill, err := serverCount(np)
			if err != nil {
				return err
			}
			decode, err := serverCount(nd)
			if err != nil {
				return err
			}
			srv, err := declaredServer(ctx, simulated, set, gpu)
			if err != nil {
				return err
			}
			return test(ctx).AddPDServers(prefill, decode, srv)
		},
	},
	{
		kind:    "Given",
		pattern: `^requests are routed by (smg|the SGLang router) in PD mode with prefill policy "([^"]+)" and decode policy "([^"]+)"$`,
		doc: "The real router runs with --pd-disaggregation in front of the prefill and decode servers: for each request " +
			"it picks a prefill server with the prefill policy and a decode server with the decode policy, sends the " +
			"request to both with the prefill server's bootstrap address, and streams the decode server's answer. " +
			"Prefill policies add bucket to the router's policies; both are checked against the installed router's --help.",
		example: `Given requests are routed by smg in PD mode with prefill policy "round_robin" and decode policy "round_robin"`,
		also:    []string{`Given requests are routed by the SGLang router in PD mode with prefill policy "cache_aware" and decode policy "power_of_two"`},
		fn: func(ctx context.Context, who, prefill, decode string) error {
			via := runner.ViaSMG
			if who == "the SGLang router" {
				via = runner.ViaSGLangRouter
			}
			// --policy is the default of both sides; the decode policy
			// is as good as any, both sides being set.
			return test(ctx).SetRouting(runner.Routing{Via: via, Policy: decode, PD: &runner.PD{PrefillPolicy: prefill, DecodePolicy: decode}})
		},
	},
	{
		kind:    "Given",
		pattern: `^the prefill and decode servers transfer KV with "([a-z_]+)"$`,
		doc: "--disaggregation-transfer-backend of the prefill and decode servers: mooncake (SGLang's default), nixl, " +
			"ascend, mori, mooncake_tcp or fake. The simulator times every backend but fake by the profile's kv_transfer " +
			"link; fake completes at once and moves nothing, and a fake decode server waits for no prefill server.",
		example: `Given the prefill and decode servers transfer KV with "nixl"`,
		fn: func(ctx context.Context, backend string) error {
			return test(ctx).SetKVTransferBackend(backend)
		},
	},
	{
		kind:    "Given",
		pattern: `^a (decode|prefill) request waits at most ` + duration + ` for its (KV cache|decode server)$`,
		doc: "Bounds a decode request's wait for its KV cache (SGLANG_DISAGGREGATION_WAITING_TIMEOUT) or a prefill " +
			"request's wait for its decode server to connect (SGLANG_DISAGGREGATION_BOOTSTRAP_TIMEOUT), in whole seconds; " +
			"SGLang's default is 300 s. A request that waits longer fails with SGLang's 500 abort.",
		example: "Given a decode request waits at most 5 s for its KV cache",
		also:    []string{"Given a prefill request waits at most 10 s for its decode server"},
		fn: func(ctx context.Context, role, v, unit, what string) error {
			d, err := parseDuration(v, unit)
			if err != nil {
				return err
			}
			switch {
			case role == "decode" && what == "KV cache":
				return test(ctx).SetPDTimeouts(0, d)
			case role == "prefill" && what == "decode server":
				return test(ctx).SetPDTimeouts(d, 0)
			}
			return fmt.Errorf("a %s request waits for its %s, not its %s", role,
				map[string]string{"decode": "KV cache", "prefill": "decode server"}[role], what)
		},
	},
}
