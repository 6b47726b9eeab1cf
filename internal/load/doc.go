// Package load generates a workload against an SGLang-compatible server and
// measures every request.
//
// Read generator.go first (the open-loop scheduler: one absolute start
// instant, arrivals at planned offsets, one goroutine per request), then
// client.go (one streamed /generate request and the stream parser that
// timestamps every chunk), then dataset.go and arrival.go (what is sent, and
// when). Results leave as metrics.Record values through a sink, so reporting
// is decoupled from sending.
//
// Timing rule: every timestamp is time.Since(start) read at the moment the
// event happens, where start carries Go's monotonic clock reading; nothing is
// reconstructed afterwards.
package load
