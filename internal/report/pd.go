package report

import (
	"fmt"
	"strings"

	"github.com/sgltest/sgltest/internal/api"
	"github.com/sgltest/sgltest/internal/metrics"
)

// KVTransfer is what the PD prefill servers reported about their KV
// transfers over the run. SGLang reports no per-request split of TTFT into
// prefill, transfer and first decode (meta_info carries no transfer time,
// and the router returns only the decode server's answer), so these are
// the prefill servers' own histograms, not per-request figures.
type KVTransfer struct {
	// Transfers is Σ sglang:kv_transfer_latency_ms _count over the run.
	Transfers float64 `json:"transfers"`
	// MeanMS is Σ _sum / Σ _count: from the end of a request's prefill
	// to its transfer's success, queueing on the link included.
	MeanMS float64 `json:"mean_ms"`
	// Source names where the figures come from.
	Source string `json:"source"`
}

// kvTransferOf sums the prefill servers' transfers; nil when the run had
// no prefill server or none reported a transfer.
func kvTransferOf(r *Routing) *KVTransfer {
	if r == nil {
		return nil
	}
	var n, sum float64
	var from []string
	for _, w := range r.Workers {
		if w.Role == "prefill" {
			from = append(from, w.Worker)
		}
		n += w.KVTransfers
		sum += w.KVTransferMS
	}
	if len(from) == 0 || n == 0 {
		return nil
	}
	return &KVTransfer{Transfers: n, MeanMS: sum / n,
		Source: api.MetricKVTransferLatency + " of " + strings.Join(from, ", ") + " (server-reported; no per-request split exists)"}
}

// kvTransferText is the printed summary's line for a worker's transfers.
func kvTransferText(w metrics.WorkerShare) string {
	if w.KVTransfers == 0 {
		return ""
	}
	return fmt.Sprintf(", %.0f KV transfers of mean %.2f ms", w.KVTransfers, w.KVTransferMS/w.KVTransfers)
}
