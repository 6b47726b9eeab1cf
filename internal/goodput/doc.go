// Package goodput measures goodput in vLLM's sense: the requests that met
// every service-level objective given (TTFT, TPOT, E2E latency), as a
// fraction of all requests and per second of the run.
//
// Read goodput.go: SLO, Request (one request's values, from
// metrics.Records by FromRecords), Measure and Result.
//
// Definitions, following vLLM's benchmark_serving (calculate_metrics):
//
//   - A request is good when it succeeded and each objective given holds
//     with its value at or below the bound (vLLM compares slo >= value).
//   - TTFT and E2E latency are per request as sgltest measures them
//     (first token − sent, done − sent); TPOT is (E2E − TTFT) / (output
//     tokens − 1), and 0 for a request of one output token, as vLLM
//     counts it, so such a request always meets a TPOT bound.
//   - Goodput = good requests / run duration (req/s), vLLM's
//     request_goodput; the duration is the run's (metrics.Summary.DurationS).
//   - The fraction is good requests / all measured requests. vLLM reports
//     no fraction; sgltest counts a failed request as one that did not
//     meet the objectives, so "95% of requests meet TTFT below 200 ms"
//     cannot pass by failing the slow ones.
package goodput
