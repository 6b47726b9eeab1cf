package metrics

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// referenceSummary computes a Summary straight from the records, one
// definition at a time, as the Summary doc comment states them: the oracle
// the compact Store must agree with bit for bit.
func referenceSummary(records []Record, keep func(*Record) bool, window time.Duration) Summary {
	var s Summary
	var server, total, queue, ttft, itl, itlChunk, tpot, lag, sendLag []float64
	var last, sumLatency time.Duration
	var inFlight, queued []span
	count := func(m *map[string]int, k string) {
		if *m == nil {
			*m = map[string]int{}
		}
		(*m)[k]++
	}
	for i := range records {
		r := &records[i]
		if r.Warmup || (keep != nil && !keep(r)) {
			continue
		}
		s.Requests++
		lag = append(lag, ms(r.Arrival-r.Scheduled))
		sendLag = append(sendLag, ms(r.Sent-r.Scheduled))
		last = max(last, r.Done)
		if !r.OK() {
			if r.Cancelled {
				s.Cancelled++
				count(&s.CancelReasons, r.Error)
			} else {
				s.Failed++
				count(&s.Errors, r.Error)
			}
			continue
		}
		s.Succeeded++
		s.TotalInputTokens += r.InputTokens
		s.TotalOutputTokens += r.OutputTokens
		s.TotalCachedTokens += r.CachedTokens
		lat := r.Done - r.Sent
		sumLatency += lat
		server = append(server, ms(lat))
		total = append(total, ms(r.Done-r.Arrival))
		queue = append(queue, ms(r.Sent-r.Arrival))
		carrying := 0
		for _, c := range r.Chunks {
			if c.Tokens > 0 {
				carrying++
			}
		}
		if r.FirstToken > 0 {
			first := r.FirstToken - r.Sent
			ttft = append(ttft, ms(first))
			if r.OutputTokens > 1 && carrying > 1 {
				tpot = append(tpot, ms(lat-first)/float64(r.OutputTokens-1))
			}
		}
		for i := 1; i < len(r.Chunks); i++ {
			gap := ms(r.Chunks[i].At - r.Chunks[i-1].At)
			itlChunk = append(itlChunk, gap)
			for range max(r.Chunks[i].Tokens, 0) {
				itl = append(itl, gap/float64(r.Chunks[i].Tokens))
			}
		}
		inFlight = append(inFlight, span{r.Sent, r.Done})
		queued = append(queued, span{r.Arrival, r.Sent})
	}
	s.DurationS = last.Seconds()
	if window > 0 {
		s.DurationS = window.Seconds()
	}
	if d := s.DurationS; d > 0 {
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
	s.PeakConcurrency = peakOverlap(inFlight)
	s.MaxQueueDepth = peakOverlap(queued)
	return s
}

// randomRecords makes n records of every shape the Store must keep exactly:
// streamed with one or several tokens per chunk, not streamed, failed,
// cancelled, warmup, durations longer than 4.29 s, a first token that is
// not a chunk's, several targets.
func mixedRecords(seed uint64, n int) []Record {
	rng := rand.New(rand.NewPCG(seed, 7))
	out := make([]Record, 0, n)
	for i := range n {
		sched := time.Duration(rng.Int64N(int64(20 * time.Second)))
		r := Record{Index: i, Target: fmt.Sprintf("http://w%d", rng.IntN(3)), InputTokens: 1 + rng.IntN(900),
			RequestedOutputTokens: 64, Scheduled: sched, Status: 200}
		r.Arrival = sched + time.Duration(rng.Int64N(int64(3*time.Millisecond)))
		r.Sent = r.Arrival + time.Duration(rng.Int64N(int64(50*time.Millisecond)))
		if rng.IntN(20) == 0 { // a long wait in the client queue
			r.Sent += 6 * time.Second
		}
		at := r.Sent + time.Duration(1+rng.Int64N(int64(300*time.Millisecond)))
		switch kind := rng.IntN(10); {
		case kind == 0: // not streamed: one chunk with every token at Done
			r.OutputTokens = 1 + rng.IntN(64)
			r.FirstToken, r.Done = at, at
			r.Chunks = []Chunk{{At: at, Tokens: r.OutputTokens}}
		case kind == 1: // first token but no chunk list (a hand-made record)
			r.OutputTokens = 3
			r.FirstToken, r.Done = at, at+time.Millisecond
		default:
			chunks := 1 + rng.IntN(40)
			for c := range chunks {
				tokens := 1
				if rng.IntN(8) == 0 {
					tokens = rng.IntN(5) // stream_interval > 1, or a chunk with no new token
				}
				if c == 0 {
					r.FirstToken = at
				} else if rng.IntN(50) == 0 {
					at += 5 * time.Second // a stall longer than 4.29 s
				}
				r.Chunks = append(r.Chunks, Chunk{At: at, Tokens: tokens})
				r.OutputTokens += tokens
				at += time.Duration(1 + rng.Int64N(int64(40*time.Millisecond)))
			}
			r.Done = at
		}
		r.CachedTokens = rng.IntN(r.InputTokens)
		switch rng.IntN(12) {
		case 0:
			r.Status, r.Error, r.Chunks, r.FirstToken = 503, "HTTP 503: queue full", nil, 0
		case 1:
			r.Status, r.Error = 200, "stream ended before [DONE]"
		case 2:
			r.Status, r.Error, r.Cancelled = 0, "cancelled: interrupted by signal", true
		case 3:
			r.Warmup = true
		}
		out = append(out, r)
	}
	return out
}

func TestStoreSummaryEqualsTheDefinitionsBitForBit(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 42} {
		recs := mixedRecords(seed, 3000)
		st := NewStore()
		for _, r := range recs {
			st.Add(r)
		}
		if diff := cmp.Diff(referenceSummary(recs, nil, 0), st.Summary()); diff != "" {
			t.Errorf("seed %d: Store.Summary differs from the definitions (-want +got):\n%s", seed, diff)
		}
		from, to := 5*time.Second, 12*time.Second
		got, err := st.Window(from, to)
		if err != nil {
			t.Fatal(err)
		}
		in := func(r *Record) bool { return r.Arrival >= from && r.Arrival < to }
		if diff := cmp.Diff(referenceSummary(recs, in, to-from), got); diff != "" {
			t.Errorf("seed %d: Store.Window differs from the definitions (-want +got):\n%s", seed, diff)
		}
	}
}

