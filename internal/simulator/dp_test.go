package simulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sgltest/sgltest/internal/api"
)

func TestResolveLoadBalanceMethodFollowsSGLangsServerArgs(t *testing.T) {
	tests := []struct {
		method, mode, want string
	}{
		{"", "", LoadBalanceRoundRobin},
		{"auto", "", LoadBalanceRoundRobin},
		{"auto", "decode", LoadBalanceRoundRobin},
		{"auto", "prefill", LoadBalanceFollowBootstrapRoom},
		{"round_robin", "prefill", LoadBalanceFollowBootstrapRoom},
		{"round_robin", "", LoadBalanceRoundRobin},
		{"total_requests", "", LoadBalanceTotalRequests},
		{"total_tokens", "decode", LoadBalanceTotalTokens},
		{"follow_bootstrap_room", "", LoadBalanceFollowBootstrapRoom},
	}
	for _, tt := range tests {
		got, err := ResolveLoadBalanceMethod(tt.method, tt.mode)
		if err != nil || got != tt.want {
			t.Errorf("ResolveLoadBalanceMethod(%q, %q) = %q, %v; want %q", tt.method, tt.mode, got, err, tt.want)
		}
	}
	for _, bad := range []string{"shortest_queue", "minimum_tokens", "ROUND_ROBIN", "random"} {
		_, err := ResolveLoadBalanceMethod(bad, "")
		if err == nil || !strings.Contains(err.Error(), "expected one of auto, round_robin, follow_bootstrap_room, total_requests, total_tokens") {
			t.Errorf("ResolveLoadBalanceMethod(%q) = %v, want an error listing the accepted methods", bad, err)
		}
	}
}

// fakeRanks are drivers with nothing but a published load snapshot, for
// the controller's own tests.
func fakeRanks(n int) []*driver {
	ranks := make([]*driver, n)
	for i := range ranks {
		ranks[i] = &driver{}
	}
	return ranks
}

func publish(d *driver, requests, tokens int) {
	d.mu.Lock()
	d.published = loadSnapshot{seq: d.published.seq + 1, requests: requests, tokens: tokens}
	d.mu.Unlock()
}

func picks(t *testing.T, c *dpController, now time.Duration, reqs ...Request) []int {
	t.Helper()
	var out []int
	for _, r := range reqs {
		rank, err := c.pick(r, now)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rank)
	}
	return out
}

func repeat(r Request, n int) []Request {
	out := make([]Request, n)
	for i := range out {
		out[i] = r
	}
	return out
}

