package simulator

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// mustProfile loads an embedded profile or a testdata file.
func mustProfile(t *testing.T, name string) Profile {
	t.Helper()
	p, err := LoadProfile(name)
	if err != nil {
		t.Fatalf("LoadProfile(%q): %v", name, err)
	}
	return p
}

const fastProfile = "testdata/fast.json"

func mustEngine(t *testing.T, cfg EngineConfig, prof Profile, seed int64) *Engine {
	t.Helper()
	e, err := NewEngine(cfg, prof, seed)
	if err != nil {
		t.Fatalf("NewEngine: %v", err)
	}
	return e
}

// simulate runs the engine in virtual time: each request is added when the
// clock reaches its arrival, and each step starts when the previous one
// ends. after, if set, sees every step and the engine's state after it. It
// returns the non-idle steps once every request has been added and the
// engine is idle.
func simulate(t *testing.T, e *Engine, reqs []Request, after func(Step, Usage)) []Step {
	t.Helper()
	var steps []Step
	var now time.Duration
	next := 0
	for {
		for next < len(reqs) && reqs[next].Arrival <= now {
			if err := e.Add(reqs[next]); err != nil {
				t.Fatalf("Add(%s): %v", reqs[next].ID, err)
			}
			next++
		}
		st := e.Step(now)
		if st.Kind == StepIdle {
			if next == len(reqs) {
				return steps
			}
			now = reqs[next].Arrival
			continue
		}
		steps = append(steps, st)
		if after != nil {
			after(st, e.Usage())
		}
		now = st.End
		if len(steps) > 1_000_000 {
			t.Fatal("engine did not drain")
		}
	}
}

// workload is n requests with Poisson arrivals at rate per second and
// uniform lengths, all streamed, from a fixed seed.
func workload(n int, rate float64, maxIn, maxOut int, seed uint64) []Request {
	rng := rand.New(rand.NewPCG(seed, 1))
	reqs := make([]Request, n)
	var at time.Duration
	for i := range reqs {
		at += time.Duration(rng.ExpFloat64() / rate * float64(time.Second))
		reqs[i] = Request{
			ID:           fmt.Sprintf("req-%04d", i),
			InputTokens:  1 + rng.IntN(maxIn),
			MaxNewTokens: 1 + rng.IntN(maxOut),
			Arrival:      at,
			Stream:       true,
		}
	}
	return reqs
}
