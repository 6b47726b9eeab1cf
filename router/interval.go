package router

import "time"

// How often the real routers refresh the worker loads their policies read
// (router-reference.md s3.3).
const (
	// SGLangRouterLoadInterval: sglang-router 0.3.2 polls every worker's
	// /get_load every --worker-startup-check-interval seconds (default 30),
	// and only for power_of_two.
	SGLangRouterLoadInterval = 30 * time.Second
	// SMGLoadInterval: smg polls every worker's /v1/loads every
	// --load-monitor-interval seconds (default 10).
	SMGLoadInterval = 10 * time.Second
)

// LoadInterval returns how often the real router p comes from refreshes
// the worker state p reads (Worker's scraped fields), so that a dispatcher
// can hand p state exactly that stale. It is zero for a policy that reads
// no polled state (round_robin, random, sglang-router's cache_aware, which
// count only requests in flight) and for a policy that does not say (a
// custom policy, which then sees the freshest state there is). A policy
// says by having a method LoadInterval() time.Duration.
func LoadInterval(p Policy) time.Duration {
	if li, ok := p.(interface{ LoadInterval() time.Duration }); ok {
		return li.LoadInterval()
	}
	return 0
}

// LoadInterval is sglang-router 0.3.2's /get_load polling period.
func (*PowerOfTwo) LoadInterval() time.Duration { return SGLangRouterLoadInterval }

// LoadInterval is smg's --load-monitor-interval: smg 1.13 polls every
// worker from registration on, whatever the policy.
func (*SMGCacheAware) LoadInterval() time.Duration { return SMGLoadInterval }
