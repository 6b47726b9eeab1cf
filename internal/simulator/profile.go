package simulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/sgltest/sgltest/fixtures"
)

// Param is one number of a profile together with where it came from, so a
// report can say whether a result rests on a measurement or a datasheet guess.
type Param struct {
	Value      float64 `json:"value"`
	Provenance string  `json:"provenance"`
}

// Profile describes one model served on one GPU type: the facts the HTTP
// layer reports, the KV pool the scheduler manages, and the step-time model's
// parameters. Profiles are data (fixtures/profiles/*.json), so one can be
// added or recalibrated without touching Go.
type Profile struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// TPSize is the tensor-parallel size the numbers were derived for. The
	// step-time model has no TP term, so a server refuses any other --tp-size
	// rather than report numbers for a configuration it does not model.
	TPSize   int            `json:"tp_size"`
	Model    ModelFacts     `json:"model"`
	GPU      GPUFacts       `json:"gpu"`
	Capacity Capacity       `json:"capacity"`
	StepTime StepTimeParams `json:"step_time"`
	Frontend FrontendParams `json:"frontend"`
}

// ModelFacts are what /model_info and /v1/models report, and the limits the
// front end validates requests against.
type ModelFacts struct {
	Name          string   `json:"name"`
	ModelType     string   `json:"model_type"`
	Architectures []string `json:"architectures"`
	ContextLength Param    `json:"context_length"`
	VocabSize     Param    `json:"vocab_size"`
}

// GPUFacts names the accelerator and its memory, and optionally its power
// range for the simulated power model (gpu.go): a profile without both
// IdleWatts and TDPWatts reports no simulated power or energy.
type GPUFacts struct {
	Name        string `json:"name"`
	MemoryBytes Param  `json:"memory_bytes"`
	IdleWatts   *Param `json:"idle_watts,omitempty"`
	TDPWatts    *Param `json:"tdp_watts,omitempty"`
}

// Capacity holds the KV pool and the memory settings SGLang would pick on
// this GPU when the flags leave them unset.
type Capacity struct {
	// MaxTotalTokens is the KV pool in tokens at MemFractionStatic.
	MaxTotalTokens     Param `json:"max_total_tokens"`
	MemFractionStatic  Param `json:"mem_fraction_static"`
	ChunkedPrefillSize Param `json:"chunked_prefill_size"`
}

// StepTimeParams are the parameters of the step-time model (steptime.go).
// Times are seconds, sizes bytes, rates per second.
type StepTimeParams struct {
	StepOverhead         Param `json:"t_step_s"`
	RequestOverhead      Param `json:"t_req_s"`
	WeightBytes          Param `json:"weight_bytes"`
	WeightBandwidth      Param `json:"weight_bandwidth_bytes_per_s"`
	BodyFLOPsPerToken    Param `json:"body_flops_per_token"`
	HeadFLOPsPerSequence Param `json:"head_flops_per_sequence"`
	GEMMFLOPs            Param `json:"gemm_flops_per_s"`
	KVBytesPerToken      Param `json:"kv_bytes_per_token"`
	KVBandwidth          Param `json:"kv_bandwidth_bytes_per_s"`
	AttnFLOPsPerPair     Param `json:"attn_flops_per_token_pair"`
	AttnFLOPs            Param `json:"attn_flops_per_s"`
	SmoothMaxP           Param `json:"smoothmax_p"`
	JitterSigma          Param `json:"jitter_sigma"`
}

// FrontendParams are request-level costs outside the GPU step.
type FrontendParams struct {
	// InputOverhead (t_fe_in) is tokenisation, HTTP and IPC before a request
	// reaches the scheduler.
	InputOverhead Param `json:"t_fe_in_s"`
}

// profileDir is where the embedded profiles live inside fixtures.Profiles.
const profileDir = "profiles"

// ProfileNames lists the embedded profiles, sorted.
func ProfileNames() []string {
	entries, err := fs.ReadDir(fixtures.Profiles, profileDir)
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// LoadProfile returns the embedded profile called name or, when name ends in
// ".json", the profile in that file.
func LoadProfile(name string) (Profile, error) {
	if strings.HasSuffix(name, ".json") {
		data, err := os.ReadFile(name)
		if err != nil {
			return Profile{}, fmt.Errorf("simulator profile: %w", err)
		}
		return ParseProfile(name, data)
	}
	data, err := fs.ReadFile(fixtures.Profiles, path.Join(profileDir, name+".json"))
	if err != nil {
		return Profile{}, fmt.Errorf("unknown simulator profile %q (available: %s; or give a path ending in .json)",
			name, strings.Join(ProfileNames(), ", "))
	}
	return ParseProfile(name+".json", data)
}

// ParseProfile decodes and validates a profile. source names the data in
// errors (a file name). Unknown keys are errors, so a misspelt parameter
// cannot silently fall back to zero.
func ParseProfile(source string, data []byte) (Profile, error) {
	var p Profile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Profile{}, fmt.Errorf("profile %s: %w", source, err)
	}
	if err := p.validate(source); err != nil {
		return Profile{}, err
	}
	return p, nil
}

// A rule says which values a parameter admits.
type rule int

const (
	positive    rule = iota // > 0
	nonNegative             // >= 0
	positiveInt             // > 0 and whole
	fraction                // in (0, 1]
	atLeastOne              // >= 1
)

