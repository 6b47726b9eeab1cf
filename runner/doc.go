// Package runner runs one scenario's performance test. It is the steps'
// only door into the framework: it turns what a scenario declared into a
// plan (package plan), has an executor carry the plan out (package
// processes in wall-clock time, package virtual in virtual time) into a
// report.Recorder, and judges the result against the scenario's bounds
// (package figures).
//
// Read suite.go first (what lives for a whole run of scenarios: settings
// from the environment, signal handling, the zero-scenario guard), then
// declare.go (the Given side: servers, routing, prompts, timeline,
// limits), test.go (Send: resolve, validate, execute, record), and
// check.go (each check records its verdict in the run's summary and fails
// with the measured value, the bound and the run directory). This package
// knows nothing of Gherkin.
package runner
