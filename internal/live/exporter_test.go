package live

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	dto "github.com/prometheus/client_model/go"

	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/timeline"
	"github.com/sgltest/sgltest/internal/workerstate"
)

// scrape reads the exporter's /metrics as Prometheus would.
func scrape(t *testing.T, e *Exporter) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + e.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parsing /metrics: %v\n%s", err, body)
	}
	return fams
}

// value is the value of the series of fam whose labels include want.
func value(t *testing.T, fams map[string]*dto.MetricFamily, fam string, want ...string) float64 {
	t.Helper()
	f, ok := fams[fam]
	if !ok {
		t.Fatalf("no metric %s", fam)
	}
next:
	for _, m := range f.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(want); i += 2 {
			if labels[want[i]] != want[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("no series of %s with %v", fam, want)
	return 0
}

func TestExporterServesTheRunningTestsFigures(t *testing.T) {
	e, err := NewExporter("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.Begin("node: moderate load", 5, []string{"server-1", "server-2"})
	ms := time.Millisecond
	e.Add(metrics.Record{Status: 200, InputTokens: 100, OutputTokens: 3, Arrival: 0, Sent: ms, FirstToken: 21 * ms, Done: 41 * ms,
		Chunks: []metrics.Chunk{{At: 21 * ms, Tokens: 1}, {At: 41 * ms, Tokens: 2}}})
	e.Add(metrics.Record{Status: 200, InputTokens: 50, OutputTokens: 1, Sent: 0, Done: 10 * ms})
	e.Add(metrics.Record{Status: 503, Error: "HTTP 503"})
	e.Add(metrics.Record{Warmup: true, Status: 200})
	e.Event(timeline.Event{Kind: timeline.Killed, Target: "server-2"})
	e.Sample(1, workerstate.Sample{Running: 7, Queued: 2, TokenUsage: 0.25, CacheHitRate: 0.5, Throughput: 900})

	f := scrape(t, e)
	checks := []struct {
		fam    string
		labels []string
		want   float64
	}{
		{"sgltest_run_info", []string{"run", "node: moderate load"}, 1},
		{"sgltest_run_requests_planned", nil, 5},
		{"sgltest_run_requests_finished", nil, 3},
		{"sgltest_requests_total", []string{"outcome", "succeeded"}, 2},
		{"sgltest_requests_total", []string{"outcome", "failed"}, 1},
		{"sgltest_requests_total", []string{"outcome", "cancelled"}, 0},
		{"sgltest_input_tokens_total", nil, 150},
		{"sgltest_output_tokens_total", nil, 4},
		{"sgltest_ttft_seconds", nil, 1},           // the streamed request
		{"sgltest_itl_seconds", nil, 2},            // its second chunk's two tokens
		{"sgltest_server_latency_seconds", nil, 2}, // both successes
		{"sgltest_events_total", []string{"kind", "killed", "target", "server-2"}, 1},
		{"sgltest_server_running_requests", []string{"server", "server-2"}, 7},
		{"sgltest_server_queued_requests", []string{"server", "server-2"}, 2},
		{"sgltest_server_token_usage_ratio", []string{"server", "server-2"}, 0.25},
		{"sgltest_server_cache_hit_ratio", []string{"server", "server-2"}, 0.5},
		{"sgltest_server_gen_throughput", []string{"server", "server-2"}, 900},
	}
	for _, c := range checks {
		if got := value(t, f, c.fam, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.fam, c.labels, got, c.want)
		}
	}
	if h := f["sgltest_itl_seconds"].Metric[0].Histogram; h.GetSampleSum() != 0.02 {
		t.Errorf("ITL sum %v s, want 2 × 10 ms", h.GetSampleSum())
	}

	e.End()
	f = scrape(t, e)
	if len(f["sgltest_run_info"].GetMetric()) != 0 || value(t, f, "sgltest_run_requests_planned") != 0 {
		t.Error("the run's gauges outlive its end")
	}
	if value(t, f, "sgltest_requests_total", "outcome", "succeeded") != 2 {
		t.Error("counters were reset at the run's end")
	}
}

func TestStartRejectsBadSettingsNamingTheVariable(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{EnvProgress: "fancy"}, "SGLTEST_PROGRESS=\"fancy\": expected auto, terminal, plain or off"},
		{map[string]string{EnvProgressInterval: "ten"}, "SGLTEST_PROGRESS_INTERVAL=\"ten\""},
		{map[string]string{EnvPrometheus: "not an address"}, "SGLTEST_PROMETHEUS=\"not an address\""},
	} {
		_, err := start(io.Discard, "run", 1, nil, func(k string) string { return tc.env[k] })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("env %v: error %v, want %q", tc.env, err, tc.want)
		}
	}
	w, err := start(io.Discard, "run", 1, nil, func(k string) string { return map[string]string{EnvProgress: "off"}[k] })
	if err != nil || w.progress != nil || w.exporter != nil {
		t.Errorf("off: %+v, %v", w, err)
	}
	w.Add(metrics.Record{}) // a Watch showing nothing still observes
	w.Stop()
}

// TestGrafanaDashboardChartsOnlyMetricsTheExporterServes keeps
// docs/grafana-dashboard.json in step with the exporter.
func TestGrafanaDashboardChartsOnlyMetricsTheExporterServes(t *testing.T) {
	b, err := os.ReadFile("../../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	e, err := NewExporter("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.Begin("run", 1, []string{"server-1"})
	e.Sample(0, workerstate.Sample{})
	e.Event(timeline.Event{Kind: timeline.Killed})
	e.Add(metrics.Record{Status: 200, FirstToken: 1, Done: 2, Chunks: []metrics.Chunk{{At: 1, Tokens: 1}, {At: 2, Tokens: 1}}})
	served := scrape(t, e)
	name := regexp.MustCompile(`sgltest_[a-z_]+`)
	charted := map[string]bool{}
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, m := range name.FindAllString(tg.Expr, -1) {
				fam := strings.TrimSuffix(m, "_bucket")
				if _, ok := served[fam]; !ok {
					t.Errorf("panel %q queries %s, which the exporter does not serve", p.Title, m)
				}
				charted[fam] = true
			}
		}
	}
	for fam := range served {
		if !charted[fam] {
			t.Errorf("the dashboard does not chart %s", fam)
		}
	}
}
