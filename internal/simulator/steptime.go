package simulator

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// BatchShape is what the step-time model needs to know about one engine step
// (simulator-design.md s2.1 symbols).
type BatchShape struct {
	// PrefillTokens (P) are the new prompt tokens computed this step.
	PrefillTokens int
	// DecodeSeqs (D) are the sequences that each produce one token.
	DecodeSeqs int
	// Requests (B) is every request in the batch.
	Requests int
	// DecodeContext (C_dec) is the sum of the decoding sequences' lengths:
	// the KV tokens decode attention reads.
	DecodeContext int
	// PrefillAttention (A_pf) is the sum over prefill chunks of
	// chunk × (prefix already computed + chunk/2): token pairs of attention.
	PrefillAttention float64
}

// maxJitterSigma bounds the profile's relative step-time noise; beyond it the
// clamp in Sample would distort the mean.
const maxJitterSigma = 0.3

// maxNaturalSigma bounds the spread of natural response lengths: beyond it
// the lognormal's mean is dominated by rare responses thousands of times the
// median.
const maxNaturalSigma = 3

// StepConfig is how a profile is run: what SGLang's launch flags decide.
type StepConfig struct {
	// TPSize is the tensor-parallel size; 0 means the profile's.
	TPSize int
	// Overlap hides host time behind the GPU's (the overlap scheduler).
	Overlap bool
	// CUDAGraphMaxBS is the largest decode batch that replays a CUDA graph;
	// 0 runs every step eagerly (--disable-cuda-graph).
	CUDAGraphMaxBS int
	// AttentionBackend picks the attention figures; "" means the
	// profile's runtime backend.
	AttentionBackend string
}

// StepModel prices one engine step with the compact form of
// simulator-design.md s5.2, on one GPU of a tensor-parallel group of TP:
//
//	GPU = smoothmax(W/TP/BWw, (F_body·N + F_head·B)/TP/Φg)
//	      + kvB_gpu·C_dec/BWkv + F_attn/TP·A_pf/Φa + t_comm(N)
//	CPU = t_step + t_req·B
//	T   = GPU + CPU, or max(GPU, CPU) with the overlap scheduler
//
// with N = P + D. The LM head is charged per sequence (F_head·B) rather than
// per token because it runs only on each sequence's last position (s2.1).
// smoothmax is the p-norm (x^p + y^p)^(1/p), which bends through the
// weight-bound/compute-bound knee gradually as measured curves do. t_comm is
// two all-reduces of the step's N·hidden activations per layer (ring
// all-reduce moves 2(TP-1)/TP of the bytes per GPU), zero at TP 1. A step
// without a CUDA graph (a prefill, or a decode batch above the graph limit)
// takes at least the eager launch floor.
type StepModel struct {
	p        StepTimeParams
	tp       float64
	kvPerGPU float64
	overlap  bool
	graphBS  int
	eager    float64
	// commFixed and commPerToken price one step's all-reduces: layers × 2
	// × (latency + N × hidden × 2 bytes × 2(TP-1)/TP / bus bandwidth).
	commFixed, commPerToken float64
}

// NewStepModel returns the model for a validated profile run as c says.
func NewStepModel(prof Profile, c StepConfig) (StepModel, error) {
	tp := c.TPSize
	if tp == 0 {
		tp = prof.TPSize
	}
	if err := prof.checkTP(tp); err != nil {
		return StepModel{}, fmt.Errorf("profile %s: %w", prof.Name, err)
	}
	p := prof.StepTime
	if b := c.AttentionBackend; b != "" && b != prof.Runtime.AttentionBackend {
		a, ok := p.OtherAttentionBackends[b]
		if !ok {
			return StepModel{}, fmt.Errorf("profile %s has no figures for attention backend %q (it has %v)", prof.Name, b, prof.AttentionBackends())
		}
		p.KVBandwidth, p.AttnFLOPs = a.KVBandwidth, a.AttnFLOPs
	}
	m := StepModel{
		p: p, tp: float64(tp), kvPerGPU: prof.kvBytesPerGPU(tp),
		overlap: c.Overlap, graphBS: c.CUDAGraphMaxBS, eager: prof.Runtime.EagerFloor.Value,
	}
	if tp > 1 {
		allReduces := 2 * prof.Model.NumLayers.Value
		m.commFixed = allReduces * prof.GPU.AllReduceLatency.Value
		m.commPerToken = allReduces * prof.Model.HiddenSize.Value * 2 * 2 * float64(tp-1) / float64(tp) /
			prof.GPU.AllReduceBandwidth.Value
	}
	return m, nil
}

