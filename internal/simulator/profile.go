package simulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
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
// layer reports, the KV pool the scheduler manages, the step-time model's
// parameters and the SGLang runtime they were measured with. Profiles are
// data (fixtures/profiles/*.json), so one can be added or recalibrated
// without touching Go; docs/calibration.md lists the published figures each
// one is fitted to and checked against.
type Profile struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// TPSize is the tensor-parallel size the profile describes by default:
	// the one its figures were measured at and the one a server or engine
	// uses when none is given. Step times scale to other sizes (steptime.go).
	TPSize    int            `json:"tp_size"`
	Model     ModelFacts     `json:"model"`
	GPU       GPUFacts       `json:"gpu"`
	Capacity  Capacity       `json:"capacity"`
	StepTime  StepTimeParams `json:"step_time"`
	Runtime   RuntimeParams  `json:"runtime"`
	Frontend  FrontendParams `json:"frontend"`
	Tokenizer TokenizerFacts `json:"tokenizer"`
	// NaturalOutput is how long a response runs when the model may stop at
	// its end-of-sequence token (ignore_eos false).
	NaturalOutput NaturalOutput `json:"natural_output"`
	// KVTransfer is the link a PD prefill server sends KV over (pd.go);
	// optional, but a prefill server needs it.
	KVTransfer *KVTransferParams `json:"kv_transfer,omitempty"`
}

// ModelFacts are what /model_info and /v1/models report, the limits the
// front end validates requests against, and the architecture figures tensor
// parallelism and the KV pool are derived from. Byte and FLOP counts are
// the whole model's; a GPU of a TP group holds and computes 1/TP of them.
type ModelFacts struct {
	Name          string   `json:"name"`
	ModelType     string   `json:"model_type"`
	Architectures []string `json:"architectures"`
	ContextLength Param    `json:"context_length"`
	VocabSize     Param    `json:"vocab_size"`
	NumLayers     Param    `json:"num_hidden_layers"`
	HiddenSize    Param    `json:"hidden_size"`
	NumHeads      Param    `json:"num_attention_heads"`
	NumKVHeads    Param    `json:"num_key_value_heads"`
	// ParamBytes is the memory the weights occupy (every parameter,
	// input embedding included), which the KV pool cannot use.
	ParamBytes Param `json:"param_bytes"`
}

// GPUFacts name the accelerator, its memory, the all-reduce the GPUs of a
// tensor-parallel group run twice per layer, and optionally its power range
// for the simulated power model (gpu.go): a profile without both IdleWatts
// and TDPWatts reports no simulated power or energy.
type GPUFacts struct {
	Name        string `json:"name"`
	MemoryBytes Param  `json:"memory_bytes"`
	// AllReduceBandwidth is the bus bandwidth one all-reduce achieves over
	// the GPUs' interconnect (NCCL's busbw), AllReduceLatency its fixed cost.
	AllReduceBandwidth Param  `json:"allreduce_bandwidth_bytes_per_s"`
	AllReduceLatency   Param  `json:"allreduce_latency_s"`
	IdleWatts          *Param `json:"idle_watts,omitempty"`
	TDPWatts           *Param `json:"tdp_watts,omitempty"`
}

// Capacity holds the KV pool and the memory settings SGLang would pick on
// this GPU when the flags leave them unset.
type Capacity struct {
	// MaxTotalTokens is the KV pool in tokens at MemFractionStatic and the
	// profile's TPSize; other settings scale it by the memory they free.
	MaxTotalTokens     Param `json:"max_total_tokens"`
	MemFractionStatic  Param `json:"mem_fraction_static"`
	ChunkedPrefillSize Param `json:"chunked_prefill_size"`
}

// StepTimeParams are the parameters of the step-time model (steptime.go).
// Times are seconds, sizes bytes, rates per second. Sizes and FLOPs are the
// whole model's; efficiencies are one GPU's.
type StepTimeParams struct {
	// StepOverhead (t_step) and RequestOverhead (t_req) are host (CPU)
	// time per step and per request in the batch: scheduling, batch
	// preparation and output processing. The overlap scheduler hides them
	// behind the GPU's work.
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
	// OtherAttentionBackends are the attention figures of backends other
	// than the runtime's AttentionBackend, which KVBandwidth and AttnFLOPs
	// describe; --attention-backend picks one.
	OtherAttentionBackends map[string]AttentionParams `json:"other_attention_backends,omitempty"`
}

// AttentionParams are the step-time parameters an attention backend sets.
type AttentionParams struct {
	KVBandwidth Param `json:"kv_bandwidth_bytes_per_s"`
	AttnFLOPs   Param `json:"attn_flops_per_s"`
}

