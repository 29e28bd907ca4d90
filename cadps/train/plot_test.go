package train

import (
	"bytes"
	"image/png"
	"math"
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
	if err := PlotLoss(&b, points, 640, 360); err != nil {
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
			err := PlotLoss(&bytes.Buffer{}, c.points, c.w, c.h)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}
