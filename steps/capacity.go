package steps

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/cucumber/godog"

	"github.com/sgltest/sgltest/runner"
)

// numbers is a list of two or more numbers: "10, 20, 40 and 80".
const numbers = `(\d+(?:\.\d+)?(?:(?:,| and|, and) \d+(?:\.\d+)?)+)`

// listSep splits what numbers and SLO lists capture.
var listSep = regexp.MustCompile(`,\s*and\s+|,\s*|\s+and\s+`)

// sloClause is one bound of an SLO list: a bound sentence without "Then".
var sloClause = regexp.MustCompile(boundHead + `$`)

// capacitySentences plan capacity: named setups, SLOs, sweeps, stress
// ramps, the highest rate meeting an SLO and the GPUs an SLO needs.
var capacitySentences = []step{
	{
		kind:    "Given",
		pattern: `^the setup "([^"]+)"$`,
		doc: "Declares the servers and routing of a named setup: a small YAML file (servers: count, simulated, profile, " +
			"settings; routing: via, policy) shipped in fixtures/setups (a100-tp1-high-throughput, h100-single, " +
			"h100-tp1-cache-aware, h100-tp1-low-latency), or a path ending in .yaml. internal/setup/doc.go describes the format; " +
			"a bad file fails naming its line and field.",
		example: `Given the setup "h100-tp1-cache-aware"`,
		fn: func(ctx context.Context, name string) error {
			return test(ctx).UseSetup(name)
		},
	},
	{
		kind:    "Given",
		pattern: `^the SLO is (.+)$`,
		doc: "Declares the service-level objective: bounds on any figures, joined by \"and\" or commas, each written as a " +
			"Then step writes it. The GPU-count check and the stress ramp use it (a ramp step that breaks it ends the ramp).",
		example: "Given the SLO is P99 TTFT below 200 ms and P99 TPOT below 50 ms",
		fn: func(ctx context.Context, list string) error {
			slo, err := parseSLO(list)
			if err != nil {
				return err
			}
			return test(ctx).SetSLO(slo)
		},
	},
	{
		kind:    "Given",
		pattern: `^each load level lasts ` + duration + `$`,
		doc: "Each point of a sweep, ramp or search then sends this long of its rate: the declared random (or ShareGPT) " +
			"prompts' count becomes rate × duration, so a higher rate is measured over as long as a lower one. Without it " +
			"every point sends the declared prompts.",
		example: "Given each load level lasts 30 s",
		fn: func(ctx context.Context, v, unit string) error {
			d, err := parseDuration(v, unit)
			if err != nil {
				return err
			}
			return test(ctx).SetLevelDuration(d)
		},
	},
	{
		kind:    "Given",
		pattern: `^the highest rate is found to within ` + number + ` ?(%|req/s|requests per second)$`,
		doc: "The precision of the search for the highest rate meeting an SLO: it stops once the lowest failing rate " +
			"is this close to the highest passing one. Default 5%.",
		example: "Given the highest rate is found to within 1 req/s",
		fn: func(ctx context.Context, v, unit string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("precision %q: expected a number", v)
			}
			p := runner.Precision{Abs: f}
			if unit == "%" {
				p = runner.Precision{Rel: f / 100}
			}
			return test(ctx).SetSearchPrecision(p)
		},
	},
	{
		kind:    "When",
		pattern: `^the prompts arrive at ` + numbers + perSecond + `$`,
		doc: "A rate sweep: one fresh run per rate (Poisson arrivals), each with its own run directory, then one sweep " +
			"report in its own directory: sweep.txt (every figure per point), sweep.csv, sweep.json and latency_throughput.png " +
			"(TTFT, ITL and E2E percentiles against achieved throughput, the knee marked; internal/capacity defines the knee).",
		example: "When the prompts arrive at 10, 20, 40 and 80 requests per second",
		fn: func(ctx context.Context, list string) error {
			rates, err := parseNumbers(list)
			if err != nil {
				return err
			}
			return test(ctx).Sweep(ctx, runner.AxisRate, runner.RatePoints(rates))
		},
	},
	{
		kind:    "When",
		pattern: `^` + numbers + ` users send the prompts back to back$`,
		doc:     "A concurrency sweep: one fresh closed-loop run per number of users, and the sweep report (wall-clock time only).",
		example: "When 1, 4 and 16 users send the prompts back to back",
		fn: func(ctx context.Context, list string) error {
			vs, err := parseNumbers(list)
			if err != nil {
				return err
			}
			users := make([]int, len(vs))
			for i, v := range vs {
				if users[i] = int(v); float64(users[i]) != v || users[i] < 1 {
					return fmt.Errorf("users %g: expected a positive whole number", v)
				}
			}
			return test(ctx).Sweep(ctx, runner.AxisUsers, runner.UserPoints(users))
		},
	},
	{
		kind:    "When",
		pattern: `^the prompts arrive at ` + number + perSecond + ` with each of these server settings:$`,
		doc: "A settings sweep: one fresh run per row, at the same rate, the row's settings overriding the declared " +
			"servers'; the header names the settings as the server sentence writes them (max running requests, tensor " +
			"parallel size, chunked prefill size, schedule policy, mem fraction); an empty cell keeps the declared value.",
		example: "When the prompts arrive at 20 requests per second with each of these server settings:",
		fn: func(ctx context.Context, rate string, table *godog.Table) error {
			r, err := parseRate(rate)
			if err != nil {
				return err
			}
			points, err := settingsPoints(r, table)
			if err != nil {
				return err
			}
			return test(ctx).Sweep(ctx, runner.AxisSettings, points)
		},
	},
	{
		kind: "When",
		pattern: `^the rate steps from ` + number + ` to ` + number + perSecond + ` in steps of ` + number +
			`(?: until more than ` + number + `% of requests fail)?$`,
		doc: "A stress ramp: one fresh run per rate step, rising until a step's error rate is above the limit (5% by " +
			"default, as the seeds' stress test), its run stops early, or the declared SLO breaks. ramp.txt and ramp.json " +
			"give every step and the last good one; the sweep report of the steps is beside them.",
		example: "When the rate steps from 10 to 100 requests per second in steps of 10 until more than 5% of requests fail",
		also:    []string{"When the rate steps from 10 to 100 requests per second in steps of 10"},
		fn: func(ctx context.Context, from, to, by, limit string) error {
			var v [3]float64
			for i, s := range []string{from, to, by} {
				f, err := strconv.ParseFloat(s, 64)
				if err != nil {
					return fmt.Errorf("ramp rate %q: expected a number", s)
				}
				v[i] = f
			}
			l := runner.DefaultErrorLimit
			if limit != "" {
				var err error
				if l, err = strconv.ParseFloat(limit, 64); err != nil {
					return fmt.Errorf("error limit %q: expected a percentage", limit)
				}
			}
			return test(ctx).Ramp(ctx, v[0], v[1], v[2], l)
		},
	},
	{
		kind:    "Then",
		pattern: `^the highest rate meeting (.+) is at least ` + number + perSecond + `$`,
		doc: "Searches for the highest Poisson rate at which every bound holds (bounds as in the SLO step, or \"the SLO\" " +
			"for the declared one): it tries the rate given first, doubles or halves until one rate passes and another " +
			"fails, then bisects to the search precision; a point within 10% of a limit is run three times (new seeds) " +
			"and judged on the medians. search.txt states the rate found and its uncertainty (the last passing and first " +
			"failing rates). Passes when the rate given meets the SLO.",
		example: "Then the highest rate meeting P99 TTFT below 200 ms and P99 TPOT below 50 ms is at least 30 req/s",
		also:    []string{"Then the highest rate meeting the SLO is at least 30 req/s"},
		judge: func(ctx context.Context, st runner.Step, g []string) error {
			slo, err := sloOf(ctx, g[0])
			if err != nil {
				return err
			}
			r, err := parseRate(g[1])
			if err != nil {
				return err
			}
			return test(ctx).CheckHighestRate(ctx, st, slo, r)
		},
	},
	{
		kind:    "Then",
		pattern: `^` + number + perSecond + ` needs at most ` + count + ` GPUs?(?: with ([a-z][a-z0-9_]*))?(?: to meet (.+))?$`,
		doc: "Searches for the fewest servers (copies of the declared server, one GPU each at tensor parallel size 1) " +
			"that meet the SLO (the declared one, or \"to meet ...\") at this Poisson rate, routed by sgltest's dispatcher " +
			"with the policy (or the declared routing): 1, 2, 4, ... servers, then bisection. Meant for virtual time, where " +
			"each count takes a fraction of a second. servers.txt, servers.json and slo_attainment.png give SLO attainment " +
			"against GPUs.",
		example: "Then 40 req/s needs at most 4 GPUs with shortest_queue",
		also:    []string{"Then 40 req/s needs at most 4 GPUs with shortest_queue to meet P99 TTFT below 200 ms"},
		judge: func(ctx context.Context, st runner.Step, g []string) error {
			r, err := parseRate(g[0])
			if err != nil {
				return err
			}
			n, err := positive(g[1])
			if err != nil {
				return fmt.Errorf("GPU count %w", err)
			}
			slo, err := sloOf(ctx, g[3])
			if err != nil {
				return err
			}
			return test(ctx).CheckServersNeeded(ctx, st, r, n, g[2], slo)
		},
	},
	{
		kind:    "Then",
		pattern: `^the knee of the sweep is ` + cmpare + ` ` + number + perSecond + `$`,
		doc:     "Bounds the achieved request throughput at the knee of the last sweep's latency-throughput curve.",
		example: "Then the knee of the sweep is at least 20 req/s",
		judge: func(ctx context.Context, st runner.Step, g []string) error {
			c, err := runner.ParseComparison(g[0])
			if err != nil {
				return err
			}
			r, err := parseRate(g[1])
			if err != nil {
				return err
			}
			return test(ctx).CheckKnee(st, c, r)
		},
	},
	{
		kind:    "Then",
		pattern: `^at every point of the sweep ` + strings.TrimPrefix(boundHead, "^") + `$`,
		doc:     "Judges a bound on every point of the last sweep (or ramp); each verdict lands in that point's summary.json.",
		example: "Then at every point of the sweep the P99 ITL is below 100 ms",
		judge: func(ctx context.Context, st runner.Step, g []string) error {
			b, err := bound(g)
			if err != nil {
				return err
			}
			return test(ctx).CheckEveryPoint(st, b)
		},
	},
	{
		kind:    "Then",
		pattern: `^at every point of the sweep all requests succeed$`,
		doc:     "Every request of every point of the last sweep (or ramp) succeeded; each verdict lands in that point's summary.json.",
		example: "Then at every point of the sweep all requests succeed",
		judge: func(ctx context.Context, st runner.Step, _ []string) error {
			return test(ctx).CheckEveryPointSucceeded(st)
		},
	},
	{
		kind:    "Then",
		pattern: `^the last good step is ` + cmpare + ` ` + number + perSecond + `$`,
		doc:     "Bounds the rate of the last stress-ramp step that did not break.",
		example: "Then the last good step is at least 20 req/s",
		judge: func(ctx context.Context, st runner.Step, g []string) error {
			c, err := runner.ParseComparison(g[0])
			if err != nil {
				return err
			}
			r, err := parseRate(g[1])
			if err != nil {
				return err
			}
			return test(ctx).CheckLastGoodStep(st, c, r)
		},
	},
}

