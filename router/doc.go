// Package router chooses which worker serves each request. It is public so
// that users can write their own routing policy in Go and select it by name
// from a scenario.
//
// Reading guide:
//   - policy.go: the Policy interface, the Request and Worker a policy sees,
//     Options, and the registry (Register, New, Names).
//   - builtin.go: round_robin, random, shortest_queue and power_of_two
//     (sglang-router 0.3.2's).
//   - cacheaware.go and tree.go: cache_aware, sglang-router 0.3.2's
//     algorithm over an approximate radix tree of routing text shared by all
//     workers (router-reference.md s5.2).
//   - smgcacheaware.go and smgtree.go: smg_cache_aware, smg 1.13.0's
//     cache_aware (a text tree and a paged token-id tree, expected-wait
//     choice, per-request spill gate).
//   - smgload.go: least_load and smg_power_of_two, smg's expected-wait
//     policies.
//   - keyed.go: consistent_hashing, prefix_hash and manual (routing keys,
//     smg's hash ring) and passthrough.
//   - interval.go: how often each real router refreshes the loads its
//     policies read (LoadInterval).
//   - example_test.go: the template for a custom policy (score = throughput /
//     (latency × (1 + queue depth))) and how to register it.
//
// Names: a policy both routers have with the same behaviour has its plain
// name (round_robin, random, manual). Where smg changed the behaviour of a
// name sglang-router 0.3.2 also has, the plain name stays 0.3.2's (so
// existing scenarios keep their meaning) and smg's is prefixed smg_
// (smg_cache_aware, smg_power_of_two); policies only smg has keep smg's
// name (least_load, consistent_hashing, prefix_hash, passthrough).
// shortest_queue is neither router's. internal/dispatch checks every smg
// policy here against the real smg on crafted request sequences.
//
// A Policy only decides; it sends nothing. sgltest's dispatcher fills in
// each Worker's state (its own in-flight count and the polled state as of
// its last load refresh) and sends the request to the worker picked.
package router
