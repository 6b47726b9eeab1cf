package plan

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sgltest/sgltest/internal/launcher"
	"github.com/sgltest/sgltest/internal/load"
)

// valid returns a plan that validates: two simulated servers routed by
// sgltest's dispatcher, random prompts at 10 req/s.
func valid() Plan {
	srv := func(i int) Server {
		return Server{Name: ServerName(i), Profile: "llama-3.1-8b-h100", Launch: launcher.Config{Name: ServerName(i),
			Backend: launcher.BackendSim, ModelPath: "m", SimBinary: "/bin/true",
			ExtraArgs: []string{"--sim-profile", "llama-3.1-8b-h100"}}}
	}
	return Plan{Scenario: "s", Clock: Wall, Servers: []Server{srv(0), srv(1)},
		Routing: &Routing{Via: ViaDispatcher, Policy: "round_robin"},
		Dataset: Dataset{Random: &load.Random{Count: 10, InputTokens: 8, OutputTokens: 4}},
		Arrival: Arrival{Kind: ArrivePoisson, Rate: 10},
		Limits:  Limits{Grace: time.Minute, StallAfter: 10 * time.Second, GPUInterval: 100 * time.Millisecond}}
}

func TestValidateNamesEveryProblemBeforeAnythingLaunches(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Plan)
		want   []string // "" for a valid plan
	}{
		{"a valid plan", func(*Plan) {}, nil},
		{"no server", func(p *Plan) { p.Servers = nil }, []string{"no server declared"}},
		{"two servers and no routing", func(p *Plan) { p.Routing = nil }, []string{"2 servers declared but no routing"}},
		{"an unknown dispatcher policy", func(p *Plan) { p.Routing.Policy = "fastest" }, []string{`dispatcher policy "fastest"`}},
		{"a policy the real router lacks", func(p *Plan) { p.Routing = &Routing{Via: ViaSGLangRouter, Policy: "shortest_queue"} },
			[]string{`sglang-router policy "shortest_queue": expected one of`}},
		{"no dataset", func(p *Plan) { p.Dataset = Dataset{} }, []string{"no dataset declared"}},
		{"two datasets", func(p *Plan) { p.Dataset.JSONL = "x.jsonl" }, []string{"more than one dataset"}},
		{"a zero rate", func(p *Plan) { p.Arrival.Rate = 0 }, []string{"request rate 0"}},
		{"an absurd rate", func(p *Plan) { p.Arrival.Rate = 1e9 }, []string{"up to 1e+06"}},
		{"all at once", func(p *Plan) { p.Arrival.Rate = math.Inf(1) }, nil},
		{"too many servers", func(p *Plan) {
			for range MaxServers {
				p.Servers = append(p.Servers, p.Servers[0])
			}
		}, []string{"servers declared: at most 64 in wall time"}},
		{"a simulator flag the simulator refuses", func(p *Plan) { p.Servers[1].Launch.TPSize = 3 },
			[]string{"server-2: simulator", "tensor-parallel size 3 does not divide"}},
		{"a kill of a server that does not exist", func(p *Plan) { p.Timeline = []Action{{Kind: Kill, Target: "server-7", At: time.Second}} },
			[]string{"no server-7: the scenario declares servers 1 to 2"}},
		{"a restore of a running server", func(p *Plan) { p.Timeline = []Action{{Kind: Restore, Target: "server-1", At: time.Second}} },
			[]string{"server-1 is running then"}},
		{"a kill, then a restore: fine", func(p *Plan) {
			p.Timeline = []Action{{Kind: Restore, Target: "server-1", At: 2 * time.Second}, {Kind: Kill, Target: "server-1", At: time.Second}}
		}, nil},
		{"overlapping pauses", func(p *Plan) {
			p.Timeline = []Action{{Kind: Pause, Target: "server-1", At: time.Second, For: 5 * time.Second}, {Kind: Kill, Target: "server-1", At: 2 * time.Second}}
		}, []string{"overlaps the pause before it"}},
		{"a router fault without a router", func(p *Plan) { p.Timeline = []Action{{Kind: Kill, Target: RouterTarget, At: time.Second}} },
			[]string{"runs no router process"}},
		{"virtual time with the real router and users", func(p *Plan) {
			p.Clock = Virtual
			p.Routing = &Routing{Via: ViaSMG, Policy: "round_robin"}
			p.Arrival = Arrival{Kind: ArriveUsers, Users: 2}
		}, []string{"open-loop arrivals only", "cannot run the real router"}},
		{"a deployment with a fault and a launched server", func(p *Plan) {
			p.Deployment = &Deployment{URL: "http://staging:30000"}
			p.Routing = nil
			p.Timeline = []Action{{Kind: Kill, Target: "server-1", At: time.Second}}
		}, []string{"is not sgltest's to kill", "also declares a server to launch"}},
		{"no grace", func(p *Plan) { p.Limits.Grace = 0 }, []string{"must be positive"}},
		{"a data parallel server", func(p *Plan) { p.Servers[0].Launch.DPSize, p.Servers[0].Launch.LoadBalanceMethod = 4, "total_tokens" }, nil},
		{"a load balance method SGLang does not have", func(p *Plan) {
			p.Servers[0].Launch.DPSize, p.Servers[0].Launch.LoadBalanceMethod = 4, "shortest_queue"
		}, []string{`LoadBalanceMethod: "shortest_queue": expected one of auto, round_robin`}},
		{"follow_bootstrap_room without PD disaggregation", func(p *Plan) {
			p.Servers[1].Launch.DPSize, p.Servers[1].Launch.LoadBalanceMethod = 2, "follow_bootstrap_room"
		}, []string{"server-2: load balance method follow_bootstrap_room needs PD disaggregation"}},
		{"data parallelism in virtual time", func(p *Plan) {
			p.Clock = Virtual
			p.Servers[0].Launch.DPSize = 2
		}, []string{"server-1: virtual time does not run SGLang's data parallelism (data parallel size 2)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := valid()
			tc.change(&p)
			checkValidate(t, p, tc.want)
		})
	}
}

func TestWorkFixesTheCountToTheScheduleAndFindsItsEnd(t *testing.T) {
	p := valid()
	p.Arrival = Arrival{Kind: ArrivePhases, Phases: []load.Phase{load.Burst(3)}}
	w, err := p.Work()
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Requests) != 3 || len(w.Offsets) != 3 || w.End != 0 {
		t.Errorf("%d requests, %d offsets, end %v; want 3, 3, 0", len(w.Requests), len(w.Offsets), w.End)
	}
	p.Arrival = Arrival{Kind: ArriveConstant, Rate: 10}
	if w, err = p.Work(); err != nil || w.End != 900*time.Millisecond {
		t.Errorf("constant 10 req/s of 10 prompts ends at %v (%v), want 900ms", w.End, err)
	}
	p.Arrival = Arrival{Kind: ArriveUsers, Users: 2}
	if w, err = p.Work(); err != nil || w.Offsets != nil || w.End != 0 {
		t.Errorf("a closed loop has offsets %v and end %v (%v); want none", w.Offsets, w.End, err)
	}
}

// checkValidate fails t unless p.Validate's error holds every string of
// want, or, with want empty, unless p validates.
func checkValidate(t *testing.T, p Plan, want []string) {
	t.Helper()
	err := p.Validate()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatal("the plan validated")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
}
