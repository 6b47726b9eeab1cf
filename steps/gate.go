package steps

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/cucumber/godog"

	"github.com/sgltest/sgltest/internal/gate"
	"github.com/sgltest/sgltest/internal/goodput"
	"github.com/sgltest/sgltest/runner"
)

// objective is one service-level objective as a sentence states it.
const objective = `(?:TTFT|TPOT|E2E latency) (?:below|at most) \d+(?:\.\d+)? ?(?:ms|s)`

// objectives is a list of them joined by commas or "and".
const objectives = `(` + objective + `(?:(?:, (?:and )?| and )` + objective + `)*)`

var objectivePattern = regexp.MustCompile(`^(TTFT|TPOT|E2E latency) (below|at most) (\d+(?:\.\d+)?) ?(ms|s)$`)

// parseObjectives reads what objectives captured: "TTFT below 200 ms and
// TPOT below 50 ms". "below" and "at most" both mean at or below, as vLLM
// counts a request good when the objective is ≥ its value.
func parseObjectives(s string) (goodput.SLO, error) {
	var slo goodput.SLO
	for _, item := range regexp.MustCompile(`,\s*(?:and\s+)?|\s+and\s+`).Split(strings.TrimSpace(s), -1) {
		m := objectivePattern.FindStringSubmatch(strings.TrimSpace(item))
		if m == nil {
			return slo, fmt.Errorf("service-level objective %q: expected TTFT, TPOT or E2E latency, below or at most, and a duration in ms or s", item)
		}
		d, err := parseDuration(m[3], m[4])
		if err != nil {
			return slo, err
		}
		if d <= 0 {
			return slo, fmt.Errorf("service-level objective %q: expected a positive bound", item)
		}
		var field *time.Duration
		switch m[1] {
		case "TTFT":
			field = &slo.TTFT
		case "TPOT":
			field = &slo.TPOT
		case "E2E latency":
			field = &slo.E2E
		}
		if *field != 0 {
			return slo, fmt.Errorf("service-level objectives %q: %s is given twice", s, m[1])
		}
		*field = d
	}
	return slo, nil
}

