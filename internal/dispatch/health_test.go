package dispatch_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sgltest/sgltest/internal/dispatch"
	"github.com/sgltest/sgltest/internal/load"
	"github.com/sgltest/sgltest/router"
)

var abc = []string{"http://a", "http://b", "http://c"}

func TestPickOffersThePolicyOnlyHealthyWorkers(t *testing.T) {
	tests := []struct {
		name      string
		unhealthy []string
		want      []int // worker indices picked by round robin, 4 requests
	}{
		{"all healthy", nil, []int{0, 1, 2, 0}},
		{"middle one down", []string{"http://b"}, []int{0, 2, 0, 2}},
		{"only the last up", []string{"http://a", "http://b"}, []int{2, 2, 2, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := dispatch.New(&router.RoundRobin{}, abc, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range tt.unhealthy {
				if err := d.SetHealthy(u, false); err != nil {
					t.Fatal(err)
				}
			}
			var got []int
			for range 4 {
				i, err := d.Pick(router.Request{})
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, i)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("picks (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.unhealthy, d.Unhealthy()); diff != "" {
				t.Errorf("Unhealthy (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPickFailsWhenNoWorkerIsHealthyAndRecoversWhenOneIs(t *testing.T) {
	d, err := dispatch.New(router.ShortestQueue{}, abc, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range abc {
		if err := d.SetHealthy(u, false); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Pick(router.Request{}); !errors.Is(err, dispatch.ErrNoHealthyWorkers) {
		t.Fatalf("Pick with every worker down = %v, want ErrNoHealthyWorkers", err)
	}
	if err := d.SetHealthy("http://c", true); err != nil {
		t.Fatal(err)
	}
	if i, err := d.Pick(router.Request{}); err != nil || i != 2 {
		t.Errorf("Pick after c recovered = %d, %v; want 2", i, err)
	}
}

func TestSetHealthyRejectsAnUnknownWorker(t *testing.T) {
	d, err := dispatch.New(&router.RoundRobin{}, abc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetHealthy("http://z", false); err == nil || !strings.Contains(err.Error(), `"http://z"`) {
		t.Errorf("err = %v, want one naming the URL", err)
	}
}

// A request in flight on a worker marked unhealthy still ends with Done,
// and the worker's count is right when it comes back.
func TestInFlightSurvivesAWorkerGoingDownAndBack(t *testing.T) {
	d, err := dispatch.New(router.ShortestQueue{}, abc[:2], nil)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := d.Pick(router.Request{}) // a: 1
	if err := d.SetHealthy("http://a", false); err != nil {
		t.Fatal(err)
	}
	b, _ := d.Pick(router.Request{}) // b: 1 (a is down)
	b2, _ := d.Pick(router.Request{})
	if a != 0 || b != 1 || b2 != 1 {
		t.Fatalf("picks %d %d %d, want 0 1 1", a, b, b2)
	}
	d.Done(a)
	if err := d.SetHealthy("http://a", true); err != nil {
		t.Fatal(err)
	}
	// a has 0 in flight, b 2: shortest queue takes a.
	if i, _ := d.Pick(router.Request{}); i != 0 {
		t.Errorf("after a came back idle, picked %d, want 0", i)
	}
}

// countingSource fills Queued with how many times it has been asked.
type countingSource struct{ fills int }

func (s *countingSource) Fill(ws []router.Worker) {
	s.fills++
	for i := range ws {
		ws[i].Scraped, ws[i].ScrapedAt, ws[i].Queued = true, time.Duration(s.fills), s.fills
	}
}

// seenQueued records the Queued figure it is shown and picks worker 0.
type seenQueued struct {
	seen     []int
	interval time.Duration
}

func (p *seenQueued) Pick(_ router.Request, ws []router.Worker) (int, error) {
	p.seen = append(p.seen, ws[0].Queued)
	return 0, nil
}

func (p *seenQueued) LoadInterval() time.Duration { return p.interval }

func TestPolicySeesPolledStateAsOfTheLastRefresh(t *testing.T) {
	tests := []struct {
		name     string
		interval time.Duration // the policy's; -1 means SetLoadInterval(0)
		at       []time.Duration
		want     []int
	}{
		{"refreshed every 10 s, the policy's interval", 10 * time.Second,
			[]time.Duration{0, 5 * time.Second, 9999 * time.Millisecond, 10 * time.Second, 15 * time.Second, 31 * time.Second},
			[]int{1, 1, 1, 2, 2, 3}},
		{"a policy that says nothing sees every poll", 0,
			[]time.Duration{0, time.Millisecond, 2 * time.Millisecond}, []int{1, 2, 3}},
		{"set to zero: every decision", -1,
			[]time.Duration{0, time.Millisecond, 2 * time.Millisecond}, []int{1, 2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &seenQueued{interval: max(tt.interval, 0)}
			if tt.interval < 0 {
				p.interval = time.Hour
			}
			d, err := dispatch.New(p, abc, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.interval < 0 {
				if err := d.SetLoadInterval(0); err != nil {
					t.Fatal(err)
				}
			}
			var now time.Duration
			d.Now = func() time.Duration { return now }
			d.State = &countingSource{}
			for _, at := range tt.at {
				now = at
				i, err := d.Pick(router.Request{})
				if err != nil {
					t.Fatal(err)
				}
				d.Done(i)
			}
			if diff := cmp.Diff(tt.want, p.seen); diff != "" {
				t.Errorf("Queued seen per decision (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadIntervalDefaultsToTheRealRoutersPolling(t *testing.T) {
	tests := []struct {
		policy string
		want   time.Duration
	}{
		{"power_of_two", 30 * time.Second}, // sglang-router 0.3.2's /get_load period
		{"smg_power_of_two", 10 * time.Second},
		{"least_load", 10 * time.Second},
		{"smg_cache_aware", 10 * time.Second},
		{"cache_aware", 0}, // 0.3.2's counts in-flight requests only
		{"round_robin", 0},
	}
	for _, tt := range tests {
		t.Run(tt.policy, func(t *testing.T) {
			p, err := router.New(tt.policy, router.Options{})
			if err != nil {
				t.Fatal(err)
			}
			d, err := dispatch.New(p, abc, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := d.LoadInterval(); got != tt.want {
				t.Errorf("LoadInterval = %v, want %v", got, tt.want)
			}
		})
	}
	d, _ := dispatch.New(&router.RoundRobin{}, abc, nil)
	if err := d.SetLoadInterval(-time.Second); err == nil {
		t.Error("SetLoadInterval(-1s) succeeded, want an error")
	}
}

// recordRequest records the requests it is shown.
type recordRequest struct{ reqs []router.Request }

func (p *recordRequest) Pick(r router.Request, _ []router.Worker) (int, error) {
	p.reqs = append(p.reqs, r)
	return 0, nil
}

func TestRouteBuildsTheRoutingTextAndKeyBothRoutersUse(t *testing.T) {
	p := &recordRequest{}
	d, err := dispatch.New(p, abc, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.Key = func(r load.Request) string { return fmt.Sprintf("conv-%d", r.Group) }
	for _, r := range []load.Request{
		{Prompt: "hello"},
		{InputIDs: []int{1, 22, 333}},
		{Messages: []load.Message{{Role: "system", Content: "be brief"}, {Role: "user", Content: "hi"}}, Group: 7},
	} {
		_, done, err := d.Route(r)
		if err != nil {
			t.Fatal(err)
		}
		done()
	}
	want := []router.Request{
		{Text: "hello", RoutingKey: "conv-0"},
		{Text: "1 22 333", InputIDs: []int{1, 22, 333}, RoutingKey: "conv-0"},
		{Text: "be brief hi", RoutingKey: "conv-7"},
	}
	if diff := cmp.Diff(want, p.reqs); diff != "" {
		t.Errorf("requests the policy saw (-want +got):\n%s", diff)
	}
}

func TestLoadPollerFillsWhatV1LoadsReports(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/loads" {
			http.NotFound(w, r)
			return
		}
		// Two DP ranks: counts add up, token usage is their mean.
		fmt.Fprint(w, `{"timestamp":"t","version":"v","loads":[
			{"dp_rank":0,"num_running_reqs":3,"num_waiting_reqs":2,"num_waiting_uncached_tokens":500,"num_used_tokens":1000,"token_usage":0.2,"gen_throughput":100.5,"cache_hit_rate":0.1},
			{"dp_rank":1,"num_running_reqs":1,"num_waiting_reqs":0,"num_waiting_uncached_tokens":0,"num_used_tokens":200,"token_usage":0.4,"gen_throughput":50,"cache_hit_rate":0.3}]}`)
	}))
	defer srv.Close()
	dead := "http://127.0.0.1:1"
	p, err := dispatch.NewLoadPoller([]string{srv.URL, dead}, time.Second, func() time.Duration { return 3 * time.Second }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.PollOnce(t.Context()); err == nil || !strings.Contains(err.Error(), dead) {
		t.Errorf("PollOnce = %v, want an error naming %s", err, dead)
	}
	ws := []router.Worker{{URL: srv.URL}, {URL: dead}}
	p.Fill(ws)
	want := []router.Worker{
		{URL: srv.URL, Scraped: true, ScrapedAt: 3 * time.Second, Running: 4, Queued: 2, WaitingTokens: 500,
			UsedTokens: 1200, TokenUsage: 0.30000000000000004, Throughput: 150.5, CacheHitRate: 0.3},
		{URL: dead},
	}
	if diff := cmp.Diff(want, ws); diff != "" {
		t.Errorf("filled (-want +got):\n%s", diff)
	}
}