func (r rule) check(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "must be a finite number"
	case r == nonNegative && v < 0:
		return "must not be negative"
	case (r == positive || r == positiveInt) && v <= 0:
		return "must be positive"
	case r == positiveInt && v != math.Trunc(v):
		return "must be a whole number"
	case r == fraction && (v <= 0 || v > 1):
		return "must be in (0, 1]"
	case r == atLeastOne && v < 1:
		return "must be at least 1"
	}
	return ""
}

// validate checks every field and reports all problems at once, each naming
// the source and the field's JSON path.
func (p *Profile) validate(source string) error {
	var errs []error
	bad := func(field, msg string) {
		errs = append(errs, fmt.Errorf("profile %s: field %q %s", source, field, msg))
	}
	for field, v := range map[string]string{
		"name": p.Name, "model.name": p.Model.Name, "model.model_type": p.Model.ModelType, "gpu.name": p.GPU.Name,
	} {
		if strings.TrimSpace(v) == "" {
			bad(field, "is missing")
		}
	}
	if len(p.Model.Architectures) == 0 {
		bad("model.architectures", "is missing")
	}
	if p.TPSize < 1 {
		bad("tp_size", "is missing or below 1")
	}
	s := &p.StepTime
	params := []struct {
		field string
		p     *Param
		r     rule
	}{
		{"model.context_length", &p.Model.ContextLength, positiveInt},
		{"model.vocab_size", &p.Model.VocabSize, positiveInt},
		{"gpu.memory_bytes", &p.GPU.MemoryBytes, positive},
		{"capacity.max_total_tokens", &p.Capacity.MaxTotalTokens, positiveInt},
		{"capacity.mem_fraction_static", &p.Capacity.MemFractionStatic, fraction},
		{"capacity.chunked_prefill_size", &p.Capacity.ChunkedPrefillSize, positiveInt},
		{"step_time.t_step_s", &s.StepOverhead, nonNegative},
		{"step_time.t_req_s", &s.RequestOverhead, nonNegative},
		{"step_time.weight_bytes", &s.WeightBytes, nonNegative},
		{"step_time.weight_bandwidth_bytes_per_s", &s.WeightBandwidth, positive},
		{"step_time.body_flops_per_token", &s.BodyFLOPsPerToken, nonNegative},
		{"step_time.head_flops_per_sequence", &s.HeadFLOPsPerSequence, nonNegative},
		{"step_time.gemm_flops_per_s", &s.GEMMFLOPs, positive},
		{"step_time.kv_bytes_per_token", &s.KVBytesPerToken, positive},
		{"step_time.kv_bandwidth_bytes_per_s", &s.KVBandwidth, positive},
		{"step_time.attn_flops_per_token_pair", &s.AttnFLOPsPerPair, nonNegative},
		{"step_time.attn_flops_per_s", &s.AttnFLOPs, positive},
		{"step_time.smoothmax_p", &s.SmoothMaxP, atLeastOne},
		{"step_time.jitter_sigma", &s.JitterSigma, nonNegative},
		{"frontend.t_fe_in_s", &p.Frontend.InputOverhead, nonNegative},
	}
	for _, f := range params {
		switch {
		case f.p.Provenance == "" && f.p.Value == 0:
			bad(f.field, "is missing")
		case strings.TrimSpace(f.p.Provenance) == "":
			bad(f.field, "has no provenance")
		default:
			if msg := f.r.check(f.p.Value); msg != "" {
				bad(f.field, fmt.Sprintf("%s (got %v)", msg, f.p.Value))
			}
		}
	}
	p.validatePower(bad)
	if s.JitterSigma.Value > maxJitterSigma {
		bad("step_time.jitter_sigma", fmt.Sprintf("must be at most %v (got %v)", maxJitterSigma, s.JitterSigma.Value))
	}
	// Map iteration above is unordered; sort so the message is stable.
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

// validatePower checks the optional power range: both ends or neither,
// each with provenance, idle not above TDP.
func (p *Profile) validatePower(bad func(field, msg string)) {
	idle, tdp := p.GPU.IdleWatts, p.GPU.TDPWatts
	switch {
	case idle == nil && tdp == nil:
		return
	case idle == nil:
		bad("gpu.idle_watts", "is missing (gpu.tdp_watts is set; give both or neither)")
		return
	case tdp == nil:
		bad("gpu.tdp_watts", "is missing (gpu.idle_watts is set; give both or neither)")
		return
	}
	ok := true
	for _, f := range []struct {
		field string
		p     *Param
		r     rule
	}{{"gpu.idle_watts", idle, nonNegative}, {"gpu.tdp_watts", tdp, positive}} {
		if strings.TrimSpace(f.p.Provenance) == "" {
			bad(f.field, "has no provenance")
			ok = false
		}
		if msg := f.r.check(f.p.Value); msg != "" {
			bad(f.field, fmt.Sprintf("%s (got %v)", msg, f.p.Value))
			ok = false
		}
	}
	if ok && idle.Value > tdp.Value {
		bad("gpu.idle_watts", fmt.Sprintf("must not exceed gpu.tdp_watts %v (got %v)", tdp.Value, idle.Value))
	}
}
