package gate

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Set is one side of a comparison: what it is (a run directory, a
// baseline file) and its figures' repeats.
type Set struct {
	Label  string
	Series []Series
}

// Row is one figure of a comparison.
type Row struct {
	Figure Figure
	// A and B are the repeats on each side; nil where the side lacks the
	// figure.
	A, B []float64
	// Verdict judges B (the candidate) against A (the baseline); nil when a
	// side lacks the figure, and Note then says which.
	Verdict *Verdict
	Note    string
}

// Table is a side-by-side comparison of two sets, figure by figure.
type Table struct {
	A, B string
	Rule Rule
	Rows []Row
}

// Compare judges every figure of b against the same figure of a with rule
// r: a is the baseline (or run A), b the candidate (run B). Rows follow a's
// order, then figures only b has. A figure whose unit or direction differs
// between the sides is an error, since the two numbers would not be the
// same figure.
func Compare(a, b Set, r Rule) (Table, error) {
	t := Table{A: a.Label, B: b.Label, Rule: r}
	inB := map[string]*Series{}
	for i := range b.Series {
		s := &b.Series[i]
		if _, dup := inB[s.Name]; dup {
			return Table{}, fmt.Errorf("gate: %s lists figure %s twice", b.Label, s.Name)
		}
		inB[s.Name] = s
	}
	seen := map[string]bool{}
	for _, sa := range a.Series {
		if seen[sa.Name] {
			return Table{}, fmt.Errorf("gate: %s lists figure %s twice", a.Label, sa.Name)
		}
		seen[sa.Name] = true
		sb, ok := inB[sa.Name]
		if !ok {
			t.Rows = append(t.Rows, Row{Figure: sa.Figure, A: sa.Values, Note: "missing in B"})
			continue
		}
		if sa.Unit != sb.Unit || sa.Worse != sb.Worse {
			return Table{}, fmt.Errorf("gate: figure %s is in %s (%s is worse) in A but in %s (%s is worse) in B",
				sa.Name, sa.Unit, sa.Worse, sb.Unit, sb.Worse)
		}
		v, err := Judge(sa.Figure, sa.Values, sb.Values, r)
		if err != nil {
			return Table{}, err
		}
		t.Rows = append(t.Rows, Row{Figure: sa.Figure, A: sa.Values, B: sb.Values, Verdict: &v})
	}
	for _, sb := range b.Series {
		if !seen[sb.Name] {
			t.Rows = append(t.Rows, Row{Figure: sb.Figure, B: sb.Values, Note: "missing in A"})
		}
	}
	return t, nil
}

// Verdicts returns the verdicts of the figures both sides have.
func (t Table) Verdicts() []Verdict {
	var out []Verdict
	for _, r := range t.Rows {
		if r.Verdict != nil {
			out = append(out, *r.Verdict)
		}
	}
	return out
}

// String renders the table as text: a header naming both sides and the
// rule, one line per figure (both medians, the change, its interval, the
// Hodges-Lehmann shift in the figure's unit, the U test's p, the MDE and
// the verdict), the explanation of every verdict
// that is not a pass, and the overall outcome.
func (t Table) String() string {
	var b strings.Builder
	nA, nB := repeatsOf(t.Rows, true), repeatsOf(t.Rows, false)
	fmt.Fprintf(&b, "A (baseline):  %s%s\n", t.A, nA)
	fmt.Fprintf(&b, "B (candidate): %s%s\n", t.B, nB)
	fmt.Fprintf(&b, "rule: B is worse than A by more than %s; %s bootstrap CI of the change in medians, one-sided exact U test at alpha %g, MDE at %g%% power\n\n",
		pct0(t.Rule.Tolerance), pct0(t.Rule.Confidence), t.Rule.Alpha, 100*mdePower)
	cells := [][]string{{"figure", "unit", "median A", "median B", "delta", pct0(t.Rule.Confidence) + " CI", "HL shift", "p", "MDE", "verdict"}}
	for _, r := range t.Rows {
		row := []string{r.Figure.label(), r.Figure.Unit, "—", "—", "", "", "", "", "", r.Note}
		if r.A != nil {
			row[2] = num(median(r.A))
		}
		if r.B != nil {
			row[3] = num(median(r.B))
		}
		if v := r.Verdict; v != nil {
			row[4] = pct(v.Change)
			if !math.IsNaN(v.CILow) {
				row[5] = "[" + pct(v.CILow) + ", " + pct(v.CIHigh) + "]"
			}
			row[6] = signedNum(v.Shift)
			if !math.IsNaN(v.P) {
				row[7] = strconv.FormatFloat(v.P, 'g', 2, 64)
			}
			row[8] = mdeCell(v.MDE)
			row[9] = v.Outcome.String()
		}
		cells = append(cells, row)
	}
	writeColumns(&b, cells, []bool{false, false, true, true, true, true, true, true, true, false})
	var notes []string
	for _, v := range t.Verdicts() {
		if v.Outcome != Pass {
			notes = append(notes, "  "+v.Reason)
		}
	}
	if len(notes) > 0 {
		b.WriteString("\n" + strings.Join(notes, "\n") + "\n")
	}
	counts := map[Outcome]int{}
	for _, v := range t.Verdicts() {
		counts[v.Outcome]++
	}
	o, err := Overall(t.Verdicts())
	if err != nil {
		b.WriteString("\noverall: no figure is in both A and B\n")
		return b.String()
	}
	fmt.Fprintf(&b, "\noverall: %s (%d regression, %d inconclusive, %d pass", o, counts[Regression], counts[Inconclusive], counts[Pass])
	if missing := len(t.Rows) - len(t.Verdicts()); missing > 0 {
		fmt.Fprintf(&b, "; %d figure(s) on one side only", missing)
	}
	b.WriteString(")\n")
	return b.String()
}

// repeatsOf says how many repeats a side has: ", 5 repeats" when every
// figure agrees, the range otherwise.
func repeatsOf(rows []Row, a bool) string {
	lo, hi := math.MaxInt, 0
	for _, r := range rows {
		vals := r.B
		if a {
			vals = r.A
		}
		if vals != nil {
			lo, hi = min(lo, len(vals)), max(hi, len(vals))
		}
	}
	switch {
	case hi == 0:
		return ""
	case lo == hi && lo == 1:
		return ", 1 repeat"
	case lo == hi:
		return fmt.Sprintf(", %d repeats", lo)
	}
	return fmt.Sprintf(", %d-%d repeats", lo, hi)
}

// num formats a figure's value with about four significant digits and no
// exponent.
func num(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}

func signedNum(v float64) string {
	if v > 0 {
		return "+" + num(v)
	}
	return num(v)
}

func mdeCell(f float64) string {
	if math.IsInf(f, 1) {
		return "none"
	}
	return pct0(f)
}

// writeColumns writes cells as aligned columns two spaces apart, right
// aligned where right says so; widths count runes, not bytes.
func writeColumns(b *strings.Builder, cells [][]string, right []bool) {
	width := make([]int, len(cells[0]))
	for _, row := range cells {
		for i, c := range row {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	for _, row := range cells {
		var line strings.Builder
		for i, c := range row {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i > 0 {
				line.WriteString("  ")
			}
			if right[i] {
				line.WriteString(pad + c)
			} else {
				line.WriteString(c + pad)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
}