func TestDPControllerPicksAsSGLangsMethodsDo(t *testing.T) {
	req := Request{InputTokens: 100}
	room := func(v uint64) Request { return Request{Bootstrap: &Bootstrap{Host: "h", Room: v}} }
	tests := []struct {
		name   string
		method string
		loads  [][2]int // published (requests, tokens) per rank; nil: none
		reqs   []Request
		want   []int
	}{
		{"round robin cycles", LoadBalanceRoundRobin, nil, repeat(req, 6), []int{0, 1, 2, 0, 1, 2}},
		{"round robin ignores load", LoadBalanceRoundRobin, [][2]int{{9, 900}, {0, 0}, {0, 0}}, repeat(req, 3), []int{0, 1, 2}},
		{"total requests spreads a burst by speculative counts", LoadBalanceTotalRequests, nil, repeat(req, 6), []int{0, 1, 2, 0, 1, 2}},
		{"total requests fills the least loaded first", LoadBalanceTotalRequests, [][2]int{{3, 0}, {1, 0}, {0, 0}},
			repeat(req, 6), []int{2, 1, 2, 1, 2, 0}},
		{"total requests counts requests, not tokens", LoadBalanceTotalRequests, [][2]int{{1, 10}, {2, 0}, {2, 0}},
			repeat(req, 2), []int{0, 0}},
		{"total tokens picks the fewest tokens", LoadBalanceTotalTokens, [][2]int{{1, 500}, {5, 50}, {0, 300}},
			repeat(req, 4), []int{1, 1, 1, 2}},
		{"total tokens breaks ties by requests", LoadBalanceTotalTokens, [][2]int{{4, 100}, {2, 100}, {3, 100}},
			repeat(Request{InputTokens: 0}, 3), []int{1, 1, 2}},
		{"bootstrap room mod dp size", LoadBalanceFollowBootstrapRoom, nil,
			[]Request{room(7), room(8), room(0), room(1 << 62), room(5)}, []int{1, 2, 0, 1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ranks := fakeRanks(3)
			for r, l := range tt.loads {
				publish(ranks[r], l[0], l[1])
			}
			c := newDPController(tt.method, ranks)
			if got := picks(t, c, time.Second, tt.reqs...); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("ranks %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDPControllerRefreshesAtMostEvery20msAndSkipsStaleSnapshots(t *testing.T) {
	ranks := fakeRanks(2)
	c := newDPController(LoadBalanceTotalRequests, ranks)
	at := func(ms int) time.Duration { return time.Duration(ms) * time.Millisecond }
	steps := []struct {
		what    string
		publish func()
		at      time.Duration
		want    string
	}{
		{"a burst spreads by speculative counts (budget 1, 1)", nil, at(0), "[0 1]"},
		{"within 20 ms rank 1's new snapshot is not read: the tie goes to rank 0 (2, 1)",
			func() { publish(ranks[1], 0, 0) }, at(19), "[0]"},
		{"at 20 ms rank 1's snapshot replaces its count; rank 0 has none and keeps 2 (2, 0 -> 2, 1)", nil, at(20), "[1]"},
		{"rank 1's unchanged snapshot is skipped, keeping its speculative 1, so the tie with rank 0's new 1 goes to rank 0",
			func() { publish(ranks[0], 1, 0) }, at(40), "[0]"},
	}
	for _, st := range steps {
		if st.publish != nil {
			st.publish()
		}
		want := strings.Count(st.want, " ") + 1
		if got := picks(t, c, st.at, repeat(Request{}, want)...); fmt.Sprint(got) != st.want {
			t.Fatalf("%s: ranks %v, want %s", st.what, got, st.want)
		}
	}
}

func TestDPControllerWithOneRankHasNoController(t *testing.T) {
	c := newDPController(LoadBalanceFollowBootstrapRoom, fakeRanks(1))
	if rank, err := c.pick(Request{}, 0); rank != 0 || err != nil {
		t.Errorf("pick = %d, %v; SGLang without DP has no controller to assert", rank, err)
	}
	c = newDPController(LoadBalanceFollowBootstrapRoom, fakeRanks(2))
	if _, err := c.pick(Request{}, 0); !errors.Is(err, errNoBootstrapRoom) {
		t.Errorf("pick without a room = %v, want errNoBootstrapRoom", err)
	}
}

// scrape parses a server's /metrics.
func scrapeURL(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// byRank returns a family's values keyed by their dp_rank label ("" when
// none), for samples matching the extra label filter.
func byRank(f *dto.MetricFamily, filter func(labels map[string]string) bool) map[string]float64 {
	out := map[string]float64{}
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if filter != nil && !filter(labels) {
			continue
		}
		v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
		if h := m.GetHistogram(); h != nil {
			v = float64(h.GetSampleCount())
		}
		out[labels["dp_rank"]] += v
	}
	return out
}

func TestDPServerHasOneEngineAndOneSetOfFiguresPerRank(t *testing.T) {
	_, ts := startServer(t, Config{DPSize: 4, EnableMetrics: true, SkipServerWarmup: true, TPSize: 1},
		mustProfile(t, fastProfile), NewWallClock())
	waitHealthy(t, ts)
	// The health check was dispatched to rank 0 (round robin); eight
	// requests then go to ranks 1, 2, 3, 0, 1, 2, 3, 0.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			time.Sleep(time.Duration(i) * 5 * time.Millisecond) // arrive in order
			resp, body := post(t, ts, `{"input_ids":[1,2,3,4],"sampling_params":{"max_new_tokens":3,"ignore_eos":true}}`)
			if resp.StatusCode != http.StatusOK {
				t.Errorf("request %d: %d %s", i, resp.StatusCode, body)
			}
		})
	}
	wg.Wait()

	fams := scrapeURL(t, ts.URL)
	wantRanks := map[string]bool{"0": true, "1": true, "2": true, "3": true}
	for _, name := range []string{api.MetricNumRunningReqs, api.MetricNumQueueReqs, api.MetricTokenUsage, api.MetricNumUsedTokens,
		api.MetricMaxTotalNumTokens, api.MetricGenThroughput, api.MetricCacheHitRate, api.MetricQueueTime, MetricGPUBusy,
		MetricGPUMemoryUsed, MetricGPUMemoryTotal, MetricGPUElapsed} {
		got := byRank(fams[name], nil)
		if len(got) != 4 {
			t.Errorf("%s has samples for dp_rank %v, want one per rank 0..3", name, slices.Sorted(maps.Keys(got)))
		}
		for r := range got {
			if !wantRanks[r] {
				t.Errorf("%s has a sample with dp_rank %q", name, r)
			}
		}
	}
	// Each rank admitted the requests round robin sent it (the health
	// check counts, as it runs on the scheduler).
	admitted := byRank(fams[api.MetricQueueTime], nil)
	if fmt.Sprint(admitted) != "map[0:3 1:2 2:2 3:2]" {
		t.Errorf("admissions per rank = %v, want map[0:3 1:2 2:2 3:2]", admitted)
	}
	decode := byRank(fams[api.MetricRealtimeTokens], func(l map[string]string) bool { return l["mode"] == "decode" })
	if len(decode) != 4 {
		t.Errorf("realtime_tokens_total{mode=decode} per rank = %v", decode)
	}
	// Front-end (tokenizer) figures are the server's, with no dp_rank.
	for _, name := range []string{api.MetricNumRequests, api.MetricPromptTokens, api.MetricE2E} {
		got := byRank(fams[name], nil)
		if _, ok := got[""]; !ok || len(got) != 1 {
			t.Errorf("%s samples by dp_rank = %v, want only unlabelled ones", name, got)
		}
	}
	if n := byRank(fams[api.MetricNumRequests], nil)[""]; n != 8 {
		t.Errorf("num_requests_total = %v, want 8 (health checks are not counted)", n)
	}

	var loads api.Loads
	if err := json.Unmarshal([]byte(mustGet(t, ts.URL+"/v1/loads")), &loads); err != nil {
		t.Fatal(err)
	}
	if len(loads.Loads) != 4 {
		t.Fatalf("/v1/loads has %d entries, want 4", len(loads.Loads))
	}
	for r, l := range loads.Loads {
		if l.DPRank != r || l.MaxTotalNumTokens == 0 || l.Memory == nil {
			t.Errorf("/v1/loads entry %d = %+v", r, l)
		}
	}
	if err := json.Unmarshal([]byte(mustGet(t, ts.URL+"/v1/loads?dp_rank=2")), &loads); err != nil || len(loads.Loads) != 1 || loads.Loads[0].DPRank != 2 {
		t.Errorf("/v1/loads?dp_rank=2 = %+v, %v; want rank 2's entry alone", loads.Loads, err)
	}
	var legacy []api.LegacyLoad
	if err := json.Unmarshal([]byte(mustGet(t, ts.URL+"/get_load")), &legacy); err != nil || len(legacy) != 4 || legacy[3].DPRank != 3 {
		t.Errorf("/get_load = %+v, %v; want 4 entries by rank", legacy, err)
	}
	var info struct {
		api.ServerInfo
		LoadBalanceMethod string `json:"load_balance_method"`
	}
	if err := json.Unmarshal([]byte(mustGet(t, ts.URL+"/server_info")), &info); err != nil {
		t.Fatal(err)
	}
	if info.DPSize != 4 || len(info.InternalStates) != 4 || info.LoadBalanceMethod != LoadBalanceRoundRobin {
		t.Errorf("/server_info dp_size %d, %d internal_states, load_balance_method %q; want 4, 4, round_robin",
			info.DPSize, len(info.InternalStates), info.LoadBalanceMethod)
	}
}

func TestDPServerWithoutDPHasNoDPRankLabel(t *testing.T) {
	_, ts := startServer(t, Config{EnableMetrics: true, SkipServerWarmup: true}, mustProfile(t, fastProfile), NewWallClock())
	waitHealthy(t, ts)
	for name, f := range scrapeURL(t, ts.URL) {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "dp_rank" {
					t.Errorf("%s carries dp_rank without DP; SGLang's schedulers have dp_rank None then", name)
				}
			}
		}
	}
}

