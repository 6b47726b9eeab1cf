package cluster

import (
	"strings"
	"testing"
	"time"

	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/simulator"
)

// healthyRoundRobin cycles through the engines a router believes up.
func healthyRoundRobin() Router {
	next := 0
	return RouterFunc(func(_ *Request, engines []EngineState) int {
		for range engines {
			i := next % len(engines)
			next = i + 1
			if !engines[i].Down {
				return i
			}
		}
		return 0
	})
}

func uniformWorkload(n int, gap time.Duration, in, out int) []Request {
	reqs := make([]Request, n)
	for i := range reqs {
		reqs[i] = Request{Arrival: time.Duration(i) * gap, InputTokens: in, OutputTokens: out}
	}
	return reqs
}

type faultRun struct {
	recs   []metrics.Record
	events []Event
}

func runFaults(t *testing.T, cfg Config, reqs []Request) faultRun {
	t.Helper()
	var fr faultRun
	cfg.OnEvent = func(e Event) { fr.events = append(fr.events, e) }
	seen := map[int]bool{}
	err := Run(cfg, reqs, func(r metrics.Record) {
		if seen[r.Index] {
			t.Fatalf("request %d finished twice", r.Index)
		}
		seen[r.Index] = true
		fr.recs = append(fr.recs, r)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(fr.recs) != len(reqs) {
		t.Fatalf("%d of %d requests finished", len(fr.recs), len(reqs))
	}
	return fr
}

func TestKillFailsTheEnginesRequestsAndRestoreBringsItBack(t *testing.T) {
	prof := mustProfile(t, "llama-3.1-8b-h100")
	cfg := Config{Profile: prof, Engines: 2, Router: healthyRoundRobin(), Seed: 1, Detect: 250 * time.Millisecond,
		Targets: []string{"server-1", "server-2"}, Startup: 500 * time.Millisecond,
		Faults: []Fault{{At: 2 * time.Second, Engine: 1, Kind: Kill}, {At: 4 * time.Second, Engine: 1, Kind: Restore}}}
	fr := runFaults(t, cfg, uniformWorkload(300, 20*time.Millisecond, 128, 64))
	var resets, refused, afterOn2 int
	for _, r := range fr.recs {
		switch {
		case strings.Contains(r.Error, "connection reset (server-2 killed)"):
			resets++
			if r.Done != 2*time.Second {
				t.Errorf("request %d failed at %v, not at the kill", r.Index, r.Done)
			}
		case strings.Contains(r.Error, "connection refused (server-2 is down)"):
			refused++
		case r.Error != "":
			t.Errorf("request %d: unexpected error %q", r.Index, r.Error)
		case r.Target == "server-2" && r.Arrival > 2*time.Second && r.Arrival < 4*time.Second:
			t.Errorf("request %d arrived at %v, while server-2 was down, and succeeded on it", r.Index, r.Arrival)
		case r.Target == "server-2" && r.Arrival > 4500*time.Millisecond:
			afterOn2++
		}
	}
	if resets == 0 {
		t.Error("no request in flight on server-2 failed at the kill")
	}
	if refused > 1 { // at most the one routed in the 250 ms before routers noticed, at 20 ms gaps: a handful
		t.Logf("%d requests routed to the dead engine before routers noticed", refused)
	}
	if afterOn2 == 0 {
		t.Error("server-2 served nothing after it was restored")
	}
	want := []string{"killed@2s", "unhealthy@2s", "restoring@4s", "ready@4.5s", "healthy@4.5s"}
	var got []string
	for _, e := range fr.events {
		got = append(got, e.Kind+"@"+e.At.String())
		if e.Kind == EventReady && e.Away != 2500*time.Millisecond {
			t.Errorf("ready after %v away, want 2.5s", e.Away)
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("events %v, want %v", got, want)
	}
}

func TestPauseDelaysEverythingOnTheEngineByItsLengthAndFailsNothing(t *testing.T) {
	prof := mustProfile(t, "llama-3.1-8b-h100")
	reqs := uniformWorkload(40, 50*time.Millisecond, 64, 200)
	base := runFaults(t, Config{Profile: prof, Engines: 1, Seed: 1}, reqs)
	paused := runFaults(t, Config{Profile: prof, Engines: 1, Seed: 1,
		Faults: []Fault{{At: time.Second, Engine: 0, Kind: Pause, For: 3 * time.Second}}}, reqs)
	done := func(fr faultRun) map[int]metrics.Record {
		m := map[int]metrics.Record{}
		for _, r := range fr.recs {
			if r.Error != "" {
				t.Fatalf("request %d failed: %s", r.Index, r.Error)
			}
			m[r.Index] = r
		}
		return m
	}
	b, p := done(base), done(paused)
	for i, r := range p {
		if b[i].Done <= time.Second {
			if r.Done != b[i].Done {
				t.Errorf("request %d finished before the pause at %v, but at %v with it", i, b[i].Done, r.Done)
			}
			continue
		}
		if r.Done < 4*time.Second {
			t.Errorf("request %d finished at %v, during the pause", i, r.Done)
		}
		for _, c := range r.Chunks {
			if c.At > time.Second && c.At < 4*time.Second {
				t.Fatalf("request %d got a chunk at %v, during the pause", i, c.At)
			}
		}
	}
}

func TestTimeoutFailsRequestsThatRunTooLongAndAbortsThem(t *testing.T) {
	prof := mustProfile(t, "llama-3.1-8b-h100")
	reqs := uniformWorkload(20, 10*time.Millisecond, 64, 20)
	reqs[5].OutputTokens = 3000 // far longer than the timeout
	fr := runFaults(t, Config{Profile: prof, Engines: 1, Seed: 1, Timeout: 2 * time.Second}, reqs)
	for _, r := range fr.recs {
		switch {
		case r.Index == 5:
			if !strings.Contains(r.Error, "timed out after 2s") || r.Done != r.Sent+2*time.Second {
				t.Errorf("the long request ended %q at %v", r.Error, r.Done)
			}
		case r.Error != "":
			t.Errorf("request %d failed: %s", r.Index, r.Error)
		}
	}
}

func TestRestartChangesTheEngineConfiguration(t *testing.T) {
	prof := mustProfile(t, "llama-3.1-8b-h100")
	reqs := uniformWorkload(400, 5*time.Millisecond, 64, 100)
	cfg := Config{Profile: prof, Engines: 1, Seed: 1, Engine: simulator.EngineConfig{MaxRunningRequests: 64},
		Faults: []Fault{{At: time.Second, Engine: 0, Kind: Restart, Config: simulator.EngineConfig{MaxRunningRequests: 4}}}}
	var peakAfter int
	cfg.SampleEvery = 50 * time.Millisecond
	cfg.OnSample = func(_ int, at time.Duration, s EngineSample) {
		if at > time.Second {
			peakAfter = max(peakAfter, s.Usage.Running)
		}
	}
	fr := runFaults(t, cfg, reqs)
	if peakAfter == 0 || peakAfter > 4 {
		t.Errorf("after the restart with max running requests 4, up to %d ran", peakAfter)
	}
	var kinds []string
	for _, e := range fr.events {
		kinds = append(kinds, e.Kind)
	}
	if got := strings.Join(kinds, " "); got != "restarting ready" {
		t.Errorf("events %q, want restarting then ready", got)
	}
}
