// Package load generates a workload against an SGLang-compatible server and
// measures every request.
//
// Reading order:
//
//   - generator.go: Generator.Play, the scheduler. A Schedule says when each
//     request arrives: Offsets (open loop, precomputed from one absolute
//     start instant, so a late wake-up delays one request and never the ones
//     after it) or ClosedLoop (N users, the next request when one ends).
//     The Generator then sends an arrived request at once (continuous), when
//     one of MaxConcurrency slots frees, or with a static Batch; either wait
//     is queue time (Sent − Arrival). Warmup requests go first, before the
//     start instant, flagged Warmup. Clock sleeps on a Go timer and, for the
//     last 2 ms, in nanosleep (Go timers have millisecond resolution when
//     the process is idle) on its own thread with a 1 ns timer slack
//     (slack_linux.go).
//   - pool.go: the workers that send requests, reused from one request to
//     the next and bounded by MaxInFlight (memory and connections stay
//     bounded past the client's ceiling; a request that waits for the bound
//     makes the run invalid).
//   - health.go: the self-check. Every run measures its own p99 schedule
//     lag and p99 hand-off (ready to send until a worker starts), the
//     process's CPU busy fraction and the waits at the in-flight bound;
//     past Bounds (default 10 ms for both lags, 95%, no wait) Result.Health is not
//     Valid and its Reason names the figures, so the caller can fail the run
//     as invalid rather than blame the server. The simulator's half of the
//     check, how late its own engine steps ran, is
//     workerstate.CheckLateness.
//   - client.go: one request to /generate, /v1/completions or
//     /v1/chat/completions, its body encoded before the run (every sampling
//     parameter and Extra field passed through, a rid per request).
//     transport.go and body.go: the client's own HTTP/1.1 connections
//     (one write per request, the response decoded in place in one buffer
//     per connection, bodies read to their end so connections are reused,
//     the connect timed apart in Record.Connect); other http.Client
//     transports go through net/http, timed with httptrace.
//   - parse.go: the stream parsers, one accounting for all APIs: tokens as
//     the server counts them (meta_info or usage), the client's figure
//     only where the server reports none (flagged *Estimated), chunks that
//     add up to the output tokens. /generate counts tokens from the
//     cumulative meta_info.completion_tokens (text is ignored, so
//     cumulative and incremental servers read the same); OpenAI streams
//     record chunks with text, each carrying the growth of the continuous
//     usage since the last one. Errors and aborts inside a 200 stream fail
//     the request with their reason. scan.go is the one-pass chunk scanner
//     (exact keys, as SGLang writes them), held to a reference decoder by
//     differential fuzz tests.
//   - arrival.go: Poisson, Gamma (burstiness, vLLM's definition), Constant,
//     Program (ramp, step, burst, soak phases); trace.go: Mooncake-style
//     trace replay with a time scale.
//   - dataset.go: Random (exact lengths, fixed or Length distributions),
//     SharedPrefix (groups, uniform or Zipf popularity), MultiTurn;
//     sharegpt.go: the ShareGPT file, streamed, with bench_serving's filters,
//     ApproxTokens (the documented no-tokenizer count), LoadJSONL (custom
//     datasets) and WordText (text of about n tokens for text-only APIs).
//   - stub.go: a zero-latency server in SGLang's exact wire format, for
//     benchmarking this client and others (cmd/loadbench); floor.go:
//     SleepLags, the arrival loop's sleeps alone, which measures the
//     host's share of the schedule lag.
//
// Timing rule: every timestamp is an offset from the start instant read on
// Go's monotonic clock at the moment the event happens; nothing is
// reconstructed afterwards. A streamed chunk's time is when the read that
// delivered its last byte returned, so chunks that arrived together share
// it. Results leave as metrics.Record values through
// a Sink as each request ends, so reporting is decoupled from sending.
package load