// Mean is the noise-free step time.
func (m StepModel) Mean(s BatchShape) time.Duration {
	return m.mean(s, m.knee(float64(s.PrefillTokens+s.DecodeSeqs), float64(s.Requests)))
}

// knee is the smooth-max term for n tokens of b requests.
func (m *StepModel) knee(n, b float64) float64 {
	p := &m.p
	weights := p.WeightBytes.Value / m.tp / p.WeightBandwidth.Value
	gemm := (p.BodyFLOPsPerToken.Value*n + p.HeadFLOPsPerSequence.Value*b) / m.tp / p.GEMMFLOPs.Value
	return smoothMax(weights, gemm, p.SmoothMaxP.Value)
}

// graphed reports whether the step replays a CUDA graph: decode steps up to
// the graph batch limit; prefill steps run eagerly.
func (m *StepModel) graphed(s BatchShape) bool {
	return s.PrefillTokens == 0 && s.Requests <= m.graphBS
}

func (m *StepModel) mean(s BatchShape, knee float64) time.Duration {
	p := &m.p
	b := float64(s.Requests)
	gpu := knee +
		m.kvPerGPU*float64(s.DecodeContext)/p.KVBandwidth.Value +
		p.AttnFLOPsPerPair.Value/m.tp*s.PrefillAttention/p.AttnFLOPs.Value
	if m.commFixed > 0 {
		gpu += m.commFixed + m.commPerToken*float64(s.PrefillTokens+s.DecodeSeqs)
	}
	if !m.graphed(s) {
		gpu = max(gpu, m.eager)
	}
	cpu := p.StepOverhead.Value + p.RequestOverhead.Value*b
	if m.overlap {
		return seconds(max(gpu, cpu))
	}
	return seconds(gpu + cpu)
}

// Sample is Mean with seeded Gaussian noise of relative σ (jitter_sigma),
// clamped to ±3σ so one unlucky draw cannot make a step negative or absurd.
func (m StepModel) Sample(s BatchShape, rng *rand.Rand) time.Duration {
	return m.noisy(m.Mean(s), rng)
}

func (m *StepModel) noisy(mean time.Duration, rng *rand.Rand) time.Duration {
	sigma := m.p.JitterSigma.Value
	if sigma == 0 {
		return mean
	}
	z := max(-3, min(3, rng.NormFloat64()))
	return time.Duration(float64(mean) * (1 + sigma*z))
}

// memoModel is a StepModel that remembers smooth-max terms in a small
// direct-mapped table keyed by N and B: decode batches keep their size for
// many steps and revisit the same few sizes, and the term's exp and log
// would otherwise dominate a virtual-time step. Its results equal
// StepModel's exactly.
type memoModel struct {
	StepModel
	memo [64]kneeMemo
}

type kneeMemo struct {
	n, b int
	v    float64
	ok   bool
}

// Sample is StepModel.Sample.
func (m *memoModel) Sample(s BatchShape, rng *rand.Rand) time.Duration {
	n, b := s.PrefillTokens+s.DecodeSeqs, s.Requests
	c := &m.memo[uint(n*31+b)%uint(len(m.memo))]
	if !c.ok || c.n != n || c.b != b {
		*c = kneeMemo{n: n, b: b, v: m.knee(float64(n), float64(b)), ok: true}
	}
	return m.noisy(m.mean(s, c.v), rng)
}

func smoothMax(x, y, p float64) float64 {
	hi := max(x, y)
	if hi == 0 {
		return 0
	}
	// Scale by the larger term so x^p cannot overflow; the larger term's
	// ratio is 1. exp/log instead of Pow: this runs once per simulated step.
	lo := min(x, y)
	if lo <= 0 {
		return hi
	}
	return hi * math.Exp(math.Log1p(math.Exp(p*math.Log(lo/hi)))/p)
}

// seconds converts float seconds to a Duration, rounding to the nanosecond.
func seconds(s float64) time.Duration { return time.Duration(math.Round(s * 1e9)) }
