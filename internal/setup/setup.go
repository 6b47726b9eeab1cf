package setup

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/sgltest/sgltest/fixtures"
	"github.com/sgltest/sgltest/internal/launcher"
	"github.com/sgltest/sgltest/internal/plan"
	"github.com/sgltest/sgltest/internal/simulator"
)

// Setup is one named setup: the servers and how requests reach them.
type Setup struct {
	// Name is the setup's name: the file's base name without .yaml.
	Name string `json:"name"`
	// Source is where it was read from: the shipped file or the path given.
	Source      string   `json:"source"`
	Description string   `json:"description,omitempty"`
	Servers     Servers  `json:"servers"`
	Routing     *Routing `json:"routing,omitempty"`
}

// Servers is the setup's servers: Count identical ones.
type Servers struct {
	Count int `json:"count"`
	// Simulated forces sgltest's simulator whatever the suite's backend.
	Simulated bool `json:"simulated,omitempty"`
	// Profile is the simulator profile; empty leaves the scenario's.
	Profile  string   `json:"profile,omitempty"`
	Settings Settings `json:"settings"`
}

// Settings are SGLang server arguments; a zero one is not passed.
type Settings struct {
	MaxRunningRequests int     `json:"max_running_requests,omitempty"`
	TPSize             int     `json:"tp_size,omitempty"`
	ChunkedPrefillSize int     `json:"chunked_prefill_size,omitempty"`
	SchedulePolicy     string  `json:"schedule_policy,omitempty"`
	MemFractionStatic  float64 `json:"mem_fraction_static,omitempty"`
}

// Routing says who spreads the requests and with which policy.
type Routing struct {
	Via    string `json:"via"`
	Policy string `json:"policy"`
}

// dir is where the shipped setups live inside fixtures.Setups.
const dir = "setups"

