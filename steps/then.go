package steps

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/sgltest/sgltest/runner"
)

// figure matches any figure of the registry, in any case ("TTFT",
// "request throughput"), longest names first.
var figure = func() string {
	names := runner.FigureNames()
	slices.SortFunc(names, func(a, b string) int { return len(b) - len(a) })
	for i, n := range names {
		names[i] = regexp.QuoteMeta(n)
	}
	return `(?i:(` + strings.Join(names, "|") + `))`
}()

// unit is what a bound's number is in: a latency unit, a rate, a percent,
// or nothing for counts and ratios.
const unit = `(ms|s|min|req/s|tok/s|%|requests?|GiB|MiB|GB|MB|W|J|mJ)?`

// bound reads a bound's groups: statistic, figure, server, window (number,
// unit), comparison, number, unit.
func bound(g []string) (runner.Bound, error) {
	b, err := runner.NewBound(g[0], g[1], g[5], g[6], g[7])
	if err != nil {
		return b, err
	}
	if g[2] != "" {
		if b.Server, err = positive(g[2]); err != nil {
			return b, fmt.Errorf("server %w", err)
		}
	}
	if g[3] != "" {
		if b.Window, err = parseDuration(g[3], g[4]); err != nil {
			return b, err
		}
		if b.Window <= 0 {
			return b, fmt.Errorf("window %s %s: expected a positive length", g[3], g[4])
		}
	}
	return b, nil
}

// boundPattern is the one bound sentence, long form ("the P99 TTFT is below
// 200 ms") and short ("P99 total latency < 2s") alike.
var boundHead = `^(?:the )?(?:` + stat + ` )?` + figure + `(?: on server ` + count + `)?(?: in every ` + duration + ` window)?(?: is| are)? ` +
	cmpare + ` (-?\d+(?:\.\d+)?) ?` + unit

