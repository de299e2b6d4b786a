package faults

import (
	"fmt"
	"image/color"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// drawCurves draws the overload curves as an SVG at path: goodput (as a share of
// the goodput at capacity) and the p99 of the good answers, against the load.
func drawCurves(path string, curves []curve) error {
	goodput := plot.New()
	goodput.Title.Text = "Goodput under overload"
	goodput.X.Label.Text = "load sent (× capacity)"
	goodput.Y.Label.Text = "good answers/s, % of the goodput at 1×"
	goodput.Y.Min, goodput.X.Min = 0, 0
	latency := plot.New()
	latency.Title.Text = "p99 of the good answers"
	latency.X.Label.Text = "load sent (× capacity)"
	latency.Y.Label.Text = "ms"
	latency.Y.Min, latency.X.Min = 0, 0

	colors := []color.Color{color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}}
	for i, c := range curves {
		one := max(atOne(curves, c.route), 1)
		share, p99 := make(plotter.XYs, len(c.points)), make(plotter.XYs, len(c.points))
		for j, p := range c.points {
			x := p.offered / max(c.capacity, 1)
			share[j] = plotter.XY{X: x, Y: 100 * p.goodput / one}
			p99[j] = plotter.XY{X: x, Y: float64(p.p99.Microseconds()) / 1000}
		}
		for _, s := range []struct {
			p   *plot.Plot
			xys plotter.XYs
		}{{goodput, share}, {latency, p99}} {
			line, points, err := plotter.NewLinePoints(s.xys)
			if err != nil {
				return err
			}
			line.Color, points.Color = colors[i%len(colors)], colors[i%len(colors)]
			s.p.Add(line, points)
			s.p.Legend.Add(c.name(), line, points)
		}
	}
	// The bar the issue sets: 90 % of the goodput at capacity.
	bar, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 90}, {X: curveLevels[len(curveLevels)-1], Y: 90}})
	if err != nil {
		return err
	}
	bar.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
	goodput.Add(bar)
	goodput.Legend.Add("90 %", bar)
	goodput.Legend.Top, goodput.Legend.Left = false, true
	goodput.Add(plotter.NewGrid())
	latency.Add(plotter.NewGrid())
	latency.Legend.Top, latency.Legend.Left = true, true

	img := vgsvg.New(11*vg.Inch, 4*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Inch / 4, PadTop: vg.Inch / 8, PadBottom: vg.Inch / 8, PadLeft: vg.Inch / 8, PadRight: vg.Inch / 8}
	canvases := plot.Align([][]*plot.Plot{{goodput, latency}}, tiles, dc)
	goodput.Draw(canvases[0][0])
	latency.Draw(canvases[0][1])
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := img.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}
