package processes

import (
	"github.com/sgltest/sgltest/internal/launcher"
	"github.com/sgltest/sgltest/internal/plan"
)

// pdRouting is the router's PD mode for the plan's prefill and decode
// servers, with each prefill server's bootstrap port as it was started
// (a restore keeps it); nil when the routing is not PD.
func (x *execution) pdRouting() *launcher.PDRouting {
	r := x.p.Routing
	if r == nil || r.PD == nil {
		return nil
	}
	pd := &launcher.PDRouting{PrefillPolicy: r.PD.PrefillPolicy, DecodePolicy: r.PD.DecodePolicy}
	for _, t := range x.targets {
		t.mu.Lock()
		cfg := t.cfg
		t.mu.Unlock()
		switch cfg.Role() {
		case launcher.ModePrefill:
			pd.Prefill = append(pd.Prefill, launcher.PrefillWorker{URL: t.url(), BootstrapPort: cfg.BootstrapPort})
		case launcher.ModeDecode:
			pd.Decode = append(pd.Decode, t.url())
		}
	}
	return pd
}

// routerWorkers are the router's --worker-urls: every server, or none in
// PD mode, where pdRouting names them.
func routerWorkers(p *plan.Plan, urls []string) []string {
	if p.Routing != nil && p.Routing.PD != nil {
		return nil
	}
	return urls
}
