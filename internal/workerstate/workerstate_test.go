package workerstate

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/router"
)

const front = `model_name="m",engine_type="unified"`
const sched = front + `,tp_rank="0",pp_rank="0",moe_ep_rank="0"`

// exposition renders what an SGLang worker exports, in its layout.
func exposition(requests, prompt, cached int, e2eSum float64, withCached bool) string {
	var b strings.Builder
	g := func(name string, v float64) {
		fmt.Fprintf(&b, "# HELP %s x\n# TYPE %s gauge\n%s{%s} %v\n", name, name, name, sched, v)
	}
	c := func(name, labels string, v float64) {
		fmt.Fprintf(&b, "# HELP %s x\n# TYPE %s counter\n%s{%s} %v\n", name, name, name, labels, v)
	}
	g("sglang:num_running_reqs", 3)
	g("sglang:num_queue_reqs", 2)
	g("sglang:num_used_tokens", 1234)
	g("sglang:token_usage", 0.25)
	g("sglang:gen_throughput", 512.5)
	g("sglang:cache_hit_rate", 0.4)
	c("sglang:num_requests_total", front, float64(requests))
	c("sglang:prompt_tokens_total", front, float64(prompt))
	c("sglang:generation_tokens_total", front, 77)
	fmt.Fprintf(&b, "# HELP sglang:cached_tokens_total x\n# TYPE sglang:cached_tokens_total counter\n")
	if withCached {
		fmt.Fprintf(&b, "sglang:cached_tokens_total{%s,cache_source=\"device\"} %d\n", front, cached)
		fmt.Fprintf(&b, "sglang:cached_tokens_total{%s,cache_source=\"total\"} %d\n", front, cached)
	}
	fmt.Fprintf(&b, "# HELP sglang:e2e_request_latency_seconds x\n# TYPE sglang:e2e_request_latency_seconds histogram\n")
	fmt.Fprintf(&b, "sglang:e2e_request_latency_seconds_bucket{%s,le=\"+Inf\"} %d\n", front, requests)
	fmt.Fprintf(&b, "sglang:e2e_request_latency_seconds_sum{%s} %v\n", front, e2eSum)
	fmt.Fprintf(&b, "sglang:e2e_request_latency_seconds_count{%s} %d\n", front, requests)
	return b.String()
}

func TestParseReadsSGLangNames(t *testing.T) {
	tests := []struct {
		name string
		text string
		want Sample
	}{
		{"with cache hits: the total source, not the sum of sources", exposition(10, 1000, 300, 5, true), Sample{
			Running: 3, Queued: 2, UsedTokens: 1234, TokenUsage: 0.25, Throughput: 512.5, CacheHitRate: 0.4,
			Counters: Counters{Requests: 10, PromptTokens: 1000, GenerationTokens: 77, CachedTokens: 300, E2ESum: 5, E2ECount: 10}}},
		{"before the first cache hit: no sample counts as zero", exposition(1, 10, 0, 0.5, false), Sample{
			Running: 3, Queued: 2, UsedTokens: 1234, TokenUsage: 0.25, Throughput: 512.5, CacheHitRate: 0.4,
			Counters: Counters{Requests: 1, PromptTokens: 10, GenerationTokens: 77, E2ESum: 0.5, E2ECount: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tt.text))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseRejectsNonSGLangAndMalformedText(t *testing.T) {
	for _, tt := range []struct{ name, text, want string }{
		{"missing family", "# TYPE up gauge\nup 1\n", "sglang:num_running_reqs is missing"},
		{"malformed", "sglang:num_running_reqs{ 1\n", "parsing metrics"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.text))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestScraperKeepsSeriesFillsWorkersAndDiffsCounters(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		k := int(n.Add(1))
		// Each scrape: 4 more requests, 400 more prompt tokens, 100 more
		// cached, 2 s more latency in total.
		fmt.Fprint(w, exposition(4*k, 400*k, 100*k, 2*float64(k), true))
	}))
	defer srv.Close()
	clock := time.Duration(0)
	s, err := New([]string{srv.URL}, time.Second, func() time.Duration { clock += time.Second; return clock }, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := s.ScrapeOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(s.Series(srv.URL)); got != 3 {
		t.Fatalf("series has %d samples, want 3", got)
	}
	ws := []router.Worker{{URL: srv.URL, InFlight: 7}, {URL: "http://never-scraped"}}
	s.Fill(ws)
	want := []router.Worker{{URL: srv.URL, InFlight: 7, Scraped: true, ScrapedAt: 3 * time.Second, Running: 3, Queued: 2,
		UsedTokens: 1234, TokenUsage: 0.25, Throughput: 512.5, CacheHitRate: 0.4, Latency: 500 * time.Millisecond},
		{URL: "http://never-scraped"}}
	if diff := cmp.Diff(want, ws); diff != "" {
		t.Errorf("filled workers (-want +got):\n%s", diff)
	}
	d, err := s.Diff()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Counters{Requests: 8, PromptTokens: 800, CachedTokens: 200, E2ESum: 4, E2ECount: 8}, d[srv.URL]); diff != "" {
		t.Errorf("diff (-want +got):\n%s", diff)
	}
	if got := d[srv.URL].Routing(); got != (metrics.WorkerCounters{Requests: 8, PromptTokens: 800, CachedTokens: 200}) {
		t.Errorf("Routing() = %+v", got)
	}
}

func TestScraperReportsUnreachableWorker(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	s, err := New([]string{srv.URL}, time.Second, func() time.Duration { return 0 }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ScrapeOnce(t.Context()); err == nil || !strings.Contains(err.Error(), srv.URL) {
		t.Errorf("err = %v, want one naming %s", err, srv.URL)
	}
	if _, err := s.Diff(); err == nil {
		t.Error("Diff with no scrapes succeeded")
	}
}
