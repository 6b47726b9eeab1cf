package runner

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/sgltest/sgltest/internal/load"
	"github.com/sgltest/sgltest/internal/report"
)

// Routing says how requests are spread over several servers.
type Routing struct {
	// Via is who routes: ViaDispatcher (sgltest's own, in the load
	// generator), ViaSGLangRouter (sglang-router 0.3.2) or ViaSMG (smg 1.9.0).
	Via string `json:"via"`
	// Policy is the policy's name as Via knows it.
	Policy string `json:"policy"`
}

// Who routes.
const (
	ViaDispatcher   = "dispatcher"
	ViaSGLangRouter = "sglang-router"
	ViaSMG          = "smg"
)

func (r Routing) validate() error {
	switch r.Via {
	case ViaDispatcher, ViaSGLangRouter, ViaSMG:
	default:
		return fmt.Errorf("unknown router %q: expected %s, %s or %s", r.Via, ViaDispatcher, ViaSGLangRouter, ViaSMG)
	}
	if r.Policy == "" {
		return fmt.Errorf("%s needs a policy name", r.Via)
	}
	return nil
}

// RoutingResult is what a routed run measured about the routing itself.
type RoutingResult struct{}

// Text renders the routing figures for the printed summary.
func (r *RoutingResult) Text() string { return "" }

func writeRouting(run *report.Run, r *RoutingResult) error { return nil }

// send drives the load: straight at the one server, or through the
// declared routing.
func (t *Test) send(ctx context.Context, run *report.Run, log *slog.Logger, gen *load.Generator, urls []string,
	reqs []load.Request, sched load.Schedule, sink load.Sink, rc *runConfig) (load.Result, *RoutingResult, error) {
	if t.routing == nil {
		gen.Target = urls[0]
		res, err := gen.Play(ctx, reqs, sched, sink)
		return res, nil, err
	}
	return load.Result{}, nil, fmt.Errorf("routing via %s is not wired yet", t.routing.Via)
}
