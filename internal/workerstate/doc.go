// Package workerstate scrapes every worker's Prometheus /metrics at an
// interval into per-worker time series, so that routing policies can read
// each worker's latest load and the routing metrics can diff its counters
// across a run.
//
// Reading guide: sample.go parses one exposition into a Sample (names from
// internal/api); scraper.go runs the periodic scrape and keeps the series.
package workerstate
