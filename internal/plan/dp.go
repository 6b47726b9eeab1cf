package plan

import (
	"fmt"

	"github.com/sgltest/sgltest/internal/simulator"
)

// validateDP checks the servers that run SGLang's in-process data
// parallelism (Launch.DPSize > 1) for what cannot run:
//
//   - follow_bootstrap_room outside PD disaggregation: SGLang accepts the
//     flag, but its DataParallelController asserts on the first request
//     without a bootstrap room (its own warmup request, or the first health
//     check), and the server exits; nothing here sets a room.
//   - virtual time: its engines are one per server, without the front end
//     and controller a DP server puts in front of its ranks, so a DP server
//     runs in wall-clock time only.
func (p *Plan) validateDP() []error {
	var errs []error
	for _, s := range p.Servers {
		l := s.Launch
		if s.External != "" || l.DPSize <= 1 {
			continue
		}
		if l.LoadBalanceMethod == simulator.LoadBalanceFollowBootstrapRoom {
			errs = append(errs, fmt.Errorf("%s: load balance method %s needs PD disaggregation: outside it SGLang's data parallel "+
				"controller asserts on the first request without a bootstrap room (the server's own warmup request) and the server exits; "+
				"use round_robin, total_requests or total_tokens", s.Name, l.LoadBalanceMethod))
		}
		if p.Clock == Virtual {
			errs = append(errs, fmt.Errorf("%s: virtual time does not run SGLang's data parallelism (data parallel size %d): its engines "+
				"have no front end and controller to share between ranks; run the scenario in wall-clock time", s.Name, l.DPSize))
		}
	}
	return errs
}
