package simtest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sgltest/sgltest/internal/simulator"
)

// InProcess runs an H100 simulator with cfg (metrics on, no warmup, the
// profile's model unless cfg names one) in this process for one test and
// returns its HTTP server; both stop at the test's cleanup.
func InProcess(tb testing.TB, cfg simulator.Config) *httptest.Server {
	tb.Helper()
	prof, err := simulator.LoadProfile("llama-3.1-8b-h100")
	if err != nil {
		tb.Fatal(err)
	}
	if cfg.ModelPath == "" {
		cfg.ModelPath = prof.Model.Name
	}
	cfg.EnableMetrics, cfg.SkipServerWarmup = true, true
	srv, err := simulator.NewServer(simulator.Options{Profile: prof, Config: cfg})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Run(ctx); close(done) }()
	tb.Cleanup(func() { cancel(); <-done })
	ts := httptest.NewServer(srv.Handler())
	tb.Cleanup(ts.Close)
	return ts
}

// Metrics returns the /metrics text of the server at url.
func Metrics(tb testing.TB, url string) string {
	tb.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s/metrics: %s", url, resp.Status)
	}
	return string(body)
}
