package routermetrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Sample is one scrape of a router's /metrics. Counters are cumulative
// since the router started (Sub gives the counts between two scrapes);
// gauges are as of the scrape. A router exports a counter only once it has
// counted something, so an absent counter reads as zero.
type Sample struct {
	// At is when the scrape's response was read, on the caller's clock.
	At time.Duration `json:"at_ns"`

	// Requests are the requests the router took to route
	// (smg_router_requests_total), all endpoints.
	Requests float64 `json:"requests"`
	// RequestErrors are requests the router failed, by error_type
	// (smg_router_request_errors_total).
	RequestErrors map[string]float64 `json:"request_errors,omitempty"`
	// Responses are the router's responses by HTTP status code
	// (smg_http_responses_total), every path.
	Responses map[string]float64 `json:"responses,omitempty"`
	// UpstreamResponses are the workers' answers to the router by status
	// code, one per attempt, "" when none came (smg_router_upstream_responses_total).
	UpstreamResponses map[string]float64 `json:"upstream_responses,omitempty"`
	// Retries are attempts after the first (smg_worker_retries_total);
	// RetriesExhausted are requests that ran out of attempts
	// (smg_worker_retries_exhausted_total).
	Retries          float64 `json:"retries"`
	RetriesExhausted float64 `json:"retries_exhausted"`
	// DurationSum and DurationCount are smg_router_request_duration_seconds:
	// the router's time for the requests it routed successfully (for a
	// stream, until the worker's response headers).
	DurationSum   float64 `json:"duration_sum_seconds"`
	DurationCount float64 `json:"duration_count"`

	// Workers holds each worker's figures by its URL.
	Workers map[string]Worker `json:"workers"`
}

// CircuitState is a worker's circuit breaker (smg_worker_cb_state).
type CircuitState int

// Circuit breaker states, as the router numbers them.
const (
	CircuitClosed   CircuitState = 0
	CircuitOpen     CircuitState = 1
	CircuitHalfOpen CircuitState = 2
)

func (c CircuitState) String() string {
	switch c {
	case CircuitClosed:
		return "closed"
	case CircuitOpen:
		return "open"
	case CircuitHalfOpen:
		return "half-open"
	}
	return fmt.Sprintf("CircuitState(%d)", int(c))
}

// Worker is one worker's figures in a Sample.
type Worker struct {
	// Requests are the requests the router sent the worker: smg's
	// smg_worker_requests_total, or where a router has none (0.3.2) the
	// attempts whose outcome its circuit breaker recorded
	// (smg_worker_cb_outcomes_total), which count a retried request once
	// per attempt.
	Requests float64 `json:"requests"`
	// Failures are attempts the circuit breaker counted as failed (any
	// non-2xx, transport errors included).
	Failures float64 `json:"failures"`
	// Active is the router's count of the worker's requests in flight
	// (smg_worker_requests_active).
	Active float64 `json:"active"`
	// Healthy is smg_worker_health == 1: the router routes to the worker.
	Healthy bool `json:"healthy"`
	// Circuit is the worker's circuit breaker; ConsecutiveFailures its
	// current run of failures (it opens at --cb-failure-threshold).
	Circuit             CircuitState `json:"circuit"`
	ConsecutiveFailures float64      `json:"consecutive_failures"`
	// LoadPolls counts the router's polls of the worker's load (smg's
	// smg_engine_load_polls_total; 0.3.2 exports none).
	LoadPolls float64 `json:"load_polls"`
}

