// Package virtual carries out a plan in virtual time: the simulator's
// engines (package cluster) as a discrete-event simulation with no process
// and no HTTP, at CPU speed. It applies the plan's routing policy and its
// timeline (kills, pauses, restores, restarts) to the engines and streams
// the same records, events and server samples as the wall-clock executor
// (package processes), so the report cannot tell them apart but for the
// clock it names.
//
// Read executor.go: Execute maps the plan onto cluster.Config, and
// policyAdapter lets a router.Policy pick engines.
package virtual
