package report

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"runtime"
	"sync"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// ChartDPI is the resolution charts are rendered at: a Chart's Width and
// Height are pixels at this resolution.
const ChartDPI = 96

// Colours of the charts: a Line's Color indexes seriesColors (colorFailed
// is red), a Segment's Phase phaseColors.
var (
	seriesColors = []color.RGBA{
		{0x1f, 0x77, 0xb4, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0x94, 0x67, 0xbd, 0xff},
		{0x8c, 0x56, 0x4b, 0xff}, {0xe3, 0x77, 0xc2, 0xff}, {0x17, 0xbe, 0xcf, 0xff}, {0xbc, 0xbd, 0x22, 0xff},
		{0x7f, 0x7f, 0x7f, 0xff}, {0x39, 0x3b, 0x79, 0xff},
	}
	failedColor = color.RGBA{0xd6, 0x27, 0x28, 0xff}
	phaseColors = [...]color.RGBA{{0xff, 0x9f, 0x40, 0xff}, {0x9e, 0xc9, 0xe2, 0xff}, {0x1f, 0x4e, 0x8c, 0xff}, failedColor}
	histFill    = color.RGBA{0x4c, 0x72, 0xb0, 0xff}
	medianColor = color.RGBA{0x22, 0x22, 0x22, 0xff}
	p99Color    = color.RGBA{0xc4, 0x4e, 0x52, 0xff}
	eventColor  = color.RGBA{0x80, 0x1d, 0x8c, 0xff}
)

// colorFailed is the Line.Color of failures.
const colorFailed = -1

func lineColor(i int) color.Color {
	if i == colorFailed {
		return failedColor
	}
	return seriesColors[((i%len(seriesColors))+len(seriesColors))%len(seriesColors)]
}

// WriteCharts draws each chart as a PNG in the run directory (written
// whole or not at all) and returns the paths written, in the order of
// charts. An error in one chart does not stop the others; the errors are
// joined. Charts are drawn on up to GOMAXPROCS goroutines: drawing is
// nearly all of what closing a run costs, and the run's own work is over.
func (r *Run) WriteCharts(charts []Chart) ([]string, error) {
	errs := make([]error, len(charts))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, c := range charts {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = writeFileFunc(r.Path(c.File), func(w io.Writer) error { return renderPNG(w, c) })
		})
	}
	wg.Wait()
	var paths []string
	for i, c := range charts {
		if errs[i] == nil {
			paths = append(paths, r.Path(c.File))
		}
	}
	return paths, errors.Join(errs...)
}

// renderPNG draws one chart on a white canvas and encodes it as PNG. A
// panic inside gonum plot becomes an error, so a chart cannot take the
// summary of a finished run down with it.
func renderPNG(w io.Writer, c Chart) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("drawing %s: panic: %v", c.File, p)
		}
	}()
	px := func(n int) vg.Length { return vg.Length(n) / ChartDPI * vg.Inch }
	canvas := vgimg.NewWith(vgimg.UseWH(px(c.Width), px(c.Height)), vgimg.UseDPI(ChartDPI))
	dc := draw.New(canvas)
	cols := max(1, c.Cols)
	rows := (len(c.Panels) + cols - 1) / cols
	grid := make([][]*plot.Plot, rows)
	for i := range grid {
		grid[i] = make([]*plot.Plot, cols)
	}
	for i, p := range c.Panels {
		grid[i/cols][i%cols] = newPanelPlot(p)
	}
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Points(18), PadY: vg.Points(14), PadTop: vg.Points(8),
		PadBottom: vg.Points(8), PadLeft: vg.Points(8), PadRight: vg.Points(16)}
	canvases := plot.Align(grid, tiles, dc)
	for i, row := range grid {
		for j, p := range row {
			if p != nil {
				p.Draw(canvases[i][j])
			}
		}
	}
	if img, ok := canvas.Image().(*image.RGBA); ok {
		return encodePNG(w, img)
	}
	return png.Encode(w, canvas.Image())
}

