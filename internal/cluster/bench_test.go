package cluster

import (
	"testing"
	"time"

	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/simulator"
)

// BenchmarkRun_ShareGPTHour64Engines simulates one hour of ShareGPT-like
// traffic at 4 req/s per engine (the calibration load) on 64 engines:
// 921600 requests. It reports simulated requests per second of CPU time
// and the simulated-hour's wall time.
func BenchmarkRun_ShareGPTHour64Engines(b *testing.B) { benchShareGPT64(b, time.Hour) }

// BenchmarkRun_ShareGPT6Min64Engines is a tenth of the hour, for profiling.
func BenchmarkRun_ShareGPT6Min64Engines(b *testing.B) { benchShareGPT64(b, 6*time.Minute) }

func benchShareGPT64(b *testing.B, span time.Duration) {
	const engines, perEngine = 64, 4.0
	n := int(engines * perEngine * span.Seconds())
	reqs := shareGPTWorkload(b, n, engines*perEngine, 1)
	prof := mustProfile(b, "llama-3.1-8b-a100")
	cfg := Config{Profile: prof, Engine: simulator.EngineConfig{DisableRadixCache: true}, Engines: engines, Router: RoundRobin(), Seed: 1}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		done := 0
		if err := Run(cfg, reqs, func(metrics.Record) { done++ }); err != nil {
			b.Fatal(err)
		}
		if done != n {
			b.Fatalf("%d of %d finished", done, n)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/time.Since(start).Seconds(), "sim-req/s")
}

// BenchmarkRun_ShareGPT1Engine1200 is the calibration's rps-4 run: 1200
// requests on one engine, with every record kept.
func BenchmarkRun_ShareGPT1Engine1200(b *testing.B) {
	reqs := shareGPTWorkload(b, 1200, 4, 42)
	cfg := Config{Profile: mustProfile(b, "llama-3.1-8b-a100"), Engine: simulator.EngineConfig{DisableRadixCache: true}, Engines: 1, Seed: 1}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Records(cfg, reqs); err != nil {
			b.Fatal(err)
		}
	}
}
