package steps

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cucumber/godog"

	"github.com/sgltest/sgltest/internal/load"
	"github.com/sgltest/sgltest/runner"
)

const perSecond = ` ?(?:requests per second|req/s)`

// whens send load (each writes one run directory) or plan what happens to
// the servers while it runs.
var whens = []step{
	{
		kind: "When",
		pattern: `^` + count + ` random prompts with ` + count + `(?: to ` + count + `)? input and ` + count + `(?: to ` + count +
			`)? output tokens arrive at ` + number + perSecond + `$`,
		doc: "Sends random prompts of exact lengths (token ids, ignore_eos; \"A to B\": uniform lengths) as a Poisson " +
			"process at the given rate, streaming, and measures every request. Writes the run directory.",
		example: "When 200 random prompts with 256 input and 64 output tokens arrive at 20 requests per second",
		fn: func(ctx context.Context, n, in, inTo, out, outTo, rate string) error {
			r, err := randomDataset(n, in, inTo, out, outTo)
			if err != nil {
				return err
			}
			test(ctx).SetDataset(runner.Dataset{Random: r})
			return send(ctx, runner.Arrival{Kind: runner.ArrivePoisson}, rate, "")
		},
	},
	{
		kind: "When",
		pattern: `^` + count + ` random prompts with ` + count + `(?: to ` + count + `)? input and ` + count + `(?: to ` + count +
			`)? output tokens arrive all at once$`,
		doc:     "As above with every request sent at the start (bench_serving's rate inf): a throughput test.",
		example: "When 500 random prompts with 128 input and 32 output tokens arrive all at once",
		fn: func(ctx context.Context, n, in, inTo, out, outTo string) error {
			r, err := randomDataset(n, in, inTo, out, outTo)
			if err != nil {
				return err
			}
			test(ctx).SetDataset(runner.Dataset{Random: r})
			return send(ctx, runner.Arrival{Kind: runner.ArrivePoisson}, "inf", "")
		},
	},
	{
		kind:    "When",
		pattern: `^the prompts arrive at ` + number + perSecond + `$`,
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
		pattern: `^the prompts arrive at ` + number + perSecond + ` with burstiness ` + number + `$`,
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
		pattern: `^the prompts arrive at a constant ` + number + perSecond + `$`,
		doc:     "Equal gaps of 1/rate.",
		example: "When the prompts arrive at a constant 10 requests per second",
		fn: func(ctx context.Context, rate string) error {
			return send(ctx, runner.Arrival{Kind: runner.ArriveConstant}, rate, "")
		},
	},
	{
		kind:    "When",
		pattern: `^the prompts arrive at ` + number + perSecond + ` with at most ` + count + ` in flight$`,
		doc:     "Poisson arrivals, but at most N requests in flight; the wait for a slot is queue time and counts in total latency.",
		example: "When the prompts arrive at 50 requests per second with at most 8 in flight",
		fn: func(ctx context.Context, rate, n string) error {
			k, err := positive(n)
			if err != nil {
				return fmt.Errorf("in-flight cap %w", err)
			}
			return send(ctx, runner.Arrival{Kind: runner.ArrivePoisson, MaxInFlight: k}, rate, "")
		},
	},
	{
		kind:    "When",
		pattern: `^the trace is replayed at ` + number + ` times its speed$`,
		doc:     "Sends the trace's prompts at its own timestamps, compressed (2: twice as fast) or stretched (0.5: half as fast).",
		example: "When the trace is replayed at 2 times its speed",
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
		fn: func(ctx context.Context, n string) error {
			k, err := positive(n)
			if err != nil {
				return fmt.Errorf("users %w", err)
			}
			return send(ctx, runner.Arrival{Kind: runner.ArriveUsers, Users: k}, "", "")
		},
	},
	{
		kind:    "When",
		pattern: `^the prompts arrive at ` + number + perSecond + `, routed by sgltest's dispatcher with policy "([^"]+)"$`,
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
		pattern: `^the prompts arrive at ` + number + perSecond + `, sent directly and then through the SGLang router with policy "([^"]+)"$`,
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
		kind:    "When",
		pattern: `^` + target + ` is (killed|stopped) after ` + duration + `(?: and restored after ` + duration + `)?$`,
		doc: "Plans a fault for the runs that follow: the server (numbered from 1 in the order declared) or the real " +
			"router is killed (SIGKILL, as a crash) or stopped (SIGTERM, gracefully) that long after the load starts, and " +
			"optionally started again with the same arguments and port later. Requests in flight on it fail; the report " +
			"shows the events and the figures between them. Works in wall-clock and in virtual time.",
		example: "When server 2 is killed after 10 s and restored after 20 s",
		fn: func(ctx context.Context, who, how, at, unit, back, backUnit string) error {
			t, err := parseDuration(at, unit)
			if err != nil {
				return err
			}
			kind := runner.Kill
			if how == "stopped" {
				kind = runner.Stop
			}
			if err := test(ctx).Plan(runner.Action{Kind: kind, Target: targetName(who), At: t}); err != nil {
				return err
			}
			if back == "" {
				return nil
			}
			r, err := parseDuration(back, backUnit)
			if err != nil {
				return err
			}
			if r <= t {
				return fmt.Errorf("%s is restored after %v, not after its fault at %v", who, r, t)
			}
			return test(ctx).Plan(runner.Action{Kind: runner.Restore, Target: targetName(who), At: r})
		},
	},
	{
		kind:    "When",
		pattern: `^` + target + ` is restored after ` + duration + `$`,
		doc:     "Starts a killed or stopped server (or router) again with the same arguments and port.",
		example: "When server 2 is restored after 20 s",
		fn: func(ctx context.Context, who, at, unit string) error {
			t, err := parseDuration(at, unit)
			if err != nil {
				return err
			}
			return test(ctx).Plan(runner.Action{Kind: runner.Restore, Target: targetName(who), At: t})
		},
	},
	{
		kind:    "When",
		pattern: `^` + target + ` is paused after ` + duration + ` for ` + duration + `$`,
		doc: "Freezes the server or router (SIGSTOP, then SIGCONT): it keeps its connections and answers nothing; " +
			"requests on it wait. sgltest's dispatcher stops picking it once its health checks time out.",
		example: "When server 1 is paused after 5 s for 3 s",
		fn: func(ctx context.Context, who, at, unit, dur, durUnit string) error {
			t, err := parseDuration(at, unit)
			if err != nil {
				return err
			}
			d, err := parseDuration(dur, durUnit)
			if err != nil {
				return err
			}
			return test(ctx).Plan(runner.Action{Kind: runner.Pause, Target: targetName(who), At: t, For: d})
		},
	},
	{
		kind:    "When",
		pattern: `^` + target + ` restarts(?: with ` + settings + `)? after ` + duration + `$`,
		doc: "A parameter change during a run: SGLang has no runtime API for its server arguments, so the server is " +
			"stopped gracefully and started again (same port) with the settings changed. The report says it was a " +
			"restart and how long the server was away.",
		example: "When server 1 restarts with max running requests 32 after 30 s",
		fn: func(ctx context.Context, who, set, at, unit string) error {
			t, err := parseDuration(at, unit)
			if err != nil {
				return err
			}
			s, err := serverSettings(set)
			if err != nil {
				return err
			}
			if s.TPSize != 0 || s.DPSize != 0 {
				return errors.New("a restart cannot change the tensor or data parallel size (the GPUs a server holds)")
			}
			if s.LoadBalanceMethod != "" {
				return errors.New("a restart with a new load balance method is not supported: declare the server with it")
			}
			ch := runner.Changes{MaxRunningRequests: s.MaxRunningRequests, ChunkedPrefillSize: s.ChunkedPrefillSize,
				SchedulePolicy: s.SchedulePolicy, MemFractionStatic: s.MemFractionStatic}
			return test(ctx).Plan(runner.Action{Kind: runner.Restart, Target: targetName(who), At: t, Changes: ch})
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

// workloads are the sentences of the seeds' other workloads: static
// batches, multi-turn conversations, and labels for comparisons.
var workloads = []step{
	{
		kind: "Given",
		pattern: `^the prompts are ` + count + ` conversations of ` + count + ` turns with ` + count + `-token questions, ` + count +
			`-token answers and ` + count + ` output tokens$`,
		doc: "Multi-turn chats: turn k's prompt is the whole history (each earlier question followed by a stand-in of the " +
			"answer's length) plus a new question, so each turn extends the previous turn's prompt and prefix caching " +
			"applies to it (the stand-in is not the text the server generated, so the cache covers the history up to the " +
			"previous question). Play them turn by turn, or at a rate.",
		example: "Given the prompts are 8 conversations of 4 turns with 64-token questions, 128-token answers and 32 output tokens",
		fn: func(ctx context.Context, n, turns, q, a, out string) error {
			var v [5]int
			for i, s := range []string{n, turns, q, a, out} {
				var err error
				if v[i], err = positive(s); err != nil {
					return fmt.Errorf("conversations: %w", err)
				}
			}
			test(ctx).SetDataset(runner.Dataset{MultiTurn: &load.MultiTurn{Conversations: v[0], Turns: v[1],
				QuestionTokens: v[2], AnswerTokens: v[3], OutputTokens: v[4]}})
			return nil
		},
	},
	{
		kind:    "When",
		pattern: `^the conversations are played turn by turn$`,
		doc:     "Every conversation starts at once; each later turn is sent when the same conversation's previous turn ended, whatever the others do.",
		example: "When the conversations are played turn by turn",
		fn: func(ctx context.Context) error {
			return send(ctx, runner.Arrival{Kind: runner.ArriveTurns}, "", "")
		},
	},
	{
		kind:    "When",
		pattern: `^the prompts are sent in static batches of ` + count + `$`,
		doc: "Static batching, as clients did before continuous batching: N requests sent together, the next N only " +
			"when every one of them has ended (compare it with continuous arrivals of the same prompts).",
		example: "When the prompts are sent in static batches of 8",
		fn: func(ctx context.Context, n string) error {
			k, err := positive(n)
			if err != nil {
				return fmt.Errorf("batch size %w", err)
			}
			return send(ctx, runner.Arrival{Kind: runner.ArriveBatches, Batch: k}, "", "")
		},
	},
	{
		kind:    "When",
		pattern: `^the next run is labelled "([^"]+)"$`,
		doc:     "Names the run the next When step sends, so Then steps can compare runs by name.",
		example: `When the next run is labelled "continuous"`,
		fn: func(ctx context.Context, label string) error {
			return test(ctx).LabelNext(label)
		},
	},
}
