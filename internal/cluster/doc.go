// Package cluster runs a whole workload against N simulated SGLang engines
// in virtual time: a discrete-event simulation at CPU speed whose result is
// the same []metrics.Record a real run over HTTP would produce, so the same
// summary.json and requests.jsonl can be written from it.
//
// # Reading guide
//
//   - cluster.go: Run, the event loop. Events are ordered by (time,
//     priority, sequence), so a run is a pure function of its inputs and
//     seed. A request is routed when it arrives, reaches its engine after
//     the profile's front-end overhead t_fe_in (as the HTTP server sleeps
//     it), and every engine output becomes a streamed chunk at the end of
//     the step that produced it. Engines run with
//     simulator.Engine.DeferOutputs, so the per-token work of decode steps
//     that finish nothing is done a request at a time when the batch next
//     changes; defer_test.go proves the records equal stepwise delivery's.
//   - router.go: the Router interface (one method: given the request and
//     every engine's state, pick an engine) with RoundRobin and
//     ShortestQueue. Richer policies live with the router work and only
//     need to satisfy Router.
//   - lengths.go: a seeded ShareGPT-like length generator (truncated
//     lognormals whose means match the published ShareGPT sample).
//   - calibration_data.go: PublishedRuns, every published SGLang figure the
//     simulator's profiles are fitted to or checked against, with its
//     source, setup and role, and Replay, which reruns one in virtual time;
//     calibration_test.go checks them all (../../docs/calibration.md is the
//     readable copy) and calibration_fit_test.go refits a profile
//     (go test -run TestCalibration_Fit -v ./internal/cluster -args -fit NAME).
//
// Requests are replayed as sgltest sends them, with ignore_eos: each
// generates exactly OutputTokens.
//
// Records: Scheduled, Arrival and Sent are the request's arrival offset
// (the virtual client never queues); FirstToken is the end of the step
// that produced the first token, Done the end of the step that finished it;
// Chunks has one entry per engine output. A request the engine rejects is
// a failed record (503 for ErrQueueFull, 400 otherwise), and one it aborts
// is a failed 200, as the load client would count them.
package cluster
