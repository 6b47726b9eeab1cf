package launcher

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Prefill-decode disaggregation: SGLang servers launched with
// --disaggregation-mode prefill or decode, and the router in PD mode
// (--pd-disaggregation) in front of them, which sends each request to a
// prefill and a decode server at once with the prefill server's bootstrap
// address (router-reference.md s2.1; smg's and sglang-router's --help).

// The roles a server's DisaggregationMode names.
const (
	ModeNull    = "null"
	ModePrefill = "prefill"
	ModeDecode  = "decode"
)

// TransferBackends are the --disaggregation-transfer-backend values SGLang
// accepts (server_args.py's DISAGG_TRANSFER_BACKEND_CHOICES).
var TransferBackends = []string{"mooncake", "nixl", "ascend", "fake", "mori", "mooncake_tcp"}

// pdServerFlags are the PD flags Config renders, which ExtraArgs may not
// set: the launcher reads the bootstrap port back for the router.
var pdServerFlags = []string{"--disaggregation-mode", "--disaggregation-bootstrap-port", "--disaggregation-transfer-backend"}

// Role is the server's PD role: prefill, decode, or "" for a regular
// server.
func (c Config) Role() string {
	if c.DisaggregationMode == ModePrefill || c.DisaggregationMode == ModeDecode {
		return c.DisaggregationMode
	}
	return ""
}

// pdArgs renders the PD flags: the mode when one is set, a prefill
// server's bootstrap port (a decode server takes the port from each
// request) and the backend when one is set.
func (c Config) pdArgs() []string {
	var argv []string
	if c.DisaggregationMode != "" {
		argv = append(argv, "--disaggregation-mode", c.DisaggregationMode)
	}
	if c.BootstrapPort != 0 {
		argv = append(argv, "--disaggregation-bootstrap-port", strconv.Itoa(c.BootstrapPort))
	}
	if c.TransferBackend != "" {
		argv = append(argv, "--disaggregation-transfer-backend", c.TransferBackend)
	}
	return argv
}

// validatePD checks the PD fields.
func (c Config) validatePD(bad func(format string, args ...any)) {
	switch c.DisaggregationMode {
	case "", ModeNull, ModePrefill, ModeDecode:
	default:
		bad("DisaggregationMode: %q: expected %s, %s or %s", c.DisaggregationMode, ModeNull, ModePrefill, ModeDecode)
	}
	if c.BootstrapPort < 0 || c.BootstrapPort > 65535 {
		bad("BootstrapPort: %d: expected 0 (a free port, for a prefill server) to 65535", c.BootstrapPort)
	} else if c.BootstrapPort != 0 && c.Role() == "" {
		bad("BootstrapPort: %d: set for a server that is not disaggregated (DisaggregationMode %q)", c.BootstrapPort, c.DisaggregationMode)
	}
	if c.TransferBackend != "" && !slices.Contains(TransferBackends, c.TransferBackend) {
		bad("TransferBackend: %q: expected one of %s", c.TransferBackend, strings.Join(TransferBackends, ", "))
	}
	if c.BootstrapPort != 0 && c.BootstrapPort == c.Port {
		bad("BootstrapPort: %d is also the server's Port", c.BootstrapPort)
	}
}

// pickBootstrap reports whether Start picks the bootstrap port: a prefill
// server without one gets a free port, as Port does.
func (c Config) pickBootstrap() bool { return c.Role() == ModePrefill && c.BootstrapPort == 0 }

// PDRouting puts the router in PD mode in front of prefill and decode
// servers (RouterConfig.PD).
type PDRouting struct {
	Prefill []PrefillWorker `json:"prefill"`
	// Decode are the decode servers' base URLs.
	Decode []string `json:"decode"`
	// PrefillPolicy and DecodePolicy are --prefill-policy and
	// --decode-policy; empty means the router's --policy for that side.
	PrefillPolicy string `json:"prefill_policy,omitempty"`
	DecodePolicy  string `json:"decode_policy,omitempty"`
}

// PrefillWorker is one prefill server as the router's --prefill takes it.
type PrefillWorker struct {
	URL string `json:"url"`
	// BootstrapPort is the port of its bootstrap server; 0 passes "none",
	// and SGLang's decode servers then assume their own default.
	BootstrapPort int `json:"bootstrap_port,omitempty"`
}

// pdRouterFlags are the flags a PDRouting renders.
var pdRouterFlags = []string{"--pd-disaggregation", "--prefill", "--decode", "--prefill-policy", "--decode-policy"}

func (p *PDRouting) validate(bad func(format string, args ...any)) {
	if len(p.Prefill) == 0 || len(p.Decode) == 0 {
		bad("PD: %d prefill and %d decode servers: PD mode needs at least one of each", len(p.Prefill), len(p.Decode))
	}
	seen := map[string]bool{}
	for i, w := range p.Prefill {
		if w.URL == "" {
			bad("PD.Prefill[%d]: empty URL", i)
		}
		if w.BootstrapPort < 0 || w.BootstrapPort > 65535 {
			bad("PD.Prefill[%d]: bootstrap port %d: expected 0 (none) to 65535", i, w.BootstrapPort)
		}
		if seen[w.URL] {
			bad("PD.Prefill[%d]: %s is listed twice", i, w.URL)
		}
		seen[w.URL] = true
	}
	for i, u := range p.Decode {
		if u == "" {
			bad("PD.Decode[%d]: empty URL", i)
		}
		if seen[u] {
			bad("PD.Decode[%d]: %s is listed twice (a server has one role)", i, u)
		}
		seen[u] = true
	}
}

