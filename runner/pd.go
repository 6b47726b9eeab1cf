package runner

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sgltest/sgltest/internal/launcher"
	"github.com/sgltest/sgltest/internal/plan"
	"github.com/sgltest/sgltest/internal/report"
	"github.com/sgltest/sgltest/internal/simulator"
)

// PD disaggregation: the scenario declares prefill and decode servers
// (Server.Role) and routes them with the real router in PD mode
// (Routing.PD); plan.Plan.Validate refuses what cannot run.

// The roles a Server may have, as SGLang's --disaggregation-mode names them.
const (
	RolePrefill = launcher.ModePrefill
	RoleDecode  = launcher.ModeDecode
)

// PD is the router's PD mode, as in package plan.
type PD = plan.PD

// pdState is what the scenario declared for its prefill and decode
// servers beyond their settings.
type pdState struct {
	// backend is --disaggregation-transfer-backend; empty: SGLang's.
	backend string
	// bootstrapTimeout and waitingTimeout are SGLang's
	// SGLANG_DISAGGREGATION_BOOTSTRAP_TIMEOUT and _WAITING_TIMEOUT; zero:
	// SGLang's 300 s.
	bootstrapTimeout, waitingTimeout time.Duration
}

// AddPDServers declares prefill prefill servers and decode decode
// servers, all with the settings of s.
func (t *Test) AddPDServers(prefill, decode int, s Server) error {
	if prefill <= 0 || decode <= 0 {
		return fmt.Errorf("PD disaggregation needs at least one prefill and one decode server, got %d and %d", prefill, decode)
	}
	s.Role = RolePrefill
	if err := t.AddServers(prefill, s); err != nil {
		return err
	}
	s.Role = RoleDecode
	return t.AddServers(decode, s)
}

// SetKVTransferBackend sets the prefill and decode servers'
// --disaggregation-transfer-backend.
func (t *Test) SetKVTransferBackend(name string) error {
	if !slices.Contains(launcher.TransferBackends, name) {
		return fmt.Errorf("KV transfer backend %q: SGLang accepts %s", name, strings.Join(launcher.TransferBackends, ", "))
	}
	t.pd.backend = name
	return nil
}

// SetPDTimeouts bounds a prefill request's wait for its decode server
// (bootstrap) and a decode request's wait for its KV cache (waiting); a
// zero duration keeps SGLang's 300 s. SGLang reads them in whole seconds.
func (t *Test) SetPDTimeouts(bootstrap, waiting time.Duration) error {
	for _, d := range []time.Duration{bootstrap, waiting} {
		if d < 0 || d%time.Second != 0 {
			return fmt.Errorf("PD timeout %v: SGLang takes a whole number of seconds", d)
		}
	}
	if bootstrap > 0 {
		t.pd.bootstrapTimeout = bootstrap
	}
	if waiting > 0 {
		t.pd.waitingTimeout = waiting
	}
	return nil
}

// pdLaunch gives a prefill or decode server its mode, backend and
// timeouts; a regular server is left alone.
func (t *Test) pdLaunch(cfg *launcher.Config, s Server) {
	if s.Role == "" {
		return
	}
	cfg.DisaggregationMode, cfg.TransferBackend = s.Role, t.pd.backend
	if d := t.pd.bootstrapTimeout; d > 0 {
		cfg.Env = append(cfg.Env, fmt.Sprintf("%s=%d", simulator.EnvBootstrapTimeout, d/time.Second))
	}
	if d := t.pd.waitingTimeout; d > 0 {
		cfg.Env = append(cfg.Env, fmt.Sprintf("%s=%d", simulator.EnvWaitingTimeout, d/time.Second))
	}
}

// pdPolicies caches each installed router's PD policy choices, by
// interpreter.
var pdPolicies sync.Map // python path -> launcher.PDPolicies

// checkPD checks the PD policies against the installed router's own
// --prefill-policy and --decode-policy choices.
func (t *Test) checkPD(r *plan.Routing, info launcher.RouterInfo) error {
	if r.PD == nil {
		return nil
	}
	module := launcher.RouterModuleSGLang
	if r.Via == plan.ViaSMG {
		module = launcher.RouterModuleSMG
	}
	py := filepath.Join(t.suite.Settings.Venv, r.Via, "bin", "python")
	choices, ok := pdPolicies.Load(py)
	if !ok {
		got, err := launcher.InspectPDPolicies(t.suite.ctx, py, module)
		if err != nil {
			return err
		}
		choices, _ = pdPolicies.LoadOrStore(py, got)
	}
	return choices.(launcher.PDPolicies).Check(info, r.PD.PrefillPolicy, r.PD.DecodePolicy)
}

// pdHeader says in the summary's header which servers are prefill and
// decode servers and how the router pairs them.
func pdHeader(p *plan.Plan, h *report.Header) {
	roles := p.Roles()
	n := func(role string) int {
		k := 0
		for _, r := range roles {
			if r == role {
				k++
			}
		}
		return k
	}
	if pre, dec := n(RolePrefill), n(RoleDecode); pre+dec > 0 {
		h.GPU += fmt.Sprintf(" (%d prefill, %d decode)", pre, dec)
	}
	if r := p.Routing; r != nil && r.PD != nil {
		h.Routing = fmt.Sprintf("%s in PD mode, prefill policy %s, decode policy %s", routerName(r), r.PD.PrefillPolicy, r.PD.DecodePolicy)
	}
}

func routerName(r *plan.Routing) string {
	if r.Installed != "" {
		return r.Installed
	}
	return r.Via
}
