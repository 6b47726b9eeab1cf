package telemetry

import (
	"testing"
	"time"
	"unsafe"
)

// BenchmarkSummarize summarises an hour of 8 GPUs sampled every 100 ms.
func BenchmarkSummarize(b *testing.B) {
	const gpus, n = 8, 36_000
	samples := make([]GPU, 0, gpus*n)
	for i := range n {
		for g := range gpus {
			v := float64((i*7 + g*13) % 101)
			samples = append(samples, GPU{
				At: time.Duration(i) * DefaultInterval, Index: g,
				UtilizationPct: known(v), MemoryUtilizationPct: known(v), MemoryUsedBytes: known(v * 1e9),
				MemoryTotalBytes: known(80e9), PowerWatts: known(v * 7), EnergyMillijoules: known(float64(i) * 1e3),
				SMClockMHz: known(1980.0), TemperatureC: known(60.0), ThrottleReasons: known([]string{}),
				ProcessMemoryBytes: known(v * 1e9), SMActivityPct: known(v),
			})
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		Summarize(samples)
	}
	b.ReportMetric(float64(unsafe.Sizeof(GPU{})), "B/sample")
}
