package report

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/sgltest/sgltest/internal/metrics"
	"github.com/sgltest/sgltest/internal/telemetry"
	"github.com/sgltest/sgltest/internal/timeline"
)

// Chart is one PNG of a run directory, as data: what each of its panels
// plots. BuildCharts computes it from a run (that is what the tests
// check); WriteCharts draws it.
type Chart struct {
	// File is the PNG's name in the run directory; Title what report.html
	// calls it.
	File, Title string
	// Cols is the number of panels per row; Width and Height the PNG's
	// size in pixels.
	Cols          int
	Width, Height int
	Panels        []Panel
}

// Panel is one plot of a chart.
type Panel struct {
	// Title, XLabel and YLabel are the plot's words; the axis labels name
	// their unit in parentheses.
	Title, XLabel, YLabel string
	// Empty, when set, says why the panel has nothing to show; it is drawn
	// with "no data" in its middle.
	Empty string
	// One of Bins (a histogram), Lines, Spans (a request timeline) or Heat
	// holds the data.
	Bins  []Bin
	Lines []Line
	Spans []Segment
	Heat  *Heat
	// Marks are vertical lines: the timeline's events on a time axis, the
	// median and P99 on a histogram.
	Marks []Mark
	// Time is set when X is seconds from the run's start.
	Time bool
	// X and Y, when their Max > Min, fix the axes' ranges.
	X, Y Range
}

// Range is an axis range; the zero Range leaves the axis to the data.
type Range struct{ Min, Max float64 }

// Bin is one bar of a histogram: Count samples in [Min, Max) (the last
// bin also holds its Max).
type Bin struct {
	Min, Max float64
	Count    int
}

// Line is one series of a panel. Lines of one chart with the same Color
// index are the same thing (one server, one GPU) in every panel.
type Line struct {
	Name   string
	Points []XY
	// Step draws each value held until the next point (a post-step line).
	Step  bool
	Color int
}

// XY is one point.
type XY struct{ X, Y float64 }

// Segment is one phase of one request on the request timeline: Row is
// the request's row, From and To seconds from the run's start.
type Segment struct {
	Row      int
	From, To float64
	Phase    Phase
}

// Phase is what a request was doing during a Segment.
type Phase int

// The phases of a request: waiting in the client's queue (arrival to
// sent), waiting for its first token (sent to first token), generating
// (first token to done), and the whole life of a request that did not
// succeed (arrival to done).
const (
	PhaseQueued Phase = iota
	PhaseWaiting
	PhaseGenerating
	PhaseFailed
)

// PhaseNames names each Phase in the chart's legend.
var PhaseNames = [...]string{"client queue (arrived → sent)", "waiting (sent → first token)",
	"generating (first token → done)", "failed or cancelled (arrived → done)"}

// Heat is a heatmap: Values[row][col] for each row (a server) and column
// (a time bucket starting at X0 + col × Width seconds).
type Heat struct {
	Rows   []string
	X0     float64
	Width  float64
	Values [][]float64
	// Unit names what a cell counts, for the colour scale.
	Unit string
}

// Mark is a vertical line at At with a label.
type Mark struct {
	At    float64
	Label string
	// Stat marks a statistic (median, P99) rather than an event.
	Stat bool
}

// ChartData is what a run's charts are drawn from.
type ChartData struct {
	Store *metrics.Store
	// Servers names the servers in plan order; Targets maps a record's
	// Target to its server's index when records name their server (direct,
	// dispatcher and virtual-time runs), nil when they do not (behind a
	// real router every record names the router).
	Servers []string
	Targets map[string]int
	Series  [][]ServerPoint
	Events  []timeline.Event
	GPU     []telemetry.GPU
}

