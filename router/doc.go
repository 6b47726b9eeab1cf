// Package router chooses which worker serves each request. It is public so
// that users can write their own routing policy in Go and select it by name
// from a scenario.
//
// Reading guide:
//   - policy.go: the Policy interface, the Request and Worker a policy sees,
//     and the registry (Register, New, Names).
//   - builtin.go: round_robin, random, shortest_queue and power_of_two.
//   - cacheaware.go and tree.go: cache_aware, a copy of sglang-router 0.3.2's
//     algorithm over an approximate radix tree of routing text shared by all
//     workers (router-reference.md s5.2).
//   - example_test.go: the template for a custom policy (score = throughput /
//     (latency × (1 + queue depth))) and how to register it.
//
// A Policy only decides; it sends nothing. sgltest's dispatcher fills in
// each Worker's state (its own in-flight count and what it scraped from the
// worker's /metrics) and sends the request to the worker picked.
package router