// gates repeat a load, compare it with the blessed baseline and measure
// goodput.
var gates = []step{
	{
		kind:    "Given",
		pattern: `^the load is repeated ` + count + ` times(?:, each with (its own seed|the same seed|a random seed))?$`,
		doc: "Every load the scenario sends runs this many times, each on fresh servers: \"its own seed\" (the default) " +
			"seeds repeat i with the scenario's seed + i, \"the same seed\" repeats one workload exactly, \"a random seed\" " +
			"draws a new seed per repeat (recorded in repeats.json). Each repeat writes its own run directory; a " +
			"reports/<time>-<scenario>-repeats/ directory holds repeats.txt and repeats.json (every figure per repeat, " +
			"their median, min and max, and pooled over all requests) and the repeats' CDFs overlaid. Comparisons with the " +
			"baseline and goodput judge all the repeats; the other Then sentences judge the last repeat. Five repeats is " +
			"the fewest at which the U test can call a regression with one repeat out of order (internal/gate).",
		example: "Given the load is repeated 5 times, each with its own seed",
		also:    []string{"Given the load is repeated 5 times", "Given the load is repeated 3 times, each with the same seed"},
		fn: func(ctx context.Context, n, seeds string) error {
			k, err := positive(n)
			if err != nil {
				return fmt.Errorf("repeats %w", err)
			}
			s := map[string]runner.Seeds{"": runner.SeedPerRepeat, "its own seed": runner.SeedPerRepeat,
				"the same seed": runner.SameSeed, "a random seed": runner.RandomSeeds}[seeds]
			return test(ctx).SetRepeats(k, s)
		},
	},
	{
		kind:    "Given",
		pattern: `^the service-level objectives are ` + objectives + `$`,
		doc: "Declares the objectives a request must meet to count towards goodput (vLLM's --goodput): TTFT, TPOT and " +
			"E2E latency, each \"below\" or \"at most\" a duration (both mean at or below, as vLLM counts).",
		example: "Given the service-level objectives are TTFT below 200 ms and TPOT below 50 ms",
		fn: func(ctx context.Context, s string) error {
			slo, err := parseObjectives(s)
			if err != nil {
				return err
			}
			return test(ctx).SetObjectives(slo)
		},
	},
	{
		kind:    "Then",
		pattern: `^(?:the )?(?:` + stat + ` )?` + figure + ` is no (worse|higher|lower) than the baseline by more than ` + number + `%$`,
		doc: "Compares the figure over the last load's repeats with the scenario's blessed baseline (baselines/<scenario>.json, " +
			"or SGLTEST_BASELINES), recorded under the same fingerprint (backend, clock, simulator profile, model, GPU and " +
			"driver, SGLang and router versions, CPU, sgltest version); another set-up is refused, naming what differs. The " +
			"verdict is pass, regression or inconclusive, printed with the change, its 90% interval and the minimum " +
			"detectable effect: a regression needs the whole interval beyond the tolerance and a one-sided exact U test at " +
			"alpha 0.05 to agree (internal/gate). A regression fails; inconclusive passes with a warning unless " +
			"SGLTEST_GATE_INCONCLUSIVE=fail, and SGLTEST_GATE_RERUN=1 first reruns the load once and judges every repeat " +
			"together. Figures: any statistic in summary.json (mean, median, P90, P95, P99, min, max) of TTFT, ITL, TPOT, " +
			"E2E latency, server latency, total latency, queue time; request, input, output or total token throughput. " +
			"\"higher\" fits latencies, \"lower\" throughputs. Bless a baseline with `sgltest baseline save`.",
		example: "Then the P99 TTFT is no worse than the baseline by more than 10%",
		also:    []string{"Then the output token throughput is no lower than the baseline by more than 5%", "Then the median ITL is no higher than the baseline by more than 10%"},
		judge: func(ctx context.Context, st runner.Step, g []string) error {
			f, err := gate.Parse(g[0], g[1])
			if err != nil {
				return err
			}
			switch {
			case g[2] == "higher" && f.Worse != gate.HigherIsWorse:
				return fmt.Errorf("%s gets worse when it falls: write \"no lower than\" or \"no worse than\"", f.Label)
			case g[2] == "lower" && f.Worse != gate.LowerIsWorse:
				return fmt.Errorf("%s gets worse when it rises: write \"no higher than\" or \"no worse than\"", f.Label)
			}
			tol, err := strconv.ParseFloat(g[3], 64)
			if err != nil {
				return fmt.Errorf("tolerance %q: %w", g[3], err)
			}
			return test(ctx).CheckBaseline(ctx, st, f, tol/100)
		},
	},
	{
		kind:    "Then",
		pattern: `^at least ` + number + `% of requests meet ` + objectives + `$`,
		doc: "Goodput as a fraction (vLLM's definition): the requests that succeeded and met every objective named, over " +
			"all requests of the last load's repeats; a failed request never meets them. TPOT is (E2E − TTFT) / (output " +
			"tokens − 1), 0 for one output token, as vLLM counts it.",
		example: "Then at least 95% of requests meet TTFT below 200 ms and TPOT below 50 ms",
		judge: func(ctx context.Context, st runner.Step, g []string) error {
			p, err := strconv.ParseFloat(g[0], 64)
			if err != nil || p > 100 {
				return fmt.Errorf("percentage %q: expected 0 to 100", g[0])
			}
			slo, err := parseObjectives(g[1])
			if err != nil {
				return err
			}
			return test(ctx).CheckGoodputFraction(st, &slo, p)
		},
	},
	{
		kind:    "Then",
		pattern: `^the goodput(?: with ` + objectives + `)? is ` + cmpare + ` ` + number + ` ?req/s$`,
		doc: "Bounds the goodput, vLLM's request_goodput: requests that met every objective per second of the run, " +
			"pooled over the last load's repeats (good requests over their summed durations). The objectives are the ones " +
			"named here, or else the declared ones (Given the service-level objectives are ...).",
		example: "Then the goodput is at least 30 req/s",
		also:    []string{"Then the goodput with TTFT below 200 ms and TPOT below 50 ms is at least 15 req/s"},
		judge: func(ctx context.Context, st runner.Step, g []string) error {
			var slo *goodput.SLO
			if g[0] != "" {
				s, err := parseObjectives(g[0])
				if err != nil {
					return err
				}
				slo = &s
			}
			c, err := runner.ParseComparison(g[1])
			if err != nil {
				return err
			}
			b, err := strconv.ParseFloat(g[2], 64)
			if err != nil {
				return fmt.Errorf("goodput %q: %w", g[2], err)
			}
			return test(ctx).CheckGoodput(st, slo, c, b)
		},
	},
}

// concludeScenario ends a scenario for CI, from the After hook once its
// checks are written: it prints and records the scenario's verdict line
// and attaches its summaries and charts, which godog puts on the
// scenario's last (or failing) step and the cucumber formatter embeds.
func concludeScenario(ctx context.Context, w *scenarioWorld, scenarioErr error) (context.Context, error) {
	_, err := w.test.Conclude(w.pickle.Uri, scenarioErr)
	atts, aerr := w.test.Attachments()
	for _, a := range atts {
		ctx = godog.Attach(ctx, godog.Attachment{Body: a.Body, FileName: a.Name, MediaType: a.MediaType})
	}
	return ctx, errors.Join(err, aerr)
}

// concludeUnstarted records the verdict of a scenario the Before hook
// refused (a sentence that matches nothing, an interrupted suite).
func concludeUnstarted(p *godog.Scenario, scenarioErr error) error {
	if suite == nil || p == nil {
		return nil
	}
	_, err := suite.ConcludeUnstarted(p.Name, p.Uri, scenarioErr)
	return err
}
