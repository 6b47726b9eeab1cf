package report

import (
	"fmt"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/telemetry"
	"github.com/sgltest/sgltest/internal/timeline"
)

// storeOf adds records to a new Store, as a Recorder does.
func storeOf(recs []metrics.Record) *metrics.Store {
	st := metrics.NewStore()
	for _, r := range recs {
		st.Add(r)
	}
	return st
}

// seriesOf makes n servers' scrapes every 250 ms over secs seconds, with
// running requests i+1 on server i and queue depth k%3 at scrape k.
func seriesOf(n int, secs float64) [][]ServerPoint {
	out := make([][]ServerPoint, n)
	for i := range out {
		for k := 0; float64(k)*0.25 <= secs; k++ {
			out[i] = append(out[i], ServerPoint{At: time.Duration(k)*250*ms1 + time.Duration(i)*ms1, Running: int32(i + 1),
				Queued: int32(k % 3), TokenUsage: 0.5, CacheHitRate: float32(i) / 10})
		}
	}
	return out
}

func gpuSamples(simulated bool) []telemetry.GPU {
	var out []telemetry.GPU
	for k := range 10 {
		for i := range 2 {
			out = append(out, telemetry.GPU{At: time.Duration(k) * 100 * ms1, Index: i, Name: "H100", Simulated: simulated,
				UtilizationPct: telemetry.Figure{Value: float64(10 * k)}, MemoryUsedBytes: telemetry.Figure{Value: float64(k) * (1 << 30)}})
		}
	}
	return out
}

func build(t *testing.T, d ChartData) []Chart {
	t.Helper()
	charts, err := BuildCharts(d)
	if err != nil {
		t.Fatal(err)
	}
	return charts
}

func chartNamed(t *testing.T, charts []Chart, file string) Chart {
	t.Helper()
	for _, c := range charts {
		if c.File == file {
			return c
		}
	}
	t.Fatalf("no chart %s", file)
	return Chart{}
}

