package runner

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/sgltest/sgltest/internal/launcher"
	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/report"
)

func TestRealServersTakeTheNextGPUsTheirRanksNeed(t *testing.T) {
	s := &Suite{Settings: Settings{Reports: t.TempDir(), Backend: launcher.BackendSGLang, Python: "python3",
		Model: "m", GPUs: []int{7, 6, 5, 4, 3, 2, 1, 0}}, ctx: context.Background()}
	tt := s.NewTest("gpus")
	for _, srv := range []Server{{DPSize: 2, TPSize: 2, LoadBalanceMethod: "total_tokens"}, {}, {DPSize: 3}} {
		if err := tt.AddServers(1, srv); err != nil {
			t.Fatal(err)
		}
	}
	p, err := tt.resolve(Arrival{Kind: ArrivePoisson, Rate: 1}, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ps := range p.Servers {
		got = append(got, fmt.Sprint(ps.Launch.RankGPUs()))
	}
	// Two ranks of TP 2 on 7,6 and 5,4; one GPU; three ranks of one.
	if want := "[[7 6] [5 4]] [[3]] [[2] [1] [0]]"; strings.Join(got, " ") != want {
		t.Errorf("ranks' GPUs %s, want %s", strings.Join(got, " "), want)
	}
	argv, _, err := p.Servers[0].Launch.Command()
	if err != nil || !strings.Contains(strings.Join(argv, " "), "--tp-size 2 --dp-size 2 --load-balance-method total_tokens") {
		t.Errorf("server-1 argv %v, %v", argv, err)
	}

	// A server the list runs out partway through is an error naming it.
	tt = s.NewTest("too few")
	if err := tt.AddServers(3, Server{DPSize: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := tt.resolve(Arrival{Kind: ArrivePoisson, Rate: 1}, ""); err == nil || !strings.Contains(err.Error(), "server-3: SGLTEST_GPUS: a server needs 3 GPUs from position 7") {
		t.Errorf("resolve = %v, want server-3 refused for want of GPUs", err)
	}
}

func TestEveryRankServedJudgesEachRankOfEachServer(t *testing.T) {
	ranks := func(n ...float64) []metrics.RankShare {
		out := make([]metrics.RankShare, len(n))
		for i, v := range n {
			out[i] = metrics.RankShare{Rank: i, Requests: v}
		}
		return out
	}
	tests := []struct {
		name    string
		workers []metrics.WorkerShare
		want    string // "" passes
	}{
		{"every rank at the bound", []metrics.WorkerShare{{Worker: "server-1", Ranks: ranks(50, 60, 50)}}, ""},
		{"one rank short", []metrics.WorkerShare{{Worker: "server-1", Ranks: ranks(50, 49)}},
			"expected every data parallel rank to serve at least 50 requests, but server-1 rank 1 served 49"},
		{"a server without ranks", []metrics.WorkerShare{{Worker: "server-1", Ranks: ranks(80, 80)}, {Worker: "server-2", Requests: 90}},
			"server-2 reported no data parallel ranks"},
	}
	for _, tt := range tests {
		r := resultOf(nil)
		r.Routing = &report.Routing{Workers: tt.workers}
		err := testWith(r).CheckEveryRankServed(Step{}, 50)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
}