// newPanelPlot turns a Panel into a gonum plot.
func newPanelPlot(pn Panel) *plot.Plot {
	p := plot.New()
	p.Title.Text = pn.Title
	p.Title.TextStyle.Font.Size = vg.Points(13)
	p.X.Label.Text, p.Y.Label.Text = pn.XLabel, pn.YLabel
	p.X.Tick.Marker, p.Y.Tick.Marker = niceTicks{}, niceTicks{}
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	if pn.Empty != "" {
		drawEmpty(p, pn.Empty)
		return p
	}
	top := 0.0
	if len(pn.Bins) > 0 {
		h := &plotter.Histogram{FillColor: histFill}
		for _, b := range pn.Bins {
			h.Bins = append(h.Bins, plotter.HistogramBin{Min: b.Min, Max: b.Max, Weight: float64(b.Count)})
			top = math.Max(top, float64(b.Count))
		}
		h.Width = pn.Bins[0].Max - pn.Bins[0].Min
		h.LineStyle.Width = vg.Points(0.5)
		h.LineStyle.Color = color.White
		p.Add(h)
		p.Y.Min, p.Y.Max = 0, top*1.15 // room for the legend above the tallest bar
	}
	for _, l := range pn.Lines {
		line, err := plotter.NewLine(xys(l.Points))
		if err != nil { // only for NaN or infinite values, which figures never give
			panic(fmt.Sprintf("%s: %v", l.Name, err))
		}
		if l.Step {
			line.StepStyle = plotter.PostStep
		}
		line.Color = lineColor(l.Color)
		line.Width = vg.Points(1.5)
		p.Add(line)
		if len(pn.Lines) > 1 || l.Name != "CDF" {
			p.Legend.Add(l.Name, line)
		}
	}
	if len(pn.Spans) > 0 {
		p.Legend.Left = true // requests arrive from the bottom left to the top right
		s := &segments{segs: pn.Spans}
		p.Add(s)
		for ph, name := range PhaseNames {
			if s.has(Phase(ph)) {
				p.Legend.Add(name, &plotter.Line{LineStyle: draw.LineStyle{Color: phaseColors[ph], Width: vg.Points(4)}})
			}
		}
	}
	if pn.Heat != nil {
		addHeat(p, pn.Heat)
	}
	stat := 0
	for i, m := range pn.Marks {
		if m.Stat {
			c := medianColor
			if stat > 0 {
				c = p99Color
			}
			stat++
			l := &plotter.Line{XYs: plotter.XYs{{X: m.At, Y: 0}, {X: m.At, Y: top}},
				LineStyle: draw.LineStyle{Color: c, Width: vg.Points(1.5), Dashes: []vg.Length{vg.Points(5), vg.Points(3)}}}
			p.Add(l)
			p.Legend.Add(m.Label, l)
			continue
		}
		p.Add(&eventMark{Mark: m, row: i % 3})
	}
	if pn.X.Max > pn.X.Min {
		p.X.Min, p.X.Max = pn.X.Min, pn.X.Max
	}
	if pn.Y.Max > pn.Y.Min {
		p.Y.Min, p.Y.Max = pn.Y.Min, pn.Y.Max
	} else if len(pn.Lines) > 0 {
		p.Y.Min = math.Min(0, p.Y.Min)
		p.Y.Max = math.Max(p.Y.Max*1.1, p.Y.Min+1) // room for the legend; a flat zero line still gets an axis
	}
	return p
}

func xys(pts []XY) plotter.XYs {
	out := make(plotter.XYs, len(pts))
	for i, p := range pts {
		out[i] = plotter.XY{X: p.X, Y: p.Y}
	}
	return out
}

// drawEmpty marks p as empty: why in its title and "no data" in its
// middle.
func drawEmpty(p *plot.Plot, why string) {
	p.Title.Text += " (" + why + ")"
	p.X.Min, p.X.Max = 0, 1
	p.Y.Min, p.Y.Max = 0, 1
	l, err := plotter.NewLabels(plotter.XYLabels{XYs: plotter.XYs{{X: 0.5, Y: 0.5}}, Labels: []string{noData}})
	if err != nil {
		panic(err)
	}
	l.TextStyle[0].Font.Size = vg.Points(20)
	l.TextStyle[0].XAlign = draw.XCenter
	l.TextStyle[0].YAlign = draw.YCenter
	p.Add(l)
}

// segments draws a request timeline: one horizontal bar per Segment.
type segments struct{ segs []Segment }

func (s *segments) has(ph Phase) bool {
	for _, g := range s.segs {
		if g.Phase == ph {
			return true
		}
	}
	return false
}

// Plot implements plot.Plotter.
func (s *segments) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	rows := 0
	for _, g := range s.segs {
		rows = max(rows, g.Row+1)
	}
	width := min(vg.Points(5), max(vg.Points(0.6), (c.Max.Y-c.Min.Y)/vg.Length(rows+2)*0.8))
	for _, g := range s.segs {
		x0, x1, y := trX(g.From), trX(g.To), trY(float64(g.Row))
		if x1-x0 < vg.Points(0.5) {
			x1 = x0 + vg.Points(0.5) // a zero-length phase is still visible
		}
		c.StrokeLine2(draw.LineStyle{Color: phaseColors[g.Phase], Width: width}, x0, y, x1, y)
	}
}