func TestBuildChartsDrawsEachChartOnlyWhereItApplies(t *testing.T) {
	recs := randomRecords(rand.New(rand.NewPCG(1, 2)), 200)
	always := []string{LatencyChart, LatencyCDFChart, ThroughputChart, ConcurrencyChart, RequestTimelineChart}
	tests := []struct {
		name string
		data ChartData
		want []string
	}{
		{"one server, nothing scraped", ChartData{Servers: []string{"server-1"}}, always},
		{"one server scraped, with GPUs", ChartData{Servers: []string{"server-1"}, Series: seriesOf(1, 3), GPU: gpuSamples(true)},
			append(slices.Clone(always), ServersChart, GPUChart)},
		{"two servers scraped", ChartData{Servers: []string{"server-1", "server-2"}, Series: seriesOf(2, 3)},
			append(slices.Clone(always), ServersChart, RoutingChart)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.data.Store = storeOf(recs)
			var got []string
			for _, c := range build(t, tc.data) {
				got = append(got, c.File)
			}
			if diff := gocmp.Diff(tc.want, got); diff != "" {
				t.Errorf("charts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEveryPanelHasATitleAndAxesWithUnits(t *testing.T) {
	d := ChartData{Store: storeOf(randomRecords(rand.New(rand.NewPCG(3, 4)), 100)), Servers: []string{"server-1", "server-2"},
		Series: seriesOf(2, 3), GPU: gpuSamples(false)}
	for _, c := range build(t, d) {
		if c.Title == "" || c.Width <= 0 || c.Height <= 0 || len(c.Panels) == 0 {
			t.Errorf("%s: title %q, %d×%d, %d panels", c.File, c.Title, c.Width, c.Height, len(c.Panels))
		}
		for _, p := range c.Panels {
			if p.Title == "" {
				t.Errorf("%s: a panel has no title", c.File)
			}
			if !strings.HasSuffix(p.XLabel, ")") || p.YLabel == "" {
				t.Errorf("%s / %s: axes %q and %q: the X axis does not name its unit, or Y has no label", c.File, p.Title, p.XLabel, p.YLabel)
			}
			if p.Empty != "" {
				t.Errorf("%s / %s: empty (%s) though the run has data", c.File, p.Title, p.Empty)
			}
		}
	}
}

func TestHistogramsCountEverySampleOnceAndMarkTheMedianAndP99(t *testing.T) {
	st := storeOf(randomRecords(rand.New(rand.NewPCG(5, 6)), 500))
	c := chartNamed(t, build(t, ChartData{Store: st}), LatencyChart)
	if len(c.Panels) != len(latencies) {
		t.Fatalf("%d panels, want %d", len(c.Panels), len(latencies))
	}
	for i, l := range latencies {
		p := c.Panels[i]
		samples, err := st.Samples(l.sample, metrics.Selection{})
		if err != nil {
			t.Fatal(err)
		}
		if len(samples) == 0 {
			t.Fatalf("%s: the test data gives no samples", l.sample)
		}
		total := 0
		for k, b := range p.Bins {
			total += b.Count
			if k > 0 && b.Min != p.Bins[k-1].Max {
				t.Errorf("%s: bin %d starts at %v, the previous ends at %v", l.sample, k, b.Min, p.Bins[k-1].Max)
			}
		}
		if total != len(samples) {
			t.Errorf("%s: bins hold %d samples, want %d", l.sample, total, len(samples))
		}
		if p.Bins[0].Min != samples[0] || p.Bins[len(p.Bins)-1].Max != samples[len(samples)-1] {
			t.Errorf("%s: bins span [%v, %v], samples [%v, %v]", l.sample, p.Bins[0].Min, p.Bins[len(p.Bins)-1].Max, samples[0], samples[len(samples)-1])
		}
		if len(p.Bins) != binCount(len(samples)) {
			t.Errorf("%s: %d bins, want %d", l.sample, len(p.Bins), binCount(len(samples)))
		}
		d := metrics.Distribute(samples)
		want := []Mark{{At: d.Median, Label: "median = " + number(d.Median, 1) + " ms", Stat: true},
			{At: d.P99, Label: "p99 = " + number(d.P99, 1) + " ms", Stat: true}}
		if diff := gocmp.Diff(want, p.Marks); diff != "" {
			t.Errorf("%s: marks (-want +got):\n%s", l.sample, diff)
		}
		if !strings.Contains(p.Title, fmt.Sprintf("n = %s", number(float64(len(samples)), 0))) {
			t.Errorf("%s: title %q does not give the sample count", l.sample, p.Title)
		}
	}
}

func TestHistogramPutsTheLargestSampleInTheLastBin(t *testing.T) {
	got := histogram([]float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 5)
	want := []Bin{{0, 2, 2}, {2, 4, 2}, {4, 6, 2}, {6, 8, 2}, {8, 10, 3}}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("histogram (-want +got):\n%s", diff)
	}
	if got := histogram([]float64{7, 7, 7}, 10); !gocmp.Equal(got, []Bin{{6.5, 7.5, 3}}) {
		t.Errorf("equal samples: %v, want one bin around 7", got)
	}
}

func TestCDFRisesToOneThroughTheExactQuantiles(t *testing.T) {
	small := []float64{1, 2, 2, 5}
	want := []XY{{1, 0}, {1, 0.25}, {2, 0.5}, {2, 0.75}, {5, 1}}
	if diff := gocmp.Diff(want, cdf(small)); diff != "" {
		t.Errorf("cdf of 4 samples (-want +got):\n%s", diff)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	big := make([]float64, 25000)
	for i := range big {
		big[i] = rng.ExpFloat64() * 100
	}
	slices.Sort(big)
	pts := cdf(big)
	if len(pts) != cdfPoints+1 {
		t.Fatalf("%d points, want %d", len(pts), cdfPoints+1)
	}
	if pts[0] != (XY{big[0], 0}) || pts[len(pts)-1] != (XY{big[len(big)-1], 1}) {
		t.Errorf("ends %v and %v, want (min, 0) and (max, 1)", pts[0], pts[len(pts)-1])
	}
	if got, want := pts[cdfPoints/2], (XY{metrics.Percentile(big, 50), 0.5}); got != want {
		t.Errorf("middle point %v, want the median %v", got, want)
	}
	for i := 1; i < len(pts); i++ {
		if pts[i].X < pts[i-1].X || pts[i].Y <= pts[i-1].Y {
			t.Fatalf("points %d and %d do not rise: %v, %v", i-1, i, pts[i-1], pts[i])
		}
	}
}

func TestThroughputBucketsAddUpToTheSummary(t *testing.T) {
	recs := randomRecords(rand.New(rand.NewPCG(9, 10)), 400)
	for i := range recs {
		// Chunks never carry more tokens than the request's output.
		n := 0
		for _, c := range recs[i].Chunks {
			n += c.Tokens
		}
		recs[i].OutputTokens = max(recs[i].OutputTokens, n)
	}
	st := storeOf(recs)
	sum := st.Summary()
	c := chartNamed(t, build(t, ChartData{Store: st}), ThroughputChart)
	reqs, toks := c.Panels[0], c.Panels[1]
	w := bucketWidth(sum.DurationS)
	if !strings.Contains(reqs.Title, secondsText(w)+" buckets") {
		t.Errorf("title %q does not name the %v buckets", reqs.Title, w)
	}
	// A post-step line repeats its last value at its end: every point but
	// the last is one bucket.
	area := func(l Line) float64 {
		s := 0.0
		for _, p := range l.Points[:len(l.Points)-1] {
			s += p.Y * w.Seconds()
		}
		return s
	}
	if len(reqs.Lines) != 2 || reqs.Lines[0].Name != "completed" || reqs.Lines[1].Name != "failed" {
		t.Fatalf("request lines %v, want completed and failed", reqs.Lines)
	}
	if got := area(reqs.Lines[0]); math.Abs(got-float64(sum.Succeeded)) > 1e-6 {
		t.Errorf("completed requests over time add up to %v, want %d", got, sum.Succeeded)
	}
	if got := area(reqs.Lines[1]); math.Abs(got-float64(sum.Failed)) > 1e-6 {
		t.Errorf("failed requests over time add up to %v, want %d", got, sum.Failed)
	}
	if got := area(toks.Lines[0]); math.Abs(got-float64(sum.TotalOutputTokens)) > 1e-6 {
		t.Errorf("output tokens over time add up to %v, want %d", got, sum.TotalOutputTokens)
	}
}

func TestBucketWidthCutsARunIntoAtLeastThirtyBuckets(t *testing.T) {
	for _, tc := range []struct {
		end  float64
		want time.Duration
	}{{0.5, 100 * ms1}, {10, 250 * ms1}, {29, 500 * ms1}, {30, time.Second}, {100, 2 * time.Second}, {3600, time.Minute}, {1e6, 5 * time.Minute}} {
		if got := bucketWidth(tc.end); got != tc.want {
			t.Errorf("bucketWidth(%v s) = %v, want %v", tc.end, got, tc.want)
		}
	}
}

func TestConcurrencyChartPeaksAtTheSummarysFiguresAndSumsServerQueues(t *testing.T) {
	st := storeOf(randomRecords(rand.New(rand.NewPCG(11, 12)), 300))
	sum := st.Summary()
	series := seriesOf(2, 2)
	p := chartNamed(t, build(t, ChartData{Store: st, Servers: []string{"server-1", "server-2"}, Series: series}), ConcurrencyChart).Panels[0]
	peak := func(l Line) float64 {
		m := 0.0
		for _, pt := range l.Points {
			m = math.Max(m, pt.Y)
		}
		return m
	}
	if len(p.Lines) != 3 {
		t.Fatalf("%d lines, want in flight, client queue and server queues", len(p.Lines))
	}
	if got := peak(p.Lines[0]); got != float64(sum.PeakConcurrency) {
		t.Errorf("in flight peaks at %v, want the summary's %d", got, sum.PeakConcurrency)
	}
	if got := peak(p.Lines[1]); got != float64(sum.MaxQueueDepth) {
		t.Errorf("client queue peaks at %v, want the summary's %d", got, sum.MaxQueueDepth)
	}
	// Server 2 is scraped 1 ms after server 1: at each scrape of server 1
	// the sum holds server 2's previous value.
	got := p.Lines[2].Points[:4]
	want := []XY{{0, 0}, {0.001, 0}, {0.25, 1}, {0.251, 2}}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("server queues (-want +got):\n%s", diff)
	}
}

func TestRequestTimelineDrawsEveryKthRequestByArrivalWithItsPhases(t *testing.T) {
	recs := []metrics.Record{
		{Status: 200, OutputTokens: 2, Arrival: 300 * ms1, Sent: 310 * ms1, FirstToken: 400 * ms1, Done: 900 * ms1},
		{Status: 503, Error: "HTTP 503", Arrival: 100 * ms1, Sent: 100 * ms1, Done: 150 * ms1},
		{Status: 200, OutputTokens: 2, Arrival: 200 * ms1, Sent: 200 * ms1, Done: 700 * ms1}, // not streamed
	}
	p := chartNamed(t, build(t, ChartData{Store: storeOf(recs)}), RequestTimelineChart).Panels[0]
	want := []Segment{
		{0, 0.1, 0.15, PhaseFailed},
		{1, 0.2, 0.2, PhaseQueued}, {1, 0.2, 0.7, PhaseWaiting},
		{2, 0.3, 0.31, PhaseQueued}, {2, 0.31, 0.4, PhaseWaiting}, {2, 0.4, 0.9, PhaseGenerating},
	}
	if diff := gocmp.Diff(want, p.Spans); diff != "" {
		t.Errorf("segments (-want +got):\n%s", diff)
	}

	many := randomRecords(rand.New(rand.NewPCG(13, 14)), 1300)
	st := storeOf(many)
	p = chartNamed(t, build(t, ChartData{Store: st}), RequestTimelineChart).Panels[0]
	n := st.Len()
	every := (n + MaxTimelineRequests - 1) / MaxTimelineRequests
	rows := map[int]bool{}
	var arrivals []float64
	for _, s := range p.Spans {
		if !rows[s.Row] {
			arrivals = append(arrivals, s.From)
		}
		rows[s.Row] = true
	}
	if len(rows) > MaxTimelineRequests || len(rows) != (n+every-1)/every {
		t.Errorf("%d rows of %d requests, want every %d-th: %d", len(rows), n, every, (n+every-1)/every)
	}
	if !slices.IsSorted(arrivals) {
		t.Error("rows are not in arrival order")
	}
	if !strings.Contains(p.Title, fmt.Sprintf("every %d", every)) {
		t.Errorf("title %q does not say the requests are sampled", p.Title)
	}
}

func TestRoutingHeatmapCountsRequestsPerServerFromRecordsOrScrapes(t *testing.T) {
	var recs []metrics.Record
	for i := range 90 {
		at := time.Duration(i) * 50 * ms1
		recs = append(recs, metrics.Record{Status: 200, OutputTokens: 1, Target: []string{"http://a", "http://b", "http://b"}[i%3],
			Arrival: at, Sent: at, FirstToken: at + ms1, Done: at + 100*ms1})
	}
	st := storeOf(recs)
	servers := []string{"server-1", "server-2"}
	d := ChartData{Store: st, Servers: servers, Targets: map[string]int{"http://a": 0, "http://b": 1}, Series: seriesOf(2, 4.5)}
	c := chartNamed(t, build(t, d), RoutingChart)
	h := c.Panels[0].Heat
	if h == nil || !gocmp.Equal(h.Rows, servers) {
		t.Fatalf("heat %+v, want rows %v", h, servers)
	}
	for i, want := range []float64{30, 60} {
		got := 0.0
		for _, v := range h.Values[i] {
			got += v * h.Width
		}
		if math.Abs(got-want) > 1e-9 {
			t.Errorf("%s: %v requests in the heatmap, want %v", servers[i], got, want)
		}
	}
	if h.Unit != "requests/s" || !strings.Contains(c.Panels[0].Title, "Requests sent to each server") {
		t.Errorf("from records: unit %q, title %q", h.Unit, c.Panels[0].Title)
	}
	if len(c.Panels) != 2 || len(c.Panels[1].Lines) != 2 || c.Panels[1].Lines[1].Points[0].Y != 100*float64(float32(0.1)) {
		t.Errorf("cache hit rate panel %+v, want server-2 at 10%%", c.Panels[1:])
	}

	// Behind a real router the records name the router: the scrapes say
	// how busy each server was, in buckets no narrower than the scrapes.
	d.Targets = nil
	h = chartNamed(t, build(t, d), RoutingChart).Panels[0].Heat
	if h.Unit != "running requests" || h.Width < 0.25 {
		t.Fatalf("from scrapes: unit %q, width %v s", h.Unit, h.Width)
	}
	for i := range servers {
		for k, v := range h.Values[i] {
			if v != float64(i+1) {
				t.Fatalf("%s bucket %d: %v running, want %d", servers[i], k, v, i+1)
			}
		}
	}
}

func TestEventsAreMarkedOnEveryTimeAxisAndNowhereElse(t *testing.T) {
	events := []timeline.Event{
		{At: -20 * ms1, Kind: timeline.Started, Target: "server-1"},
		{At: 0, Kind: timeline.LoadStarted},
		{At: 1500 * ms1, Kind: timeline.Killed, Target: "server-2", Planned: true},
		{At: 2500 * ms1, Kind: timeline.Restored, Target: "server-2"},
		{At: 3 * time.Second, Kind: timeline.LoadFinished},
	}
	want := []Mark{{At: 1.5, Label: "server-2 killed"}, {At: 2.5, Label: "server-2 restored"}}
	d := ChartData{Store: storeOf(randomRecords(rand.New(rand.NewPCG(15, 16)), 100)), Servers: []string{"server-1", "server-2"},
		Series: seriesOf(2, 3), Events: events, GPU: gpuSamples(true)}
	timeAxes := 0
	for _, c := range build(t, d) {
		for _, p := range c.Panels {
			var got []Mark
			for _, m := range p.Marks {
				if !m.Stat {
					got = append(got, m)
				}
			}
			if !p.Time {
				if len(got) > 0 {
					t.Errorf("%s / %s: events %v on an axis that is not time", c.File, p.Title, got)
				}
				continue
			}
			timeAxes++
			if diff := gocmp.Diff(want, got); diff != "" {
				t.Errorf("%s / %s: events (-want +got):\n%s", c.File, p.Title, diff)
			}
		}
	}
	// throughput 2, concurrency, timeline, servers 3, routing 2, GPU 2
	if timeAxes != 11 {
		t.Errorf("%d time axes, want 11", timeAxes)
	}
}

func TestGPUChartDrawsEachGPUAndSaysWhenItIsSimulated(t *testing.T) {
	for _, simulated := range []bool{false, true} {
		c := chartNamed(t, build(t, ChartData{Store: storeOf(nil), GPU: gpuSamples(simulated)}), GPUChart)
		if got := strings.Contains(c.Title, "simulated") && strings.Contains(c.Panels[0].Title, "simulated"); got != simulated {
			t.Errorf("simulated %v: titles %q, %q", simulated, c.Title, c.Panels[0].Title)
		}
		util, mem := c.Panels[0], c.Panels[1]
		if len(util.Lines) != 2 || util.Lines[1].Name != "GPU 1" || len(util.Lines[1].Points) != 10 || util.Lines[1].Points[9] != (XY{0.9, 90}) {
			t.Errorf("utilisation lines %+v", util.Lines)
		}
		if len(mem.Lines) != 2 || mem.Lines[0].Points[3] != (XY{0.3, 3}) {
			t.Errorf("memory lines %+v, want GiB", mem.Lines)
		}
	}
}

func TestAnEmptyRunStillGetsItsChartsSayingNoData(t *testing.T) {
	for _, c := range build(t, ChartData{Store: storeOf(nil), Servers: []string{"server-1"}}) {
		for _, p := range c.Panels {
			if p.Empty != noData {
				t.Errorf("%s / %s: Empty = %q, want %q", c.File, p.Title, p.Empty, noData)
			}
		}
	}
}

// colouredPixels counts the pixels of a PNG that are clearly coloured
// (data), as opposed to white, black or grey (background, axes, text,
// grid).
func colouredPixels(t *testing.T, path string) (n int, bounds image.Rectangle) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			hi, lo := max(r, g, bl)>>8, min(r, g, bl)>>8
			if hi-lo > 40 {
				n++
			}
		}
	}
	return n, b
}

