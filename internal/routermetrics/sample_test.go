package routermetrics

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// smgExposition is smg 1.13.0's layout (trimmed): per-worker requests,
// health, circuit breaker and load polls, retries by endpoint.
const smgExposition = `# TYPE smg_router_requests_total counter
smg_router_requests_total{router_type="http",backend_type="regular",connection_mode="http",model="unknown",endpoint="generate",streaming="true"} 5
smg_router_requests_total{router_type="http",backend_type="regular",connection_mode="http",model="unknown",endpoint="chat",streaming="false"} 2
# TYPE smg_router_request_errors_total counter
smg_router_request_errors_total{router_type="http",backend_type="regular",connection_mode="http",model="unknown",endpoint="generate",error_type="no_available_workers"} 1
# TYPE smg_http_responses_total counter
smg_http_responses_total{path="/generate",status_code="200",error_code=""} 4
smg_http_responses_total{path="/workers",status_code="200",error_code=""} 11
smg_http_responses_total{path="/generate",status_code="503",error_code="no_available_workers"} 1
# TYPE smg_router_upstream_responses_total counter
smg_router_upstream_responses_total{router_type="http",status_code="200",error_code=""} 6
smg_router_upstream_responses_total{router_type="http",status_code="500",error_code="call_upstream_connection_failed"} 2
# TYPE smg_worker_retries_total counter
smg_worker_retries_total{worker_type="regular",endpoint="generate"} 2
smg_worker_retries_total{worker_type="decode",endpoint="generate"} 0
# TYPE smg_worker_retries_exhausted_total counter
smg_worker_retries_exhausted_total{worker_type="regular",endpoint="generate"} 0
# TYPE smg_router_request_duration_seconds histogram
smg_router_request_duration_seconds_bucket{router_type="http",backend_type="regular",connection_mode="http",model="unknown",endpoint="generate",le="+Inf"} 4
smg_router_request_duration_seconds_sum{router_type="http",backend_type="regular",connection_mode="http",model="unknown",endpoint="generate"} 0.5
smg_router_request_duration_seconds_count{router_type="http",backend_type="regular",connection_mode="http",model="unknown",endpoint="generate"} 4
# TYPE smg_worker_requests_total counter
smg_worker_requests_total{worker="http://a",model="sim-model"} 3
smg_worker_requests_total{worker="http://b",model="sim-model"} 3
# TYPE smg_worker_cb_outcomes_total counter
smg_worker_cb_outcomes_total{worker="http://a",outcome="success"} 3
smg_worker_cb_outcomes_total{worker="http://b",outcome="success"} 1
smg_worker_cb_outcomes_total{worker="http://b",outcome="failure"} 2
# TYPE smg_worker_requests_active gauge
smg_worker_requests_active{worker="http://a"} 1
smg_worker_requests_active{worker="http://b"} 0
# TYPE smg_worker_health gauge
smg_worker_health{worker="http://a"} 1
smg_worker_health{worker="http://b"} 0
# TYPE smg_worker_cb_state gauge
smg_worker_cb_state{worker="http://a"} 0
smg_worker_cb_state{worker="http://b"} 1
# TYPE smg_worker_cb_consecutive_failures gauge
smg_worker_cb_consecutive_failures{worker="http://a"} 0
smg_worker_cb_consecutive_failures{worker="http://b"} 2
# TYPE smg_engine_load_polls_total counter
smg_engine_load_polls_total{worker="http://a",mode="poll"} 2
smg_engine_load_polls_total{worker="http://b",mode="poll"} 1
`

// sglangRouterExposition is sglang-router 0.3.2's layout (trimmed): no
// per-worker request counter, no load polls.
const sglangRouterExposition = `# TYPE smg_http_responses_total counter
smg_http_responses_total{status_code="200",error_code=""} 14
# TYPE smg_router_requests_total counter
smg_router_requests_total{router_type="http",backend_type="regular",connection_mode="http",model="default",endpoint="generate",streaming="true"} 5
# TYPE smg_worker_cb_outcomes_total counter
smg_worker_cb_outcomes_total{worker="http://a",outcome="success"} 3
smg_worker_cb_outcomes_total{worker="http://a",outcome="failure"} 1
# TYPE smg_worker_health gauge
smg_worker_health{worker="http://a"} 1
# TYPE smg_worker_cb_state gauge
smg_worker_cb_state{worker="http://a"} 2
`

