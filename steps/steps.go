package steps

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/cucumber/godog"

	"github.com/sgltest/sgltest/internal/load"
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
			return test(ctx).AddServers(1, runner.Server{Simulated: true, MaxRunningRequests: n})
		},
	},
	{
		kind:    "Given",
		pattern: `^an SGLang server with max running requests ` + count + `$`,
		doc:     "One server on the suite's backend: the simulator by default, real SGLang when SGLTEST_BACKEND=sglang (see README).",
		example: "Given an SGLang server with max running requests 256",
		fn: func(ctx context.Context, n int) error {
			return test(ctx).AddServers(1, runner.Server{MaxRunningRequests: n})
		},
	},
	{
		kind:    "Given",
		pattern: `^` + count + ` simulated SGLang servers with max running requests ` + count + `$`,
		doc:     "Several simulated servers (one per simulated GPU); a routing step must say how requests reach them.",
		example: "Given 4 simulated SGLang servers with max running requests 64",
		fn: func(ctx context.Context, n, mrr int) error {
			return test(ctx).AddServers(n, runner.Server{Simulated: true, MaxRunningRequests: mrr})
		},
	},
	{
		kind:    "Given",
		pattern: `^` + count + ` SGLang servers with max running requests ` + count + `$`,
		doc:     "Several servers on the suite's backend; with real SGLang, server i is pinned to the i-th id of SGLTEST_GPUS.",
		example: "Given 4 SGLang servers with max running requests 256",
		fn: func(ctx context.Context, n, mrr int) error {
			return test(ctx).AddServers(n, runner.Server{MaxRunningRequests: mrr})
		},
	},
	{
		kind:    "Given",
		pattern: `^requests are routed by sgltest's dispatcher with policy "([^"]+)"$`,
		doc: "sgltest's own dispatcher picks a server per request and sends to it directly. Policies: round_robin, random, " +
			"shortest_queue, power_of_two, cache_aware, and any custom policy registered in Go (see router/doc.go).",
		example: `Given requests are routed by sgltest's dispatcher with policy "shortest_queue"`,
		fn: func(ctx context.Context, policy string) error {
			return test(ctx).SetRouting(runner.Routing{Via: runner.ViaDispatcher, Policy: policy})
		},
	},
	{
		kind:    "Given",
		pattern: `^requests are routed by the SGLang router with policy "([^"]+)"$`,
		doc: "The real SGLang router (sglang-router 0.3.2, from PyPI) runs in front of the servers. Policies: " +
			"cache_aware, round_robin, random, power_of_two.",
		example: `Given requests are routed by the SGLang router with policy "cache_aware"`,
		fn: func(ctx context.Context, policy string) error {
			return test(ctx).SetRouting(runner.Routing{Via: runner.ViaSGLangRouter, Policy: policy})
		},
	},
	{
		kind:    "Given",
		pattern: `^requests are routed by smg with policy "([^"]+)"$`,
		doc:     "The router's successor, smg 1.9.0 (from PyPI), runs in front of the servers.",
		example: `Given requests are routed by smg with policy "round_robin"`,
		fn: func(ctx context.Context, policy string) error {
			return test(ctx).SetRouting(runner.Routing{Via: runner.ViaSMG, Policy: policy})
		},
	},
	{
		kind:    "Given",
		pattern: `^the simulation runs in virtual time$`,
		doc: "Runs the simulated servers' engines in simulated time, with no processes and no HTTP, as fast as the " +
			"CPU allows: an hour of traffic on dozens of GPUs in seconds. Same records, summary and checks; the report " +
			"says which clock ran. Open-loop arrivals and sgltest's dispatcher only.",
		example: "Given the simulation runs in virtual time",
		fn: func(ctx context.Context) error {
			test(ctx).SetVirtualTime()
			return nil
		},
	},
	{
		kind:    "Given",
		pattern: `^the random seed is ` + count + `$`,
		doc:     "Seeds the dataset, the arrival times and the simulators. Without this step the seed is 1.",
		example: "Given the random seed is 42",
		fn: func(ctx context.Context, seed int) error {
			if seed < 0 {
				return fmt.Errorf("seed must not be negative, got %d", seed)
			}
			test(ctx).SetSeed(uint64(seed))
			return nil
		},
	},
	{
		kind:    "Given",
		pattern: `^requests use the (native|OpenAI completions|OpenAI chat) API$`,
		doc:     "Which API requests go to: SGLang's /generate (the default), /v1/completions or /v1/chat/completions.",
		example: "Given requests use the OpenAI chat API",
		fn: func(ctx context.Context, name string) error {
			c := test(ctx).Client()
			c.APIName = name
			c.API = map[string]load.API{"native": load.Native, "OpenAI completions": load.Completions, "OpenAI chat": load.Chat}[name]
			test(ctx).SetClient(c)
			return nil
		},
	},
	{
		kind:    "Given",
		pattern: `^requests are not streamed$`,
		doc:     "Sends stream: false; TTFT is then the whole latency (bench_serving's convention).",
		example: "Given requests are not streamed",
		fn: func(ctx context.Context) error {
			c := test(ctx).Client()
			c.NoStream = true
			test(ctx).SetClient(c)
			return nil
		},
	},
	{
		kind:    "Given",
		pattern: `^` + count + ` warmup requests? (?:is|are) sent first$`,
		doc:     "Copies of the first prompt (at most 32 output tokens) sent before the measured run and kept out of every figure.",
		example: "Given 2 warmup requests are sent first",
		fn: func(ctx context.Context, n int) error {
			c := test(ctx).Client()
			c.Warmup = n
			test(ctx).SetClient(c)
			return nil
		},
	},
	{
		kind:    "Given",
		pattern: `^the load generator's p99 schedule lag may be at most ` + number + ` (ms|s)$`,
		doc: "The client's self-check: when its p99 lateness (actual minus planned arrival) passes this bound, the run " +
			"fails as invalid, since its figures would measure the client. Default 10 ms.",
		example: "Given the load generator's p99 schedule lag may be at most 5 ms",
		fn: func(ctx context.Context, v, unit string) error {
			d, err := time.ParseDuration(v + unit)
			if err != nil || d <= 0 {
				return fmt.Errorf("schedule lag bound %s %s: expected a positive duration", v, unit)
			}
			c := test(ctx).Client()
			c.MaxScheduleLag = d
			test(ctx).SetClient(c)
			return nil
		},
	},
	{
		kind:    "Given",
		pattern: `^the prompts are ` + count + ` random prompts with ` + count + ` input and ` + count + ` output tokens$`,
		doc:     "Random token-id prompts of exact lengths, generating exactly the given output (ignore_eos).",
		example: "Given the prompts are 500 random prompts with 512 input and 128 output tokens",
		fn: func(ctx context.Context, n, in, out int) error {
			test(ctx).SetDataset(runner.Dataset{Random: &load.Random{Count: n, InputTokens: in, OutputTokens: out}})
			return nil
		},
	},
	{
		kind:    "Given",
		pattern: `^the prompts are ` + count + ` ShareGPT conversations from "([^"]+)"$`,
		doc: "Prompts and output lengths from a ShareGPT file (its published JSON format), filtered as bench_serving " +
			"filters them; lengths are approximate without a tokenizer (see internal/load).",
		example: `Given the prompts are 100 ShareGPT conversations from "fixtures/sharegpt/sample.json"`,
		fn: func(ctx context.Context, n int, path string) error {
			test(ctx).SetDataset(runner.Dataset{ShareGPT: &load.ShareGPT{Path: path, Count: n}})
			return nil
		},
	},
	{
		kind: "Given",
		pattern: `^the prompts are ` + count + ` groups of ` + count + ` prompts sharing a ` + count +
			`-token system prompt, with ` + count + `-token questions and ` + count + ` output tokens$`,
		doc:     "bench_serving's generated shared prefix: every group shares a system prompt, so prefix caching can pay off.",
		example: "Given the prompts are 16 groups of 32 prompts sharing a 1024-token system prompt, with 64-token questions and 32 output tokens",
		fn: func(ctx context.Context, groups, per, sys, q, out int) error {
			test(ctx).SetDataset(runner.Dataset{SharedPrefix: &load.SharedPrefix{
				Groups: groups, PromptsPerGroup: per, SystemTokens: sys, QuestionTokens: q, OutputTokens: out}})
			return nil
		},
	},
	{
		kind:    "Given",
		pattern: `^the prompts are read from "([^"]+)"$`,
		doc:     `A custom JSONL dataset: one request per line, {"prompt": "..."} or {"input_ids": [...]}, with "output_len".`,
		example: `Given the prompts are read from "fixtures/prompts.jsonl"`,
		fn: func(ctx context.Context, path string) error {
			test(ctx).SetDataset(runner.Dataset{JSONL: path})
			return nil
		},
	},
	{
		kind:    "Given",
		pattern: `^the prompts are replayed from the trace "([^"]+)"$`,
		doc: "A Mooncake-style JSONL trace (timestamp in ms, input_length, output_length, hash_ids per line): exact-length " +
			"prompts whose shared hash ids share a token prefix. Send it with a trace-replay When step.",
		example: `Given the prompts are replayed from the trace "fixtures/traces/sample.jsonl"`,
		fn: func(ctx context.Context, path string) error {
			test(ctx).SetDataset(runner.Dataset{Trace: path, TraceScale: 1})
			return nil
		},
	},
	{
		kind: "When",
		pattern: `^` + count + ` random prompts with ` + count + ` input and ` + count +
			` output tokens arrive at ` + number + ` requests per second$`,
		doc: "Sends random prompts of exact lengths (token ids, ignore_eos) as a Poisson process at the given rate, " +
			"streaming, and measures every request. Writes the run directory.",
		example: "When 200 random prompts with 256 input and 64 output tokens arrive at 20 requests per second",
		fn: func(ctx context.Context, n, in, out int, rate string) error {
			test(ctx).SetDataset(runner.Dataset{Random: &load.Random{Count: n, InputTokens: in, OutputTokens: out}})
			return send(ctx, runner.Arrival{Kind: runner.ArrivePoisson}, rate, "")
		},
	},
	{
		kind: "When",
		pattern: `^` + count + ` random prompts with ` + count + ` input and ` + count +
			` output tokens arrive all at once$`,
		doc:     "As above with every request sent at the start (bench_serving's rate inf): a throughput test.",
		example: "When 500 random prompts with 128 input and 32 output tokens arrive all at once",
		fn: func(ctx context.Context, n, in, out int) error {
			test(ctx).SetDataset(runner.Dataset{Random: &load.Random{Count: n, InputTokens: in, OutputTokens: out}})
			return send(ctx, runner.Arrival{Kind: runner.ArrivePoisson}, "inf", "")
		},
	},
	{
		kind:    "When",
		pattern: `^the prompts arrive at ` + number + ` requests per second$`,
		doc:     "Sends the declared prompts as a Poisson process (exponential gaps, the first at 0) at the given rate.",
		example: "When the prompts arrive at 20 requests per second",
		fn: func(ctx context.Context, rate string) error {
			return send(ctx, runner.Arrival{Kind: runner.ArrivePoisson}, rate, "")
		},
	},
	{
		kind:    "When",
		pattern: `^the prompts arrive all at once$`,
		doc:     "Sends every declared prompt at the start.",
		example: "When the prompts arrive all at once",
		fn: func(ctx context.Context) error {
			return send(ctx, runner.Arrival{Kind: runner.ArrivePoisson}, "inf", "")
		},
	},
	{
		kind:    "When",
		pattern: `^the prompts arrive at ` + number + ` requests per second with burstiness ` + number + `$`,
		doc:     "Gamma-distributed gaps (vLLM's burstiness: below 1 is burstier than Poisson, 1 is Poisson, above 1 is steadier).",
		example: "When the prompts arrive at 20 requests per second with burstiness 0.5",
		fn: func(ctx context.Context, rate, b string) error {
			burst, err := strconv.ParseFloat(b, 64)
			if err != nil {
				return fmt.Errorf("burstiness %q: %w", b, err)
			}
			return send(ctx, runner.Arrival{Kind: runner.ArriveGamma, Burstiness: burst}, rate, "")
		},
	},
	{
		kind:    "When",
		pattern: `^the prompts arrive at a constant ` + number + ` requests per second$`,
		doc:     "Equal gaps of 1/rate.",
		example: "When the prompts arrive at a constant 10 requests per second",
		fn: func(ctx context.Context, rate string) error {
			return send(ctx, runner.Arrival{Kind: runner.ArriveConstant}, rate, "")
		},
	},
	{
		kind:    "When",
		pattern: `^the prompts arrive at ` + number + ` requests per second with at most ` + count + ` in flight$`,
		doc:     "Poisson arrivals, but at most N requests in flight; the wait for a slot is queue time and counts in total latency.",
		example: "When the prompts arrive at 50 requests per second with at most 8 in flight",
		fn: func(ctx context.Context, rate string, n int) error {
			return send(ctx, runner.Arrival{Kind: runner.ArrivePoisson, MaxInFlight: n}, rate, "")
		},
	},
	{
		kind:    "When",
		pattern: `^the trace is replayed at ` + number + ` times its speed$`,
		doc:     "Sends the trace's prompts at its own timestamps, compressed (2: twice as fast) or stretched (0.5: half as fast).",
		example: "When the trace is replayed at 1 times its speed",
		fn: func(ctx context.Context, speed string) error {
			v, err := strconv.ParseFloat(speed, 64)
			if err != nil || v <= 0 {
				return fmt.Errorf("speed %q: expected a positive number", speed)
			}
			if err := test(ctx).ScaleTrace(1 / v); err != nil {
				return err
			}
			return send(ctx, runner.Arrival{Kind: runner.ArriveTrace}, "", "")
		},
	},
	{
		kind:    "When",
		pattern: `^the prompts arrive in phases:$`,
		doc: "A load program, one phase per row, played in order: `| phase | duration | rate |` with phase ramp (rate " +
			"\"1 to 20\"), step or soak (rate \"20\"), or burst (rate = number of requests sent at once, duration empty). " +
			"Arrivals within a phase are Poisson. The dataset must hold enough prompts.",
		example: "When the prompts arrive in phases:",
		fn: func(ctx context.Context, table *godog.Table) error {
			phases, err := parsePhases(table)
			if err != nil {
				return err
			}
			return send(ctx, runner.Arrival{Kind: runner.ArrivePhases, Phases: phases}, "", "")
		},
	},
	{
		kind:    "When",
		pattern: `^` + count + ` users send the prompts back to back$`,
		doc:     "Closed loop: each user sends its next prompt as soon as its last one finished.",
		example: "When 8 users send the prompts back to back",
		fn: func(ctx context.Context, n int) error {
			return send(ctx, runner.Arrival{Kind: runner.ArriveUsers, Users: n}, "", "")
		},
	},
	{
		kind:    "When",
		pattern: `^the prompts arrive at ` + number + ` requests per second, routed by sgltest's dispatcher with policy "([^"]+)"$`,
		doc:     "One run of a comparison: fresh servers, the dispatcher with this policy; the run is labelled by the policy name.",
		example: `When the prompts arrive at 20 requests per second, routed by sgltest's dispatcher with policy "round_robin"`,
		fn: func(ctx context.Context, rate, policy string) error {
			if err := test(ctx).SetRouting(runner.Routing{Via: runner.ViaDispatcher, Policy: policy}); err != nil {
				return err
			}
			return send(ctx, runner.Arrival{Kind: runner.ArrivePoisson}, rate, policy)
		},
	},
	{
		kind:    "When",
		pattern: `^the prompts arrive at ` + number + ` requests per second, sent directly and then through the SGLang router with policy "([^"]+)"$`,
		doc: "Two runs of the same workload against one server: straight to it (run \"direct\"), then through the real " +
			"sglang-router 0.3.2 (run \"router\"), so a Then step can bound what the router adds.",
		example: `When the prompts arrive at 10 requests per second, sent directly and then through the SGLang router with policy "round_robin"`,
		fn: func(ctx context.Context, rate, policy string) error {
			r, err := parseRate(rate)
			if err != nil {
				return err
			}
			return test(ctx).SendDirectAndRouted(ctx, runner.Arrival{Kind: runner.ArrivePoisson, Rate: r}, runner.ViaSGLangRouter, policy)
		},
	},
	{
		kind:    "Then",
		pattern: `^all requests succeed$`,
		doc:     "Every request got HTTP 200 and a complete response with no error or abort in it.",
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
	{
		kind:    "Then",
		pattern: `^the router adds ` + cmpare + ` ` + number + ` (ms|s) to the ` + stat + ` (server latency|E2E latency|TTFT)$`,
		doc:     "Bounds the router's own overhead: the statistic through the router minus the same statistic sent directly.",
		example: "Then the router adds at most 5 ms to the median TTFT",
		fn: func(ctx context.Context, c, bound, unit, st, name string) error {
			b, err := strconv.ParseFloat(bound, 64)
			if err != nil {
				return err
			}
			return test(ctx).CheckRouterOverhead(st, name, runner.Comparison(c), b, unit)
		},
	},
	{
		kind:    "Then",
		pattern: `^the cache hit rate is ` + cmpare + ` ` + number + `%$`,
		doc: "Bounds the prefix-cache hit rate over all servers: cached / prompt tokens, from the servers' own " +
			"sglang:cached_tokens_total and sglang:prompt_tokens_total counters across the run.",
		example: "Then the cache hit rate is at least 50%",
		fn: func(ctx context.Context, c, bound string) error {
			b, err := strconv.ParseFloat(bound, 64)
			if err != nil {
				return err
			}
			return test(ctx).CheckCacheHitRate(runner.Comparison(c), b)
		},
	},
	{
		kind:    "Then",
		pattern: `^the cache hit rate with "([^"]+)" is higher than with "([^"]+)"$`,
		doc:     "Compares two labelled runs of one scenario (a comparison run is labelled by its policy).",
		example: `Then the cache hit rate with "cache_aware" is higher than with "round_robin"`,
		fn: func(ctx context.Context, better, worse string) error {
			return test(ctx).CheckCacheHitRateBeats(better, worse)
		},
	},
	{
		kind:    "Then",
		pattern: `^every server served at least ` + count + ` requests?$`,
		doc:     "Each server's own request counter grew by at least this much during the run.",
		example: "Then every server served at least 100 requests",
		fn:      func(ctx context.Context, n int) error { return test(ctx).CheckEveryServerServed(n) },
	},
	{
		kind:    "Then",
		pattern: `^server ` + count + ` served ` + cmpare + ` ` + count + ` requests?$`,
		doc:     "Bounds one server's share of the run (servers are numbered from 1 in the order declared), by its own counter.",
		example: "Then server 3 served at most 0 requests",
		fn: func(ctx context.Context, i int, c string, n int) error {
			return test(ctx).CheckServerServed(i, runner.Comparison(c), n)
		},
	},
	{
		kind:    "Then",
		pattern: `^the request imbalance across servers is ` + cmpare + ` ` + number + `$`,
		doc:     "Bounds the coefficient of variation of requests per server (standard deviation / mean; 0 is perfectly even).",
		example: "Then the request imbalance across servers is below 0.1",
		fn: func(ctx context.Context, c, bound string) error {
			b, err := strconv.ParseFloat(bound, 64)
			if err != nil {
				return err
			}
			return test(ctx).CheckRequestBalance(runner.Comparison(c), b)
		},
	},
}

