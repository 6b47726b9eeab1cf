package metrics

import (
	"cmp"
	"slices"
	"time"
)

// Summary is the figures of one run, computed by Summarize from its Records
// or by a Store as they arrive.
// It is written to summary.json, the contract CI reads. Latencies are in
// milliseconds, throughputs per second of Duration.
//
// Per-request definitions (all from the monotonic offsets in Record):
//
//   - Queue time = Sent − Arrival: time the request waited on the client
//     side after arriving (a concurrency cap or a dispatcher). bench_serving
//     does not measure it (it starts its clock after its semaphore).
//   - Server latency = Done − Sent: from writing the request to reading the
//     last byte ([DONE] for a stream). This is bench_serving's "E2E latency"
//     exactly, so E2E is reported under both names.
//   - Total latency = Done − Arrival = queue time + server latency: what a
//     user who arrived at Arrival experienced.
//   - TTFT = FirstToken − Sent: until the first chunk carrying generated
//     tokens (bench_serving: the first chunk with non-empty text).
//   - ITL (per token): for every chunk after the first, the gap to the
//     previous chunk divided evenly over the n new tokens it carried,
//     counted n times; pooled over all requests (bench_serving's /generate
//     definition). Tokens that arrived in the first chunk get no entry.
//   - ITL per chunk: for every chunk after the first, its gap to the
//     previous chunk, counted once whatever the number of tokens it carried
//     (bench_serving's OpenAI-backend definition); pooled over requests.
//   - TPOT = (server latency − TTFT) / (output tokens − 1), for requests with
//     more than one output token that arrived over more than one chunk
//     (bench_serving's definition). A request whose tokens all came in one
//     piece (not streamed) has no time per output token to measure, so it
//     gives no TPOT sample, as it gives no ITL sample.
//
// Client health, over every measured request whether it succeeded or not
// (they describe the load generator, not the server):
//
//   - Schedule lag = Arrival − Scheduled: how late the generator woke for a
//     planned arrival. Above a few milliseconds the load was not the load
//     asked for.
//   - Send lag = Sent − Scheduled: schedule lag plus queue time.
//
// Aggregates, over successful measured requests (warmup excluded):
//
//   - Duration: from the run's start instant (the absolute time the arrival
//     schedule counts from) to the last Done of a measured request.
//   - Request throughput = succeeded / Duration; input and output token
//     throughput = Σ input tokens, Σ output tokens (server-reported) of
//     successful requests / Duration; total = their sum / Duration.
//   - Peak concurrency: the largest number of requests in flight (between
//     Sent and Done) at any instant, exact (bench_serving buckets by second).
//   - Mean concurrency: Σ server latency / Duration (bench_serving's
//     "concurrency").
//   - Max queue depth: the largest number of requests arrived but not yet
//     sent, on the client side, at any instant.
type Summary struct {
	// Requests counts the measured requests that arrived (were sent or
	// queued): Requests = Succeeded + Failed + Cancelled.
	Requests  int `json:"requests"`
	Succeeded int `json:"succeeded"`
	// Failed counts requests that ended in an error: a transport error, a
	// non-200 status, an error or abort in the stream, a timeout.
	Failed int `json:"failed"`
	// Cancelled counts requests the run itself gave up on when it stopped
	// early (interrupted, past its deadline, or after a server's unplanned
	// exit): in flight or queued at that moment.
	Cancelled int `json:"cancelled"`

	DurationS         float64 `json:"duration_s"`
	TotalInputTokens  int     `json:"total_input_tokens"`
	TotalOutputTokens int     `json:"total_output_tokens"`
	TotalCachedTokens int     `json:"total_cached_tokens"`

	RequestThroughput float64 `json:"request_throughput"`
	InputThroughput   float64 `json:"input_throughput"`
	OutputThroughput  float64 `json:"output_throughput"`
	TotalThroughput   float64 `json:"total_throughput"`

	ServerLatencyMS Distribution `json:"server_latency_ms"`
	TotalLatencyMS  Distribution `json:"total_latency_ms"`
	QueueTimeMS     Distribution `json:"queue_time_ms"`
	E2ELatencyMS    Distribution `json:"e2e_latency_ms"`
	TTFTMS          Distribution `json:"ttft_ms"`
	ITLMS           Distribution `json:"itl_ms"`
	ITLPerChunkMS   Distribution `json:"itl_per_chunk_ms"`
	TPOTMS          Distribution `json:"tpot_ms"`

	ScheduleLagMS Distribution `json:"schedule_lag_ms"`
	SendLagMS     Distribution `json:"send_lag_ms"`

	PeakConcurrency int     `json:"peak_concurrency"`
	MeanConcurrency float64 `json:"mean_concurrency"`
	MaxQueueDepth   int     `json:"max_queue_depth"`

	// Errors counts failed requests by their error text.
	Errors map[string]int `json:"errors,omitempty"`
	// CancelReasons counts cancelled requests by why the run stopped.
	CancelReasons map[string]int `json:"cancel_reasons,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Summarize computes a Summary from records. Warmup records are ignored.
func Summarize(records []Record) Summary {
	st := NewStore()
	for i := range records {
		st.Add(records[i])
	}
	return st.Summary()
}

// span is one request's interval [start, end) on the run's time axis.
type span struct{ start, end time.Duration }

// peakOverlap returns the largest number of spans that contain one
// instant. A span ending exactly when another starts does not overlap it,
// and zero-length spans never count.
func peakOverlap(spans []span) int {
	type edge struct {
		at    time.Duration
		delta int
	}
	edges := make([]edge, 0, 2*len(spans))
	for _, sp := range spans {
		if sp.end > sp.start {
			edges = append(edges, edge{sp.start, +1}, edge{sp.end, -1})
		}
	}
	slices.SortFunc(edges, func(x, y edge) int {
		if c := cmp.Compare(x.at, y.at); c != 0 {
			return c
		}
		return cmp.Compare(x.delta, y.delta) // ends before starts at the same instant
	})
	cur, peak := 0, 0
	for _, e := range edges {
		cur += e.delta
		peak = max(peak, cur)
	}
	return peak
}