func TestParseReadsBothRoutersLayouts(t *testing.T) {
	tests := []struct {
		name, text string
		want       Sample
	}{
		{"smg 1.13", smgExposition, Sample{
			Requests:          7,
			RequestErrors:     map[string]float64{"no_available_workers": 1},
			Responses:         map[string]float64{"200": 15, "503": 1},
			UpstreamResponses: map[string]float64{"200": 6, "500": 2},
			Retries:           2, DurationSum: 0.5, DurationCount: 4,
			Workers: map[string]Worker{
				"http://a": {Requests: 3, Active: 1, Healthy: true, LoadPolls: 2},
				"http://b": {Requests: 3, Failures: 2, Circuit: CircuitOpen, ConsecutiveFailures: 2, LoadPolls: 1},
			},
		}},
		{"sglang-router 0.3.2: requests from the breaker's outcomes", sglangRouterExposition, Sample{
			Requests:  5,
			Responses: map[string]float64{"200": 14},
			Workers:   map[string]Worker{"http://a": {Requests: 4, Failures: 1, Healthy: true, Circuit: CircuitHalfOpen}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tt.text))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("sample (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseRejectsWhatIsNotARoutersMetrics(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"a worker's metrics", "# TYPE sglang:num_running_reqs gauge\nsglang:num_running_reqs 1\n", "no smg_* metric"},
		{"malformed", "smg_router_requests_total{ 1\n", "parsing router metrics"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse(strings.NewReader(tt.text)); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestSubGivesCountsBetweenScrapesAndLatestGauges(t *testing.T) {
	prev, err := Parse(strings.NewReader(smgExposition))
	if err != nil {
		t.Fatal(err)
	}
	later := strings.NewReplacer(
		`endpoint="chat",streaming="false"} 2`, `endpoint="chat",streaming="false"} 12`,
		`smg_worker_requests_total{worker="http://b",model="sim-model"} 3`, `smg_worker_requests_total{worker="http://b",model="sim-model"} 13`,
		`smg_worker_cb_state{worker="http://b"} 1`, `smg_worker_cb_state{worker="http://b"} 0`,
		`smg_http_responses_total{path="/generate",status_code="200",error_code=""} 4`, `smg_http_responses_total{path="/generate",status_code="200",error_code=""} 14`,
	).Replace(smgExposition)
	cur, err := Parse(strings.NewReader(later))
	if err != nil {
		t.Fatal(err)
	}
	d := cur.Sub(prev)
	if d.Requests != 10 || d.Workers["http://b"].Requests != 10 || d.Workers["http://a"].Requests != 0 ||
		d.Responses["200"] != 10 || d.Responses["503"] != 0 || d.Workers["http://b"].Circuit != CircuitClosed {
		t.Errorf("diff = %+v, want 10 more requests on b, 10 more 200s, b's breaker closed", d)
	}
}

func TestScrapeStampsTheSampleAndNamesAFailingEndpoint(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.Error(w, "nope", http.StatusNotFound)
			return
		}
		_, _ = w.Write([]byte(sglangRouterExposition))
	}))
	defer srv.Close()
	s, err := Scrape(t.Context(), srv.Client(), srv.URL+"/metrics", func() time.Duration { return 7 * time.Second })
	if err != nil || s.At != 7*time.Second || s.Requests != 5 {
		t.Errorf("Scrape = %+v, %v; want 5 requests at 7s", s, err)
	}
	if _, err := Scrape(t.Context(), srv.Client(), srv.URL+"/other", func() time.Duration { return 0 }); err == nil || !strings.Contains(err.Error(), "HTTP 404") {
		t.Errorf("err = %v, want one naming HTTP 404", err)
	}
}