func TestFollowBootstrapRoomRoutesByRoomAndDiesWithoutOne(t *testing.T) {
	srv, ts := startServer(t, Config{DPSize: 2, LoadBalanceMethod: LoadBalanceFollowBootstrapRoom, EnableMetrics: true, SkipServerWarmup: true},
		mustProfile(t, fastProfile), NewWallClock())
	for _, room := range []int{3, 5, 7} {
		resp, body := post(t, ts, fmt.Sprintf(`{"input_ids":[1,2],"bootstrap_room":%d,"sampling_params":{"max_new_tokens":2}}`, room))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("room %d: %d %s", room, resp.StatusCode, body)
		}
	}
	if got := byRank(scrapeURL(t, ts.URL)[api.MetricQueueTime], nil); fmt.Sprint(got) != "map[0:0 1:3]" {
		t.Errorf("admissions per rank = %v, want every odd room on rank 1", got)
	}
	select {
	case <-srv.Dead():
		t.Fatal("the server died with rooms on every request")
	default:
	}
	// A request without a room kills SGLang's controller and the server.
	client := &http.Client{Timeout: 200 * time.Millisecond}
	if resp, err := client.Post(ts.URL+"/generate", "application/json", strings.NewReader(`{"input_ids":[1],"sampling_params":{"max_new_tokens":1}}`)); err == nil {
		resp.Body.Close()
		t.Errorf("a request without a room was answered %d; SGLang exits without an answer", resp.StatusCode)
	}
	select {
	case <-srv.Dead():
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not die")
	}
	if err := srv.Err(); err == nil || !strings.Contains(err.Error(), "req.bootstrap_room should not be None") {
		t.Errorf("Err() = %v, want SGLang's assertion", err)
	}
}