func TestWriteChartsDrawsTheDataAtEachChartsSize(t *testing.T) {
	t.Parallel() // drawing is CPU-bound and slow under -race
	d := ChartData{Store: storeOf(randomRecords(rand.New(rand.NewPCG(17, 18)), 300)), Servers: []string{"server-1", "server-2"},
		Series: seriesOf(2, 3), GPU: gpuSamples(true), Targets: map[string]int{"http://127.0.0.1:30000": 0},
		Events: []timeline.Event{{At: time.Second, Kind: timeline.Killed, Target: "server-2"}}}
	run := newRun(t)
	charts := build(t, d)
	paths, err := run.WriteCharts(charts)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != len(charts) {
		t.Fatalf("%d charts written, want %d", len(paths), len(charts))
	}
	for i, c := range charts {
		n, b := colouredPixels(t, paths[i])
		if b.Dx() != c.Width || b.Dy() != c.Height {
			t.Errorf("%s: %d×%d, want %d×%d", c.File, b.Dx(), b.Dy(), c.Width, c.Height)
		}
		// The data is drawn in colour: at least 0.1% of the picture.
		if n < c.Width*c.Height/1000 {
			t.Errorf("%s: only %d coloured pixels: the data was not drawn", c.File, n)
		}
	}
	entries, _ := os.ReadDir(run.Dir())
	if len(entries) != len(charts) {
		t.Errorf("run directory holds %d entries, want %d (temporary files left?)", len(entries), len(charts))
	}

	// The same charts of an empty run draw nothing in colour.
	empty := build(t, ChartData{Store: storeOf(nil)})
	run = newRun(t)
	paths, err = run.WriteCharts(empty)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range paths {
		if n, _ := colouredPixels(t, p); n > 0 {
			t.Errorf("%s of an empty run: %d coloured pixels", empty[i].File, n)
		}
	}
}

