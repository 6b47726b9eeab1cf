package report

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/sgltest/sgltest/internal/metrics"
)

// Chart file names inside a run directory.
const (
	LatencyChart     = "latency_histogram.png"
	ThroughputChart  = "throughput_over_time.png"
	ConcurrencyChart = "concurrency_over_time.png"
)

// ChartDPI is the resolution charts are rendered at. With it, the latency
// histogram is 1440×480 pixels and the two charts over time 1200×800 and
// 1200×500.
const ChartDPI = 96

// Chart sizes. Kept to whole multiples of 1/ChartDPI inch so that the pixel
// sizes above are exact.
var (
	latencySize     = [2]vg.Length{15 * vg.Inch, 5 * vg.Inch}
	throughputSize  = [2]vg.Length{12.5 * vg.Inch, vg.Length(800) / ChartDPI * vg.Inch}
	concurrencySize = [2]vg.Length{12.5 * vg.Inch, vg.Length(500) / ChartDPI * vg.Inch}
)

// BucketWidth is the width of the buckets of the throughput chart.
const BucketWidth = time.Second

var (
	histFill   = color.RGBA{R: 0x4c, G: 0x72, B: 0xb0, A: 0xff}
	medianLine = color.RGBA{R: 0x22, G: 0x22, B: 0x22, A: 0xff}
	p99Line    = color.RGBA{R: 0xc4, G: 0x4e, B: 0x52, A: 0xff}
	seriesA    = color.RGBA{R: 0x4c, G: 0x72, B: 0xb0, A: 0xff}
	seriesB    = color.RGBA{R: 0xdd, G: 0x84, B: 0x52, A: 0xff}
	failedLine = color.RGBA{R: 0xc4, G: 0x4e, B: 0x52, A: 0xff}
)

// WriteCharts draws the run's charts as PNG files in the run directory and
// returns their paths:
//
//   - latency_histogram.png: histograms of server latency, total latency
//     and TTFT, in ms, of successful measured requests, with the median and
//     P99 marked.
//   - throughput_over_time.png: completed (and failed) requests per second
//     and output tokens per second, in BucketWidth buckets over the run
//     (metrics.Timeline). The last bucket is usually cut short by the end of
//     the run, so its rate reads low.
//   - concurrency_over_time.png: requests in flight (Sent to Done) and in
//     the client queue (Arrival to Sent) over the run, as step lines
//     (metrics.InFlight, metrics.QueueDepth).
//
// A chart or panel with nothing to show (no successful request, or no
// streamed first token for TTFT) is still written, with "no data" in its
// title and in its middle, so every run directory has the same files. An
// error in one chart does not stop the others; the paths of the charts
// written are returned with all errors joined.
func (r *Run) WriteCharts(st *metrics.Store) ([]string, error) {
	charts := []struct {
		name string
		size [2]vg.Length
		draw func(*metrics.Store, draw.Canvas)
	}{
		{LatencyChart, latencySize, drawLatency},
		{ThroughputChart, throughputSize, drawThroughput},
		{ConcurrencyChart, concurrencySize, drawConcurrency},
	}
	var paths []string
	var errs []error
	for _, c := range charts {
		path := r.Path(c.name)
		if err := writeFileFunc(path, func(w io.Writer) error { return renderPNG(w, c.size, st, c.draw) }); err != nil {
			errs = append(errs, err)
			continue
		}
		paths = append(paths, path)
	}
	return paths, errors.Join(errs...)
}

// renderPNG draws one chart on a white canvas and encodes it as PNG. A
// panic inside gonum plot becomes an error, so a chart cannot take the
// summary of a finished run down with it.
func renderPNG(w io.Writer, size [2]vg.Length, st *metrics.Store, drawFn func(*metrics.Store, draw.Canvas)) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("drawing chart: panic: %v", p)
		}
	}()
	c := vgimg.NewWith(vgimg.UseWH(size[0], size[1]), vgimg.UseDPI(ChartDPI))
	drawFn(st, draw.New(c))
	_, err = vgimg.PngCanvas{Canvas: c}.WriteTo(w)
	return err
}

