package overlay

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/sgltest/sgltest/internal/metrics"
)

// Chart file names.
const (
	TTFTChart       = "cdf_ttft.png"
	ITLChart        = "cdf_itl.png"
	E2EChart        = "cdf_e2e_latency.png"
	ThroughputChart = "throughput_over_time.png"
)

// Side is one side of a comparison.
type Side struct {
	Label string
	// Stores hold the requests of each repeat.
	Stores []*metrics.Store
}

const (
	dpi         = 96
	quantiles   = 2000
	bucketWidth = time.Second
)

// bucket is bucketWidth in seconds.
var bucket = bucketWidth.Seconds()

var (
	cdfSize        = [2]vg.Length{12.5 * vg.Inch, vg.Length(600) / dpi * vg.Inch}
	throughputSize = [2]vg.Length{12.5 * vg.Inch, vg.Length(800) / dpi * vg.Inch}
	palette        = []color.Color{
		color.RGBA{R: 0x4c, G: 0x72, B: 0xb0, A: 0xff}, color.RGBA{R: 0xdd, G: 0x84, B: 0x52, A: 0xff},
		color.RGBA{R: 0x55, G: 0xa8, B: 0x68, A: 0xff}, color.RGBA{R: 0xc4, G: 0x4e, B: 0x52, A: 0xff},
		color.RGBA{R: 0x81, G: 0x72, B: 0xb3, A: 0xff}, color.RGBA{R: 0x93, G: 0x78, B: 0x60, A: 0xff},
	}
)

// Write draws the charts of sides into dir and returns their paths. Every
// side needs at least one store. Each chart is written whole (a temporary
// file renamed into place); an error in one does not stop the others.
func Write(dir string, sides []Side) ([]string, error) {
	if len(sides) == 0 {
		return nil, errors.New("overlay: no side to draw")
	}
	for _, s := range sides {
		if len(s.Stores) == 0 {
			return nil, fmt.Errorf("overlay: side %q has no runs", s.Label)
		}
	}
	charts := []struct {
		file string
		size [2]vg.Length
		draw func([]Side, draw.Canvas) error
	}{
		{TTFTChart, cdfSize, cdf(metrics.TTFT, "TTFT (first token − sent)", "TTFT (ms)")},
		{ITLChart, cdfSize, cdf(metrics.ITL, "ITL (per token)", "ITL (ms)")},
		{E2EChart, cdfSize, cdf(metrics.E2ELatency, "E2E latency (sent → done)", "E2E latency (ms)")},
		{ThroughputChart, throughputSize, throughput},
	}
	var paths []string
	var errs []error
	for _, c := range charts {
		path := filepath.Join(dir, c.file)
		err := writeFile(path, func(w io.Writer) error { return render(w, c.size, sides, c.draw) })
		if err != nil {
			errs = append(errs, err)
			continue
		}
		paths = append(paths, path)
	}
	return paths, errors.Join(errs...)
}

// render draws one chart on a white canvas as PNG; a panic inside gonum
// plot becomes an error.
func render(w io.Writer, size [2]vg.Length, sides []Side, drawFn func([]Side, draw.Canvas) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("drawing chart: panic: %v", p)
		}
	}()
	c := vgimg.NewWith(vgimg.UseWH(size[0], size[1]), vgimg.UseDPI(dpi))
	if err := drawFn(sides, draw.New(c)); err != nil {
		return err
	}
	_, err = vgimg.PngCanvas{Canvas: c}.WriteTo(w)
	return err
}

// pooled returns the named samples of every repeat of s, sorted.
func pooled(s Side, name string) ([]float64, error) {
	var all []float64
	for _, st := range s.Stores {
		v, err := st.Samples(name, metrics.Selection{})
		if err != nil {
			return nil, err
		}
		all = append(all, v...)
	}
	slices.Sort(all)
	return all, nil
}

// cdf draws the empirical CDF of the named samples, one line per side.
func cdf(name, title, xLabel string) func([]Side, draw.Canvas) error {
	return func(sides []Side, dc draw.Canvas) error {
		p := newPlot("CDF of "+title, xLabel, "fraction of samples ≤ x")
		empty := true
		for i, s := range sides {
			v, err := pooled(s, name)
			if err != nil {
				return err
			}
			if len(v) == 0 {
				p.Legend.Add(s.Label+": no samples", emptyThumb{})
				continue
			}
			empty = false
			d := metrics.Distribute(slices.Clone(v))
			l, err := plotter.NewLine(cdfPoints(v))
			if err != nil {
				return err
			}
			l.Color = palette[i%len(palette)]
			l.Width = vg.Points(1.5)
			p.Add(l)
			p.Legend.Add(fmt.Sprintf("%s: median %s ms, P99 %s ms (n = %d)", s.Label, num(d.Median), num(d.P99), d.Count), l)
		}
		if empty {
			noData(p)
		} else {
			p.Y.Min, p.Y.Max = 0, 1
			p.Legend.Top, p.Legend.Left = false, false
		}
		p.Draw(padded(dc))
		return nil
	}
}