// thens judge the last run; every verdict lands in its summary.json.
var thens = []step{
	{
		kind:    "Then",
		pattern: `^all requests succeed$`,
		doc:     "Every request got HTTP 200 and a complete response with no error or abort in it (none failed or was cancelled).",
		example: "Then all requests succeed",
		judge: func(ctx context.Context, st runner.Step, _ []string) error {
			return test(ctx).CheckAllSucceeded(st)
		},
	},
	{
		kind:    "Then",
		pattern: boundHead + `$`,
		doc: "Bounds any figure of the run (the registry is listed below and defined in the README). A latency takes a " +
			"statistic: mean, median, min, max, std or any percentile P1 to P99.9. The comparison is below, at most, " +
			"above, at least or <, <=, >, >=; units with or without a space: ms, s, min, req/s, tok/s, % (counts and " +
			"ratios have none). \"on server N\" reads one server (N counted from 1 in the order declared; request " +
			"figures need sgltest's dispatcher, counters work behind any router); \"in every N s window\" requires the " +
			"bound in each full window of the run (latencies and error rate by arrival, throughputs by completion). " +
			"Short forms such as `P99 total latency < 2s` work too.",
		example: "Then the P95 ITL on server 2 is below 20 ms",
		also: []string{"Then the P99 total latency is below 10 s", "Then the request throughput is at least 15 req/s",
			"Then the error rate is below 1%", "Then the mean TTFT is at most 200 ms", "Then P99 total latency < 2s",
			"Then the output token throughput is at least 1000 tok/s", "Then the max queue depth is below 10",
			"Then the request throughput in every 1 s window is at least 10 req/s"},
		judge: func(ctx context.Context, st runner.Step, g []string) error {
			b, err := bound(g)
			if err != nil {
				return err
			}
			return test(ctx).Check(st, b)
		},
	},
	{
		kind:    "Then",
		pattern: `^at most ` + number + `% of requests fail$`,
		doc:     "Bounds the error rate: failed requests / requests sent (cancelled ones are neither).",
		example: "Then at most 5% of requests fail",
		judge: func(ctx context.Context, st runner.Step, g []string) error {
			b, err := runner.NewBound("", "error rate", "at most", g[0], "%")
			if err != nil {
				return err
			}
			return test(ctx).Check(st, b)
		},
	},
	{
		kind:    "Then",
		pattern: `^requests stop failing within ` + duration + ` after ` + target + ` is (killed|stopped)$`,
		doc: "How fast traffic leaves a dead server: from the fault to the end of the last failed request that arrived " +
			"before it came back (0 when none failed). Shows what sglang-router, smg and sgltest's dispatcher do.",
		example: "Then requests stop failing within 2 s after server 2 is killed",
		judge: func(ctx context.Context, st runner.Step, g []string) error {
			d, err := parseDuration(g[0], g[1])
			if err != nil {
				return err
			}
			return test(ctx).CheckFailover(st, targetName(g[2]), d)
		},
	},
	{
		kind:    "Then",
		pattern: boundHead + ` again within ` + duration + ` after ` + target + ` is (?:restored|restarted|resumed)$`,
		doc: "Recovery: the bound holds again in every 1 s window (by arrival) from at most this long after the server " +
			"came back until the end of the run.",
		example: "Then the P99 TTFT is below 500 ms again within 10 s after server 2 is restored",
		judge: func(ctx context.Context, st runner.Step, g []string) error {
			b, err := bound(g[:8])
			if err != nil {
				return err
			}
			d, err := parseDuration(g[8], g[9])
			if err != nil {
				return err
			}
			return test(ctx).CheckRecovery(st, b, targetName(g[10]), d)
		},
	},
	{
		kind:    "Then",
		pattern: `^the router adds ` + cmpare + ` ` + number + ` (ms|s) to the ` + stat + ` (server latency|E2E latency|TTFT)$`,
		doc:     "Bounds the router's own overhead: the statistic through the router minus the same statistic sent directly.",
		example: "Then the router adds at most 5 ms to the median TTFT",
		judge: func(ctx context.Context, st runner.Step, g []string) error {
			c, err := runner.ParseComparison(g[0])
			if err != nil {
				return err
			}
			b, err := strconv.ParseFloat(g[1], 64)
			if err != nil {
				return err
			}
			return test(ctx).CheckRouterOverhead(st, g[3], g[4], c, b, g[2])
		},
	},
	{
		kind:    "Then",
		pattern: `^every server served at least ` + count + ` requests?$`,
		doc:     "Each server's own request counter grew by at least this much during the run.",
		example: "Then every server served at least 100 requests",
		judge: func(ctx context.Context, st runner.Step, g []string) error {
			n, err := strconv.Atoi(g[0])
			if err != nil {
				return err
			}
			return test(ctx).CheckEveryServerServed(st, n)
		},
	},
	{
		kind:    "Then",
		pattern: `^every data parallel rank served at least ` + count + ` requests?$`,
		doc: "Each rank of each data-parallel server (data parallel size N) admitted at least this many requests during " +
			"the run, by the rank's own scheduler counter (routing.json lists every rank's requests and tokens).",
		example: "Then every data parallel rank served at least 50 requests",
		judge: func(ctx context.Context, st runner.Step, g []string) error {
			n, err := strconv.Atoi(g[0])
			if err != nil {
				return err
			}
			return test(ctx).CheckEveryRankServed(st, n)
		},
	},
	{
		kind:    "Then",
		pattern: `^server ` + count + ` served ` + cmpare + ` ` + count + ` requests?$`,
		doc:     "Bounds one server's share of the run (servers are numbered from 1 in the order declared), by its own counter.",
		example: "Then server 3 served at most 0 requests",
		judge: func(ctx context.Context, st runner.Step, g []string) error {
			b, err := runner.NewBound("", "requests served", g[1], g[2], "")
			if err != nil {
				return err
			}
			if b.Server, err = positive(g[0]); err != nil {
				return fmt.Errorf("server %w", err)
			}
			return test(ctx).Check(st, b)
		},
	},
}

// comparisons judge one run against another of the same scenario.
var comparisons = []step{
	{
		kind:    "Then",
		pattern: `^(?:the )?(?:` + stat + ` )?` + figure + ` with "([^"]+)" is (higher|lower) than with "([^"]+)"$`,
		doc:     "Compares a figure between two labelled runs of the scenario (a run is labelled by its routing policy, or by \"the next run is labelled\").",
		example: `Then the request throughput with "continuous" is higher than with "static batches"`,
		also:    []string{`Then the cache hit rate with "cache_aware" is higher than with "round_robin"`},
		judge: func(ctx context.Context, st runner.Step, g []string) error {
			return test(ctx).CheckCompare(st, g[0], g[1], g[2], g[4], g[3] == "higher")
		},
	},
}
