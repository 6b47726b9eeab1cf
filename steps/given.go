package steps

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/sgltest/sgltest/internal/load"
	"github.com/sgltest/sgltest/router"
	"github.com/sgltest/sgltest/runner"
)

// givens declare the servers, routing, workload, client and timeline.
var givens = []step{
	{
		kind:    "Given",
		pattern: `^(a|an|one|\d+) (simulated )?SGLang servers?(?: with ` + settings + `)?(?: on an? (A100|H100))?$`,
		doc: "Declares servers. \"SGLang server\" runs on the suite's backend (the simulator by default, real SGLang when " +
			"SGLTEST_BACKEND=sglang, each server pinned to the next ids of SGLTEST_GPUS, as many as it holds); \"simulated SGLang " +
			"server\" always runs " +
			"the simulator. Settings, joined by commas or \"and\": max running requests N, tensor parallel size N, chunked " +
			"prefill size N (-1 disables chunking), schedule policy NAME (fcfs, lpm, ...), mem fraction F, data parallel size N " +
			"(SGLang's --dp-size: N ranks, each its own batch, KV cache and queue on tensor-parallel-size GPUs, behind the " +
			"server's one HTTP front) and load balance method NAME (--load-balance-method: auto, round_robin, total_requests, " +
			"total_tokens; follow_bootstrap_room needs PD disaggregation). \"on an A100\" / \"on an H100\" picks the " +
			"simulator profile for that GPU. Several servers need a routing step.",
		example: "Given 4 simulated SGLang servers with max running requests 64 and chunked prefill size 4096 on an H100",
		also: []string{"Given a simulated SGLang server with max running requests 64", "Given an SGLang server with max running requests 256",
			"Given 4 SGLang servers with max running requests 256", "Given an SGLang server with max running requests 64 and tensor parallel size 2",
			"Given a simulated SGLang server with data parallel size 4 and load balance method total_requests",
			"Given a simulated SGLang server with data parallel size 4, load balance method total_tokens and max running requests 64"},
		fn: func(ctx context.Context, n, simulated, set, gpu string) error {
			k, err := serverCount(n)
			if err != nil {
				return err
			}
			srv, err := declaredServer(ctx, simulated, set, gpu)
			if err != nil {
				return err
			}
			return test(ctx).AddServers(k, srv)
		},
	},
	{
		kind:    "Given",
		pattern: `^` + count + ` GPUs?(?: with ([a-z][a-z0-9_]*))?(?: at ` + number + ` ?(?:req/s|requests per second))?$`,
		doc: "The short form: N servers, one per GPU, on the suite's backend; \"with POLICY\" routes them with sgltest's " +
			"dispatcher and that policy; \"at R req/s\" declares Poisson arrivals at that rate, which the first Then step " +
			"sends when no When step did (with the declared prompts, or by default 10 s of the rate, at least 100, from the " +
			"ShareGPT-shaped fixture).",
		example: "Given 4 GPUs with shortest_queue at 40 req/s",
		fn: func(ctx context.Context, n, policy, rate string) error {
			k, err := positive(n)
			if err != nil {
				return fmt.Errorf("GPU count %w", err)
			}
			if err := test(ctx).AddServers(k, runner.Server{}); err != nil {
				return err
			}
			if policy != "" {
				if err := test(ctx).SetRouting(runner.Routing{Via: runner.ViaDispatcher, Policy: policy}); err != nil {
					return err
				}
			}
			if rate != "" {
				r, err := parseRate(rate)
				if err != nil {
					return err
				}
				test(ctx).SetArrival(runner.Arrival{Kind: runner.ArrivePoisson, Rate: r})
			}
			return nil
		},
	},
	{
		kind:    "Given",
		pattern: `^the SGLang deployment at "([^"]+)"(?: with the API key from "([A-Za-z_][A-Za-z0-9_]*)")?$`,
		doc: "Targets a deployment that is already running (staging): a server, or a router whose GET /workers lists " +
			"its workers (they are scraped like launched servers). Nothing is launched, so faults and restarts are " +
			"refused; every other sentence works. The URL may name environment variables (\"${STAGING_URL}\"); the API " +
			"key is read from the named variable and never written anywhere.",
		example: `Given the SGLang deployment at "http://127.0.0.1:30000" with the API key from "SGLANG_API_KEY"`,
		fn: func(ctx context.Context, url, keyEnv string) error {
			expanded := os.Expand(url, func(k string) string {
				v := os.Getenv(k)
				return v
			})
			if strings.TrimSpace(expanded) == "" {
				return fmt.Errorf("deployment URL %q is empty once its environment variables are expanded", url)
			}
			return test(ctx).SetDeployment(expanded, keyEnv)
		},
	},
	{
		kind:    "Given",
		pattern: `^the routing policy is "([^"]+)"$`,
		doc:     "Short for \"requests are routed by sgltest's dispatcher with policy ...\".",
		example: `Given the routing policy is "shortest_queue"`,
		fn: func(ctx context.Context, policy string) error {
			return test(ctx).SetRouting(runner.Routing{Via: runner.ViaDispatcher, Policy: policy})
		},
	},
	{
		kind:    "Given",
		pattern: `^requests are routed by sgltest's dispatcher with policy "([^"]+)"$`,
		doc: "sgltest's own dispatcher picks a server per request and sends to it directly, never to a server whose health " +
			"checks fail. Policies: round_robin, random, shortest_queue, power_of_two, cache_aware, and any custom policy " +
			"registered in Go (see router/doc.go).",
		example: `Given requests are routed by sgltest's dispatcher with policy "shortest_queue"`,
		fn: func(ctx context.Context, policy string) error {
			return test(ctx).SetRouting(runner.Routing{Via: runner.ViaDispatcher, Policy: policy})
		},
	},
	{
		kind:    "Given",
		pattern: `^requests are routed by sgltest's dispatcher with (the SGLang router's|smg's) policy "([^"]+)"$`,
		doc: "sgltest's dispatcher with the policy that makes the same choices as the real router's policy of that name " +
			"(checked against the real routers on crafted sequences): smg's cache_aware is smg_cache_aware, its " +
			"power_of_two smg_power_of_two, and so on. Its loads are refreshed as that router polls them (smg every 10 s, " +
			"sglang-router every 30 s) unless a sentence says otherwise.",
		example: `Given requests are routed by sgltest's dispatcher with smg's policy "cache_aware"`,
		fn: func(ctx context.Context, who, policy string) error {
			real := router.SMG
			if who == "the SGLang router's" {
				real = router.SGLangRouter
			}
			name, ok := router.Equivalent(real, policy)
			if !ok {
				return fmt.Errorf("%s has no policy %q that sgltest's dispatcher can follow", real, policy)
			}
			return test(ctx).SetRouting(runner.Routing{Via: runner.ViaDispatcher, Policy: name})
		},
	},
	{
		kind:    "Given",
		pattern: `^the dispatcher refreshes worker loads every ` + duration + `$`,
		doc: "How often sgltest's dispatcher refreshes the server loads its policy sees (the in-flight counts stay live). " +
			"By default a load-reading policy refreshes as the real router it copies polls /get_load; the summary says the interval.",
		example: "Given the dispatcher refreshes worker loads every 250 ms",
		fn: func(ctx context.Context, v, unit string) error {
			d, err := parseDuration(v, unit)
			if err != nil || d <= 0 {
				return fmt.Errorf("load refresh interval %s %s: expected a positive duration", v, unit)
			}
			return test(ctx).UpdateRouting(func(r *runner.Routing) { r.LoadInterval = d })
		},
	},
	{
		kind:    "Given",
		pattern: `^each conversation is routed by its routing key$`,
		doc:     "sgltest's dispatcher gives key-based policies (consistent_hashing, manual, prefix_hash) each request's conversation or shared-prefix group as its routing key, as X-SMG-Routing-Key does for smg.",
		example: "Given each conversation is routed by its routing key",
		fn: func(ctx context.Context) error {
			return test(ctx).UpdateRouting(func(r *runner.Routing) { r.ByConversation = true })
		},
	},
	{
		kind:    "Given",
		pattern: `^requests are routed by the SGLang router with policy "([^"]+)"$`,
		doc: "The real SGLang router (sglang-router 0.3.2, from PyPI) runs in front of the servers. Policies: " +
			"cache_aware, round_robin, random, power_of_two, manual (checked against the installed router's --help before anything starts).",
		example: `Given requests are routed by the SGLang router with policy "cache_aware"`,
		fn: func(ctx context.Context, policy string) error {
			return test(ctx).SetRouting(runner.Routing{Via: runner.ViaSGLangRouter, Policy: policy})
		},
	},
	{
		kind:    "Given",
		pattern: `^requests are routed by smg with policy "([^"]+)"$`,
		doc:     "The router's successor, smg 1.13.0 (from PyPI), runs in front of the servers. Policies: cache_aware, round_robin, random, power_of_two, least_load, manual, consistent_hashing, prefix_hash, passthrough.",
		example: `Given requests are routed by smg with policy "round_robin"`,
		fn: func(ctx context.Context, policy string) error {
			return test(ctx).SetRouting(runner.Routing{Via: runner.ViaSMG, Policy: policy})
		},
	},
	{
		kind:    "Given",
		pattern: `^the servers (?:run on an? (A100|H100)|serve (Llama-[\w.]+(?:-[\w.]+)*?)(?: on an? (A100|H100))?)$`,
		doc: "Chooses the simulator profile of the scenario's simulated servers by GPU and model (profiles in " +
			"fixtures/profiles: Llama-3.1-8B on A100 and H100, Llama-3.1-70B on four H100s). Without it the suite's profile " +
			"(SGLTEST_SIM_PROFILE) applies.",
		example: "Given the servers serve Llama-3.1-70B on an H100",
		fn: func(ctx context.Context, gpu1, model, gpu2 string) error {
			if model != "" {
				gpu := gpu2
				if gpu == "" {
					_, gpu = splitProfile(test(ctx).Profile())
				}
				return test(ctx).SetProfile(strings.ToLower(model + "-" + gpu))
			}
			return setGPU(ctx, gpu1)
		},
	},
	{
		kind:    "Given",
		pattern: `^the simulation runs in virtual time$`,
		doc: "Runs the simulated servers' engines in simulated time, with no processes and no HTTP, as fast as the " +
			"CPU allows: an hour of traffic on dozens of GPUs in seconds. Same records, summary, faults and checks; the " +
			"report says which clock ran. Open-loop arrivals and sgltest's dispatcher only.",
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
		fn: func(ctx context.Context, seed string) error {
			v, err := strconv.ParseUint(seed, 10, 64)
			if err != nil {
				return fmt.Errorf("seed %q: expected a whole number", seed)
			}
			test(ctx).SetSeed(v)
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
		doc:     "Sends stream: false; TTFT is then the whole latency (bench_serving's convention), and there is no ITL or TPOT.",
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
		doc:     "Copies of the first prompt (at most 32 output tokens) sent before the measured run and kept out of every figure (warmup.jsonl).",
		example: "Given 2 warmup requests are sent first",
		fn: func(ctx context.Context, n string) error {
			k, err := positive(n)
			if err != nil {
				return fmt.Errorf("warmup requests %w", err)
			}
			c := test(ctx).Client()
			c.Warmup = k
			test(ctx).SetClient(c)
			return nil
		},
	},
	{
		kind:    "Given",
		pattern: `^the load generator's p99 schedule lag may be at most ` + duration + `$`,
		doc: "The client's self-check: when its p99 lateness (actual minus planned arrival), or its p99 hand-off (ready to send " +
			"until a worker starts on the request), passes this bound, the run " +
			"fails as invalid, since its figures would measure the client. Default 10 ms; SGLTEST_MAX_SCHEDULE_LAG or " +
			"--max-schedule-lag set it for a whole suite, and this sentence wins over both.",
		example: "Given the load generator's p99 schedule lag may be at most 5 ms",
		fn: func(ctx context.Context, v, unit string) error {
			d, err := parseDuration(v, unit)
			if err != nil || d <= 0 {
				return fmt.Errorf("schedule lag bound %s %s: expected a positive duration", v, unit)
			}
			c := test(ctx).Client()
			c.Bounds.MaxScheduleLag = d
			test(ctx).SetClient(c)
			return nil
		},
	},
	{
		kind:    "Given",
		pattern: `^the prompts are ` + count + ` random prompts with ` + count + `(?: to ` + count + `)? input and ` + count + `(?: to ` + count + `)? output tokens$`,
		doc: "Random token-id prompts, generating exactly the given output (ignore_eos). \"A to B\" draws each length " +
			"uniformly from A to B, as bench_serving's --random-range-ratio does.",
		example: "Given the prompts are 500 random prompts with 1 to 8192 input and 128 output tokens",
		fn: func(ctx context.Context, n, in, inTo, out, outTo string) error {
			r, err := randomDataset(n, in, inTo, out, outTo)
			if err != nil {
				return err
			}
			test(ctx).SetDataset(runner.Dataset{Random: r})
			return nil
		},
	},
	{
		kind:    "Given",
		pattern: `^the prompts are ` + count + ` ShareGPT conversations from "([^"]+)"$`,
		doc: "Prompts and output lengths from a ShareGPT file (its published JSON format), filtered as bench_serving " +
			"filters them; lengths are approximate without a tokenizer (see internal/load). " +
			"fixtures/sharegpt/generated.json holds 2000 ShareGPT-shaped conversations (see its README for the real file).",
		example: `Given the prompts are 100 ShareGPT conversations from "fixtures/sharegpt/generated.json"`,
		fn: func(ctx context.Context, n, path string) error {
			k, err := positive(n)
			if err != nil {
				return fmt.Errorf("conversation count %w", err)
			}
			test(ctx).SetDataset(runner.Dataset{ShareGPT: &load.ShareGPT{Path: path, Count: k}})
			return nil
		},
	},
	{
		kind: "Given",
		pattern: `^the prompts are ` + count + ` groups of ` + count + ` prompts sharing a ` + count +
			`-token system prompt, with ` + count + `-token questions and ` + count + ` output tokens(?:, groups picked by Zipf with exponent ` + number + `)?$`,
		doc: "bench_serving's generated shared prefix: every group shares a system prompt, so prefix caching can pay off. " +
			"With \"groups picked by Zipf with exponent S\" each prompt's group is drawn with probability ∝ 1/rank^S (a " +
			"skewed load: a few hot prefixes) instead of every group alike.",
		example: "Given the prompts are 16 groups of 32 prompts sharing a 1024-token system prompt, with 64-token questions and 32 output tokens, groups picked by Zipf with exponent 1.2",
		fn: func(ctx context.Context, groups, per, sys, q, out, zipf string) error {
			var v [5]int
			for i, s := range []string{groups, per, sys, q, out} {
				var err error
				if v[i], err = positive(s); err != nil {
					return fmt.Errorf("shared-prefix dataset: %w", err)
				}
			}
			d := &load.SharedPrefix{Groups: v[0], PromptsPerGroup: v[1], SystemTokens: v[2], QuestionTokens: v[3], OutputTokens: v[4]}
			if zipf != "" {
				a, err := strconv.ParseFloat(zipf, 64)
				if err != nil || a <= 0 {
					return fmt.Errorf("Zipf exponent %q: expected a positive number", zipf)
				}
				d.Zipf, d.ZipfAlpha = true, a
			}
			test(ctx).SetDataset(runner.Dataset{SharedPrefix: d})
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
		kind:    "Given",
		pattern: `^each request times out after ` + duration + `$`,
		doc:     "A request still going this long after it was sent fails with \"timed out\" (it is aborted). Default: no timeout.",
		example: "Given each request times out after 30 s",
		fn: func(ctx context.Context, v, unit string) error {
			d, err := parseDuration(v, unit)
			if err != nil {
				return err
			}
			return test(ctx).SetRequestTimeout(d)
		},
	},
	{
		kind:    "Given",
		pattern: `^the run may go on for ` + duration + ` after its last arrival$`,
		doc: "The run's deadline: past its last planned arrival (and its timeline) by more than this, the run stops and " +
			"fails naming the deadline. Default 10 minutes. Closed-loop runs have no deadline.",
		example: "Given the run may go on for 2 min after its last arrival",
		fn: func(ctx context.Context, v, unit string) error {
			d, err := parseDuration(v, unit)
			if err != nil {
				return err
			}
			return test(ctx).SetGrace(d)
		},
	},
	{
		kind:    "Given",
		pattern: `^a server that does not answer for ` + duration + ` has stalled$`,
		doc: "A server that answers no /metrics scrape for this long, when nothing planned its absence, stops the run " +
			"at once with its name and the time it went silent. Default 10 s.",
		example: "Given a server that does not answer for 5 s has stalled",
		fn: func(ctx context.Context, v, unit string) error {
			d, err := parseDuration(v, unit)
			if err != nil {
				return err
			}
			return test(ctx).SetStallAfter(d)
		},
	},
}

// setGPU picks the profile of the current model on gpu.
func setGPU(ctx context.Context, gpu string) error {
	model, _ := splitProfile(test(ctx).Profile())
	return test(ctx).SetProfile(model + "-" + strings.ToLower(gpu))
}

// splitProfile splits a profile name such as "llama-3.1-8b-h100" into its
// model and GPU parts.
func splitProfile(name string) (model, gpu string) {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return name, ""
	}
	return name[:i], name[i+1:]
}

// randomDataset reads a random dataset's counts: exact lengths, or "A to
// B" ranges drawn uniformly.
func randomDataset(n, in, inTo, out, outTo string) (*load.Random, error) {
	var v [5]int
	for i, s := range []string{n, in, inTo, out, outTo} {
		if s == "" {
			continue
		}
		var err error
		if v[i], err = positive(s); err != nil {
			return nil, fmt.Errorf("random prompts: %w", err)
		}
	}
	r := &load.Random{Count: v[0], InputTokens: v[1], OutputTokens: v[3]}
	if inTo != "" {
		if v[2] < v[1] {
			return nil, fmt.Errorf("input tokens %d to %d: expected the smaller first", v[1], v[2])
		}
		l := load.Uniform(v[1], v[2])
		r.InputLength = &l
	}
	if outTo != "" {
		if v[4] < v[3] {
			return nil, fmt.Errorf("output tokens %d to %d: expected the smaller first", v[3], v[4])
		}
		l := load.Uniform(v[3], v[4])
		r.OutputLength = &l
	}
	return r, nil
}

// serverCount reads a sentence's server count: "a", "an", "one" or a
// positive whole number.
func serverCount(n string) (int, error) {
	if n == "a" || n == "an" || n == "one" {
		return 1, nil
	}
	k, err := positive(n)
	if err != nil {
		return 0, fmt.Errorf("server count %w", err)
	}
	return k, nil
}

// declaredServer is what a server sentence declares: its settings, whether
// it is always simulated, and the simulator profile of its GPU, if named.
func declaredServer(ctx context.Context, simulated, set, gpu string) (runner.Server, error) {
	srv, err := serverSettings(set)
	if err != nil {
		return srv, err
	}
	srv.Simulated = simulated != ""
	if gpu != "" {
		if err := setGPU(ctx, gpu); err != nil {
			return srv, err
		}
	}
	return srv, nil
}
