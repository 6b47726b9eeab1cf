//go:build linux

package routertest

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sgltest/sgltest/internal/launcher"
	"github.com/sgltest/sgltest/internal/routermetrics"
	"github.com/sgltest/sgltest/internal/testenv"
)

// TestRouterRetriesAroundADeadWorkerAndOpensItsBreaker kills one of three
// simulators behind each router (round_robin) and sends requests one at a
// time. What the report on fault scenarios relies on: no request fails
// (an attempt on the dead worker fails to connect and is retried on
// another), the router's metrics count those failures on the dead worker,
// and its circuit breaker opens after --cb-failure-threshold (10)
// consecutive failures, long before its health checks (three, 60 s apart)
// would mark it unhealthy, so it is still listed healthy.
func TestRouterRetriesAroundADeadWorkerAndOpensItsBreaker(t *testing.T) {
	for _, rt := range routers {
		t.Run(rt.pkg, func(t *testing.T) {
			py := testenv.RouterPython(t, rt.pkg)
			l := newLauncher(t)
			bin := testenv.Binary(t)
			model := t.TempDir()
			var sims []*launcher.Server
			var workers []string
			for i := range numWorkers {
				s, err := l.Start(t.Context(), launcher.Config{
					Name: fmt.Sprintf("sim-%d", i), Backend: launcher.BackendSim, ModelPath: model, SimBinary: bin,
					ExtraArgs: []string{"--served-model-name", servedModel, "--random-seed", strconv.Itoa(i + 1)},
				})
				if err != nil {
					t.Fatal(err)
				}
				sims, workers = append(sims, s), append(workers, s.URL())
			}
			r, err := l.StartRouter(t.Context(), launcher.RouterConfig{Name: "router", Python: py, Module: rt.module, Workers: workers, Policy: "round_robin"})
			if err != nil {
				t.Fatal(err)
			}
			dead := workers[1]
			if err := sims[1].Stop(); err != nil {
				t.Fatal(err)
			}
			var s routermetrics.Sample
			deadline := time.Now().Add(30 * time.Second)
			sent := 0
			for ; time.Now().Before(deadline); sent++ {
				resp, err := http.Post(r.URL()+"/generate", "application/json", strings.NewReader(generateBody(false)))
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("request %d after the kill: HTTP %d %s; want every request retried onto a live worker", sent, resp.StatusCode, body)
				}
				if s, err = routermetrics.Scrape(t.Context(), http.DefaultClient, r.MetricsURL(), func() time.Duration { return 0 }); err != nil {
					t.Fatal(err)
				}
				if s.Workers[dead].Circuit == routermetrics.CircuitOpen {
					break
				}
			}
			d := s.Workers[dead]
			t.Logf("%d requests after the kill; dead worker: %+v; retries %v", sent+1, d, s.Retries)
			if d.Circuit != routermetrics.CircuitOpen || d.Failures != 10 || d.ConsecutiveFailures != 10 {
				t.Errorf("dead worker: circuit %v after %v failures (%v in a row); want open after 10", d.Circuit, d.Failures, d.ConsecutiveFailures)
			}
			if s.Retries != d.Failures || s.RetriesExhausted != 0 {
				t.Errorf("%v retries (%v exhausted) for %v failed attempts; want one retry per failure, none exhausted", s.Retries, s.RetriesExhausted, d.Failures)
			}
			if !d.Healthy {
				t.Error("dead worker already unhealthy; its health checks run 60 s apart and need 3 failures")
			}
			for _, u := range []string{workers[0], workers[2]} {
				if w := s.Workers[u]; w.Failures != 0 || w.Circuit != routermetrics.CircuitClosed {
					t.Errorf("live worker %s: %+v; want no failures, circuit closed", u, w)
				}
			}
		})
	}
}
