package steps

import (
	"strings"
	"testing"

	"github.com/cucumber/godog"
	"github.com/google/go-cmp/cmp"

	"github.com/sgltest/sgltest/runner"
)

func TestCapacitySentencesMatchExactlyOnePattern(t *testing.T) {
	for _, text := range []string{
		`the setup "h100-tp1-cache-aware"`,
		"the SLO is P99 TTFT below 200 ms and P99 TPOT below 50 ms",
		"each load level lasts 30 s",
		"the highest rate is found to within 1 req/s",
		"the highest rate is found to within 5%",
		"the prompts arrive at 10, 20, 40 and 80 requests per second",
		"the prompts arrive at 10 and 20 req/s",
		"1, 4 and 16 users send the prompts back to back",
		"the prompts arrive at 20 requests per second with each of these server settings:",
		"the rate steps from 10 to 100 requests per second in steps of 10",
		"the rate steps from 10 to 100 req/s in steps of 10 until more than 2% of requests fail",
		"the highest rate meeting P99 TTFT below 200 ms and P99 TPOT below 50 ms is at least 30 req/s",
		"the highest rate meeting the SLO is at least 30 req/s",
		"40 req/s needs at most 4 GPUs with shortest_queue",
		"40 req/s needs at most 1 GPU",
		"40 requests per second needs at most 8 GPUs with round_robin to meet P99 E2E latency below 2 s",
		"the knee of the sweep is at least 20 req/s",
		"at every point of the sweep the P99 TTFT is below 1 s",
		"at every point of the sweep all requests succeed",
		"the last good step is at least 40 req/s",
		// The single-rate forms still mean one run.
		"the prompts arrive at 20 requests per second",
		"8 users send the prompts back to back",
	} {
		if n := match(text); n != 1 {
			t.Errorf("%q matches %d sentences, want exactly 1", text, n)
		}
	}
}

func TestParseSLOReadsEveryBoundAndNamesABadOne(t *testing.T) {
	slo, err := parseSLO("P99 TTFT below 200 ms, the median TPOT is at most 30ms and error rate < 1%")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range slo {
		got = append(got, b.Name()+" "+string(b.Cmp)+" "+b.Given)
	}
	want := []string{"P99 TTFT below 200 ms", "median TPOT at most 30 ms", "error rate below 1 %"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("SLO (-want +got):\n%s", diff)
	}
	for bad, why := range map[string]string{
		"P99 TTFT below 200 ms and fast":     `"fast" is not a bound`,
		"P99 TTFT below 200 req/s":           "a latency is bounded in ms or s",
		"TTFT below 200 ms":                  "needs a statistic",
		"P99 TTFT below 200 ms and and TPOT": "is not a bound",
	} {
		if _, err := parseSLO(bad); err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("%q: error %v, want %q", bad, err, why)
		}
	}
}

func TestParseNumbersReadsListsInEveryForm(t *testing.T) {
	for in, want := range map[string][]float64{
		"10, 20, 40 and 80":  {10, 20, 40, 80},
		"1 and 2.5":          {1, 2.5},
		"5, 10, and 15":      {5, 10, 15},
		"10,20":              {10, 20},
		"0.5, 1, 2, 4 and 8": {0.5, 1, 2, 4, 8},
	} {
		got, err := parseNumbers(in)
		if err != nil || !cmp.Equal(got, want) {
			t.Errorf("%q: %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseNumbers("10 and 0"); err == nil {
		t.Error("a zero rate was accepted")
	}
}

func TestSettingsTableMakesOnePointPerRow(t *testing.T) {
	points, err := settingsPoints(20, table(
		[]string{"max running requests", "chunked prefill size"},
		[]string{"16", "2048"},
		[]string{"64", ""},
	))
	if err != nil {
		t.Fatal(err)
	}
	if len(points) != 2 || points[0].Label != "max running requests 16, chunked prefill size 2048" || points[1].Label != "max running requests 64" {
		t.Fatalf("points %+v", points)
	}
	if *points[0].Settings != (runner.Server{MaxRunningRequests: 16, ChunkedPrefillSize: 2048}) || points[1].Arrival.Rate != 20 {
		t.Errorf("points %+v %+v", points[0].Settings, points[1].Arrival)
	}
	for _, tc := range []struct {
		tab  *godog.Table
		want string
	}{
		{table([]string{"max running requests"}, []string{"16"}), "at least two rows"},
		{table([]string{"max batch size"}, []string{"16"}, []string{"32"}), `row 1: server setting "max batch size 16"`},
		{table([]string{"max running requests"}, []string{"16"}, []string{""}), "row 2: every cell is empty"},
		{table([]string{"mem fraction"}, []string{"0.8"}, []string{"1.2"}), "row 2"},
	} {
		if _, err := settingsPoints(20, tc.tab); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}