// Names lists the shipped setups, sorted.
func Names() []string {
	entries, err := fs.ReadDir(fixtures.Setups, dir)
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// Load reads the shipped setup called name, or, when name ends in .yaml or
// .yml, the setup in that file.
func Load(name string) (Setup, error) {
	if strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml") {
		data, err := os.ReadFile(name)
		if err != nil {
			return Setup{}, fmt.Errorf("setup: %w", err)
		}
		return Parse(name, data)
	}
	source := path.Join(dir, name+".yaml")
	data, err := fs.ReadFile(fixtures.Setups, source)
	if err != nil || strings.ContainsAny(name, `/\`) {
		return Setup{}, fmt.Errorf("unknown setup %q (shipped: %s; or give a path ending in .yaml)", name, strings.Join(Names(), ", "))
	}
	return Parse("fixtures/"+source, data)
}

// Parse decodes and checks a setup. source names the file in errors, which
// give its line and the field's path (servers.settings.tp_size) and say
// what was expected; every problem is reported at once.
func Parse(source string, data []byte) (Setup, error) {
	base := path.Base(strings.ReplaceAll(source, `\`, "/"))
	s := Setup{Name: strings.TrimSuffix(strings.TrimSuffix(base, ".yaml"), ".yml"), Source: source}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return s, fmt.Errorf("setup %s: not valid YAML: %w", source, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return s, fmt.Errorf("setup %s: the file is empty: expected at least a servers section", source)
	}
	p := &parser{source: source}
	p.setup(doc.Content[0], &s)
	if len(p.errs) == 0 {
		return s, nil
	}
	slices.SortStableFunc(p.errs, func(a, b problem) int { return a.line - b.line })
	errs := make([]error, len(p.errs))
	for i, e := range p.errs {
		errs[i] = e.err
	}
	return s, errors.Join(errs...)
}

// parser walks the YAML tree, keeping every problem it finds.
type parser struct {
	source string
	errs   []problem
}

// problem is one error and its line, so that errors read in file order.
type problem struct {
	line int
	err  error
}

func (p *parser) bad(n *yaml.Node, field, format string, args ...any) {
	p.errs = append(p.errs, problem{n.Line, fmt.Errorf("setup %s:%d: %s: %s", p.source, n.Line, field, fmt.Sprintf(format, args...))})
}

// fields reads a mapping into its keys, reporting unknown and repeated
// keys. known lists the accepted keys in the order messages give them.
func (p *parser) fields(n *yaml.Node, where string, known []string) map[string]*yaml.Node {
	if n.Kind != yaml.MappingNode {
		p.bad(n, where, "expected a mapping of %s", strings.Join(known, ", "))
		return nil
	}
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		field := join(where, k.Value)
		switch {
		case !slices.Contains(known, k.Value):
			p.bad(k, field, "unknown field: expected %s", strings.Join(known, ", "))
		case out[k.Value] != nil:
			p.bad(k, field, "given twice (first on line %d)", out[k.Value].Line)
		default:
			out[k.Value] = v
		}
	}
	return out
}

func join(where, key string) string {
	if where == "" {
		return key
	}
	return where + "." + key
}

func (p *parser) setup(n *yaml.Node, s *Setup) {
	f := p.fields(n, "", []string{"description", "servers", "routing"})
	if f == nil {
		return
	}
	if d := f["description"]; d != nil {
		s.Description, _ = p.str(d, "description")
	}
	if f["servers"] == nil {
		p.bad(n, "servers", "missing: a setup declares its servers (at least servers.count)")
	} else {
		p.servers(f["servers"], &s.Servers)
	}
	if r := f["routing"]; r != nil {
		s.Routing = &Routing{}
		p.routing(r, s.Routing)
	} else if s.Servers.Count > 1 {
		p.bad(n, "routing", "missing: %d servers need a routing section (via and policy)", s.Servers.Count)
	}
}

func (p *parser) servers(n *yaml.Node, s *Servers) {
	f := p.fields(n, "servers", []string{"count", "simulated", "profile", "settings"})
	if f == nil {
		return
	}
	if c := f["count"]; c == nil {
		p.bad(n, "servers.count", "missing: how many servers the setup runs")
	} else if v, ok := p.integer(c, "servers.count"); ok {
		if v < 1 || v > plan.MaxVirtualServers {
			p.bad(c, "servers.count", "%d: expected 1 to %d", v, plan.MaxVirtualServers)
		}
		s.Count = v
	}
	if v := f["simulated"]; v != nil {
		if v.Kind != yaml.ScalarNode || (v.Value != "true" && v.Value != "false") {
			p.bad(v, "servers.simulated", "%q: expected true or false", v.Value)
		}
		s.Simulated = v.Value == "true"
	}
	if v := f["profile"]; v != nil {
		if name, ok := p.str(v, "servers.profile"); ok {
			if _, err := simulator.LoadProfile(name); err != nil {
				p.bad(v, "servers.profile", "%v", err)
			}
			s.Profile = name
		}
	}
	if v := f["settings"]; v != nil {
		p.settings(v, &s.Settings)
	}
	// The simulator refuses a tensor-parallel size its profile was not
	// derived for: say so here rather than when the servers start.
	if s.Simulated && s.Profile != "" && s.Settings.TPSize > 0 {
		if prof, err := simulator.LoadProfile(s.Profile); err == nil && prof.TPSize != s.Settings.TPSize {
			p.bad(f["settings"], "servers.settings.tp_size", "%d: simulated servers with profile %s run tp_size %d", s.Settings.TPSize, s.Profile, prof.TPSize)
		}
	}
}

func (p *parser) settings(n *yaml.Node, s *Settings) {
	f := p.fields(n, "servers.settings", []string{"max_running_requests", "tp_size", "chunked_prefill_size", "schedule_policy", "mem_fraction_static"})
	if f == nil {
		return
	}
	positive := func(key string, dst *int) {
		v := f[key]
		if v == nil {
			return
		}
		field := "servers.settings." + key
		if i, ok := p.integer(v, field); ok {
			if i < 1 {
				p.bad(v, field, "%d: expected a positive whole number", i)
			}
			*dst = i
		}
	}
	positive("max_running_requests", &s.MaxRunningRequests)
	positive("tp_size", &s.TPSize)
	if v := f["chunked_prefill_size"]; v != nil {
		const field = "servers.settings.chunked_prefill_size"
		if i, ok := p.integer(v, field); ok {
			if i == 0 || i < -1 {
				p.bad(v, field, "%d: expected a positive size, or -1 to disable chunking", i)
			}
			s.ChunkedPrefillSize = i
		}
	}
	if v := f["schedule_policy"]; v != nil {
		const field = "servers.settings.schedule_policy"
		if name, ok := p.str(v, field); ok {
			// The launcher owns SGLang's list of policies: ask it.
			c := launcher.Config{Name: "setup", Backend: launcher.BackendSim, SimBinary: "sgltest", ModelPath: "m", SchedulePolicy: name}
			if _, _, err := c.Command(); err != nil {
				p.bad(v, field, "%q is not a policy SGLang accepts (%v)", name, err)
			}
			s.SchedulePolicy = name
		}
	}
	if v := f["mem_fraction_static"]; v != nil {
		const field = "servers.settings.mem_fraction_static"
		x, err := strconv.ParseFloat(v.Value, 64)
		switch {
		case v.Kind != yaml.ScalarNode || err != nil:
			p.bad(v, field, "%q: expected a fraction such as 0.85", v.Value)
		case !(x > 0 && x < 1) || math.IsNaN(x):
			p.bad(v, field, "%v: expected a fraction between 0 and 1", x)
		default:
			s.MemFractionStatic = x
		}
	}
}

func (p *parser) routing(n *yaml.Node, r *Routing) {
	f := p.fields(n, "routing", []string{"via", "policy"})
	if f == nil {
		return
	}
	for _, key := range []string{"via", "policy"} {
		if f[key] == nil {
			p.bad(n, "routing."+key, "missing: a routing section names via (dispatcher, sglang-router or smg) and policy")
		}
	}
	if v := f["via"]; v != nil {
		r.Via, _ = p.str(v, "routing.via")
	}
	if v := f["policy"]; v != nil {
		r.Policy, _ = p.str(v, "routing.policy")
	}
	if r.Via == "" || r.Policy == "" {
		return
	}
	pr := plan.Routing{Via: r.Via, Policy: r.Policy}
	if err := pr.Validate(); err != nil {
		at := f["policy"]
		if !slices.Contains([]string{plan.ViaDispatcher, plan.ViaSGLangRouter, plan.ViaSMG}, r.Via) {
			at = f["via"]
		}
		p.bad(at, "routing", "%v", err)
	}
}

func (p *parser) str(n *yaml.Node, field string) (string, bool) {
	if n.Kind != yaml.ScalarNode || strings.TrimSpace(n.Value) == "" {
		p.bad(n, field, "expected a non-empty text value")
		return "", false
	}
	return n.Value, true
}

func (p *parser) integer(n *yaml.Node, field string) (int, bool) {
	v, err := strconv.Atoi(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil {
		p.bad(n, field, "%q: expected a whole number", n.Value)
		return 0, false
	}
	return v, true
}
