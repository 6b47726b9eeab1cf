package figures

import (
	"math"
	"strings"
	"testing"

	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/report"
)

func TestMeanKVTransferTimeWeighsEachPrefillServerByItsTransfers(t *testing.T) {
	run := &report.Result{File: report.SummaryFile{Header: report.Header{Servers: []report.ServerRef{{Name: "server-1"}, {Name: "server-2"}, {Name: "server-3"}}}},
		Routing: &report.Routing{Workers: []metrics.WorkerShare{
			{Worker: "server-1", Role: "prefill", KVTransfers: 10, KVTransferMS: 100},
			{Worker: "server-2", Role: "prefill", KVTransfers: 30, KVTransferMS: 600},
			{Worker: "server-3", Role: "decode"},
		}}}
	d, err := Lookup("mean KV transfer time")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		server int
		want   float64
		err    string
	}{
		{0, 700.0 / 40, ""},
		{2, 20, ""},
		{3, 0, "server 3: it reported no KV transfer"},
	} {
		got, err := d.Value(Query{Run: run, Server: tc.server})
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("server %d: err %v, want %q", tc.server, err, tc.err)
			}
		case err != nil || math.Abs(got-tc.want) > 1e-9:
			t.Errorf("server %d: %v (%v), want %v", tc.server, got, err, tc.want)
		}
	}
	none := &report.Result{Routing: &report.Routing{Workers: []metrics.WorkerShare{{Worker: "server-1"}}}}
	if _, err := d.Value(Query{Run: none}); err == nil || !strings.Contains(err.Error(), "only PD prefill servers") {
		t.Errorf("a run without PD: err %v", err)
	}
}