// parseNumbers reads a list such as "10, 20, 40 and 80".
func parseNumbers(list string) ([]float64, error) {
	var out []float64
	for _, s := range listSep.Split(strings.TrimSpace(list), -1) {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || !(v > 0) {
			return nil, fmt.Errorf("list %q: %q is not a positive number", list, s)
		}
		out = append(out, v)
	}
	return out, nil
}

// parseSLO reads "P99 TTFT below 200 ms and P99 TPOT below 50 ms": bounds
// as Then steps write them, joined by "and" or commas.
func parseSLO(list string) ([]runner.Bound, error) {
	var out []runner.Bound
	for _, clause := range listSep.Split(strings.TrimSpace(list), -1) {
		m := sloClause.FindStringSubmatch(clause)
		if m == nil {
			return nil, fmt.Errorf("SLO %q: %q is not a bound: expected a statistic, a figure, a comparison and a limit, such as \"P99 TTFT below 200 ms\"", list, clause)
		}
		b, err := bound(m[1:])
		if err != nil {
			return nil, fmt.Errorf("SLO %q: %w", list, err)
		}
		out = append(out, b)
	}
	return out, nil
}

// sloOf reads an SLO written in a sentence: "the SLO" (or nothing) is the
// declared one.
func sloOf(ctx context.Context, list string) ([]runner.Bound, error) {
	if list == "" || list == "the SLO" {
		return test(ctx).SLO()
	}
	return parseSLO(list)
}

// settingsPoints reads a settings table: a header of setting names, one
// row per point.
func settingsPoints(rate float64, t *godog.Table) ([]runner.SweepPoint, error) {
	if len(t.Rows) < 3 {
		return nil, errors.New("settings table: expected a header row of setting names and at least two rows of values")
	}
	head := t.Rows[0].Cells
	var out []runner.SweepPoint
	for i, row := range t.Rows[1:] {
		var parts []string
		for j, c := range row.Cells {
			if v := strings.TrimSpace(c.Value); v != "" {
				parts = append(parts, strings.TrimSpace(head[j].Value)+" "+v)
			}
		}
		if len(parts) == 0 {
			return nil, fmt.Errorf("settings table row %d: every cell is empty", i+1)
		}
		label := strings.Join(parts, ", ")
		s, err := serverSettings(label)
		if err != nil {
			return nil, fmt.Errorf("settings table row %d: %w", i+1, err)
		}
		out = append(out, runner.SweepPoint{Label: label, Arrival: runner.Arrival{Kind: runner.ArrivePoisson, Rate: rate}, Settings: &s})
	}
	return out, nil
}
