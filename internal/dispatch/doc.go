// Package dispatch is sgltest's own router: for each request it asks a
// router.Policy which worker should serve it, keeping the per-worker
// in-flight counts policies see. The load generator sends the request
// straight to the chosen worker through its Route hook, so dispatched runs
// keep every API, arrival process and measurement of a direct run, plus the
// moment of the decision (Record.Routed).
//
// Reading guide: dispatcher.go holds the Dispatcher (the decision under one
// lock, the in-flight counts, Route); the tests compare the cache_aware
// policy with the real sglang-router 0.3.2 in front of simulators, and show
// a custom policy registered by name at work.
package dispatch
