// Package dispatch is sgltest's own router: for each request it asks a
// router.Policy which worker should serve it, then sends the request
// straight to that worker, recording when it arrived, when the decision was
// made and when it was sent.
//
// Reading guide: dispatcher.go holds the Dispatcher (the decision under one
// lock, the in-flight counts, the send); the tests compare the cache_aware
// policy with the real sglang-router 0.3.2 in front of simulators.
package dispatch