func TestStoreGivesTheSameSummaryWhateverTheOrderOfAdds(t *testing.T) {
	recs := mixedRecords(9, 2000)
	inOrder, concurrent := NewStore(), NewStore()
	for _, r := range recs {
		inOrder.Add(r)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := len(recs) - 1 - w; i >= 0; i -= 4 {
				concurrent.Add(recs[i])
			}
		})
	}
	wg.Wait()
	if diff := cmp.Diff(inOrder.Summary(), concurrent.Summary()); diff != "" {
		t.Errorf("order changed the summary (-in order +concurrent):\n%s", diff)
	}
}

func TestNonStreamedRequestsGiveNoTPOTAndNoITL(t *testing.T) {
	st := NewStore()
	for i := range 10 {
		at := time.Duration(100+i) * time.Millisecond
		st.Add(Record{Index: i, Status: 200, OutputTokens: 64, Sent: 0, FirstToken: at, Done: at,
			Chunks: []Chunk{{At: at, Tokens: 64}}})
	}
	s := st.Summary()
	if s.TPOTMS.Count != 0 || s.ITLMS.Count != 0 || s.ITLPerChunkMS.Count != 0 {
		t.Errorf("non-streamed run has TPOT %d, ITL %d, ITL per chunk %d samples; want none", s.TPOTMS.Count, s.ITLMS.Count, s.ITLPerChunkMS.Count)
	}
	if s.TTFTMS.Count != 10 {
		t.Errorf("TTFT has %d samples, want 10 (the whole latency, bench_serving's convention)", s.TTFTMS.Count)
	}
}

func TestStoreCountsEveryRequestOnceAsSucceededFailedOrCancelled(t *testing.T) {
	recs := mixedRecords(5, 1000)
	s := Summarize(recs)
	measured := 0
	for _, r := range recs {
		if !r.Warmup {
			measured++
		}
	}
	if s.Requests != measured || s.Succeeded+s.Failed+s.Cancelled != s.Requests {
		t.Errorf("requests %d (measured %d) != succeeded %d + failed %d + cancelled %d", s.Requests, measured, s.Succeeded, s.Failed, s.Cancelled)
	}
}

// BenchmarkStoreRetainedBytesPerRequest adds b.N requests of 64 streamed
// output tokens (the node feature's shape: one token per chunk) and reports
// the heap they retain per request, measured after a GC.
func BenchmarkStoreRetainedBytesPerRequest(b *testing.B) {
	for _, tokens := range []int{16, 64, 256} {
		b.Run(fmt.Sprintf("%d-tokens", tokens), func(b *testing.B) {
			rec := Record{Status: 200, InputTokens: 256, OutputTokens: tokens, Target: "http://w0"}
			rec.Chunks = make([]Chunk, tokens)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			st := NewStore()
			for i := range b.N {
				base := time.Duration(i) * 10 * time.Millisecond
				rec.Index, rec.Scheduled, rec.Arrival, rec.Sent = i, base, base+20*time.Microsecond, base+30*time.Microsecond
				at := rec.Sent + 40*time.Millisecond + time.Duration(i%977)*time.Microsecond
				rec.FirstToken = at
				for c := range rec.Chunks {
					rec.Chunks[c] = Chunk{At: at, Tokens: 1}
					at += 7*time.Millisecond + time.Duration((i+c)%313)*time.Microsecond
				}
				rec.Done = at
				st.Add(rec)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(b.N), "B/request")
			runtime.KeepAlive(st)
		})
	}
}
