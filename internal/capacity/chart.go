package capacity

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/sgltest/sgltest/internal/figures"
)

// chartDPI matches the run directory's charts (internal/report).
const chartDPI = 96

var (
	curveSize      = [2]vg.Length{15 * vg.Inch, 5 * vg.Inch}
	attainmentSize = [2]vg.Length{10 * vg.Inch, 5 * vg.Inch}
	statColors     = map[figures.Stat]color.Color{
		"median": color.RGBA{R: 0x4c, G: 0x72, B: 0xb0, A: 0xff},
		"p90":    color.RGBA{R: 0xdd, G: 0x84, B: 0x52, A: 0xff},
		"p99":    color.RGBA{R: 0xc4, G: 0x4e, B: 0x52, A: 0xff},
	}
	kneeColor = color.RGBA{R: 0x22, G: 0x22, B: 0x22, A: 0xff}
	passColor = color.RGBA{R: 0x55, G: 0xa8, B: 0x68, A: 0xff}
	failColor = color.RGBA{R: 0xc4, G: 0x4e, B: 0x52, A: 0xff}
)

// curveStats are the percentiles the curve draws.
var curveStats = []figures.Stat{"median", "p90", "p99"}

// render draws on a white canvas of size and encodes it as PNG; a panic
// inside gonum plot becomes an error.
func render(w io.Writer, size [2]vg.Length, drawFn func(draw.Canvas)) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("drawing chart: panic: %v", p)
		}
	}()
	c := vgimg.NewWith(vgimg.UseWH(size[0], size[1]), vgimg.UseDPI(chartDPI))
	drawFn(draw.New(c))
	_, err = vgimg.PngCanvas{Canvas: c}.WriteTo(w)
	return err
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(13)
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	return p
}

func noData(p *plot.Plot) {
	p.Title.Text += " (no data)"
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	l, err := plotter.NewLabels(plotter.XYLabels{XYs: plotter.XYs{{X: 0.5, Y: 0.5}}, Labels: []string{"no data"}})
	if err != nil {
		panic(err)
	}
	l.TextStyle[0].Font.Size = vg.Points(20)
	l.TextStyle[0].XAlign, l.TextStyle[0].YAlign = draw.XCenter, draw.YCenter
	p.Add(l)
}

// curveChart draws TTFT, ITL and E2E latency percentiles against the
// achieved request throughput, one panel each, with the knee marked.
func curveChart(w io.Writer, s Sweep, t Table, knee *SweepKnee) error {
	panels := []struct{ figure, title string }{
		{"ttft", "TTFT"}, {"itl", "ITL"}, {"e2e latency", "E2E latency"},
	}
	row := make([]*plot.Plot, len(panels))
	for i, pn := range panels {
		p := newPlot(pn.title+" against achieved throughput", "achieved request throughput (req/s)", pn.title+" (ms)")
		lo, hi := math.Inf(1), math.Inf(-1)
		var added bool
		for _, st := range curveStats {
			var xys plotter.XYs
			var labels []string
			for k, pt := range s.Points {
				x, ok1 := t.Get(k, "request throughput", "")
				y, ok2 := t.Get(k, pn.figure, st)
				if ok1 && ok2 {
					xys = append(xys, plotter.XY{X: x, Y: y})
					labels = append(labels, pt.Label)
					lo, hi = min(lo, y), max(hi, y)
				}
			}
			if len(xys) == 0 {
				continue
			}
			line, pts, err := plotter.NewLinePoints(xys)
			if err != nil {
				panic(err)
			}
			line.Color, line.Width = statColors[st], vg.Points(1.5)
			pts.Color, pts.Shape, pts.Radius = statColors[st], draw.CircleGlyph{}, vg.Points(2.5)
			if s.Axis == AxisSettings {
				line.Width = 0 // the points are settings, not a curve
			}
			p.Add(line, pts)
			p.Legend.Add(figures.Stat(st).String(), line, pts)
			if st == "median" && (s.Axis == AxisSettings || len(xys) <= 12) {
				l, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
				if err == nil {
					for k := range l.TextStyle {
						l.TextStyle[k].Font.Size = vg.Points(8)
						l.TextStyle[k].YAlign = draw.YTop
					}
					l.Offset = vg.Point{X: vg.Points(3), Y: vg.Points(-3)}
					p.Add(l)
				}
			}
			added = true
		}
		if !added {
			noData(p)
			row[i] = p
			continue
		}
		if lo > 0 && hi/lo > 20 {
			// Past the knee latency grows by orders of magnitude; a log
			// axis keeps the flat part readable.
			p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
			p.Y.Label.Text += ", log scale"
		}
		if knee != nil {
			l, err := plotter.NewLine(plotter.XYs{{X: knee.Throughput, Y: lo}, {X: knee.Throughput, Y: hi}})
			if err != nil {
				panic(err)
			}
			l.Color, l.Width, l.Dashes = kneeColor, vg.Points(1.2), []vg.Length{vg.Points(5), vg.Points(3)}
			p.Add(l)
			p.Legend.Add(fmt.Sprintf("knee (%s): %s req/s", knee.Label, cell(knee.Throughput, figures.ReqPerS)), l)
		}
		row[i] = p
	}
	return render(w, curveSize, func(dc draw.Canvas) {
		tiles := draw.Tiles{Rows: 1, Cols: len(row), PadX: vg.Points(18), PadTop: vg.Points(8),
			PadBottom: vg.Points(8), PadLeft: vg.Points(8), PadRight: vg.Points(12)}
		canvases := plot.Align([][]*plot.Plot{row}, tiles, dc)
		for j, p := range row {
			p.Draw(canvases[0][j])
		}
	})
}

