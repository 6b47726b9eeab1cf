// Package runner orchestrates one performance test: it takes what a
// scenario declared (servers, workload), launches the servers, drives the
// load, summarises the records, writes the run directory and judges the
// expectations.
//
// Read suite.go first (what lives for the whole run of scenarios: the
// reports root, the backend, signal handling, the zero-scenario guard), then
// test.go (one scenario's test: Given -> Server, When -> Run, Then ->
// Check), then check.go (how a figure is named and compared). The steps
// package binds Gherkin sentences to these calls and nothing else; this
// package knows nothing of Gherkin.
//
// Data flows one way: runner -> launcher + load -> metrics -> report.
package runner
