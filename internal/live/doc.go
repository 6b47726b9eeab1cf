// Package live shows a test while it runs: a progress line on the
// terminal (or, in CI logs, a plain line every ten seconds) and, when
// asked for, a Prometheus exporter of the running test's figures on a
// local port. Both are timeline.Observers fed by the same stream as the
// run's Recorder; neither measures anything the report does not.
//
// Read watch.go first (Start, what the runner calls, and the environment
// variables), then progress.go (the line) and exporter.go (the metrics;
// docs/grafana-dashboard.json charts them).
package live
