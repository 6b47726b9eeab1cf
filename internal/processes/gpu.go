package processes

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/sgltest/sgltest/internal/simulator"
	"github.com/sgltest/sgltest/internal/telemetry"
	"github.com/sgltest/sgltest/internal/timeline"
)

// gpuWatch samples the servers' GPUs during the measured window: the
// simulator's simulated GPUs from each server's /metrics, or the real ones
// through NVML.
type gpuWatch struct {
	c      *telemetry.Collector
	source string
	out    timeline.GPU
}

// startGPUs starts sampling every interval from now; the returned watch's
// stop ends it. A machine without NVML is not an error: the outcome says
// why there is no telemetry.
func (x *execution) startGPUs(ctx context.Context, interval time.Duration) *gpuWatch {
	w := &gpuWatch{}
	var sampler telemetry.Sampler
	if x.p.Deployment != nil {
		w.out.Unavailable = "GPU telemetry reads this machine's GPUs; the deployment at " + x.p.Deployment.URL + " runs elsewhere"
		return w
	}
	if x.p.Simulated() {
		w.source = "simulated"
		sampler = telemetry.NewSimSampler(x.simReadings())
	} else {
		w.source = "nvml"
		var devices, pids []int
		for _, t := range x.targets {
			devices = append(devices, t.cfg.GPUs...)
			t.mu.Lock()
			pids = append(pids, t.srv.PID())
			t.mu.Unlock()
		}
		s, err := telemetry.Open(telemetry.NVMLOptions{Devices: devices, PIDs: pids})
		if err != nil {
			if why, ok := telemetry.Unavailable(err); ok {
				w.out.Unavailable = why
			} else {
				w.out.Unavailable = err.Error()
			}
			return w
		}
		sampler = s
	}
	c, err := telemetry.NewCollector(telemetry.CollectorOptions{Sampler: sampler, Now: x.now, Interval: interval, Logger: x.log})
	if err == nil {
		err = c.Start(ctx)
	}
	if err != nil {
		w.out.Unavailable = err.Error()
		_ = sampler.Close()
		return w
	}
	w.c = c
	return w
}

// stop ends sampling and returns what was sampled.
func (w *gpuWatch) stop() timeline.GPU {
	if w.c == nil {
		return w.out
	}
	if err := w.c.Stop(); err != nil {
		w.out.Incomplete = err.Error()
	}
	w.out.Samples, w.out.Source = w.c.Samples(), w.source
	return w.out
}

// simReadings reads each simulated server's GPUs from its /metrics: one
// reading per DP rank (each the tensor-parallel group that rank runs on),
// the servers' readings one after another. A server that cannot be read
// (down by plan) repeats its last readings, so that its interval figures
// read as missing, not as zero.
func (x *execution) simReadings() func(time.Duration) ([]simulator.GPUReading, error) {
	client := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: time.Second}
	last := make([][]simulator.GPUReading, len(x.targets))
	var mu sync.Mutex
	return func(time.Duration) ([]simulator.GPUReading, error) {
		per := make([][]simulator.GPUReading, len(x.targets))
		var wg sync.WaitGroup
		errs := make([]error, len(x.targets))
		for i, t := range x.targets {
			wg.Go(func() {
				r, err := readSimGPUs(client, t.url())
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					per[i], last[i] = r, r
				case last[i] != nil:
					per[i] = last[i]
				default:
					errs[i] = fmt.Errorf("%s: %w", t.name, err)
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return nil, err
			}
		}
		var out []simulator.GPUReading
		for _, r := range per {
			out = append(out, r...)
		}
		return out, nil
	}
}

func readSimGPUs(client *http.Client, url string) ([]simulator.GPUReading, error) {
	resp, err := client.Get(url + "/metrics")
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }() // read to the end or abandoned: nothing to report
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/metrics: %s", url, resp.Status)
	}
	return telemetry.ParseSimReadings(resp.Body)
}