func TestDPFlushCacheFlushesEveryRank(t *testing.T) {
	srv, ts := startServer(t, Config{DPSize: 3, SkipServerWarmup: true}, mustProfile(t, fastProfile), NewWallClock())
	for range 3 {
		if resp, body := post(t, ts, `{"input_ids":[1,2,3,4,5,6],"sampling_params":{"max_new_tokens":2}}`); resp.StatusCode != http.StatusOK {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	}
	cached := func() (n int) {
		for _, d := range srv.ranks {
			u, _ := d.snapshot()
			n += u.CachedTokens
		}
		return n
	}
	deadline := time.Now().Add(5 * time.Second)
	for cached() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	resp, err := http.Post(ts.URL+"/flush_cache", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/flush_cache = %s", resp.Status)
	}
	if n := cached(); n != 0 {
		t.Errorf("%d tokens still cached after the flush", n)
	}
}

func mustGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d %s (%v)", url, resp.StatusCode, body, err)
	}
	return string(body)
}

// BenchmarkDPControllerPick measures one dispatch decision of each method
// on eight ranks, snapshots refreshing every 20 ms of simulated time.
func BenchmarkDPControllerPick(b *testing.B) {
	for _, method := range []string{LoadBalanceRoundRobin, LoadBalanceTotalRequests, LoadBalanceTotalTokens} {
		b.Run(method, func(b *testing.B) {
			ranks := fakeRanks(8)
			c := newDPController(method, ranks)
			req := Request{InputTokens: 512}
			var now time.Duration
			for i := 0; b.Loop(); i++ {
				now += time.Millisecond
				if i%20 == 0 {
					publish(ranks[i%8], i%13, 100*(i%7))
				}
				if _, err := c.pick(req, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
