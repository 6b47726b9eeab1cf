//go:build !(linux && cgo)

package telemetry

import "runtime"

// Open reports GPU telemetry as unavailable: NVML is reached through cgo,
// on Linux only, and this binary was built without one or the other.
func Open(opts NVMLOptions) (Sampler, error) {
	if runtime.GOOS != "linux" {
		return nil, &UnavailableError{Reason: "NVML telemetry needs Linux; this sgltest was built for " + runtime.GOOS}
	}
	return nil, &UnavailableError{Reason: "this sgltest was built without cgo (CGO_ENABLED=0); NVML telemetry needs a cgo build"}
}