func send(ctx context.Context, a runner.Arrival, rate, label string) error {
	if rate != "" {
		r, err := parseRate(rate)
		if err != nil {
			return err
		}
		a.Rate = r
	}
	return test(ctx).Send(ctx, a, label)
}

// parsePhases reads a phases table (header: phase, duration, rate).
func parsePhases(t *godog.Table) ([]load.Phase, error) {
	if len(t.Rows) < 2 {
		return nil, errors.New("phases table: expected a header row | phase | duration | rate | and at least one phase")
	}
	head := make([]string, len(t.Rows[0].Cells))
	for i, c := range t.Rows[0].Cells {
		head[i] = strings.ToLower(strings.TrimSpace(c.Value))
	}
	if strings.Join(head, ",") != "phase,duration,rate" {
		return nil, fmt.Errorf("phases table: header is %v, expected | phase | duration | rate |", head)
	}
	var out []load.Phase
	for i, row := range t.Rows[1:] {
		kind, dur, rate := row.Cells[0].Value, row.Cells[1].Value, row.Cells[2].Value
		bad := func(what string) error {
			return fmt.Errorf("phases table row %d (%s): %s", i+1, kind, what)
		}
		var d time.Duration
		if kind != "burst" {
			var err error
			if d, err = time.ParseDuration(strings.ReplaceAll(dur, " ", "")); err != nil || d <= 0 {
				return nil, bad(fmt.Sprintf("duration %q: expected a positive duration such as 30s", dur))
			}
		}
		switch kind {
		case "ramp":
			from, to, ok := strings.Cut(rate, " to ")
			f, err1 := strconv.ParseFloat(strings.TrimSpace(from), 64)
			g, err2 := strconv.ParseFloat(strings.TrimSpace(to), 64)
			if !ok || err1 != nil || err2 != nil {
				return nil, bad(fmt.Sprintf("rate %q: expected \"FROM to TO\" requests per second", rate))
			}
			out = append(out, load.Ramp(d, f, g))
		case "step", "soak":
			r, err := strconv.ParseFloat(strings.TrimSpace(rate), 64)
			if err != nil {
				return nil, bad(fmt.Sprintf("rate %q: expected requests per second", rate))
			}
			if kind == "step" {
				out = append(out, load.Step(d, r))
			} else {
				out = append(out, load.Soak(d, r))
			}
		case "burst":
			n, err := strconv.Atoi(strings.TrimSpace(rate))
			if err != nil || n <= 0 {
				return nil, bad(fmt.Sprintf("rate %q: expected the number of requests in the burst", rate))
			}
			out = append(out, load.Burst(n))
		default:
			return nil, bad("expected ramp, step, soak or burst")
		}
	}
	return out, nil
}

func parseRate(s string) (float64, error) {
	if s == "inf" {
		return math.Inf(1), nil
	}
	r, err := strconv.ParseFloat(s, 64)
	if err != nil || r <= 0 {
		return 0, fmt.Errorf("rate %q: expected a positive number of requests per second", s)
	}
	return r, nil
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
