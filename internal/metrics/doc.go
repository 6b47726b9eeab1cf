// Package metrics turns per-request Records into the figures sgltest reports.
//
// Read record.go (what is measured for one request), then summary.go (every
// figure's exact definition, written once here and mirrored in the README),
// then percentile.go. Definitions follow SGLang's bench_serving where a name
// is shared; where sgltest measures something bench_serving does not (queue
// time, total latency) the doc comment says so.
//
// timeline.go buckets records over time for the charts; routing.go turns
// records or servers' counter differences into per-server shares, balance,
// cache hit rate and router overhead.
package metrics