// args renders --pd-disaggregation and the servers and policies.
func (p *PDRouting) args() []string {
	argv := []string{"--pd-disaggregation"}
	for _, w := range p.Prefill {
		port := "none"
		if w.BootstrapPort != 0 {
			port = strconv.Itoa(w.BootstrapPort)
		}
		argv = append(argv, "--prefill", w.URL, port)
	}
	for _, u := range p.Decode {
		argv = append(argv, "--decode", u)
	}
	if p.PrefillPolicy != "" {
		argv = append(argv, "--prefill-policy", p.PrefillPolicy)
	}
	if p.DecodePolicy != "" {
		argv = append(argv, "--decode-policy", p.DecodePolicy)
	}
	return argv
}

// workerURLs are the servers the router must list healthy before it is
// ready: Workers, or in PD mode every prefill and decode server.
func (c RouterConfig) workerURLs() []string {
	if c.PD == nil {
		return c.Workers
	}
	urls := make([]string, 0, len(c.PD.Prefill)+len(c.PD.Decode))
	for _, w := range c.PD.Prefill {
		urls = append(urls, w.URL)
	}
	return append(urls, c.PD.Decode...)
}

// unreadyPD is unready for a router in PD mode: every server listed,
// healthy, with its role as worker_type.
func unreadyPD(ws []RouterWorker, p *PDRouting) string {
	want := map[string]string{}
	urls := make([]string, 0, len(p.Prefill)+len(p.Decode))
	for _, w := range p.Prefill {
		want[w.URL] = ModePrefill
		urls = append(urls, w.URL)
	}
	for _, u := range p.Decode {
		want[u] = ModeDecode
		urls = append(urls, u)
	}
	if why := unready(ws, urls); why != "" {
		return why
	}
	for _, w := range ws {
		if w.WorkerType != want[w.URL] {
			return fmt.Sprintf("%s registered as %q, not %s", w.URL, w.WorkerType, want[w.URL])
		}
	}
	return ""
}

// PDPolicies are the installed router's --prefill-policy and
// --decode-policy choices.
type PDPolicies struct {
	Prefill []string `json:"prefill"`
	Decode  []string `json:"decode"`
}

// Check returns nil when the router takes prefill and decode as its PD
// policies, and otherwise an error naming the accepted ones.
func (p PDPolicies) Check(info RouterInfo, prefill, decode string) error {
	var errs []error
	if prefill != "" && !slices.Contains(p.Prefill, prefill) {
		errs = append(errs, fmt.Errorf("%s %s has no prefill policy %q; its --prefill-policy accepts: %s",
			info.Package, info.Version, prefill, strings.Join(p.Prefill, ", ")))
	}
	if decode != "" && !slices.Contains(p.Decode, decode) {
		errs = append(errs, fmt.Errorf("%s %s has no decode policy %q; its --decode-policy accepts: %s",
			info.Package, info.Version, decode, strings.Join(p.Decode, ", ")))
	}
	return errors.Join(errs...)
}

var pdPolicyFlag = regexp.MustCompile(`--(prefill|decode)-policy \{([^}]*)\}`)

// ParsePDPolicyChoices reads the --prefill-policy and --decode-policy
// choices from the router launcher's --help.
func ParsePDPolicyChoices(help string) (PDPolicies, error) {
	var p PDPolicies
	for _, m := range pdPolicyFlag.FindAllStringSubmatch(help, -1) {
		choices := strings.Split(m[2], ",")
		switch {
		case m[1] == "prefill" && p.Prefill == nil:
			p.Prefill = choices
		case m[1] == "decode" && p.Decode == nil:
			p.Decode = choices
		}
	}
	if p.Prefill == nil || p.Decode == nil {
		return PDPolicies{}, errors.New("no --prefill-policy {...} and --decode-policy {...} choices in the router's --help: is this a router with PD mode?")
	}
	return p, nil
}

// InspectPDPolicies asks the router installed for python (module as
// InspectRouter takes it) for its PD policy choices.
func InspectPDPolicies(ctx context.Context, python, module string) (PDPolicies, error) {
	if module == "" {
		module = RouterModuleSGLang
	}
	help, err := runQuiet(ctx, python, "-m", module, "--help")
	if err != nil {
		return PDPolicies{}, fmt.Errorf("inspecting %s's PD policies: %w", module, err)
	}
	p, err := ParsePDPolicyChoices(help)
	if err != nil {
		return PDPolicies{}, fmt.Errorf("inspecting %s (%s -m %s --help): %w", module, python, module, err)
	}
	return p, nil
}
