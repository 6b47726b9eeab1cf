package metrics

import (
	"cmp"
	"slices"
	"time"
)

// Summary is the figures of one run, computed by Summarize from its Records.
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
//     more than one output token (bench_serving's definition).
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
	Requests  int `json:"requests"`
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`

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
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Summarize computes a Summary from records. Warmup records are ignored.
func Summarize(records []Record) Summary {
	var s Summary
	var server, total, queue, ttft, itl, itlChunk, tpot, lag, sendLag []float64
	var last time.Duration
	var sumLatency time.Duration
	var ok []*Record
	for i := range records {
		r := &records[i]
		if r.Warmup {
			continue
		}
		s.Requests++
		lag = append(lag, ms(r.Arrival-r.Scheduled))
		sendLag = append(sendLag, ms(r.Sent-r.Scheduled))
		if r.Done > last {
			last = r.Done
		}
		if !r.OK() {
			s.Failed++
			if s.Errors == nil {
				s.Errors = map[string]int{}
			}
			s.Errors[r.Error]++
			continue
		}
		s.Succeeded++
		ok = append(ok, r)
		s.TotalInputTokens += r.InputTokens
		s.TotalOutputTokens += r.OutputTokens
		s.TotalCachedTokens += r.CachedTokens
		lat := r.Done - r.Sent
		sumLatency += lat
		server = append(server, ms(lat))
		total = append(total, ms(r.Done-r.Arrival))
		queue = append(queue, ms(r.Sent-r.Arrival))
		if r.FirstToken > 0 {
			first := r.FirstToken - r.Sent
			ttft = append(ttft, ms(first))
			if r.OutputTokens > 1 {
				tpot = append(tpot, ms(lat-first)/float64(r.OutputTokens-1))
			}
		}
		itl = appendITL(itl, r.Chunks)
		itlChunk = appendChunkITL(itlChunk, r.Chunks)
	}
	s.DurationS = last.Seconds()
	if last > 0 {
		d := last.Seconds()
		s.RequestThroughput = float64(s.Succeeded) / d
		s.InputThroughput = float64(s.TotalInputTokens) / d
		s.OutputThroughput = float64(s.TotalOutputTokens) / d
		s.TotalThroughput = float64(s.TotalInputTokens+s.TotalOutputTokens) / d
		s.MeanConcurrency = sumLatency.Seconds() / d
	}
	s.ServerLatencyMS = Distribute(server)
	s.E2ELatencyMS = s.ServerLatencyMS
	s.TotalLatencyMS = Distribute(total)
	s.QueueTimeMS = Distribute(queue)
	s.TTFTMS = Distribute(ttft)
	s.ITLMS = Distribute(itl)
	s.TPOTMS = Distribute(tpot)
	s.ITLPerChunkMS = Distribute(itlChunk)
	s.ScheduleLagMS = Distribute(lag)
	s.SendLagMS = Distribute(sendLag)
	s.PeakConcurrency = peakOverlap(ok, func(r *Record) (time.Duration, time.Duration) { return r.Sent, r.Done })
	s.MaxQueueDepth = peakOverlap(ok, func(r *Record) (time.Duration, time.Duration) { return r.Arrival, r.Sent })
	return s
}

// appendITL appends the per-token inter-token latencies of one request's
// chunks, in milliseconds (see Summary).
func appendITL(dst []float64, chunks []Chunk) []float64 {
	for i := 1; i < len(chunks); i++ {
		n := chunks[i].Tokens
		if n <= 0 {
			continue
		}
		per := ms(chunks[i].At-chunks[i-1].At) / float64(n)
		for range n {
			dst = append(dst, per)
		}
	}
	return dst
}

// appendChunkITL appends one gap per chunk after the first, in
// milliseconds, whatever the number of tokens each carried (see Summary).
func appendChunkITL(dst []float64, chunks []Chunk) []float64 {
	for i := 1; i < len(chunks); i++ {
		dst = append(dst, ms(chunks[i].At-chunks[i-1].At))
	}
	return dst
}

// peakOverlap returns the largest number of intervals [start, end) that
// contain one instant. An interval ending exactly when another starts does
// not overlap it, and zero-length intervals never count.
func peakOverlap(recs []*Record, span func(*Record) (time.Duration, time.Duration)) int {
	type edge struct {
		at    time.Duration
		delta int
	}
	edges := make([]edge, 0, 2*len(recs))
	for _, r := range recs {
		a, b := span(r)
		if b > a {
			edges = append(edges, edge{a, +1}, edge{b, -1})
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
