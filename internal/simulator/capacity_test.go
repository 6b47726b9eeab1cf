package simulator_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sgltest/sgltest/internal/load"
	"github.com/sgltest/sgltest/internal/simulator"
)

// BenchmarkRealTimeCapacity measures how many concurrent streams, and how
// many streamed tokens per second, one simulator serves in real time
// without falling behind its own step schedule: closed-loop users (each
// sends its next request when its last ends) against the H100 Llama-3.1-8B
// profile, client and server in this one process. It reports tokens/s
// served and the share of engine steps that ended more than 1 ms and 5 ms
// late (sgltest:sim_step_lateness_seconds).
//
//	go test -run '^$' -bench RealTimeCapacity -benchtime 1x ./internal/simulator
func BenchmarkRealTimeCapacity(b *testing.B) {
	for _, users := range []int{64, 256, 1024} {
		b.Run(fmt.Sprintf("streams=%d", users), func(b *testing.B) {
			prof, err := simulator.LoadProfile("llama-3.1-8b-h100")
			if err != nil {
				b.Fatal(err)
			}
			for range b.N {
				srv, err := simulator.NewServer(simulator.Options{Profile: prof, Config: simulator.Config{
					ModelPath: "bench", SkipServerWarmup: true, EnableMetrics: true, MaxRunningRequests: users}})
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				go func() { _ = srv.Run(ctx) }()
				ts := httptest.NewServer(srv.Handler())
				reqs, err := load.Random{Count: 4 * users, InputTokens: 128, OutputTokens: 128, VocabSize: 32000, Seed: 1}.Requests()
				if err != nil {
					b.Fatal(err)
				}
				sched, err := load.NewClosedLoop(users)
				if err != nil {
					b.Fatal(err)
				}
				gen := &load.Generator{Client: &load.Client{HTTP: load.NewHTTPClient()}, Target: ts.URL,
					Bounds: load.Bounds{MaxScheduleLag: -1, MaxCPUBusy: -1}}
				start := time.Now()
				res, err := gen.Play(ctx, reqs, sched, nil)
				wall := time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				tokens := 0
				for _, r := range res.Records {
					if !r.OK() {
						b.Fatalf("request %d failed: %s", r.Index, r.Error)
					}
					tokens += r.OutputTokens
				}
				over1, over5, steps := lateness(b, ts.URL)
				ts.Close()
				cancel()
				b.ReportMetric(float64(tokens)/wall.Seconds(), "tok/s")
				b.ReportMetric(100*over1/steps, "%steps>1ms_late")
				b.ReportMetric(100*over5/steps, "%steps>5ms_late")
			}
		})
	}
}

// lateness reads the step-lateness histogram: steps later than 1 ms and
// 5 ms, and all steps.
func lateness(b *testing.B, url string) (over1, over5, steps float64) {
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	f, ok := fams[simulator.MetricStepLateness]
	if !ok || len(f.Metric) == 0 {
		b.Fatalf("no %s on /metrics", simulator.MetricStepLateness)
	}
	h := f.Metric[0].GetHistogram()
	steps = float64(h.GetSampleCount())
	for _, bk := range h.GetBucket() {
		switch bk.GetUpperBound() {
		case 0.001:
			over1 = steps - float64(bk.GetCumulativeCount())
		case 0.005:
			over5 = steps - float64(bk.GetCumulativeCount())
		}
	}
	return over1, over5, steps
}
