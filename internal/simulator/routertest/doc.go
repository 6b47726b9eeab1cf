// Package routertest proves that the real SGLang routers accept sgltest's
// simulator as a worker, and checks sgltest's readers of the routers' own
// output against them. It holds only tests: they build the sgltest binary,
// launch simulators and sglang-router 0.3.2 and smg (the releases `make
// venv` installs, found by internal/testenv) through internal/launcher,
// wait until GET /workers lists every simulator healthy, and send streamed
// and plain /generate, /v1/completions and /v1/chat/completions requests
// through the router. They also check that the router reads real loads
// from the simulators (the input of its load-aware policies), that
// internal/routermetrics parses the router's Prometheus endpoint, how
// each router treats a worker that dies, and that both routers in PD mode
// serve every API through a simulated prefill and decode server.
//
// The authority for the routers' flags and endpoints is
// shared/router-reference.md (sections 1 to 4) and the installed release's
// own --help.
package routertest
