package workerstate

import (
	"strings"
	"testing"
)

func TestParseReadsAPrefillServersKVTransferHistogram(t *testing.T) {
	text := exposition(4, 400, 0, 1, false) + `# HELP sglang:kv_transfer_latency_ms Histogram of KV cache transfer latency in ms.
# TYPE sglang:kv_transfer_latency_ms histogram
sglang:kv_transfer_latency_ms_bucket{engine_type="prefill",le="5.0"} 1.0
sglang:kv_transfer_latency_ms_bucket{engine_type="prefill",le="+Inf"} 4.0
sglang:kv_transfer_latency_ms_count{engine_type="prefill"} 4.0
sglang:kv_transfer_latency_ms_sum{engine_type="prefill"} 50.0
`
	s, err := Parse(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if s.KVTransfers != 4 || s.KVTransferMS != 50 {
		t.Fatalf("transfers %v of %v ms, want 4 of 50 ms", s.KVTransfers, s.KVTransferMS)
	}
	prev := s.Counters
	prev.KVTransfers, prev.KVTransferMS = 1, 10
	if d := s.Counters.Sub(prev); d.KVTransfers != 3 || d.KVTransferMS != 40 {
		t.Errorf("Sub: %v transfers of %v ms, want 3 of 40", d.KVTransfers, d.KVTransferMS)
	}
	if a := s.Counters.Add(prev); a.KVTransfers != 5 || a.KVTransferMS != 60 {
		t.Errorf("Add: %v transfers of %v ms, want 5 of 60", a.KVTransfers, a.KVTransferMS)
	}
	plain, err := Parse(strings.NewReader(exposition(4, 400, 0, 1, false)))
	if err != nil || plain.KVTransfers != 0 {
		t.Errorf("a server without the histogram: %v transfers (%v), want 0", plain.KVTransfers, err)
	}
}
