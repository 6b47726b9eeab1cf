package figures

import (
	"errors"
	"fmt"
)

// meanKVTransfer is Σ latency / Σ transfers of the PD prefill servers'
// kv_transfer_latency_ms histograms over the run (or server N's): the one
// view of the transfer SGLang gives, since no response carries a
// request's transfer time.
func meanKVTransfer(q Query) (float64, error) {
	r := q.Run.Routing
	if r == nil {
		return 0, errors.New("no KV transfer time: the servers' counters were not read")
	}
	workers := r.Workers
	if q.Server > 0 {
		workers = workers[q.Server-1 : q.Server]
	}
	var n, sum float64
	for _, w := range workers {
		n += w.KVTransfers
		sum += w.KVTransferMS
	}
	if n == 0 {
		if q.Server > 0 {
			return 0, fmt.Errorf("no KV transfer time for server %d: it reported no KV transfer (only a PD prefill server does)", q.Server)
		}
		return 0, errors.New("no KV transfer time: no server reported a KV transfer (only PD prefill servers do)")
	}
	return sum / n, nil
}