func drawLatency(st *metrics.Store, dc draw.Canvas) {
	server, total, ttft, _ := st.Latencies()
	row := []*plot.Plot{
		histogram("Server latency (sent → done)", "server latency (ms)", server),
		histogram("Total latency (arrived → done)", "total latency (ms)", total),
		histogram("Time to first token", "TTFT (ms)", ttft),
	}
	tiles := draw.Tiles{Rows: 1, Cols: len(row), PadX: vg.Points(18), PadTop: vg.Points(8),
		PadBottom: vg.Points(8), PadLeft: vg.Points(8), PadRight: vg.Points(12)}
	alignAndDraw([][]*plot.Plot{row}, tiles, dc)
}

// histogram returns a histogram of values in ms with the median and P99
// marked, or a "no data" panel.
func histogram(title, xLabel string, values []float64) *plot.Plot {
	p := newPlot(title, xLabel, "requests")
	if len(values) == 0 {
		noData(p)
		return p
	}
	d := metrics.Distribute(append([]float64(nil), values...))
	p.Title.Text = fmt.Sprintf("%s (n = %s)", title, number(float64(d.Count), 0))
	h, err := plotter.NewHist(plotter.Values(values), bins(len(values)))
	if err != nil { // only for NaN or infinite values, which durations never give
		panic(err)
	}
	h.FillColor = histFill
	h.LineStyle.Width = vg.Points(0.5)
	h.LineStyle.Color = color.White
	p.Add(h)
	top := 0.0
	for _, b := range h.Bins {
		top = math.Max(top, b.Weight)
	}
	p.Add(vline(d.Median, top, medianLine, "median", p), vline(d.P99, top, p99Line, "p99", p))
	p.Y.Min = 0
	p.Y.Max = top * 1.15 // room for the legend above the tallest bar
	return p
}

// bins picks the histogram bin count: √n, kept between 10 and 60.
func bins(n int) int {
	return min(60, max(10, int(math.Ceil(math.Sqrt(float64(n))))))
}

// vline adds a legend entry "name = X ms" and returns a vertical line at x
// from 0 to top.
func vline(x, top float64, c color.Color, name string, p *plot.Plot) *plotter.Line {
	l, err := plotter.NewLine(plotter.XYs{{X: x, Y: 0}, {X: x, Y: top}})
	if err != nil {
		panic(err)
	}
	l.Color = c
	l.Width = vg.Points(1.5)
	l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
	p.Legend.Add(fmt.Sprintf("%s = %s ms", name, number(x, 1)), l)
	return l
}

func drawThroughput(st *metrics.Store, dc draw.Canvas) {
	const xLabel = "time since run start (s)"
	reqs := newPlot("Requests per second", xLabel, "requests/s")
	toks := newPlot("Output tokens per second", xLabel, "output tokens/s")
	buckets := st.Timeline(BucketWidth)
	if len(buckets) == 0 {
		noData(reqs)
		noData(toks)
	} else {
		per := BucketWidth.Seconds()
		completed := make([]float64, len(buckets))
		failed := make([]float64, len(buckets))
		tokens := make([]float64, len(buckets))
		anyFailed := false
		for i, b := range buckets {
			completed[i] = float64(b.Completed) / per
			failed[i] = float64(b.Failed) / per
			tokens[i] = float64(b.OutputTokens) / per
			anyFailed = anyFailed || b.Failed > 0
		}
		reqs.Title.Text = fmt.Sprintf("Requests per second (%s s buckets, by completion)", strconv.FormatFloat(BucketWidth.Seconds(), 'g', -1, 64))
		addSeries(reqs, "completed", seriesA, bucketSteps(completed))
		if anyFailed {
			addSeries(reqs, "failed", failedLine, bucketSteps(failed))
		}
		toks.Title.Text = fmt.Sprintf("Output tokens per second (%s s buckets, by arrival)", strconv.FormatFloat(BucketWidth.Seconds(), 'g', -1, 64))
		addSeries(toks, "output tokens", seriesB, bucketSteps(tokens))
		for _, p := range []*plot.Plot{reqs, toks} {
			p.Y.Min = 0
			p.X.Min, p.X.Max = 0, float64(len(buckets))*per
		}
	}
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadY: vg.Points(14), PadTop: vg.Points(8),
		PadBottom: vg.Points(8), PadLeft: vg.Points(8), PadRight: vg.Points(16)}
	alignAndDraw([][]*plot.Plot{{reqs}, {toks}}, tiles, dc)
}

// bucketSteps turns per-bucket values into the corners of a post-step line:
// each value held from its bucket's start to its end.
func bucketSteps(values []float64) plotter.XYs {
	per := BucketWidth.Seconds()
	xys := make(plotter.XYs, 0, len(values)+1)
	for i, v := range values {
		xys = append(xys, plotter.XY{X: float64(i) * per, Y: v})
	}
	return append(xys, plotter.XY{X: float64(len(values)) * per, Y: values[len(values)-1]})
}