// Chart files a run directory may hold. The first four are always
// written; the others when there is something for them: servers that
// were scraped, more than one server, GPU samples.
const (
	LatencyChart         = "latency_histogram.png"
	LatencyCDFChart      = "latency_cdf.png"
	ThroughputChart      = "throughput_over_time.png"
	ConcurrencyChart     = "concurrency_over_time.png"
	RequestTimelineChart = "request_timeline.png"
	ServersChart         = "servers_over_time.png"
	RoutingChart         = "routing_heatmap.png"
	GPUChart             = "gpu_over_time.png"
)

// MaxTimelineRequests bounds the requests drawn on the request timeline:
// a longer run draws every k-th request by arrival.
const MaxTimelineRequests = 300

// cdfPoints bounds the points of a CDF: more samples are drawn as this
// many exact quantiles.
const cdfPoints = 1000

// percentRange is the Y range of a percentage, with room above 100 % for
// the legend.
var percentRange = Range{0, 120}

// noData is Panel.Empty's word.
const noData = "no data"

// latencies are the distributions the histograms and CDFs show, with the
// names Store.Samples knows them by.
var latencies = []struct{ sample, title, axis string }{
	{metrics.ServerLatency, "Server latency (sent → done)", "server latency (ms)"},
	{metrics.TotalLatency, "Total latency (arrived → done)", "total latency (ms)"},
	{metrics.QueueTime, "Queue time (arrived → sent)", "queue time (ms)"},
	{metrics.TTFT, "Time to first token", "TTFT (ms)"},
	{metrics.ITL, "Inter-token latency", "ITL (ms per token)"},
	{metrics.TPOT, "Time per output token", "TPOT (ms)"},
}

// BuildCharts computes every chart that applies to the run.
func BuildCharts(d ChartData) ([]Chart, error) {
	samples := make([][]float64, len(latencies))
	for i, l := range latencies {
		s, err := d.Store.Samples(l.sample, metrics.Selection{})
		if err != nil {
			return nil, err
		}
		samples[i] = s
	}
	var spans []metrics.Span
	d.Store.Each(func(s metrics.Span) { spans = append(spans, s) })
	end := runEnd(spans, d)
	marks := eventMarks(d.Events)
	charts := []Chart{
		histogramChart(samples),
		cdfChart(samples),
		throughputChart(d.Store, end),
		concurrencyChart(d.Store, d.Series, end),
		timelineChart(spans),
	}
	if hasSeries(d.Series) {
		charts = append(charts, serversChart(d.Servers, d.Series))
	}
	if len(d.Servers) > 1 {
		charts = append(charts, routingChart(d, spans, end))
	}
	if len(d.GPU) > 0 {
		charts = append(charts, gpuChart(d.GPU))
	}
	// Every time axis runs from the load's start to the run's end, so the
	// charts line up, and shows the events.
	for i := range charts {
		for j := range charts[i].Panels {
			if p := &charts[i].Panels[j]; p.Time && p.Empty == "" {
				p.Marks = append(p.Marks, marks...)
				if p.X == (Range{}) && end > 0 {
					p.X = Range{0, end}
				}
			}
		}
	}
	return charts, nil
}

// runEnd is the last instant the charts over time show: the last Done, or
// the last scrape or event when later.
func runEnd(spans []metrics.Span, d ChartData) float64 {
	var end time.Duration
	for _, s := range spans {
		end = max(end, s.Done)
	}
	for _, ser := range d.Series {
		if len(ser) > 0 {
			end = max(end, ser[len(ser)-1].At)
		}
	}
	for _, e := range d.Events {
		end = max(end, e.At)
	}
	return end.Seconds()
}

// eventMarks are the events worth a line on a time axis: what happened to
// servers during the load, not the load's own start and end nor the
// servers coming up before it.
func eventMarks(events []timeline.Event) []Mark {
	var out []Mark
	for _, e := range events {
		switch {
		case e.At < 0, e.Kind == timeline.LoadStarted, e.Kind == timeline.LoadFinished,
			e.Kind == timeline.Started && e.At == 0:
			continue
		}
		label := string(e.Kind)
		if e.Target != "" {
			label = e.Target + " " + label
		}
		out = append(out, Mark{At: e.At.Seconds(), Label: label})
	}
	return out
}

