package cluster

import (
	"flag"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/sgltest/sgltest/internal/simulator"
)

// fitProfile names the profile TestCalibration_Fit refits; the test is
// skipped without it. The fit is written down so anyone can rerun it:
//
//	go test -run TestCalibration_Fit -v ./internal/cluster -args -fit llama-3.1-8b-h100
//
// It prints the fitted values, which go into the profile's JSON by hand
// with their provenance, and the fitted figures' errors.
var fitProfile = flag.String("fit", "", "refit this profile's fitted parameters to its Fit runs (calibration_data.go)")

// fitParam is one profile parameter a fit may move, within [lo, hi].
type fitParam struct {
	name   string
	get    func(*simulator.Profile) float64
	set    func(*simulator.Profile, float64)
	lo, hi float64
}

// field is a fitParam for a plain profile field.
func field(name string, lo, hi float64, at func(*simulator.Profile) *float64) fitParam {
	return fitParam{name: name, lo: lo, hi: hi,
		get: func(p *simulator.Profile) float64 { return *at(p) },
		set: func(p *simulator.Profile, v float64) { *at(p) = v }}
}

// attention is a fitParam for an attention backend's prefill FLOP rate.
func attention(backend string, lo, hi float64) fitParam {
	return fitParam{name: "step_time.other_attention_backends." + backend + ".attn_flops_per_s", lo: lo, hi: hi,
		get: func(p *simulator.Profile) float64 { return p.StepTime.OtherAttentionBackends[backend].AttnFLOPs.Value },
		set: func(p *simulator.Profile, v float64) {
			a := p.StepTime.OtherAttentionBackends[backend]
			a.AttnFLOPs.Value = v
			p.StepTime.OtherAttentionBackends[backend] = a
		}}
}

// fitParams are, per profile, the parameters its published runs
// determine; every other parameter keeps its datasheet or transferred
// value (see each one's provenance).
var fitParams = map[string][]fitParam{
	"llama-3.1-8b-a100": {
		field("step_time.t_req_s", 1e-6, 1e-4, func(p *simulator.Profile) *float64 { return &p.StepTime.RequestOverhead.Value }),
		field("step_time.kv_bandwidth_bytes_per_s", 3e11, 2e12, func(p *simulator.Profile) *float64 { return &p.StepTime.KVBandwidth.Value }),
		field("step_time.smoothmax_p", 1, 8, func(p *simulator.Profile) *float64 { return &p.StepTime.SmoothMaxP.Value }),
	},
	"llama-3.1-8b-h100": {
		field("step_time.weight_bandwidth_bytes_per_s", 1.5e12, 3.35e12, func(p *simulator.Profile) *float64 { return &p.StepTime.WeightBandwidth.Value }),
		field("step_time.t_step_s", 5e-5, 3e-3, func(p *simulator.Profile) *float64 { return &p.StepTime.StepOverhead.Value }),
		field("frontend.t_fe_in_s", 1e-3, 3e-2, func(p *simulator.Profile) *float64 { return &p.Frontend.InputOverhead.Value }),
		attention("triton", 2e13, 9.9e14),
	},
	"llama-3.1-70b-h100": {
		field("step_time.weight_bandwidth_bytes_per_s", 1e12, 3.35e12, func(p *simulator.Profile) *float64 { return &p.StepTime.WeightBandwidth.Value }),
		field("gpu.allreduce_latency_s", 1e-6, 1e-4, func(p *simulator.Profile) *float64 { return &p.GPU.AllReduceLatency.Value }),
		field("frontend.t_fe_in_s", 1e-3, 5e-2, func(p *simulator.Profile) *float64 { return &p.Frontend.InputOverhead.Value }),
	},
}

// clone copies p deeply enough that setting a fitParam on the copy leaves
// p alone.
func clone(p simulator.Profile) simulator.Profile {
	if p.StepTime.OtherAttentionBackends != nil {
		m := make(map[string]simulator.AttentionParams, len(p.StepTime.OtherAttentionBackends))
		for k, v := range p.StepTime.OtherAttentionBackends {
			m[k] = v
		}
		p.StepTime.OtherAttentionBackends = m
	}
	return p
}

// fitLoss is the sum over a profile's Fit figures of (error / tolerance)²,
// and the errors themselves.
func fitLoss(t *testing.T, name string, prof simulator.Profile) (float64, []string) {
	loss := 0.0
	var rows []string
	for _, run := range PublishedRuns {
		if run.Profile != name || run.Role != Fit {
			continue
		}
		got, err := Replay(run, prof)
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range run.Figures {
			rel := (got[i] - f.Published) / f.Published
			loss += math.Pow(rel/f.Metric.Tolerance(Fit), 2)
			rows = append(rows, fmt.Sprintf("%-28s %-24s %10.2f %10.2f %+6.1f%%", run.ID, f.Metric, got[i], f.Published, 100*rel))
		}
	}
	return loss, rows
}

// TestCalibration_Fit refits the parameters fitParams lists for -fit's
// profile by coordinate descent in log space: each parameter in turn is
// scaled up and down by a step that halves whenever no move lowers the
// loss, from the profile's current values.
func TestCalibration_Fit(t *testing.T) {
	name := *fitProfile
	if name == "" {
		t.Skip("no -fit profile given")
	}
	params, ok := fitParams[name]
	if !ok {
		t.Fatalf("no fit parameters for profile %q", name)
	}
	prof := clone(mustProfile(t, name))
	best, _ := fitLoss(t, name, prof)
	step := 0.4
	for round := 0; round < 40 && step > 0.01; round++ {
		moved := false
		for _, fp := range params {
			for _, dir := range []float64{1, -1} {
				trial := clone(prof)
				fp.set(&trial, math.Min(fp.hi, math.Max(fp.lo, fp.get(&prof)*math.Exp(dir*step))))
				if loss, _ := fitLoss(t, name, trial); loss < best {
					best, prof, moved = loss, trial, true
				}
			}
		}
		if !moved {
			step /= 2
		}
		t.Logf("round %d: loss %.4f, step %.3f", round, best, step)
	}
	_, rows := fitLoss(t, name, prof)
	var out strings.Builder
	fmt.Fprintf(&out, "fitted %s (loss %.4f):\n", name, best)
	for _, fp := range params {
		fmt.Fprintf(&out, "  %-60s %.6g\n", fp.name, fp.get(&prof))
	}
	out.WriteString(strings.Join(rows, "\n"))
	t.Log("\n" + out.String())
}
