package setup

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEveryShippedSetupLoads(t *testing.T) {
	names := Names()
	if len(names) < 3 {
		t.Fatalf("shipped setups: %v, want at least 3", names)
	}
	for _, n := range names {
		s, err := Load(n)
		if err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		if s.Name != n || s.Servers.Count < 1 || s.Description == "" {
			t.Errorf("%s: %+v", n, s)
		}
	}
}

func TestLoadReadsEveryFieldOfASetup(t *testing.T) {
	s, err := Load("h100-tp1-cache-aware")
	if err != nil {
		t.Fatal(err)
	}
	want := Servers{Count: 4, Profile: "llama-3.1-8b-h100", Settings: Settings{TPSize: 1, MaxRunningRequests: 256, ChunkedPrefillSize: 8192}}
	if diff := cmp.Diff(want, s.Servers); diff != "" {
		t.Errorf("servers (-want +got):\n%s", diff)
	}
	if s.Routing == nil || *s.Routing != (Routing{Via: "dispatcher", Policy: "cache_aware"}) {
		t.Errorf("routing %+v", s.Routing)
	}
	if s.Source != "fixtures/setups/h100-tp1-cache-aware.yaml" {
		t.Errorf("source %q", s.Source)
	}
}

func TestLoadReadsAFileByPath(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mine.yaml")
	body := "servers:\n  count: 1\n  simulated: true\n  settings:\n    schedule_policy: fcfs\n    chunked_prefill_size: -1\n    mem_fraction_static: 0.8\n"
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	want := Setup{Name: "mine", Source: p, Servers: Servers{Count: 1, Simulated: true,
		Settings: Settings{SchedulePolicy: "fcfs", ChunkedPrefillSize: -1, MemFractionStatic: 0.8}}}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("setup (-want +got):\n%s", diff)
	}
}

func TestParseNamesTheFileLineAndFieldOfEveryProblem(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"empty", "", []string{"x.yaml: the file is empty"}},
		{"not yaml", "servers: [", []string{"x.yaml: not valid YAML"}},
		{"no servers", "description: d\n", []string{"x.yaml:1: servers: missing"}},
		{"no count", "servers:\n  profile: llama-3.1-8b-h100\n", []string{"x.yaml:2: servers.count: missing"}},
		{"count not a number", "servers:\n  count: four\n", []string{`x.yaml:2: servers.count: "four": expected a whole number`}},
		{"count zero", "servers:\n  count: 0\n", []string{"x.yaml:2: servers.count: 0: expected 1 to"}},
		{"unknown top field", "servers:\n  count: 1\nnode_config: {}\n", []string{"x.yaml:3: node_config: unknown field: expected description, servers, routing"}},
		{"a seed setting sgltest does not pass", "servers:\n  count: 1\n  settings:\n    enable_torch_compile: true\n",
			[]string{"x.yaml:4: servers.settings.enable_torch_compile: unknown field: expected max_running_requests"}},
		{"negative batch", "servers:\n  count: 1\n  settings:\n    max_running_requests: -3\n",
			[]string{"x.yaml:4: servers.settings.max_running_requests: -3: expected a positive whole number"}},
		{"chunk zero", "servers:\n  count: 1\n  settings:\n    chunked_prefill_size: 0\n",
			[]string{"servers.settings.chunked_prefill_size: 0: expected a positive size, or -1"}},
		{"fraction too big", "servers:\n  count: 1\n  settings:\n    mem_fraction_static: 1.5\n",
			[]string{"x.yaml:4: servers.settings.mem_fraction_static: 1.5: expected a fraction between 0 and 1"}},
		{"unknown schedule policy", "servers:\n  count: 1\n  settings:\n    schedule_policy: fifo\n",
			[]string{`x.yaml:4: servers.settings.schedule_policy: "fifo" is not a policy SGLang accepts`}},
		{"unknown profile", "servers:\n  count: 1\n  profile: gpt-5-b200\n", []string{`x.yaml:3: servers.profile: unknown simulator profile "gpt-5-b200"`}},
		{"simulated tp the profile lacks", "servers:\n  count: 1\n  simulated: true\n  profile: llama-3.1-8b-h100\n  settings:\n    tp_size: 2\n",
			[]string{"servers.settings.tp_size: 2: simulated servers with profile llama-3.1-8b-h100 run tp_size 1"}},
		{"simulated not a bool", "servers:\n  count: 1\n  simulated: yes please\n", []string{`x.yaml:3: servers.simulated: "yes please": expected true or false`}},
		{"several servers without routing", "servers:\n  count: 2\n", []string{"x.yaml:1: routing: missing: 2 servers need a routing section"}},
		{"routing without policy", "servers:\n  count: 2\nrouting:\n  via: dispatcher\n", []string{"x.yaml:4: routing.policy: missing"}},
		{"unknown router", "servers:\n  count: 2\nrouting:\n  via: nginx\n  policy: round_robin\n", []string{`x.yaml:4: routing: unknown router "nginx"`}},
		{"unknown policy", "servers:\n  count: 2\nrouting:\n  via: sglang-router\n  policy: shortest_queue\n",
			[]string{`x.yaml:5: routing: sglang-router policy "shortest_queue": expected one of`}},
		{"repeated field", "servers:\n  count: 1\n  count: 2\n", []string{"x.yaml:3: servers.count: given twice (first on line 2)"}},
		{"every problem at once", "servers:\n  count: 0\n  settings:\n    tp_size: x\n", []string{"servers.count: 0", `servers.settings.tp_size: "x"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.yaml)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not say %q", err, w)
				}
			}
		})
	}
}

func TestLoadRefusesAnUnknownNameListingTheShippedOnes(t *testing.T) {
	_, err := Load("h200-tp8")
	if err == nil || !strings.Contains(err.Error(), "h100-tp1-cache-aware") {
		t.Errorf("error %v, want the shipped setups listed", err)
	}
	if _, err := Load("../profiles/llama-3.1-8b-h100"); err == nil {
		t.Error("a name with a slash was accepted")
	}
}