func histogramChart(samples [][]float64) Chart {
	c := Chart{File: LatencyChart, Title: "Latency histograms", Cols: 3, Width: 1440, Height: 760}
	for i, l := range latencies {
		p := Panel{Title: l.title, XLabel: l.axis, YLabel: "requests"}
		if latencies[i].sample == metrics.ITL {
			p.YLabel = "tokens"
		}
		s := samples[i]
		if len(s) == 0 {
			p.Empty = noData
		} else {
			p.Title = fmt.Sprintf("%s (n = %s)", l.title, number(float64(len(s)), 0))
			p.Bins = histogram(s, binCount(len(s)))
			d := metrics.Distribute(slices.Clone(s))
			p.Marks = []Mark{{At: d.Median, Label: "median = " + number(d.Median, 1) + " ms", Stat: true},
				{At: d.P99, Label: "p99 = " + number(d.P99, 1) + " ms", Stat: true}}
		}
		c.Panels = append(c.Panels, p)
	}
	return c
}

// binCount picks the histogram bin count: √n, kept between 10 and 60.
func binCount(n int) int {
	return min(60, max(10, int(math.Ceil(math.Sqrt(float64(n))))))
}

// histogram counts sorted samples in n equal bins from the smallest to the
// largest; all samples equal give one bin of width 1 around them.
func histogram(sorted []float64, n int) []Bin {
	lo, hi := sorted[0], sorted[len(sorted)-1]
	if hi == lo {
		return []Bin{{Min: lo - 0.5, Max: hi + 0.5, Count: len(sorted)}}
	}
	w := (hi - lo) / float64(n)
	bins := make([]Bin, n)
	for i := range bins {
		bins[i] = Bin{Min: lo + float64(i)*w, Max: lo + float64(i+1)*w}
	}
	bins[n-1].Max = hi
	for _, v := range sorted {
		bins[min(n-1, int((v-lo)/w))].Count++
	}
	return bins
}

func cdfChart(samples [][]float64) Chart {
	c := Chart{File: LatencyCDFChart, Title: "Latency distributions (CDF)", Cols: 3, Width: 1440, Height: 760}
	for i, l := range latencies {
		p := Panel{Title: l.title + " (CDF)", XLabel: l.axis, YLabel: "fraction of requests ≤ x", Y: Range{0, 1}}
		if latencies[i].sample == metrics.ITL {
			p.YLabel = "fraction of tokens ≤ x"
		}
		if len(samples[i]) == 0 {
			p.Empty = noData
		} else {
			p.Lines = []Line{{Name: "CDF", Points: cdf(samples[i]), Step: true}}
		}
		c.Panels = append(c.Panels, p)
	}
	return c
}

// cdf is the empirical distribution of sorted samples: each sample's
// value and the fraction of samples at or below it; beyond cdfPoints
// samples, cdfPoints exact quantiles (metrics.Percentile) at fractions
// 1/cdfPoints, 2/cdfPoints, ..., 1, preceded by the smallest sample at 0.
func cdf(sorted []float64) []XY {
	n := len(sorted)
	if n <= cdfPoints {
		pts := make([]XY, 0, n+1)
		pts = append(pts, XY{sorted[0], 0})
		for i, v := range sorted {
			pts = append(pts, XY{v, float64(i+1) / float64(n)})
		}
		return pts
	}
	pts := make([]XY, 0, cdfPoints+1)
	pts = append(pts, XY{sorted[0], 0})
	for k := 1; k <= cdfPoints; k++ {
		f := float64(k) / cdfPoints
		pts = append(pts, XY{metrics.Percentile(sorted, 100*f), f})
	}
	return pts
}

// bucketWidths are the widths charts over time may cut a run into.
var bucketWidths = []time.Duration{100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second,
	2 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute}

