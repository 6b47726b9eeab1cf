// Package routertest proves that the real SGLang router accepts sgltest's
// simulator as a worker. It holds only tests: router_test.go builds the
// sgltest binary, launches simulators through internal/launcher, starts
// sglang-router 0.3.2 and smg 1.9.0 (installed by `make venv`, found by
// internal/testenv) as child processes in their own process groups, waits
// until GET /workers lists every simulator healthy, and sends streamed and
// plain /generate, /v1/completions and /v1/chat/completions requests
// through the router. It also checks that the router reads real loads from
// the simulators, the input of its power_of_two policy.
//
// The router is started here, not by internal/launcher, to keep the test
// independent of the scenario launcher; the authority for its flags and
// endpoints is shared/router-reference.md (sections 1 to 4).
package routertest
