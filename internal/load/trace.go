package load

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"time"
)

// TraceBlockTokens is the number of prompt tokens one Mooncake hash id
// stands for (the Mooncake traces' KV block size).
const TraceBlockTokens = 512

// traceLine is one line of a Mooncake-style trace.
type traceLine struct {
	Timestamp    *float64 `json:"timestamp"` // milliseconds from the trace's start
	InputLength  *int     `json:"input_length"`
	OutputLength *int     `json:"output_length"`
	HashIDs      []int64  `json:"hash_ids"`
}

// Trace is a replayable workload: each request and its arrival offset.
type Trace struct {
	Requests []Request
	Arrivals []time.Duration
}

// LoadTrace reads a Mooncake-style JSONL trace (one object per line with
// timestamp in ms, input_length, output_length and hash_ids) and returns
// requests and arrival offsets. Offsets are timestamp − first timestamp,
// multiplied by scale (2 replays twice as slowly, 0.5 twice as fast).
//
// Prompts are exact-length input_ids built from hash_ids: block k of the
// prompt is TraceBlockTokens ids derived only from hash_ids[k], so two
// requests sharing a hash-id prefix share that token prefix and the server
// sees the trace's prefix-cache reuse. The prompt is cut or, past the last
// block, filled with ids derived from the line number to input_length.
func LoadTrace(path string, scale float64, vocab int) (Trace, error) {
	if math.IsNaN(scale) || scale <= 0 || math.IsInf(scale, 0) {
		return Trace{}, fmt.Errorf("trace %s: time scale must be positive and finite, got %v", path, scale)
	}
	if vocab <= 1 {
		return Trace{}, fmt.Errorf("trace %s: vocab size must be above 1, got %d", path, vocab)
	}
	f, err := os.Open(path)
	if err != nil {
		return Trace{}, err
	}
	defer func() { _ = f.Close() }() // read only
	var tr Trace
	var first float64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var tl traceLine
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&tl); err != nil {
			return Trace{}, fmt.Errorf("%s:%d: %v", path, line, err)
		}
		switch {
		case tl.Timestamp == nil || math.IsNaN(*tl.Timestamp) || *tl.Timestamp < 0:
			return Trace{}, fmt.Errorf("%s:%d: timestamp (ms, non-negative) is missing or invalid", path, line)
		case tl.InputLength == nil || *tl.InputLength <= 0:
			return Trace{}, fmt.Errorf("%s:%d: input_length must be a positive integer", path, line)
		case tl.OutputLength == nil || *tl.OutputLength <= 0:
			return Trace{}, fmt.Errorf("%s:%d: output_length must be a positive integer", path, line)
		}
		ts := *tl.Timestamp
		if len(tr.Arrivals) == 0 {
			first = ts
		}
		off := seconds((ts - first) / 1000 * scale)
		if n := len(tr.Arrivals); n > 0 && off < tr.Arrivals[n-1] {
			return Trace{}, fmt.Errorf("%s:%d: timestamp %v ms goes back in time", path, line, ts)
		}
		tr.Arrivals = append(tr.Arrivals, off)
		tr.Requests = append(tr.Requests, Request{
			Index:        len(tr.Requests),
			InputIDs:     traceIDs(tl.HashIDs, *tl.InputLength, uint64(line), vocab),
			OutputTokens: *tl.OutputLength,
		})
	}
	if err := sc.Err(); err != nil {
		return Trace{}, fmt.Errorf("%s: %w", path, err)
	}
	if len(tr.Requests) == 0 {
		return Trace{}, fmt.Errorf("%s: no requests in trace", path)
	}
	return tr, nil
}

func traceIDs(hashes []int64, n int, line uint64, vocab int) []int {
	ids := make([]int, n)
	for i := range ids {
		k := i / TraceBlockTokens
		var h uint64
		if k < len(hashes) {
			h = uint64(hashes[k])*0x9e3779b97f4a7c15 + uint64(i%TraceBlockTokens)
		} else {
			h = (line<<32 | 0xffff_0000) ^ uint64(i)*0xbf58476d1ce4e5b9
		}
		h ^= h >> 31
		h *= 0x94d049bb133111eb
		h ^= h >> 29
		ids[i] = int(h % uint64(vocab))
	}
	return ids
}