// bucketWidth picks the widest bucket that still cuts a run of end seconds
// into at least 30 buckets (100 ms for shorter runs).
func bucketWidth(end float64) time.Duration {
	w := bucketWidths[0]
	for _, b := range bucketWidths {
		if end/b.Seconds() >= 30 {
			w = b
		}
	}
	return w
}

func throughputChart(st *metrics.Store, end float64) Chart {
	c := Chart{File: ThroughputChart, Title: "Throughput over time", Cols: 1, Width: 1200, Height: 800}
	w := bucketWidth(end)
	const xLabel = "time since load start (s)"
	reqs := Panel{Title: "Requests per second", XLabel: xLabel, YLabel: "requests/s", Time: true}
	toks := Panel{Title: "Output tokens per second", XLabel: xLabel, YLabel: "output tokens/s", Time: true}
	buckets := st.Timeline(w)
	if len(buckets) == 0 {
		reqs.Empty, toks.Empty = noData, noData
	} else {
		per := w.Seconds()
		var completed, failed, tokens []float64
		anyFailed := false
		for _, b := range buckets {
			completed = append(completed, float64(b.Completed)/per)
			failed = append(failed, float64(b.Failed)/per)
			tokens = append(tokens, float64(b.OutputTokens)/per)
			anyFailed = anyFailed || b.Failed > 0
		}
		reqs.Title = fmt.Sprintf("Requests per second (%s buckets, by completion)", secondsText(w))
		reqs.Lines = []Line{{Name: "completed", Points: bucketSteps(completed, per), Step: true}}
		if anyFailed {
			reqs.Lines = append(reqs.Lines, Line{Name: "failed", Points: bucketSteps(failed, per), Step: true, Color: colorFailed})
		}
		toks.Title = fmt.Sprintf("Output tokens per second (%s buckets, by arrival of the tokens)", secondsText(w))
		toks.Lines = []Line{{Name: "output tokens", Points: bucketSteps(tokens, per), Step: true, Color: 1}}
		x := Range{0, float64(len(buckets)) * per}
		reqs.X, toks.X = x, x
	}
	c.Panels = []Panel{reqs, toks}
	return c
}

// secondsText writes a bucket width: "0.25 s", "1 s", "30 s".
func secondsText(w time.Duration) string {
	return fmt.Sprintf("%g s", w.Seconds())
}

// bucketSteps turns per-bucket values into the corners of a post-step
// line: each value held from its bucket's start to its end.
func bucketSteps(values []float64, per float64) []XY {
	xys := make([]XY, 0, len(values)+1)
	for i, v := range values {
		xys = append(xys, XY{float64(i) * per, v})
	}
	return append(xys, XY{float64(len(values)) * per, values[len(values)-1]})
}

func concurrencyChart(st *metrics.Store, series [][]ServerPoint, end float64) Chart {
	c := Chart{File: ConcurrencyChart, Title: "Concurrency and queues over time", Cols: 1, Width: 1200, Height: 520}
	p := Panel{Title: "Requests in flight and waiting (successful requests; server queues as scraped)",
		XLabel: "time since load start (s)", YLabel: "requests", Time: true}
	inFlight, queue := st.InFlight(), st.QueueDepth()
	server := serverQueue(series)
	if len(inFlight) == 0 && len(server) == 0 {
		p.Empty = noData
	} else {
		if len(inFlight) > 0 {
			p.Lines = append(p.Lines,
				Line{Name: "in flight (sent → done)", Points: stepXYs(inFlight, end), Step: true},
				Line{Name: "client queue (arrived → sent)", Points: stepXYs(queue, end), Step: true, Color: 1})
		}
		if len(server) > 0 {
			p.Lines = append(p.Lines, Line{Name: "server queues (Σ sglang:num_queue_reqs)", Points: server, Step: true, Color: 2})
		}
		p.X = Range{0, end}
	}
	c.Panels = []Panel{p}
	return c
}

