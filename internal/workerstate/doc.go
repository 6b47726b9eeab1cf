// Package workerstate scrapes every worker's Prometheus /metrics at an
// interval into per-worker time series, so that routing policies can read
// each worker's latest load and the routing metrics can diff its counters
// across a run.
//
// Reading guide: sample.go parses one exposition into a Sample (names from
// internal/api); scraper.go runs the periodic scrape and keeps the series;
// lateness.go reads the simulator's step-lateness histogram and judges
// whether a simulated server kept up with its own schedule over a run
// (CheckLateness on Scraper.Diff), the simulator's half of the self-check.
package workerstate