// attainmentChart draws SLO attainment against the number of GPUs, each
// count marked by whether it met the SLO, with the fewest marked.
func attainmentChart(w io.Writer, m CountMeta, slo SLO, r CountResult) error {
	gpus := max(m.GPUsPerServer, 1)
	p := newPlot(fmt.Sprintf("SLO attainment at %s req/s with %s", rate(m.Rate), m.Policy), "GPUs", "SLO attainment (% of requests)")
	var all, met, missed plotter.XYs
	for _, d := range r.Curve() {
		a, ok := d.Attainment()
		if !ok {
			continue
		}
		xy := plotter.XY{X: d.X * float64(gpus), Y: 100 * a}
		all = append(all, xy)
		if d.Pass {
			met = append(met, xy)
		} else {
			missed = append(missed, xy)
		}
	}
	if len(all) == 0 {
		noData(p)
	} else {
		line, err := plotter.NewLine(all)
		if err != nil {
			return err
		}
		line.Color, line.Width = color.Gray{Y: 0x88}, vg.Points(1.2)
		p.Add(line)
		for _, g := range []struct {
			xys   plotter.XYs
			c     color.Color
			shape draw.GlyphDrawer
			name  string
		}{{met, passColor, draw.CircleGlyph{}, "meets " + slo.String()}, {missed, failColor, draw.CrossGlyph{}, "does not"}} {
			if len(g.xys) == 0 {
				continue
			}
			sc, err := plotter.NewScatter(g.xys)
			if err != nil {
				return err
			}
			sc.Color, sc.Shape, sc.Radius = g.c, g.shape, vg.Points(4)
			p.Add(sc)
			p.Legend.Add(g.name, sc)
		}
		if r.Found {
			x := float64(r.Fewest * gpus)
			l, err := plotter.NewLine(plotter.XYs{{X: x, Y: 0}, {X: x, Y: 100}})
			if err != nil {
				return err
			}
			l.Color, l.Width, l.Dashes = kneeColor, vg.Points(1.2), []vg.Length{vg.Points(5), vg.Points(3)}
			p.Add(l)
			p.Legend.Add(fmt.Sprintf("fewest meeting the SLO: %d GPUs", r.Fewest*gpus), l)
		}
		p.Y.Min, p.Y.Max = 0, 104
		p.X.Min = 0
		p.X.Tick.Marker = wholeTicks{}
	}
	return render(w, attainmentSize, func(dc draw.Canvas) {
		p.Draw(draw.Tiles{Rows: 1, Cols: 1, PadTop: vg.Points(8), PadBottom: vg.Points(8), PadLeft: vg.Points(8),
			PadRight: vg.Points(16)}.At(dc, 0, 0))
	})
}

// wholeTicks labels a count axis at whole numbers: every one up to 20,
// else DefaultTicks.
type wholeTicks struct{}

func (wholeTicks) Ticks(lo, hi float64) []plot.Tick {
	if hi-lo > 20 {
		return plot.DefaultTicks{}.Ticks(lo, hi)
	}
	var out []plot.Tick
	for v := math.Ceil(lo); v <= hi; v++ {
		out = append(out, plot.Tick{Value: v, Label: strconv.Itoa(int(v))})
	}
	return out
}