// stepXYs turns steps into the corners of a post-step line from 0 to end.
// No steps means zero throughout.
func stepXYs(steps []metrics.Step, end float64) []XY {
	xys := []XY{{0, 0}}
	for _, s := range steps {
		xys = append(xys, XY{s.At.Seconds(), float64(s.Value)})
	}
	last := xys[len(xys)-1]
	return append(xys, XY{math.Max(end, last.X), last.Y})
}

// serverQueue sums the servers' queues over time: at each scrape of any
// server, the sum of every server's latest scraped queue (a server not yet
// scraped counts 0). Scrapes before the load started are left out.
func serverQueue(series [][]ServerPoint) []XY {
	type scrape struct {
		at     time.Duration
		server int
		queued int32
	}
	var all []scrape
	for i, ser := range series {
		for _, p := range ser {
			all = append(all, scrape{p.At, i, p.Queued})
		}
	}
	slices.SortStableFunc(all, func(a, b scrape) int { return cmp.Compare(a.at, b.at) })
	latest := make([]int32, len(series))
	var out []XY
	for i, s := range all {
		latest[s.server] = s.queued
		if i+1 < len(all) && all[i+1].at == s.at {
			continue // one point per instant
		}
		if s.at < 0 {
			continue
		}
		var sum int32
		for _, q := range latest {
			sum += q
		}
		out = append(out, XY{s.at.Seconds(), float64(sum)})
	}
	return out
}

func timelineChart(spans []metrics.Span) Chart {
	c := Chart{File: RequestTimelineChart, Title: "Request timeline", Cols: 1, Width: 1200, Height: 720}
	p := Panel{Title: "Request timeline", XLabel: "time since load start (s)", YLabel: "request (by arrival)", Time: true}
	rows, every := timelineRows(spans)
	switch {
	case len(rows) == 0:
		p.Empty = noData
	case every > 1:
		p.Title = fmt.Sprintf("Request timeline (every %d%s request of %s, by arrival)", every, ordinal(every), number(float64(len(spans)), 0))
	default:
		p.Title = fmt.Sprintf("Request timeline (all %s requests, by arrival)", number(float64(len(spans)), 0))
	}
	for row, s := range rows {
		sec := func(d time.Duration) float64 { return d.Seconds() }
		if !s.OK {
			p.Spans = append(p.Spans, Segment{row, sec(s.Arrival), sec(s.Done), PhaseFailed})
			continue
		}
		p.Spans = append(p.Spans, Segment{row, sec(s.Arrival), sec(s.Sent), PhaseQueued})
		if s.FirstToken > 0 {
			p.Spans = append(p.Spans, Segment{row, sec(s.Sent), sec(s.FirstToken), PhaseWaiting},
				Segment{row, sec(s.FirstToken), sec(s.Done), PhaseGenerating})
		} else {
			p.Spans = append(p.Spans, Segment{row, sec(s.Sent), sec(s.Done), PhaseWaiting})
		}
	}
	if len(rows) > 0 {
		p.Y = Range{-1, float64(len(rows))}
	}
	c.Panels = []Panel{p}
	return c
}

// timelineRows orders requests by arrival (then index) and keeps every
// k-th, k the smallest that keeps at most MaxTimelineRequests.
func timelineRows(spans []metrics.Span) (rows []metrics.Span, every int) {
	sorted := slices.Clone(spans)
	slices.SortStableFunc(sorted, func(a, b metrics.Span) int { return cmp.Compare(a.Arrival, b.Arrival) })
	every = max(1, (len(sorted)+MaxTimelineRequests-1)/MaxTimelineRequests)
	for i := 0; i < len(sorted); i += every {
		rows = append(rows, sorted[i])
	}
	return rows, every
}

func ordinal(n int) string {
	switch {
	case n%100 >= 11 && n%100 <= 13:
		return "th"
	case n%10 == 1:
		return "st"
	case n%10 == 2:
		return "nd"
	case n%10 == 3:
		return "rd"
	}
	return "th"
}