func TestWriteChartsReturnsWriteErrors(t *testing.T) {
	run := newRun(t)
	if err := os.Remove(run.Dir()); err != nil {
		t.Fatal(err)
	}
	paths, err := run.WriteCharts(build(t, ChartData{Store: storeOf(randomRecords(rand.New(rand.NewPCG(9, 9)), 10))}))
	if err == nil {
		t.Fatal("WriteCharts into a removed directory succeeded")
	}
	if len(paths) != 0 {
		t.Errorf("paths = %v, want none", paths)
	}
}

func TestNiceTicksLabelRoundNumbersWithSeparators(t *testing.T) {
	tests := []struct {
		min, max float64
		want     []string
	}{
		{0, 1000, []string{"0", "200", "400", "600", "800", "1,000"}},
		{0, 27000, []string{"0", "5,000", "10,000", "15,000", "20,000", "25,000"}},
		{0.3, 1.1, []string{"0.4", "0.6", "0.8", "1.0"}},
		{-3, 3, []string{"-3", "-2", "-1", "0", "1", "2", "3"}},
	}
	for _, tc := range tests {
		var got []string
		for _, tk := range (niceTicks{}).Ticks(tc.min, tc.max) {
			if tk.Label != "" {
				got = append(got, tk.Label)
			}
		}
		if diff := gocmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Ticks(%v, %v) labels (-want +got):\n%s", tc.min, tc.max, diff)
		}
	}
}