// RuntimeParams describe the SGLang runtime the step times belong to.
type RuntimeParams struct {
	// SGLangVersion and LaunchFlags are the release and flags of the runs
	// the profile was fitted to.
	SGLangVersion string   `json:"sglang_version"`
	LaunchFlags   []string `json:"launch_flags"`
	// AttentionBackend is the attention backend of those runs, whose
	// figures step_time's kv_bandwidth and attn_flops are.
	AttentionBackend string `json:"attention_backend"`
	// OverlapSchedule is 1 when that runtime overlapped the CPU work of
	// the next step with the GPU's current one (SGLang's default since
	// v0.4), 0 when it ran them in turn; --disable-overlap-schedule turns
	// it off.
	OverlapSchedule Param `json:"overlap_schedule"`
	// CUDAGraphMaxBS is the largest decode batch that replays a captured
	// CUDA graph at the profile's TPSize; larger decode batches, and every
	// decode batch under --disable-cuda-graph, run eagerly.
	CUDAGraphMaxBS Param `json:"cuda_graph_max_bs"`
	// EagerFloor is the host time to launch one eager forward pass, kernel
	// by kernel: an eager step cannot be shorter.
	EagerFloor Param `json:"eager_floor_s"`
}

// FrontendParams are request-level costs outside the GPU step.
type FrontendParams struct {
	// InputOverhead (t_fe_in) is tokenisation, HTTP and IPC before a request
	// reaches the scheduler.
	InputOverhead Param `json:"t_fe_in_s"`
}

// TokenizerFacts are the special tokens text prompts and chat templates
// add (tokens.go).
type TokenizerFacts struct {
	BOSTokenID Param `json:"bos_token_id"`
	// EOSTokenID ends a response that stops naturally; it is the matched
	// token of the "stop" finish reason.
	EOSTokenID Param `json:"eos_token_id"`
	// ChatTemplate names the template chat requests are rendered with:
	// "llama3" (Llama 3.x Instruct).
	ChatTemplate string `json:"chat_template"`
}

// NaturalOutput is a lognormal distribution of response lengths in tokens.
type NaturalOutput struct {
	MedianTokens Param `json:"median_tokens"`
	Sigma        Param `json:"sigma"`
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
	positive         rule = iota // > 0
	nonNegative                  // >= 0
	positiveInt                  // > 0 and whole
	fraction                     // in (0, 1]
	atLeastOne                   // >= 1
	zeroOrOne                    // 0 or 1
	wholeNonNegative             // >= 0 and whole
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
	case r == zeroOrOne && v != 0 && v != 1:
		return "must be 0 or 1"
	case r == wholeNonNegative && (v < 0 || v != math.Trunc(v)):
		return "must be a whole number, not negative"
	}
	return ""
}

// Chat templates the simulator can render (tokens.go).
var chatTemplates = []string{"llama3"}