func hasSeries(series [][]ServerPoint) bool {
	for _, s := range series {
		if len(s) > 0 {
			return true
		}
	}
	return false
}

// serverLines is one line per scraped server of what value reads from each
// scrape.
func serverLines(servers []string, series [][]ServerPoint, value func(ServerPoint) float64) []Line {
	var out []Line
	for i, ser := range series {
		if len(ser) == 0 {
			continue
		}
		l := Line{Name: serverName(servers, i), Step: true, Color: i}
		for _, p := range ser {
			l.Points = append(l.Points, XY{p.At.Seconds(), value(p)})
		}
		out = append(out, l)
	}
	return out
}

func serverName(servers []string, i int) string {
	if i < len(servers) {
		return servers[i]
	}
	return fmt.Sprintf("server-%d", i+1)
}

func serversChart(servers []string, series [][]ServerPoint) Chart {
	c := Chart{File: ServersChart, Title: "Servers over time (scraped from /metrics)", Cols: 1, Width: 1200, Height: 960}
	const x = "time since load start (s)"
	c.Panels = []Panel{
		{Title: "Running requests per server (sglang:num_running_reqs)", XLabel: x, YLabel: "requests", Time: true,
			Lines: serverLines(servers, series, func(p ServerPoint) float64 { return float64(p.Running) })},
		{Title: "Queued requests per server (sglang:num_queue_reqs)", XLabel: x, YLabel: "requests", Time: true,
			Lines: serverLines(servers, series, func(p ServerPoint) float64 { return float64(p.Queued) })},
		{Title: "KV cache token usage per server (sglang:token_usage)", XLabel: x, YLabel: "KV tokens in use (%)", Time: true,
			Y: percentRange, Lines: serverLines(servers, series, func(p ServerPoint) float64 { return 100 * float64(p.TokenUsage) })},
	}
	return c
}

// routingChart is the per-server heatmap, and the cache hit rate over time
// when the servers were scraped.
func routingChart(d ChartData, spans []metrics.Span, end float64) Chart {
	c := Chart{File: RoutingChart, Title: "Load across servers", Cols: 1, Width: 1200, Height: 760}
	heat := Panel{XLabel: "time since load start (s)", YLabel: "server", Time: true}
	h, w, fromRecords := serverHeat(d, spans, end)
	switch {
	case h == nil:
		heat.Title, heat.Empty = "Requests per server", noData
	case fromRecords:
		heat.Title = fmt.Sprintf("Requests sent to each server per second (%s buckets)", secondsText(w))
	default:
		heat.Title = fmt.Sprintf("Mean running requests per server (sglang:num_running_reqs, %s buckets)", secondsText(w))
	}
	heat.Heat = h
	c.Panels = []Panel{heat}
	if hasSeries(d.Series) {
		c.Panels = append(c.Panels, Panel{Title: "Cache hit rate per server (sglang:cache_hit_rate)",
			XLabel: "time since load start (s)", YLabel: "cache hit rate (%)", Time: true, Y: percentRange,
			Lines: serverLines(d.Servers, d.Series, func(p ServerPoint) float64 { return 100 * float64(p.CacheHitRate) })})
	}
	return c
}