// Parse reads one Prometheus text exposition of a router. It fails on
// malformed text and when nothing in it is a router's (no smg_ family).
func Parse(r io.Reader) (Sample, error) {
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return Sample{}, fmt.Errorf("parsing router metrics: %w", err)
	}
	found := false
	for name := range fams {
		if strings.HasPrefix(name, "smg_") {
			found = true
			break
		}
	}
	if !found {
		return Sample{}, errors.New("parsing router metrics: no smg_* metric: not an SGLang router's /metrics")
	}
	s := Sample{
		Requests:          sum(fams["smg_router_requests_total"]),
		RequestErrors:     byLabel(fams["smg_router_request_errors_total"], "error_type"),
		Responses:         byLabel(fams["smg_http_responses_total"], "status_code"),
		UpstreamResponses: byLabel(fams["smg_router_upstream_responses_total"], "status_code"),
		Retries:           sum(fams["smg_worker_retries_total"]),
		RetriesExhausted:  sum(fams["smg_worker_retries_exhausted_total"]),
		Workers:           map[string]Worker{},
	}
	for _, m := range fams["smg_router_request_duration_seconds"].GetMetric() {
		s.DurationSum += m.GetHistogram().GetSampleSum()
		s.DurationCount += float64(m.GetHistogram().GetSampleCount())
	}
	perWorker := func(name string, f func(w *Worker, m *dto.Metric)) {
		for _, m := range fams[name].GetMetric() {
			u := label(m, "worker")
			if u == "" {
				continue
			}
			w := s.Workers[u]
			f(&w, m)
			s.Workers[u] = w
		}
	}
	_, haveRequests := fams["smg_worker_requests_total"]
	perWorker("smg_worker_requests_total", func(w *Worker, m *dto.Metric) { w.Requests += value(m) })
	perWorker("smg_worker_cb_outcomes_total", func(w *Worker, m *dto.Metric) {
		if label(m, "outcome") != "success" {
			w.Failures += value(m)
		}
		if !haveRequests {
			w.Requests += value(m)
		}
	})
	perWorker("smg_worker_requests_active", func(w *Worker, m *dto.Metric) { w.Active = value(m) })
	perWorker("smg_worker_health", func(w *Worker, m *dto.Metric) { w.Healthy = value(m) == 1 })
	perWorker("smg_worker_cb_state", func(w *Worker, m *dto.Metric) { w.Circuit = CircuitState(value(m)) })
	perWorker("smg_worker_cb_consecutive_failures", func(w *Worker, m *dto.Metric) { w.ConsecutiveFailures = value(m) })
	perWorker("smg_engine_load_polls_total", func(w *Worker, m *dto.Metric) { w.LoadPolls += value(m) })
	return s, nil
}

// Sub returns the counts between prev and s: every counter of s minus
// prev's, the gauges (Active, Healthy, Circuit, ConsecutiveFailures) and At
// of s. A worker absent from prev counts from zero.
func (s Sample) Sub(prev Sample) Sample {
	out := s
	out.Requests -= prev.Requests
	out.RequestErrors = subMap(s.RequestErrors, prev.RequestErrors)
	out.Responses = subMap(s.Responses, prev.Responses)
	out.UpstreamResponses = subMap(s.UpstreamResponses, prev.UpstreamResponses)
	out.Retries -= prev.Retries
	out.RetriesExhausted -= prev.RetriesExhausted
	out.DurationSum -= prev.DurationSum
	out.DurationCount -= prev.DurationCount
	out.Workers = make(map[string]Worker, len(s.Workers))
	for u, w := range s.Workers {
		p := prev.Workers[u]
		w.Requests -= p.Requests
		w.Failures -= p.Failures
		w.LoadPolls -= p.LoadPolls
		out.Workers[u] = w
	}
	return out
}

func subMap(a, b map[string]float64) map[string]float64 {
	if len(a) == 0 {
		return nil
	}
	out := maps.Clone(a)
	for k, v := range b {
		out[k] -= v
	}
	return out
}

// Scrape reads url (a router's metrics endpoint, e.g.
// launcher.Router.MetricsURL) with c and parses it; now stamps the sample.
func Scrape(ctx context.Context, c *http.Client, url string, now func() time.Duration) (Sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Sample{}, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return Sample{}, fmt.Errorf("scraping %s: %w", url, err)
	}
	defer func() { _ = resp.Body.Close() }() // read to the end or abandoned: nothing to report
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return Sample{}, fmt.Errorf("scraping %s: HTTP %d: %s", url, resp.StatusCode, body)
	}
	s, err := Parse(resp.Body)
	if err != nil {
		return Sample{}, fmt.Errorf("scraping %s: %w", url, err)
	}
	s.At = now()
	return s, nil
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func sum(f *dto.MetricFamily) float64 {
	var v float64
	for _, m := range f.GetMetric() {
		v += value(m)
	}
	return v
}

// byLabel sums f's series by the value of one label; nil when f has none.
func byLabel(f *dto.MetricFamily, name string) map[string]float64 {
	if len(f.GetMetric()) == 0 {
		return nil
	}
	out := map[string]float64{}
	for _, m := range f.GetMetric() {
		out[label(m, name)] += value(m)
	}
	return out
}
