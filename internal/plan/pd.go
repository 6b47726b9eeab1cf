package plan

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/sgltest/sgltest/internal/launcher"
)

// PD is a real router in PD mode (Routing.PD): it sends each request to a
// prefill server and a decode server at once, each picked by its own
// policy, and the decode server answers.
type PD struct {
	PrefillPolicy string `json:"prefill_policy"`
	DecodePolicy  string `json:"decode_policy"`
}

// RouterPrefillPolicies lists the --prefill-policy choices of the
// releases make venv installs: the --policy choices plus bucket. Their
// --decode-policy takes the --policy choices (RouterPolicies).
var RouterPrefillPolicies = map[string][]string{
	ViaSGLangRouter: append(slices.Clone(RouterPolicies[ViaSGLangRouter]), "bucket"),
	ViaSMG:          append(slices.Clone(RouterPolicies[ViaSMG]), "bucket"),
}

// Role is the server's PD role: launcher.ModePrefill, launcher.ModeDecode,
// or "" for a regular server.
func (s Server) Role() string { return s.Launch.Role() }

// Roles lists each server's role, in order ("" for a regular server).
func (p *Plan) Roles() []string {
	out := make([]string, len(p.Servers))
	for i, s := range p.Servers {
		out[i] = s.Role()
	}
	return out
}

// validatePD checks the PD policies against what the router accepts.
func (r *Routing) validatePD() error {
	if r.Via != ViaSGLangRouter && r.Via != ViaSMG {
		return fmt.Errorf("PD mode is a mode of the real router (smg or sglang-router), not of %s", r.Via)
	}
	var errs []error
	if known := RouterPrefillPolicies[r.Via]; !slices.Contains(known, r.PD.PrefillPolicy) {
		errs = append(errs, fmt.Errorf("%s prefill policy %q: expected one of %s", r.Via, r.PD.PrefillPolicy, strings.Join(known, ", ")))
	}
	if known := RouterPolicies[r.Via]; !slices.Contains(known, r.PD.DecodePolicy) {
		errs = append(errs, fmt.Errorf("%s decode policy %q: expected one of %s", r.Via, r.PD.DecodePolicy, strings.Join(known, ", ")))
	}
	return errors.Join(errs...)
}

// validatePD checks what PD disaggregation needs: prefill and decode
// servers together, every server with a role, the real router in PD mode
// in front of them, wall-clock time, and one transfer backend.
func (p *Plan) validatePD() []error {
	var prefill, decode, regular []string
	backends := map[string][]string{}
	for _, s := range p.Servers {
		switch s.Role() {
		case launcher.ModePrefill:
			prefill = append(prefill, s.Name)
		case launcher.ModeDecode:
			decode = append(decode, s.Name)
		default:
			regular = append(regular, s.Name)
			continue
		}
		b := s.Launch.TransferBackend
		if b == "" {
			b = "mooncake (SGLang's default)"
		}
		backends[b] = append(backends[b], s.Name)
	}
	pdRouting := p.Routing != nil && p.Routing.PD != nil
	if len(prefill)+len(decode) == 0 && !pdRouting {
		return nil
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	servers := fmt.Sprintf("%d prefill and %d decode servers", len(prefill), len(decode))
	switch {
	case len(prefill)+len(decode) > 0 && len(decode) == 0:
		bad("%s declared but no decode server: the prefill servers' KV cache would go nowhere", strings.Join(prefill, ", "))
	case len(decode) > 0 && len(prefill) == 0:
		bad("%s declared but no prefill server: a decode server gets each request's KV cache from a prefill server", strings.Join(decode, ", "))
	}
	if len(prefill)+len(decode) > 0 && len(regular) > 0 {
		bad("%s are regular servers among %s: the PD router sends requests to prefill and decode servers only; declare them in one step, e.g. \"Given 2 simulated SGLang prefill servers and 2 decode servers\"",
			strings.Join(regular, ", "), servers)
	}
	switch {
	case p.Routing == nil:
		bad("%s need the real router in PD mode in front of them: add e.g. `And requests are routed by smg in PD mode with prefill policy \"round_robin\" and decode policy \"round_robin\"`", servers)
	case !pdRouting:
		who := p.Routing.Via
		if who == ViaDispatcher {
			who = "sgltest's dispatcher"
		}
		bad("%s need the real router in PD mode, not %s with policy %q, which sends each request to one server: say `requests are routed by smg in PD mode with prefill policy ... and decode policy ...`",
			servers, who, p.Routing.Policy)
	case len(prefill)+len(decode) == 0:
		bad("the router runs in PD mode but the scenario declares no prefill or decode server: use \"Given N simulated SGLang prefill servers and M decode servers\"")
	}
	if pdRouting {
		// Both routers refuse to start otherwise ("Power-of-two policy
		// for prefill requires at least 2 prefill workers").
		for _, side := range []struct {
			name, policy string
			n            int
		}{{"prefill", p.Routing.PD.PrefillPolicy, len(prefill)}, {"decode", p.Routing.PD.DecodePolicy, len(decode)}} {
			if side.policy == "power_of_two" && side.n < 2 && len(prefill)+len(decode) > 0 {
				bad("%s refuses the %s policy power_of_two with %d %s server: it needs at least 2", p.Routing.Via, side.name, side.n, side.name)
			}
		}
	}
	if p.Clock == Virtual {
		bad("PD disaggregation runs in wall-clock time only: the virtual-time engines do not model the KV handoff between prefill and decode servers")
	}
	if len(backends) > 1 {
		var parts []string
		for _, b := range slices.Sorted(maps.Keys(backends)) {
			parts = append(parts, fmt.Sprintf("%s use %s", strings.Join(backends[b], ", "), b))
		}
		bad("the prefill and decode servers must use one KV transfer backend: %s", strings.Join(parts, "; "))
	}
	return errs
}
