package steps

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/sgltest/sgltest/runner"
)

// Fragments shared by patterns, defined once.
const (
	count  = `(\d+)`
	number = `(\d+(?:\.\d+)?)`
	stat   = `(mean|median|P90|P95|P99|min|max)`
	cmpare = `(below|at most|above|at least)`
)

var (
	latencyName    = `(` + strings.Join(titleNames(runner.LatencyNames()), "|") + `)`
	throughputName = `(` + strings.Join(runner.ThroughputNames(), "|") + `)`
)

// titleNames writes latency names as QA reads them: acronyms upper case.
func titleNames(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		switch n {
		case "ttft", "itl", "tpot":
			out[i] = strings.ToUpper(n)
		case "e2e latency":
			out[i] = "E2E latency"
		default:
			out[i] = n
		}
	}
	return out
}

// step is one sentence: its pattern, what it means, an example, and the
// function godog calls with the captured groups.
type step struct {
	kind    string // Given, When or Then: documents intent
	pattern string
	doc     string
	example string
	fn      any
}

// sentences is the whole vocabulary, in the order VOCABULARY.md lists it.
var sentences = []step{
	{
		kind:    "Given",
		pattern: `^a simulated SGLang server with max running requests ` + count + `$`,
		doc:     "One server run by sgltest's embedded simulator, whatever the suite's backend, with --max-running-requests set.",
		example: "Given a simulated SGLang server with max running requests 64",
		fn: func(ctx context.Context, n int) error {
			return test(ctx).AddServer(runner.Server{Simulated: true, MaxRunningRequests: n})
		},
	},
	{
		kind:    "Given",
		pattern: `^an SGLang server with max running requests ` + count + `$`,
		doc:     "One server on the suite's backend: the simulator by default, real SGLang when SGLTEST_BACKEND=sglang (see README).",
		example: "Given an SGLang server with max running requests 256",
		fn: func(ctx context.Context, n int) error {
			return test(ctx).AddServer(runner.Server{MaxRunningRequests: n})
		},
	},
	{
		kind:    "Given",
		pattern: `^the random seed is ` + count + `$`,
		doc:     "Seeds the dataset, the arrival times and the simulator. Without this step the seed is 1.",
		example: "Given the random seed is 42",
		fn: func(ctx context.Context, seed int) error {
			if seed < 0 {
				return fmt.Errorf("seed must not be negative, got %d", seed)
			}
			world(ctx).seed = uint64(seed)
			return nil
		},
	},
	{
		kind: "When",
		pattern: `^` + count + ` random prompts with ` + count + ` input and ` + count +
			` output tokens arrive at ` + number + ` requests per second$`,
		doc: "Sends random prompts of exact lengths (token ids, ignore_eos) to the server, streaming, " +
			"as a Poisson process at the given rate, and measures every request. Writes the run directory.",
		example: "When 200 random prompts with 256 input and 64 output tokens arrive at 20 requests per second",
		fn: func(ctx context.Context, n, in, out int, rate string) error {
			r, err := strconv.ParseFloat(rate, 64)
			if err != nil {
				return fmt.Errorf("rate %q: %w", rate, err)
			}
			return run(ctx, runner.Workload{Prompts: n, InputTokens: in, OutputTokens: out, Rate: r})
		},
	},
	{
		kind: "When",
		pattern: `^` + count + ` random prompts with ` + count + ` input and ` + count +
			` output tokens arrive all at once$`,
		doc:     "As above with every request sent at the start (bench_serving's rate inf): a throughput test.",
		example: "When 500 random prompts with 128 input and 32 output tokens arrive all at once",
		fn: func(ctx context.Context, n, in, out int) error {
			return run(ctx, runner.Workload{Prompts: n, InputTokens: in, OutputTokens: out, Rate: math.Inf(1)})
		},
	},
	{
		kind:    "Then",
		pattern: `^all requests succeed$`,
		doc:     "Every request got HTTP 200 and a complete stream with no error or abort in it.",
		example: "Then all requests succeed",
		fn:      func(ctx context.Context) error { return test(ctx).CheckAllSucceeded() },
	},
	{
		kind:    "Then",
		pattern: `^the ` + stat + ` ` + latencyName + ` is ` + cmpare + ` ` + number + ` (ms|s)$`,
		doc:     "Bounds a latency statistic. The names are defined in the README's metric definitions.",
		example: "Then the P99 total latency is below 10 s",
		fn: func(ctx context.Context, st, name, c, bound, unit string) error {
			b, err := strconv.ParseFloat(bound, 64)
			if err != nil {
				return err
			}
			return test(ctx).CheckLatency(st, name, runner.Comparison(c), b, unit)
		},
	},
	{
		kind:    "Then",
		pattern: `^the ` + throughputName + ` throughput is ` + cmpare + ` ` + number + ` (req/s|tok/s)$`,
		doc:     "Bounds a throughput: request throughput in req/s, token throughputs in tok/s.",
		example: "Then the request throughput is at least 15 req/s",
		fn: func(ctx context.Context, name, c, bound, unit string) error {
			b, err := strconv.ParseFloat(bound, 64)
			if err != nil {
				return err
			}
			return test(ctx).CheckThroughput(name, runner.Comparison(c), b, unit)
		},
	},
}

// compiled holds the patterns, compiled once, for the Before hook's check.
var compiled = func() []*regexp.Regexp {
	out := make([]*regexp.Regexp, len(sentences))
	for i, s := range sentences {
		out[i] = regexp.MustCompile(s.pattern)
	}
	return out
}()

// match returns how many sentences match text.
func match(text string) int {
	n := 0
	for _, re := range compiled {
		if re.MatchString(text) {
			n++
		}
	}
	return n
}

func run(ctx context.Context, w runner.Workload) error {
	w.Seed = world(ctx).seed
	return test(ctx).Run(ctx, w)
}
