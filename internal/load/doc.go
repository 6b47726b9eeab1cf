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
//     the process is idle).
//   - health.go: the self-check. Every run measures its own p99 schedule
//     lag and the process's CPU busy fraction; past Bounds (default 10 ms,
//     95%) Result.Health is not Valid and its Reason names the figures, so
//     the caller can fail the run as invalid rather than blame the server.
//   - client.go: one request to /generate, /v1/completions or
//     /v1/chat/completions, its body encoded before the run (every sampling
//     parameter and Extra field passed through, a rid per request).
//   - parse.go: the stream parsers. /generate counts tokens from the
//     cumulative meta_info.completion_tokens (text is ignored, so cumulative
//     and incremental servers read the same); OpenAI streams skip the
//     role-only chat event, take per-chunk counts from continuous usage when
//     the server sends it (1 per non-empty chunk otherwise), and the total
//     from the final usage event, falling back to the requested length
//     (flagged OutputTokensEstimated). Errors and aborts inside a 200 stream
//     fail the request with their reason. scan.go is the hot-path /generate
//     chunk scanner, held to encoding/json by a differential fuzz test.
//   - arrival.go: Poisson, Gamma (burstiness, vLLM's definition), Constant,
//     Program (ramp, step, burst, soak phases); trace.go: Mooncake-style
//     trace replay with a time scale.
//   - dataset.go: Random (exact lengths, fixed or Length distributions),
//     SharedPrefix (groups, uniform or Zipf popularity), MultiTurn;
//     sharegpt.go: the ShareGPT file, streamed, with bench_serving's filters,
//     ApproxTokens (the documented no-tokenizer count), LoadJSONL (custom
//     datasets) and WordText (text of about n tokens for text-only APIs).
//   - stub.go: a zero-latency SSE server for benchmarking the client
//     (cmd/loadbench).
//
// Timing rule: every timestamp is an offset from the start instant read on
// Go's monotonic clock at the moment the event happens; nothing is
// reconstructed afterwards. Results leave as metrics.Record values through
// a Sink as each request ends, so reporting is decoupled from sending.
package load