// cdfPoints are the corners of the empirical CDF of sorted samples: at
// most quantiles+1 points, at evenly spaced fractions q from 0 to 1, each
// at the q-quantile of the samples (linear interpolation between closest
// ranks, as every percentile sgltest reports).
func cdfPoints(sorted []float64) plotter.XYs {
	n := min(quantiles, len(sorted)-1)
	if n == 0 {
		return plotter.XYs{{X: sorted[0], Y: 0}, {X: sorted[0], Y: 1}}
	}
	xys := make(plotter.XYs, 0, n+1)
	for k := 0; k <= n; k++ {
		q := float64(k) / float64(n)
		xys = append(xys, plotter.XY{X: metrics.Percentile(sorted, 100*q), Y: q})
	}
	return xys
}

// throughput draws requests/s and output tokens/s over time, one line per
// side, each the per-bucket mean over the side's repeats.
func throughput(sides []Side, dc draw.Canvas) error {
	const xLabel = "time since run start (s)"
	reqs := newPlot("Requests per second (1 s buckets, by completion; mean over repeats)", xLabel, "requests/s")
	toks := newPlot("Output tokens per second (1 s buckets, by arrival; mean over repeats)", xLabel, "output tokens/s")
	var longest int
	for i, s := range sides {
		var completed, tokens []float64
		var runs []int
		for _, st := range s.Stores {
			for j, b := range st.Timeline(bucketWidth) {
				if j == len(completed) {
					completed, tokens, runs = append(completed, 0), append(tokens, 0), append(runs, 0)
				}
				completed[j] += float64(b.Completed)
				tokens[j] += float64(b.OutputTokens)
				runs[j]++
			}
		}
		if len(runs) == 0 {
			continue
		}
		for j := range runs {
			completed[j] /= float64(runs[j]) * bucket
			tokens[j] /= float64(runs[j]) * bucket
		}
		longest = max(longest, len(runs))
		c := palette[i%len(palette)]
		if err := addSteps(reqs, s.Label, c, completed); err != nil {
			return err
		}
		if err := addSteps(toks, s.Label, c, tokens); err != nil {
			return err
		}
	}
	for _, p := range []*plot.Plot{reqs, toks} {
		if longest == 0 {
			noData(p)
			continue
		}
		p.Y.Min = 0
		p.X.Min, p.X.Max = 0, float64(longest)*bucket
	}
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadY: vg.Points(14), PadTop: vg.Points(8),
		PadBottom: vg.Points(8), PadLeft: vg.Points(8), PadRight: vg.Points(16)}
	plots := [][]*plot.Plot{{reqs}, {toks}}
	canvases := plot.Align(plots, tiles, dc)
	for i, row := range plots {
		for j, p := range row {
			p.Draw(canvases[i][j])
		}
	}
	return nil
}

// addSteps adds per-bucket values as a post-step line.
func addSteps(p *plot.Plot, name string, c color.Color, values []float64) error {
	xys := make(plotter.XYs, 0, len(values)+1)
	for i, v := range values {
		xys = append(xys, plotter.XY{X: float64(i) * bucket, Y: v})
	}
	xys = append(xys, plotter.XY{X: float64(len(values)) * bucket, Y: values[len(values)-1]})
	l, err := plotter.NewLine(xys)
	if err != nil {
		return err
	}
	l.StepStyle = plotter.PostStep
	l.Color = c
	l.Width = vg.Points(1.5)
	p.Add(l)
	p.Legend.Add(name, l)
	return nil
}

func newPlot(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(13)
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p
}

// noData marks p as empty: "no data" in its title and in its middle.
func noData(p *plot.Plot) {
	p.Title.Text += " (no data)"
	p.X.Min, p.X.Max = 0, 1
	p.Y.Min, p.Y.Max = 0, 1
	l, err := plotter.NewLabels(plotter.XYLabels{XYs: plotter.XYs{{X: 0.5, Y: 0.5}}, Labels: []string{"no data"}})
	if err != nil {
		panic(err)
	}
	l.TextStyle[0].Font.Size = vg.Points(20)
	l.TextStyle[0].XAlign = draw.XCenter
	l.TextStyle[0].YAlign = draw.YCenter
	p.Add(l)
}

// emptyThumb is a legend entry with no line.
type emptyThumb struct{}

func (emptyThumb) Thumbnail(*draw.Canvas) {}

func padded(dc draw.Canvas) draw.Canvas {
	return draw.Tiles{Rows: 1, Cols: 1, PadTop: vg.Points(8), PadBottom: vg.Points(8),
		PadLeft: vg.Points(8), PadRight: vg.Points(16)}.At(dc, 0, 0)
}

func num(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// writeFile writes path whole or not at all, through a temporary file in
// the same directory renamed over it.
func writeFile(path string, write func(io.Writer) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(f.Name()) // err already says what went wrong
			err = fmt.Errorf("overlay: writing %s: %w", path, err)
		}
	}()
	if err := write(f); err != nil {
		_ = f.Close() // the error returned says what went wrong
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
