// Package overlay draws the charts of `sgltest compare`: several sets of
// runs on one chart, so a change shows as the distance between two lines.
//
// Read overlay.go: Side (a label and the stores of its repeats) and Write,
// which draws, as PNG files in a directory:
//
//	cdf_ttft.png              empirical CDFs of TTFT, one line per side
//	cdf_itl.png               the same for ITL (per token)
//	cdf_e2e_latency.png       the same for E2E latency
//	throughput_over_time.png  requests/s and output tokens/s in 1 s buckets
//
// A side's samples are pooled over its repeats (every successful request
// of every repeat), as the metrics package defines them. Its throughput
// over time is the mean, bucket by bucket, over the repeats that lasted
// that long. CDF lines are drawn through at most 2001 evenly spaced
// quantiles of the pooled samples, exact at every one of them.
package overlay
