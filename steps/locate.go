package steps

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"

	gherkin "github.com/cucumber/gherkin/go/v42"
	messages "github.com/cucumber/messages/go/v34"
)

// feature is one parsed .feature file: its pickles (the scenarios as
// godog runs them, outlines expanded) and the line of each step and
// example row.
type feature struct {
	path    string
	pickles []*messages.Pickle
	lines   map[string]int64 // AST node id -> line
}

var features sync.Map // path -> *feature or error

// parseFeature parses path, once per process.
func parseFeature(path string) (*feature, error) {
	if v, ok := features.Load(path); ok {
		if err, bad := v.(error); bad {
			return nil, err
		}
		return v.(*feature), nil
	}
	f, err := readFeature(path)
	if err != nil {
		features.Store(path, err)
		return nil, err
	}
	features.Store(path, f)
	return f, nil
}

func readFeature(path string) (*feature, error) {
	r, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = r.Close() }() // read only
	ids := &messages.Incrementing{}
	doc, err := gherkin.ParseGherkinDocument(r, ids.NewId)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f := &feature{path: path, lines: map[string]int64{}}
	if doc.Feature == nil {
		return f, nil
	}
	steps := func(ss []*messages.Step) {
		for _, s := range ss {
			f.lines[s.Id] = s.Location.Line
		}
	}
	scenario := func(sc *messages.Scenario) {
		steps(sc.Steps)
		for _, ex := range sc.Examples {
			for _, row := range ex.TableBody {
				f.lines[row.Id] = row.Location.Line
			}
		}
	}
	for _, c := range doc.Feature.Children {
		switch {
		case c.Background != nil:
			steps(c.Background.Steps)
		case c.Scenario != nil:
			scenario(c.Scenario)
		case c.Rule != nil:
			for _, rc := range c.Rule.Children {
				if rc.Background != nil {
					steps(rc.Background.Steps)
				}
				if rc.Scenario != nil {
					scenario(rc.Scenario)
				}
			}
		}
	}
	f.pickles = gherkin.Pickles(*doc, path, ids.NewId)
	return f, nil
}

// where returns "path:line" for each step of a pickle: the step's own
// line, and for a Scenario Outline also the example row it came from.
func (f *feature) where(p *messages.Pickle) []string {
	out := make([]string, len(p.Steps))
	for i, st := range p.Steps {
		out[i] = f.path
		if len(st.AstNodeIds) == 0 {
			continue
		}
		if line, ok := f.lines[st.AstNodeIds[0]]; ok {
			out[i] = fmt.Sprintf("%s:%d", f.path, line)
		}
		if len(st.AstNodeIds) > 1 {
			if row, ok := f.lines[st.AstNodeIds[1]]; ok {
				out[i] += fmt.Sprintf(" (example at line %d)", row)
			}
		}
	}
	return out
}

// locate finds the lines of the steps of a pickle godog runs, by parsing
// its file and matching the pickle by name and step texts. Steps it cannot
// place get the file alone.
func locate(p *messages.Pickle) map[string]string {
	out := map[string]string{}
	for _, st := range p.Steps {
		out[st.Id] = p.Uri
	}
	f, err := parseFeature(p.Uri)
	if err != nil {
		return out
	}
	texts := func(q *messages.Pickle) []string {
		t := make([]string, len(q.Steps))
		for i, s := range q.Steps {
			t[i] = s.Text
		}
		return t
	}
	want := texts(p)
	for _, q := range f.pickles {
		if q.Name == p.Name && slices.Equal(texts(q), want) {
			for i, w := range f.where(q) {
				out[p.Steps[i].Id] = w
			}
			break
		}
	}
	return out
}

// suggest returns up to n sentences of the vocabulary closest to text, as
// examples a QA engineer can copy: the smallest character edit distance
// once numbers and quoted strings are made alike.
func suggest(text string, n int) []string {
	type cand struct {
		example string
		dist    int
	}
	norm := normalize(text)
	var cs []cand
	seen := map[string]bool{}
	for _, s := range sentences {
		for _, ex := range append([]string{s.example}, s.also...) {
			bare := ex
			for _, k := range []string{"Given ", "When ", "Then "} {
				bare = strings.TrimPrefix(bare, k)
			}
			if !seen[bare] {
				seen[bare] = true
				cs = append(cs, cand{ex, editDistance([]rune(norm), []rune(normalize(bare)))})
			}
		}
	}
	slices.SortStableFunc(cs, func(a, b cand) int { return a.dist - b.dist })
	out := make([]string, 0, n)
	for _, c := range cs[:min(n, len(cs))] {
		out = append(out, c.example)
	}
	return out
}

var (
	quoted = regexp.MustCompile(`"[^"]*"`)
	digits = regexp.MustCompile(`\d+(?:\.\d+)?`)
)

// normalize lower-cases a sentence and makes every number "#" and every
// quoted string "\"\"", so that "arrive at 20" and "arrive at 40" are
// alike.
func normalize(s string) string {
	s = quoted.ReplaceAllString(strings.ToLower(s), `""`)
	return digits.ReplaceAllString(s, "#")
}

// editDistance is the Levenshtein distance between two sequences.
func editDistance[T comparable](a, b []T) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// checkStep says what is wrong with a step's text, or "" when exactly one
// sentence matches it.
func checkStep(text, where string) string {
	switch ix := matching(text); len(ix) {
	case 1:
		return ""
	case 0:
		return fmt.Sprintf("%s: undefined step %q\n    did you mean one of:\n      %s", where, text,
			strings.Join(suggest(text, 3), "\n      "))
	default:
		var pats []string
		for _, i := range ix {
			pats = append(pats, sentences[i].example)
		}
		return fmt.Sprintf("%s: ambiguous step %q matches %d sentences: %s", where, text, len(ix), strings.Join(pats, "; "))
	}
}
