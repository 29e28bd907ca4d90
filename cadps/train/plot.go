package train

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"strconv"

	"github.com/cadps/toolkit/internal/atomicfile"
)

// LossPoint is one recorded step.
type LossPoint struct {
	Step int64
	StepLosses
}

// Colours of the loss plot.
var (
	plotBackground = color.RGBA{255, 255, 255, 255}
	plotAxis       = color.RGBA{0, 0, 0, 255}
	plotGrid       = color.RGBA{225, 225, 225, 255}
	plotRaw        = color.RGBA{170, 200, 235, 255}
	plotSmooth     = color.RGBA{20, 70, 160, 255}
	plotMSE        = color.RGBA{210, 90, 20, 255}
	plotChange     = color.RGBA{130, 40, 150, 255}
)

// PlotLoss draws the training loss against the step as a PNG of w×h pixels:
// a log-scale y axis with a grid line and label at every power of ten (and
// at 2× and 5× when the range is under two decades, at every digit under
// one), a linear x axis with
// about six labelled ticks, the per-step loss minimised (L_simple weighted
// per the run's loss weight, plus λ·L_vlb) in light blue, its moving
// average in dark blue and the moving average of the unweighted L_simple
// (MSE) in orange. Each change in history (the run's Config.History) within
// the plotted steps is a dashed purple line between the last step before it
// and the first after, labelled with the new value ("WEIGHT TRUNC-SNR:100",
// "LR 0.0001"): a change of weighting moves the loss, not the MSE.
func PlotLoss(w io.Writer, points []LossPoint, history []Change, width, height int) error {
	if len(points) == 0 {
		return errors.New("train: no losses to plot")
	}
	if width < 200 || height < 150 {
		return fmt.Errorf("train: loss plot of %d×%d is too small (at least 200×150)", width, height)
	}
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	fill(img, img.Bounds(), plotBackground)
	const left, right, top, bottom = 58, 14, 24, 34
	p := &lossPlot{img: img, area: image.Rect(left, top, width-right, height-bottom)}

	smooth := movingAverage(points, func(p LossPoint) float64 { return p.Loss })
	mse := movingAverage(points, func(p LossPoint) float64 { return p.MSE })
	lo, hi := math.Inf(1), math.Inf(-1)
	for k, p := range points {
		for _, v := range []float64{p.Loss, smooth[k], mse[k]} {
			if v > 0 && !math.IsInf(v, 0) {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	if math.IsInf(lo, 1) {
		return errors.New("train: no positive finite loss to plot on a log scale")
	}
	p.logLo, p.logHi = math.Floor(math.Log10(lo)*4)/4, math.Ceil(math.Log10(hi)*4)/4
	if p.logHi-p.logLo < 0.5 {
		p.logLo, p.logHi = p.logLo-0.25, p.logHi+0.25
	}
	p.x0, p.x1 = float64(points[0].Step), float64(points[len(points)-1].Step)
	if p.x1 <= p.x0 {
		p.x0, p.x1 = p.x0-1, p.x0+1
	}
	p.yGrid()
	p.xTicks()
	p.series(points, func(k int) float64 { return points[k].Loss }, plotRaw)
	p.series(points, func(k int) float64 { return mse[k] }, plotMSE)
	p.series(points, func(k int) float64 { return smooth[k] }, plotSmooth)
	p.changes(history)
	p.frame()
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("train: encoding the loss plot: %w", err)
	}
	return nil
}

// lossPlot draws the loss plot: area is the plot's rectangle in img, the x
// axis runs from step x0 to x1 and the y axis from 10^logLo to 10^logHi.
type lossPlot struct {
	img          *image.RGBA
	area         image.Rectangle
	x0, x1       float64
	logLo, logHi float64
}

// px returns the column of a step.
func (p *lossPlot) px(step float64) int {
	return p.area.Min.X + int(math.Round((step-p.x0)/(p.x1-p.x0)*float64(p.area.Dx()-1)))
}

// py returns the row of a loss value.
func (p *lossPlot) py(v float64) int {
	f := (math.Log10(v) - p.logLo) / (p.logHi - p.logLo)
	return p.area.Max.Y - 1 - int(math.Round(f*float64(p.area.Dy()-1)))
}

// yGrid draws the grid lines and labels of the log-scale y axis.
func (p *lossPlot) yGrid() {
	mults := []float64{1}
	switch {
	case p.logHi-p.logLo < 1:
		mults = []float64{1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9}
	case p.logHi-p.logLo < 2:
		mults = []float64{1, 2, 5}
	}
	for e := math.Floor(p.logLo); e <= math.Ceil(p.logHi); e++ {
		for _, m := range mults {
			v := m * math.Pow(10, e)
			if l := math.Log10(v); l < p.logLo || l > p.logHi {
				continue
			}
			y := p.py(v)
			hline(p.img, p.area.Min.X, p.area.Max.X, y, plotGrid)
			label := strconv.FormatFloat(v, 'g', 3, 64)
			drawText(p.img, p.area.Min.X-6-textWidth(label), y-5*fontScale/2, label, plotAxis)
			hline(p.img, p.area.Min.X-4, p.area.Min.X, y, plotAxis)
		}
	}
}

// xTicks draws about six labelled ticks of the step axis.
func (p *lossPlot) xTicks() {
	for _, s := range niceTicks(p.x0, p.x1, 6) {
		x := p.px(s)
		vline(p.img, x, p.area.Min.Y, p.area.Max.Y, plotGrid)
		vline(p.img, x, p.area.Max.Y, p.area.Max.Y+4, plotAxis)
		label := strconv.FormatFloat(s, 'f', -1, 64)
		drawText(p.img, x-textWidth(label)/2, p.area.Max.Y+8, label, plotAxis)
	}
}

// series draws value(k) against points[k]'s step as a line, broken where
// a value cannot be drawn on the log scale.
func (p *lossPlot) series(points []LossPoint, value func(k int) float64, c color.RGBA) {
	prevX, prevY := -1, -1
	for k, pt := range points {
		v := value(k)
		if !(v > 0) || math.IsInf(v, 0) {
			prevX = -1
			continue
		}
		x, y := p.px(float64(pt.Step)), clampInt(p.py(v), p.area.Min.Y, p.area.Max.Y-1)
		if prevX >= 0 {
			line(p.img, prevX, prevY, x, y, c)
		} else {
			p.img.SetRGBA(x, y, c)
		}
		prevX, prevY = x, y
	}
}

// changeX returns the step at which a change is marked: between the last
// step before it and the first after.
func changeX(c Change) float64 { return float64(c.Step) + 0.5 }

// changeLabel returns the text that labels a change's marker.
func changeLabel(c Change) string {
	name := c.Setting
	if name == "loss_weight" {
		name = "weight"
	}
	return name + " " + c.To
}

// changes marks each change in history that falls within the x axis with a
// dashed vertical line over the curves and its label, alternating between two rows so that
// the labels of close changes do not overwrite each other.
func (p *lossPlot) changes(history []Change) {
	row := 0
	for _, c := range history {
		s := changeX(c)
		if s < p.x0 || s > p.x1 {
			continue
		}
		x := p.px(s)
		for y := p.area.Min.Y; y < p.area.Max.Y; y += 6 {
			vline(p.img, x, y, min(y+3, p.area.Max.Y-1), plotChange)
		}
		label := changeLabel(c)
		lx := x + 4
		if lx+textWidth(label) > p.area.Max.X {
			lx = x - 4 - textWidth(label)
		}
		ly := p.area.Min.Y + 4 + row*14
		fill(p.img, image.Rect(lx-2, ly-2, lx+textWidth(label), ly+5*fontScale+2), plotBackground)
		drawText(p.img, lx, ly, label, plotChange)
		row = 1 - row
	}
}

// frame draws the axes, the title and the legend.
func (p *lossPlot) frame() {
	vline(p.img, p.area.Min.X, p.area.Min.Y, p.area.Max.Y, plotAxis)
	hline(p.img, p.area.Min.X, p.area.Max.X, p.area.Max.Y, plotAxis)
	drawText(p.img, p.area.Min.X, 8, "LOSS VS STEP (LOG Y)", plotAxis)
	legend := []struct {
		name string
		c    color.RGBA
	}{{"LOSS (WEIGHTED)", plotRaw}, {"LOSS AVG", plotSmooth}, {"MSE AVG", plotMSE}}
	lx := p.area.Max.X
	for _, l := range legend {
		lx -= 14 + textWidth(l.name) + 12
	}
	for _, l := range legend {
		fill(p.img, image.Rect(lx, 11, lx+10, 15), l.c)
		drawText(p.img, lx+14, 8, l.name, plotAxis)
		lx += 14 + textWidth(l.name) + 12
	}
}

// SaveLossPlot writes [PlotLoss]'s PNG to path atomically.
func SaveLossPlot(path string, points []LossPoint, history []Change, width, height int) error {
	return atomicfile.Write(path, func(w io.Writer) error { return PlotLoss(w, points, history, width, height) })
}

// movingAverage returns the mean of value over a trailing window of about
// 2% of the points (at least 1).
func movingAverage(points []LossPoint, value func(LossPoint) float64) []float64 {
	win := max(1, len(points)/50)
	out := make([]float64, len(points))
	sum, count := 0.0, 0
	for k, p := range points {
		sum += value(p)
		count++
		if k >= win {
			sum -= value(points[k-win])
			count--
		}
		out[k] = sum / float64(count)
	}
	return out
}

// niceTicks returns about n round values (1, 2 or 5 × 10^k apart) in [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	step = math.Max(step, 1) // steps are integers
	var ticks []float64
	for v := math.Ceil(lo/step) * step; v <= hi; v += step {
		ticks = append(ticks, v)
	}
	return ticks
}

func clampInt(v, lo, hi int) int { return min(max(v, lo), hi) }

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

func hline(img *image.RGBA, x0, x1, y int, c color.RGBA) {
	for x := x0; x <= x1; x++ {
		img.SetRGBA(x, y, c)
	}
}

func vline(img *image.RGBA, x, y0, y1 int, c color.RGBA) {
	for y := y0; y <= y1; y++ {
		img.SetRGBA(x, y, c)
	}
}

// line draws a segment with Bresenham's algorithm.
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		img.SetRGBA(x0, y0, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}
