package report

import (
	"strings"
	"testing"

	"github.com/sgltest/sgltest/internal/metrics"
)

func TestKVTransferSumsThePrefillServersAndNamesItsSource(t *testing.T) {
	r := &Routing{Workers: []metrics.WorkerShare{
		{Worker: "server-1", Role: "prefill", KVTransfers: 3, KVTransferMS: 30},
		{Worker: "server-2", Role: "prefill", KVTransfers: 1, KVTransferMS: 50},
		{Worker: "server-3", Role: "decode"},
	}}
	k := kvTransferOf(r)
	if k == nil || k.Transfers != 4 || k.MeanMS != 20 || !strings.Contains(k.Source, "server-1, server-2") {
		t.Fatalf("got %+v, want 4 transfers of mean 20 ms from server-1 and server-2", k)
	}
	if k := kvTransferOf(&Routing{Workers: []metrics.WorkerShare{{Worker: "server-1"}}}); k != nil {
		t.Errorf("a run without prefill servers: %+v, want none", k)
	}
	if got := kvTransferText(r.Workers[0]); got != ", 3 KV transfers of mean 10.00 ms" {
		t.Errorf("text %q", got)
	}
	text := (&Routing{Workers: r.Workers}).Text()
	if !strings.Contains(text, "server-3 [decode]") || !strings.Contains(text, "server-1 [prefill]") {
		t.Errorf("routing text does not name the roles:\n%s", text)
	}
}
