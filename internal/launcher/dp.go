package launcher

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// LoadBalanceMethods are the values SGLang's --load-balance-method accepts
// (sglang-reference.md s1.3): how an in-process data-parallel server
// (--dp-size N) spreads requests over its N ranks. auto is round_robin
// outside PD disaggregation.
var LoadBalanceMethods = []string{"auto", "round_robin", "follow_bootstrap_room", "total_requests", "total_tokens"}

// dpArgs are the data-parallel flags of c, or none when c leaves them to
// the server's defaults.
func (c Config) dpArgs() []string {
	var argv []string
	if c.DPSize > 0 {
		argv = append(argv, "--dp-size", strconv.Itoa(c.DPSize))
	}
	if c.LoadBalanceMethod != "" {
		argv = append(argv, "--load-balance-method", c.LoadBalanceMethod)
	}
	return argv
}

// validateDP reports what is wrong with c's data-parallel fields through
// bad.
func (c Config) validateDP(bad func(format string, args ...any)) {
	if c.DPSize < 0 {
		bad("DPSize: %d: expected 0 (server default, 1) or a positive size", c.DPSize)
	}
	if c.LoadBalanceMethod != "" && !slices.Contains(LoadBalanceMethods, c.LoadBalanceMethod) {
		bad("LoadBalanceMethod: %q: expected one of %s", c.LoadBalanceMethod, strings.Join(LoadBalanceMethods, ", "))
	}
	for i, a := range c.ExtraArgs {
		name, _, _ := strings.Cut(a, "=")
		switch {
		case c.DPSize > 0 && (name == "--dp-size" || name == "--data-parallel-size"),
			c.LoadBalanceMethod != "" && name == "--load-balance-method":
			bad("ExtraArgs[%d]: %q: already set by the DPSize or LoadBalanceMethod field", i, a)
		}
	}
	if c.Backend == BackendSGLang && len(c.GPUs) > 0 && c.DPSize > 1 {
		if need := c.GPUCount(); need > len(c.GPUs) {
			bad("DPSize: %d ranks of tensor parallel size %d need %d GPUs, but GPUs lists %d", c.DPSize, max(c.TPSize, 1), need, len(c.GPUs))
		}
	}
}

// GPUCount is how many GPUs the server occupies: DPSize ranks of TPSize
// GPUs each (a zero size counts as SGLang's default, 1).
func (c Config) GPUCount() int { return max(c.DPSize, 1) * max(c.TPSize, 1) }

// RankGPUs returns the GPUs each DP rank of an SGLang server runs on, as
// SGLang assigns them: with CUDA_VISIBLE_DEVICES set to GPUs and
// --base-gpu-id 0, rank r's scheduler for TP rank k uses the visible
// device r·tp + k (DataParallelController: base_gpu_id + r·tp·pp·step, pp
// and step being 1 here). It returns nil when GPUs is empty (the server
// sees whatever the environment gives it).
func (c Config) RankGPUs() [][]int {
	if len(c.GPUs) == 0 {
		return nil
	}
	dp, tp := max(c.DPSize, 1), max(c.TPSize, 1)
	out := make([][]int, dp)
	for r := range out {
		if (r+1)*tp > len(c.GPUs) {
			return out[:r]
		}
		out[r] = slices.Clone(c.GPUs[r*tp : (r+1)*tp])
	}
	return out
}

// PickGPUs returns the n GPUs of all that a server starting at index first
// occupies (see GPUCount), nil when all has none left for it (the server
// then sees the environment's GPUs, as before pinning), and an error when
// all ends partway through its share.
func PickGPUs(all []int, first, n int) ([]int, error) {
	switch {
	case first >= len(all):
		return nil, nil
	case first+n > len(all):
		return nil, fmt.Errorf("a server needs %d GPUs from position %d of %v, but the list ends after %d", n, first+1, all, len(all)-first)
	}
	return slices.Clone(all[first : first+n]), nil
}
