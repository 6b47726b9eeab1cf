// Package dispatch is sgltest's own router: for each request it asks a
// router.Policy which worker should serve it, keeping the per-worker
// in-flight counts policies see and offering only the workers marked
// healthy. The load generator sends the request straight to the chosen
// worker through its Route hook, so dispatched runs keep every API,
// arrival process and measurement of a direct run, plus the moment of the
// decision (Record.Routed).
//
// Reading guide: dispatcher.go holds the Dispatcher (the decision under one
// lock, the in-flight counts, worker health, the polled state refreshed
// every LoadInterval as the real routers refresh it, Route); loads.go the
// LoadPoller, a StateSource reading each worker's /v1/loads as smg does.
// realrouter_test.go is the harness that replays crafted request sequences
// through a real router and through our policies; sglang_router_test.go
// and smg_test.go require the same worker at every step for each policy
// of sglang-router 0.3.2 and smg the router package models.
package dispatch
