package simulator

import "time"

// A decode server in PD disaggregation receives each request's prompt KV
// from a prefill server instead of computing it. SGLang's decode scheduler
// moves such a request, once its transfer has completed, from the waiting
// queue into a "prebuilt" batch that runs no forward pass: it only streams
// the first token the prefill server sampled, and the request then joins
// the running decode batch (disaggregation/decode.py, get_new_prebuilt_batch
// and process_batch_result_prebuilt). Like a prefill batch, a prebuilt
// batch runs on its own in its scheduler iteration.
//
// Not modelled: SGLang reserves the decode-side KV before the transfer (its
// prealloc queue) and here the slots are taken when the request is
// admitted after it; and a prebuilt request that is retracted is
// recomputed on the decode server, where SGLang re-fetches its KV.

// prebuiltReady reports whether r is admitted by a prebuilt batch: it
// carries transferred KV and has not lost it to a retraction.
func (r *reqState) prebuiltReady() bool { return r.Prebuilt && r.retractions == 0 }

// prebuilt admits the ready prebuilt requests at the head of the waiting
// queue, as many as the running-request cap and the free KV slots allow,
// and returns their step; ok is false when it admits none.
func (e *Engine) prebuilt(now time.Duration) (st Step, ok bool) {
	var take []*reqState
	slots := e.lim.MaxRunningRequests - len(e.running)
	if e.chunked != nil {
		slots--
	}
	need := 0
	for _, r := range e.waiting {
		if r.Arrival > now || !r.prebuiltReady() {
			break
		}
		if len(take) >= slots {
			e.full = true
			break
		}
		fill := r.InputTokens
		if !e.ensureFree(need + fill) {
			break // waits for KV slots, as SGLang's prealloc queue does
		}
		need += fill
		take = append(take, r)
	}
	if len(take) == 0 {
		return Step{}, false
	}
	e.sampleGauges(e.metrics.GenThroughput)
	end := now + e.model.hostTime(len(take))
	e.busyUntil = end
	st = Step{Kind: StepPrefill, Start: now, End: end, Shape: BatchShape{Requests: len(take)}}
	if e.deferOut {
		st.Outputs = e.outBuf
		st.Chunks = e.chunkBuf[:0]
		defer func() { e.outBuf, e.chunkBuf = st.Outputs, st.Chunks }()
	}
	e.waiting = e.waiting[len(take):]
	for _, r := range take {
		r.fill = r.InputTokens
		r.prefilled = r.fill
		r.kv = r.fill
		e.private += r.fill
		r.waiting, r.admitted, r.cached = false, true, r.PrebuiltCached
		// An empty chunk: the prompt is in place, none of it computed.
		st.Chunks = append(st.Chunks, Chunk{ID: r.ID, Offset: r.fill})
		if r.generated < r.end {
			r.generated = 1 // the token the prefill server sampled
		}
		if out, emit := e.progress(r, end); emit {
			st.Outputs = append(st.Outputs, out)
		}
		if r.generated < r.end {
			e.running = append(e.running, r)
		} else {
			e.full = false
		}
	}
	return st, true
}

// hostTime is a step that runs no forward pass: the scheduler's host work
// for a batch of requests, t_step + t_req per request.
func (m *StepModel) hostTime(requests int) time.Duration {
	return seconds(m.p.StepOverhead.Value + m.p.RequestOverhead.Value*float64(requests))
}