// DataRange implements plot.DataRanger.
func (s *segments) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, ymin = math.Inf(1), math.Inf(1)
	xmax, ymax = math.Inf(-1), math.Inf(-1)
	for _, g := range s.segs {
		xmin, xmax = math.Min(xmin, g.From), math.Max(xmax, g.To)
		ymin, ymax = math.Min(ymin, float64(g.Row)), math.Max(ymax, float64(g.Row))
	}
	return xmin, xmax, ymin, ymax
}

// eventMark draws an event as a dashed vertical line across the plot with
// its label at the top; row staggers labels of nearby events.
type eventMark struct {
	Mark
	row int
}

// Plot implements plot.Plotter.
func (m *eventMark) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	x := trX(m.At)
	if x < c.Min.X || x > c.Max.X {
		return
	}
	c.StrokeLine2(draw.LineStyle{Color: eventColor, Width: vg.Points(1.2), Dashes: []vg.Length{vg.Points(4), vg.Points(3)}},
		x, c.Min.Y, x, c.Max.Y)
	sty := draw.TextStyle{Color: eventColor, Font: plot.DefaultFont, Handler: plot.DefaultTextHandler}
	sty.Font.Size = vg.Points(9)
	sty.YAlign = draw.YTop
	sty.XAlign = draw.XLeft
	if x > (c.Min.X+c.Max.X)/2 {
		sty.XAlign = draw.XRight
	}
	fnt := sty.FontExtents()
	y := c.Max.Y - vg.Points(2) - vg.Length(m.row)*(fnt.Height+vg.Points(1))
	pad := vg.Points(3)
	if sty.XAlign == draw.XRight {
		pad = -pad
	}
	c.FillText(sty, vg.Point{X: x + pad, Y: y}, m.Label)
}

// DataRange implements plot.DataRanger: the mark widens the time axis to
// show it, and leaves the other axis to the data.
func (m *eventMark) DataRange() (xmin, xmax, ymin, ymax float64) {
	return m.At, m.At, math.Inf(1), math.Inf(-1)
}

// heatGrid is a Heat as gonum's GridXYZ: column c is the bucket centred at
// X0 + (c + ½) × Width, row r the r-th server.
type heatGrid struct{ h *Heat }

func (g heatGrid) Dims() (c, r int) { return len(g.h.Values[0]), len(g.h.Values) }
func (g heatGrid) Z(c, r int) float64 {
	return g.h.Values[r][c]
}
func (g heatGrid) X(c int) float64 { return g.h.X0 + (float64(c)+0.5)*g.h.Width }
func (g heatGrid) Y(r int) float64 { return float64(r) }

// heatPalette runs from white (nothing) to dark blue (the most).
type heatPalette struct{}

func (heatPalette) Colors() []color.Color {
	const n = 64
	from, to := [3]float64{0xf7, 0xfb, 0xff}, [3]float64{0x08, 0x30, 0x6b}
	out := make([]color.Color, n)
	for i := range out {
		f := float64(i) / (n - 1)
		c := func(k int) uint8 { return uint8(math.Round(from[k] + f*(to[k]-from[k]))) }
		out[i] = color.RGBA{c(0), c(1), c(2), 0xff}
	}
	return out
}

// addHeat draws h with its rows named on the Y axis and its scale in the
// title.
func addHeat(p *plot.Plot, h *Heat) {
	top := 0.0
	for _, row := range h.Values {
		for _, v := range row {
			top = math.Max(top, v)
		}
	}
	hm := plotter.NewHeatMap(heatGrid{h}, heatPalette{})
	hm.Min, hm.Max = 0, math.Max(top, 1e-9)
	p.Add(hm)
	p.Title.Text += fmt.Sprintf(": white 0, darkest %s %s", number(top, 1), h.Unit)
	p.Y.Tick.Marker = namedTicks(h.Rows)
	p.Y.Min, p.Y.Max = -0.5, float64(len(h.Rows))-0.5
}

// namedTicks labels the integer positions 0, 1, ... with names.
type namedTicks []string

// Ticks implements plot.Ticker.
func (n namedTicks) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	for i, name := range n {
		if v := float64(i); v >= lo && v <= hi {
			out = append(out, plot.Tick{Value: v, Label: name})
		}
	}
	return out
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