func drawConcurrency(st *metrics.Store, dc draw.Canvas) {
	p := newPlot("Concurrency (successful requests)", "time since run start (s)", "requests")
	inFlight, queue := st.InFlight(), st.QueueDepth()
	if len(inFlight) == 0 {
		noData(p)
	} else {
		_, _, _, end := st.Latencies()
		addSeries(p, "in flight (sent → done)", seriesA, stepXYs(inFlight, end))
		addSeries(p, "client queue (arrived → sent)", seriesB, stepXYs(queue, end))
		p.Y.Min = 0
		p.X.Min, p.X.Max = 0, end.Seconds()
	}
	p.Draw(padded(dc))
}

// stepXYs turns steps into the corners of a post-step line from 0 to end.
// No steps means zero throughout.
func stepXYs(steps []metrics.Step, end time.Duration) plotter.XYs {
	xys := plotter.XYs{{X: 0, Y: 0}}
	for _, s := range steps {
		xys = append(xys, plotter.XY{X: s.At.Seconds(), Y: float64(s.Value)})
	}
	last := xys[len(xys)-1]
	return append(xys, plotter.XY{X: math.Max(end.Seconds(), last.X), Y: last.Y})
}

func addSeries(p *plot.Plot, name string, c color.Color, xys plotter.XYs) {
	l, err := plotter.NewLine(xys)
	if err != nil { // only for NaN or infinite values, which counts never give
		panic(err)
	}
	l.StepStyle = plotter.PostStep
	l.Color = c
	l.Width = vg.Points(1.5)
	p.Add(l)
	p.Legend.Add(name, l)
}

// newPlot returns a plot with a title, axis labels, a grid, thousands
// separators on tick labels and the legend at the top right.
func newPlot(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(13)
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.X.Tick.Marker = niceTicks{}
	p.Y.Tick.Marker = niceTicks{}
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p
}

// noData marks p as empty: "no data" in its title and in its middle.
func noData(p *plot.Plot) {
	p.Title.Text += " (no data)"
	p.X.Min, p.X.Max = 0, 1
	p.Y.Min, p.Y.Max = 0, 1
	l, err := plotter.NewLabels(plotter.XYLabels{
		XYs:    plotter.XYs{{X: 0.5, Y: 0.5}},
		Labels: []string{"no data"},
	})
	if err != nil {
		panic(err)
	}
	l.TextStyle[0].Font.Size = vg.Points(20)
	l.TextStyle[0].XAlign = draw.XCenter
	l.TextStyle[0].YAlign = draw.YCenter
	p.Add(l)
}

func alignAndDraw(plots [][]*plot.Plot, tiles draw.Tiles, dc draw.Canvas) {
	canvases := plot.Align(plots, tiles, dc)
	for i, row := range plots {
		for j, p := range row {
			p.Draw(canvases[i][j])
		}
	}
}

// padded returns dc with a small margin, like a single tile.
func padded(dc draw.Canvas) draw.Canvas {
	return draw.Tiles{Rows: 1, Cols: 1, PadTop: vg.Points(8), PadBottom: vg.Points(8),
		PadLeft: vg.Points(8), PadRight: vg.Points(16)}.At(dc, 0, 0)
}

// niceTicks labels an axis at 1, 2 or 5 times a power of ten, aiming at
// about six labels, with a minor tick between labels and thousands
// separators ("12,000" rather than plot.DefaultTicks' "12000.00").
type niceTicks struct{}

// Ticks returns the ticks for [lo, hi].
func (niceTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) || math.IsInf(hi-lo, 0) {
		return plot.DefaultTicks{}.Ticks(lo, hi) // panics on an illegal range, as plot expects
	}
	const target = 6
	raw := (hi - lo) / target
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 5} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	prec := max(0, -int(math.Floor(math.Log10(step))))
	var ticks []plot.Tick
	for i := math.Ceil(lo / step * 2); i/2*step <= hi+step*1e-9; i++ {
		v := i / 2 * step
		if math.Mod(i, 2) == 0 {
			ticks = append(ticks, plot.Tick{Value: v, Label: number(v+0, prec)})
		} else {
			ticks = append(ticks, plot.Tick{Value: v})
		}
	}
	return ticks
}