// validate checks every field and reports all problems at once, each naming
// the source and the field's JSON path.
func (p *Profile) validate(source string) error {
	var errs []error
	bad := func(field, msg string) {
		errs = append(errs, fmt.Errorf("profile %s: field %q %s", source, field, msg))
	}
	for field, v := range map[string]string{
		"name": p.Name, "model.name": p.Model.Name, "model.model_type": p.Model.ModelType, "gpu.name": p.GPU.Name,
		"runtime.sglang_version": p.Runtime.SGLangVersion, "runtime.attention_backend": p.Runtime.AttentionBackend,
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
	if !slices.Contains(chatTemplates, p.Tokenizer.ChatTemplate) {
		bad("tokenizer.chat_template", fmt.Sprintf("must be one of %v (got %q)", chatTemplates, p.Tokenizer.ChatTemplate))
	}
	s := &p.StepTime
	type checked struct {
		field string
		p     *Param
		r     rule
	}
	params := []checked{
		{"model.context_length", &p.Model.ContextLength, positiveInt},
		{"model.vocab_size", &p.Model.VocabSize, positiveInt},
		{"model.num_hidden_layers", &p.Model.NumLayers, positiveInt},
		{"model.hidden_size", &p.Model.HiddenSize, positiveInt},
		{"model.num_attention_heads", &p.Model.NumHeads, positiveInt},
		{"model.num_key_value_heads", &p.Model.NumKVHeads, positiveInt},
		{"model.param_bytes", &p.Model.ParamBytes, positive},
		{"gpu.memory_bytes", &p.GPU.MemoryBytes, positive},
		{"gpu.allreduce_bandwidth_bytes_per_s", &p.GPU.AllReduceBandwidth, positive},
		{"gpu.allreduce_latency_s", &p.GPU.AllReduceLatency, nonNegative},
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
		{"runtime.overlap_schedule", &p.Runtime.OverlapSchedule, zeroOrOne},
		{"runtime.cuda_graph_max_bs", &p.Runtime.CUDAGraphMaxBS, wholeNonNegative},
		{"runtime.eager_floor_s", &p.Runtime.EagerFloor, nonNegative},
		{"frontend.t_fe_in_s", &p.Frontend.InputOverhead, nonNegative},
		{"tokenizer.bos_token_id", &p.Tokenizer.BOSTokenID, wholeNonNegative},
		{"tokenizer.eos_token_id", &p.Tokenizer.EOSTokenID, wholeNonNegative},
		{"natural_output.median_tokens", &p.NaturalOutput.MedianTokens, atLeastOne},
		{"natural_output.sigma", &p.NaturalOutput.Sigma, nonNegative},
	}
	for _, name := range slices.Sorted(maps.Keys(s.OtherAttentionBackends)) {
		a := s.OtherAttentionBackends[name]
		prefix := "step_time.other_attention_backends." + name + "."
		params = append(params,
			checked{prefix + "kv_bandwidth_bytes_per_s", &a.KVBandwidth, positive},
			checked{prefix + "attn_flops_per_s", &a.AttnFLOPs, positive})
		if name == p.Runtime.AttentionBackend {
			bad(prefix[:len(prefix)-1], "repeats the runtime's own attention backend")
		}
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
	p.validateKVTransfer(bad)
	if s.JitterSigma.Value > maxJitterSigma {
		bad("step_time.jitter_sigma", fmt.Sprintf("must be at most %v (got %v)", maxJitterSigma, s.JitterSigma.Value))
	}
	if p.NaturalOutput.Sigma.Value > maxNaturalSigma {
		bad("natural_output.sigma", fmt.Sprintf("must be at most %v (got %v)", maxNaturalSigma, p.NaturalOutput.Sigma.Value))
	}
	vocab := p.Model.VocabSize.Value
	for field, id := range map[string]float64{"tokenizer.bos_token_id": p.Tokenizer.BOSTokenID.Value, "tokenizer.eos_token_id": p.Tokenizer.EOSTokenID.Value} {
		if id >= vocab {
			bad(field, fmt.Sprintf("must be below the vocabulary size %v (got %v)", vocab, id))
		}
	}
	if m := p.Model; m.NumHeads.Value > 0 && m.NumKVHeads.Value > 0 && math.Mod(m.NumHeads.Value, m.NumKVHeads.Value) != 0 {
		bad("model.num_key_value_heads", fmt.Sprintf("must divide num_attention_heads %v (got %v)", m.NumHeads.Value, m.NumKVHeads.Value))
	}
	if len(errs) == 0 {
		if err := p.checkTP(p.TPSize); err != nil {
			bad("tp_size", err.Error())
		}
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

// checkTP reports whether the model can be split over tp GPUs as SGLang
// splits it: the attention heads evenly, and the key-value heads evenly or
// replicated.
func (p *Profile) checkTP(tp int) error {
	heads, kv := int(p.Model.NumHeads.Value), int(p.Model.NumKVHeads.Value)
	switch {
	case tp < 1:
		return fmt.Errorf("tensor-parallel size must be at least 1, got %d", tp)
	case heads%tp != 0:
		return fmt.Errorf("tensor-parallel size %d does not divide the model's %d attention heads", tp, heads)
	case kv%tp != 0 && tp%kv != 0:
		return fmt.Errorf("tensor-parallel size %d neither divides nor is a multiple of the model's %d key-value heads", tp, kv)
	}
	return nil
}

// AttentionBackends lists the attention backends the profile has figures
// for, its runtime's own first.
func (p *Profile) AttentionBackends() []string {
	return append([]string{p.Runtime.AttentionBackend}, slices.Sorted(maps.Keys(p.StepTime.OtherAttentionBackends))...)
}

// kvBytesPerGPU is one token's KV bytes on one GPU of a tp group: the heads
// split over the GPUs, replicated once there are more GPUs than heads.
func (p *Profile) kvBytesPerGPU(tp int) float64 {
	kv := p.Model.NumKVHeads.Value
	return p.StepTime.KVBytesPerToken.Value * max(1, float64(tp)/kv) / float64(tp)
}

// poolTokens is the KV pool at tensor-parallel size tp and memory fraction
// frac: the GPU memory SGLang reserves for weights and KV, less one GPU's
// share of the weights and the activation and graph memory the profile's
// own pool implies, divided by one token's KV bytes on one GPU.
func (p *Profile) poolTokens(tp int, frac float64) float64 {
	mem := p.GPU.MemoryBytes.Value
	base := p.TPSize
	reserve := mem*p.Capacity.MemFractionStatic.Value - p.Model.ParamBytes.Value/float64(base) -
		p.Capacity.MaxTotalTokens.Value*p.kvBytesPerGPU(base)
	return (mem*frac - p.Model.ParamBytes.Value/float64(tp) - reserve) / p.kvBytesPerGPU(tp)
}
