package cluster

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/simulator"
)

// TestRun_DeferredOutputsGiveTheSameRecordsAsStepwise proves the fast path
// (simulator.Engine.DeferOutputs) changes no record: not a chunk time, not
// a finish, under retraction, radix caching, lpm, stream intervals and a
// load-aware router.
func TestRun_DeferredOutputsGiveTheSameRecordsAsStepwise(t *testing.T) {
	prof := mustProfile(t, "llama-3.1-8b-a100")
	tests := []struct {
		name    string
		engine  simulator.EngineConfig
		engines int
		router  func() Router
		reqs    []Request
	}{
		{"sharegpt no cache round robin", simulator.EngineConfig{DisableRadixCache: true}, 2, RoundRobin, shareGPTWorkload(t, 200, 16, 7)},
		{"sharegpt shortest queue", simulator.EngineConfig{DisableRadixCache: true}, 3, ShortestQueue, shareGPTWorkload(t, 200, 30, 8)},
		{"small pool retracts", simulator.EngineConfig{DisableRadixCache: true, MaxTotalTokens: 6000}, 1, RoundRobin, shareGPTWorkload(t, 150, 20, 9)},
		{"radix cache lpm", simulator.EngineConfig{SchedulePolicy: "lpm"}, 2, ShortestQueue, sharedPrefixWorkload(300, 20, 10)},
		{"stream interval 3 small pool", simulator.EngineConfig{StreamInterval: 3, MaxTotalTokens: 3000}, 1, RoundRobin, sharedPrefixWorkload(150, 40, 11)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := func(stepwise bool) []metrics.Record {
				cfg := Config{Profile: prof, Engine: tt.engine, Engines: tt.engines, Router: tt.router(), Seed: 3, stepwise: stepwise}
				recs, err := Records(cfg, tt.reqs)
				if err != nil {
					t.Fatal(err)
				}
				return recs
			}
			if d := cmp.Diff(run(true), run(false)); d != "" {
				t.Errorf("deferred records differ from stepwise (-stepwise +deferred):\n%s", d)
			}
		})
	}
}