// serverHeat counts requests per server per time bucket: from the records
// by when they were sent, when records name their server; else from the
// scrapes, as the mean of each server's running requests over the scrapes
// in each bucket (buckets no narrower than the usual gap between scrapes;
// an empty bucket holds the server's last value). It returns the bucket
// width; a nil Heat when neither has anything.
func serverHeat(d ChartData, spans []metrics.Span, end float64) (h *Heat, w time.Duration, fromRecords bool) {
	var n int
	var col func(time.Duration) int
	grid := func(width time.Duration) {
		w, n = width, int(end/width.Seconds())+1
		h = &Heat{Rows: slices.Clone(d.Servers), Width: w.Seconds(), Values: make([][]float64, len(d.Servers))}
		for i := range h.Values {
			h.Values[i] = make([]float64, n)
		}
		col = func(at time.Duration) int { return min(max(int(at/w), 0), n-1) }
	}
	grid(bucketWidth(end))
	if d.Targets != nil {
		counted := 0
		for _, s := range spans {
			if i, ok := d.Targets[s.Target]; ok && i < len(h.Values) {
				h.Values[i][col(s.Sent)] += 1 / w.Seconds()
				counted++
			}
		}
		if counted > 0 {
			h.Unit = "requests/s"
			return h, w, true
		}
	}
	if !hasSeries(d.Series) {
		return nil, w, false
	}
	if gap := scrapeGap(d.Series); gap > w {
		i, _ := slices.BinarySearch(bucketWidths, gap)
		grid(bucketWidths[min(i, len(bucketWidths)-1)])
	}
	h.Unit = "running requests"
	for i, ser := range d.Series {
		if i >= len(h.Values) {
			break
		}
		sum, cnt := make([]float64, n), make([]int, n)
		for _, p := range ser {
			if p.At < 0 {
				continue
			}
			k := col(p.At)
			sum[k] += float64(p.Running)
			cnt[k]++
		}
		last := 0.0
		for k := range n {
			if cnt[k] > 0 {
				last = sum[k] / float64(cnt[k])
			}
			h.Values[i][k] = last
		}
	}
	return h, w, false
}

// scrapeGap is the median gap between one server's consecutive scrapes.
func scrapeGap(series [][]ServerPoint) time.Duration {
	var gaps []time.Duration
	for _, ser := range series {
		for i := 1; i < len(ser); i++ {
			gaps = append(gaps, ser[i].At-ser[i-1].At)
		}
	}
	if len(gaps) == 0 {
		return 0
	}
	slices.Sort(gaps)
	return gaps[len(gaps)/2]
}

func gpuChart(samples []telemetry.GPU) Chart {
	title := "GPUs over time"
	simulated := false
	for _, g := range samples {
		simulated = simulated || g.Simulated
	}
	if simulated {
		title += " (simulated by the simulator's model, not measured)"
	}
	c := Chart{File: GPUChart, Title: title, Cols: 1, Width: 1200, Height: 760}
	byGPU := map[int]*[2]Line{}
	var order []int
	for _, g := range samples {
		lines, ok := byGPU[g.Index]
		if !ok {
			name := fmt.Sprintf("GPU %d", g.Index)
			lines = &[2]Line{{Name: name, Color: len(order)}, {Name: name, Color: len(order)}}
			byGPU[g.Index] = lines
			order = append(order, g.Index)
		}
		at := g.At.Seconds()
		if g.UtilizationPct.OK() {
			lines[0].Points = append(lines[0].Points, XY{at, g.UtilizationPct.Value})
		}
		if g.MemoryUsedBytes.OK() {
			lines[1].Points = append(lines[1].Points, XY{at, g.MemoryUsedBytes.Value / (1 << 30)})
		}
	}
	suffix := ""
	if simulated {
		suffix = " (simulated)"
	}
	util := Panel{Title: "GPU utilisation" + suffix, XLabel: "time since load start (s)", YLabel: "utilisation (%)", Time: true, Y: percentRange}
	mem := Panel{Title: "GPU memory used" + suffix, XLabel: "time since load start (s)", YLabel: "memory used (GiB)", Time: true}
	for _, k := range order {
		if l := byGPU[k][0]; len(l.Points) > 0 {
			util.Lines = append(util.Lines, l)
		}
		if l := byGPU[k][1]; len(l.Points) > 0 {
			mem.Lines = append(mem.Lines, l)
		}
	}
	if len(util.Lines) == 0 {
		util.Empty = "no utilisation was read"
	}
	if len(mem.Lines) == 0 {
		mem.Empty = "no memory figure was read"
	}
	c.Panels = []Panel{util, mem}
	return c
}
