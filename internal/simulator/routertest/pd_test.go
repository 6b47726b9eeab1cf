//go:build linux

package routertest

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sgltest/sgltest/internal/api"
	"github.com/sgltest/sgltest/internal/launcher"
	"github.com/sgltest/sgltest/internal/testenv"
)

// TestRouter_PDModeServesEveryAPIThroughAPrefillAndADecodeSimulator puts
// each router in PD mode in front of one simulated prefill server and one
// simulated decode server. Every request must succeed, the decode server
// must have answered each (the router streams the decode response), and
// the prefill server must have transferred each request's KV once, which
// only happens when the router sent the decode server the prefill
// server's bootstrap address and a room shared with the prefill request.
func TestRouter_PDModeServesEveryAPIThroughAPrefillAndADecodeSimulator(t *testing.T) {
	for _, rt := range routers {
		t.Run(rt.pkg, func(t *testing.T) {
			py := testenv.RouterPython(t, rt.pkg)
			l := newLauncher(t)
			bin, model := testenv.Binary(t), t.TempDir()
			start := func(mode string) *launcher.Server {
				s, err := l.Start(t.Context(), launcher.Config{
					Name: "sim-" + mode, Backend: launcher.BackendSim, ModelPath: model, SimBinary: bin, DisaggregationMode: mode,
					ExtraArgs: []string{"--served-model-name", servedModel},
				})
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			prefill, decode := start(launcher.ModePrefill), start(launcher.ModeDecode)
			r, err := l.StartRouter(t.Context(), launcher.RouterConfig{
				Name: "router", Python: py, Module: rt.module, Policy: "round_robin",
				PD: &launcher.PDRouting{
					Prefill: []launcher.PrefillWorker{{URL: prefill.URL(), BootstrapPort: prefill.Config().BootstrapPort}},
					Decode:  []string{decode.URL()},
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			sent := 0
			for _, c := range requestCases {
				for i := range 2 {
					t.Run(fmt.Sprintf("%s/%d", c.name, i), func(t *testing.T) { c.check(t, r.URL()) })
					sent++
				}
			}
			// Each server's startup warmup counts too; it moves no KV.
			for _, s := range []*launcher.Server{prefill, decode} {
				if got := sumCounter(t, []string{s.URL()}, api.MetricNumRequests); got != float64(sent+1) {
					t.Errorf("%s finished %v requests, want %d sent + 1 warmup", s.Config().Name, got, sent)
				}
			}
			if got := histogramCount(t, prefill.URL(), api.MetricKVTransferLatency); got != float64(sent) {
				t.Errorf("the prefill server transferred %v requests' KV, want %d", got, sent)
			}
		})
	}
}

func histogramCount(t *testing.T, base, name string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, m := range families[name].GetMetric() {
		n += float64(m.GetHistogram().GetSampleCount())
	}
	return n
}
