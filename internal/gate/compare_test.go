package gate

import (
	"strings"
	"testing"
)

func compareSets() (Set, Set) {
	ttftMed, _ := Lookup("ttft_ms.median")
	ttftP99, _ := Lookup("ttft_ms.p99")
	itl, _ := Lookup("itl_ms.median")
	out, _ := Lookup("output_throughput")
	tpot, _ := Lookup("tpot_ms.median")
	e2e, _ := Lookup("e2e_latency_ms.median")
	a := Set{Label: "baselines/moderate-poisson-load.json (saved 2026-11-20)", Series: []Series{
		{ttftMed, []float64{26.6, 26.1, 27.0, 26.4, 26.9}},
		{ttftP99, []float64{52.5, 47.1, 60.3, 55.0, 49.9}},
		{itl, []float64{7.59, 7.61, 7.55, 7.60, 7.58}},
		{out, []float64{1368, 1290, 1411, 1350, 1402}},
		{tpot, []float64{8.6, 8.7, 8.65, 8.71, 8.66}},
	}}
	b := Set{Label: "reports/20261123-195501.123-moderate-poisson-load", Series: []Series{
		{ttftMed, []float64{26.8, 26.3, 26.2, 27.1, 26.5}},
		{ttftP99, []float64{57.5, 49.1, 66.3, 51.0, 61.9}},
		{itl, []float64{9.10, 9.15, 9.08, 9.21, 9.12}},
		{out, []float64{1355, 1301, 1399, 1342, 1380}},
		{e2e, []float64{1620, 1580, 1700, 1610, 1655}},
	}}
	return a, b
}

func TestCompareTabulatesEveryFigureOfBothSides(t *testing.T) {
	a, b := compareSets()
	tab, err := Compare(a, b, DefaultRule(0.10))
	if err != nil {
		t.Fatal(err)
	}
	text := tab.String()
	t.Log("\n" + text)
	var names []string
	for _, r := range tab.Rows {
		names = append(names, r.Figure.Name)
	}
	want := "ttft_ms.median ttft_ms.p99 itl_ms.median output_throughput tpot_ms.median e2e_latency_ms.median"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("rows %s, want %s", got, want)
	}
	for _, line := range []string{
		"A (baseline):  baselines/moderate-poisson-load.json (saved 2026-11-20), 5 repeats",
		"B (candidate): reports/20261123-195501.123-moderate-poisson-load, 5 repeats",
		"median ITL               ms        7.590     9.120  +20.2%",
		"median TPOT              ms        8.660         —",
		"missing in B",
		"median E2E latency       ms            —      1620",
		"missing in A",
		"median ITL regressed: +20.2%",
		"overall: regression (1 regression, ",
		"; 2 figure(s) on one side only)",
	} {
		if !strings.Contains(text, line) {
			t.Errorf("table lacks %q", line)
		}
	}
	got := map[string]Outcome{}
	for _, v := range tab.Verdicts() {
		got[v.Figure.Name] = v.Outcome
	}
	if got["itl_ms.median"] != Regression || got["ttft_ms.median"] != Pass || got["output_throughput"] != Pass {
		t.Errorf("verdicts %v", got)
	}
}

func TestCompareRefusesAFigureThatChangedMeaning(t *testing.T) {
	a, b := compareSets()
	b.Series[2].Worse = LowerIsWorse
	if _, err := Compare(a, b, DefaultRule(0.1)); err == nil || !strings.Contains(err.Error(), "itl_ms.median is in ms (higher is worse) in A but in ms (lower is worse) in B") {
		t.Errorf("error %v", err)
	}
	a, b = compareSets()
	b.Series = append(b.Series, b.Series[0])
	if _, err := Compare(a, b, DefaultRule(0.1)); err == nil || !strings.Contains(err.Error(), "lists figure ttft_ms.median twice") {
		t.Errorf("error %v", err)
	}
}
