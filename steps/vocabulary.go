package steps

import (
	"fmt"
	"strings"

	"github.com/sgltest/sgltest/runner"
)

// Vocabulary renders every sentence as Markdown for QA: the keyword, an
// example, what it does, and the exact pattern accepted, then every
// figure a Then step can bound. steps/VOCABULARY.md is this output; a test
// fails when the file is stale.
func Vocabulary() string {
	var b strings.Builder
	b.WriteString("# Scenario vocabulary\n\n")
	b.WriteString("Generated from the step definitions in `steps/` by `make vocab`; do not edit.\n")
	b.WriteString("Every sentence a feature file may use is listed here (`sgltest vocabulary` prints it). A sentence\n")
	b.WriteString("that matches none of these patterns fails its scenario with \"undefined step\", at its own line and\n")
	b.WriteString("with the closest sentences; `sgltest lint FILES` checks feature files without running them.\n\n")
	b.WriteString("Numbers are digits (`20`, `2.5`). Durations and latencies take `ms`, `s` or `min`, with or\n")
	b.WriteString("without a space (`20 ms`, `20ms`). Comparisons are `below`, `at most`, `above`, `at least`\n")
	b.WriteString("or `<`, `<=`, `>`, `>=`. Servers are numbered from 1 in the order they are declared.\n")
	for _, kind := range []string{"Given", "When", "Then"} {
		fmt.Fprintf(&b, "\n## %s\n", kind)
		for _, s := range sentences {
			if s.kind != kind {
				continue
			}
			fmt.Fprintf(&b, "\n### `%s`\n\n%s\n\nPattern: `%s`\n", s.example, s.doc, s.pattern)
		}
	}
	b.WriteString("\n## Figures a Then step can bound\n\n")
	b.WriteString("A latency takes a statistic (`mean`, `median`, `min`, `max`, `std`, or a percentile `P1` to `P99.9`);\n")
	b.WriteString("the other figures take none. Definitions are in the README's metric definitions.\n\n")
	b.WriteString("| figure | unit | per server | per window | meaning |\n|---|---|---|---|---|\n")
	for _, f := range runner.Figures() {
		yes := func(v bool) string {
			if v {
				return "yes"
			}
			return ""
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", f.Name, f.Unit, yes(f.PerServer), yes(f.Windowed), f.Doc)
	}
	return b.String()
}
