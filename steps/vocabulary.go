package steps

import (
	"fmt"
	"strings"
)

// Vocabulary renders every sentence as Markdown for QA: the keyword, an
// example, what it does, and the exact pattern accepted. steps/VOCABULARY.md
// is this output; a test fails when the file is stale.
func Vocabulary() string {
	var b strings.Builder
	b.WriteString("# Scenario vocabulary\n\n")
	b.WriteString("Generated from the step definitions in `steps/steps.go` by `make vocab`; do not edit.\n")
	b.WriteString("Every sentence a feature file may use is listed here. A sentence that matches none of\n")
	b.WriteString("these patterns fails its scenario with \"undefined step\".\n\n")
	b.WriteString("Numbers are digits (`20`, `2.5`). Latency units are `ms` or `s`.\n")
	for _, kind := range []string{"Given", "When", "Then"} {
		fmt.Fprintf(&b, "\n## %s\n", kind)
		for _, s := range sentences {
			if s.kind != kind {
				continue
			}
			fmt.Fprintf(&b, "\n### `%s`\n\n%s\n\nPattern: `%s`\n", s.example, s.doc, s.pattern)
		}
	}
	return b.String()
}
