package train

import (
	"bytes"
	"image"
	"image/png"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestPlotLoss(t *testing.T) {
	var points []LossPoint
	for s := int64(1); s <= 300; s++ {
		l := 1/math.Sqrt(float64(s)) + 0.03
		points = append(points, LossPoint{Step: s, StepLosses: StepLosses{Loss: l, MSE: l * 0.9}})
	}
	var b bytes.Buffer
	if err := PlotLoss(&b, points, nil, 640, 360); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&b)
	if err != nil {
		t.Fatal(err)
	}
	if r := img.Bounds(); r.Dx() != 640 || r.Dy() != 360 {
		t.Fatalf("plot is %v, want 640×360", r)
	}
	// The curve starts high on the left and ends low on the right: find the
	// dark-blue average curve's rows in the first and last plotted columns.
	rowOf := func(x int) int {
		for y := range 360 {
			if r, g, bl, _ := img.At(x, y).RGBA(); r>>8 == 20 && g>>8 == 70 && bl>>8 == 160 {
				return y
			}
		}
		return -1
	}
	first, last := rowOf(60), rowOf(624)
	if first < 0 || last < 0 || first >= last {
		t.Errorf("average curve rows: %d at the left, %d at the right; want a falling curve", first, last)
	}
	// Axis labels are drawn (dark pixels left of the plot area).
	dark := 0
	for y := range 360 {
		for x := range 50 {
			if r, _, _, _ := img.At(x, y).RGBA(); r < 0x4000 {
				dark++
			}
		}
	}
	if dark == 0 {
		t.Error("no y-axis labels drawn")
	}
}

func TestPlotLossErrors(t *testing.T) {
	cases := []struct {
		name   string
		points []LossPoint
		w, h   int
		want   string
	}{
		{"empty", nil, 640, 360, "no losses"},
		{"tiny", []LossPoint{{Step: 1, StepLosses: StepLosses{Loss: 1}}}, 50, 50, "too small"},
		{"non-positive", []LossPoint{{Step: 1, StepLosses: StepLosses{Loss: 0}}}, 640, 360, "no positive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := PlotLoss(&bytes.Buffer{}, c.points, nil, c.w, c.h)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// TestPlotLossMarksChanges plots a loss that jumps ×5 where the weighting
// changes, as a resumed run's does: each change within the plotted steps
// must be a vertical line in the change colour at its step, labelled, and
// a change outside them must not be drawn.
func TestPlotLossMarksChanges(t *testing.T) {
	var points []LossPoint
	for s := int64(1); s <= 300; s++ {
		l := 0.04
		if s > 150 {
			l = 0.2
		}
		points = append(points, LossPoint{Step: s, StepLosses: StepLosses{Loss: l, MSE: 0.035}})
	}
	weight := Change{Step: 150, Setting: "loss_weight", From: "uniform", To: "trunc-snr:100"}
	lr := Change{Step: 250, Setting: "lr", From: "0.0005", To: "0.0001"}
	late := Change{Step: 400, Setting: "lr", From: "0.0001", To: "0.00005"}
	// The plot's area in a 640×360 image, as PlotLoss lays it out.
	axes := &lossPlot{area: image.Rect(58, 24, 640-14, 360-34), x0: 1, x1: 300}
	for _, c := range []struct {
		name    string
		history []Change
		marked  []Change
	}{
		{"none", nil, nil},
		{"weighting", []Change{weight}, []Change{weight}},
		{"weighting and lr", []Change{weight, lr}, []Change{weight, lr}},
		{"after the last step", []Change{weight, late}, []Change{weight}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := PlotLoss(&b, points, c.history, 640, 360); err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(&b)
			if err != nil {
				t.Fatal(err)
			}
			var lines []int
			labelled := 0
			for x := range 640 {
				n := 0
				for y := range 360 {
					if r, g, bl, _ := img.At(x, y).RGBA(); r>>8 == uint32(plotChange.R) && g>>8 == uint32(plotChange.G) && bl>>8 == uint32(plotChange.B) {
						n++
					}
				}
				if n > axes.area.Dy()/2 {
					lines = append(lines, x)
				} else {
					labelled += n
				}
			}
			var want []int
			for _, m := range c.marked {
				want = append(want, axes.px(changeX(m)))
			}
			if !slices.Equal(lines, want) {
				t.Errorf("change lines at columns %v, want %v", lines, want)
			}
			if (labelled > 0) != (len(want) > 0) {
				t.Errorf("%d pixels of labels drawn for %d changes", labelled, len(want))
			}
		})
	}
}

func TestChangeLabel(t *testing.T) {
	for _, c := range []struct {
		change Change
		want   string
	}{
		{Change{Setting: "loss_weight", From: "uniform", To: "trunc-snr:100"}, "weight trunc-snr:100"},
		{Change{Setting: "lr", From: "0.0005", To: "0.0001"}, "lr 0.0001"},
	} {
		if got := changeLabel(c.change); got != c.want {
			t.Errorf("changeLabel(%+v) = %q, want %q", c.change, got, c.want)
		}
	}
}
