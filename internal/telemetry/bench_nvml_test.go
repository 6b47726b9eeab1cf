//go:build linux && cgo

package telemetry

import (
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
)

// BenchmarkNVMLSample is one sample of a mock 8-GPU DGX H100: the adapter's
// own cost, without the driver's (real NVML calls take microseconds to
// milliseconds each and dominate on a GPU machine).
func BenchmarkNVMLSample(b *testing.B) {
	s, err := openWith(steadyDGX(dgxh100.New()), NVMLOptions{}, noParent)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sample(0); err != nil {
			b.Fatal(err)
		}
	}
}
