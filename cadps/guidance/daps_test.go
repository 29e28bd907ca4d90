package guidance_test

import (
	"math"
	"slices"
	"testing"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestDAPSNaNPerImage runs one DAPS stage on a batch whose second image
// diverges: A(x) = √(x + c) with c = 400 for the first image and −400 for
// the second, whose Langevin iterates are NaN from the first. The second
// image's x0y is zero, the first's is the x0y it gets alone, and the
// step's "nan_reset" says which image was reset.
func TestDAPSNaNPerImage(t *testing.T) {
	shift := []float32{400, -400}
	op, err := ops.NewFunc("shifted_sqrt", nil, func(x *graph.Node) *graph.Node {
		n := x.Shape().Dim(0)
		c := graph.Reshape(graph.Const(x.Graph(), shift[:n]), n, 1, 1, 1)
		return graph.Sqrt(graph.Add(x, c))
	})
	if err != nil {
		t.Fatal(err)
	}
	m := guidance.DefaultDAPS()
	m.LangevinSteps, m.ODESteps, m.LR = 3, 2, 1e-4
	s, _ := toySampler(t, m, op, 3, 0.05)

	one, two := []int{1, 1, 4, 4}, []int{2, 1, 4, 4}
	x := uniformValues(1, 16, -1, 1)
	y := uniformValues(2, 16, 19, 21)
	first := guidance.DrawShapes(m, one, one)
	var alone, batch []*tensors.Tensor
	for k, d := range first {
		z := uniformValues(uint64(10+k), 16, -1, 1)
		alone = append(alone, tensors.FromFlatDataAndDimensions(z, d...))
		batch = append(batch, tensors.FromFlatDataAndDimensions(slices.Concat(z, uniformValues(uint64(100+k), 16, -1, 1)), two...))
	}
	single, err := s.StepDraws(tensors.FromFlatDataAndDimensions(x, one...), 1, alone, tensors.FromFlatDataAndDimensions(y, one...))
	if err != nil {
		t.Fatal(err)
	}
	pair, err := s.StepDraws(tensors.FromFlatDataAndDimensions(slices.Concat(x, x), two...), 1, batch,
		tensors.FromFlatDataAndDimensions(slices.Concat(y, y), two...))
	if err != nil {
		t.Fatal(err)
	}
	want, got := float64s(single.Extra["x0y"]), float64s(pair.Extra["x0y"])
	for i, w := range want {
		if math.IsNaN(w) || w == 0 {
			t.Fatalf("the first image's x0y alone is %v: the test needs it finite and nonzero", want)
		}
		if math.Abs(got[i]-w) > 1e-6*(1+math.Abs(w)) {
			t.Fatalf("the first image's x0y in the batch is %v, alone %v", got[:16], want)
		}
	}
	for i, g := range got[16:] {
		if g != 0 {
			t.Fatalf("the diverging image's x0y[%d] = %v, want 0", i, g)
		}
	}
	for _, tc := range []struct {
		name string
		info cadps.StepInfo
		want []float64
	}{
		{"alone", single, []float64{0}},
		{"in the batch", pair, []float64{0, 1}},
	} {
		reset, ok := tc.info.Extra["nan_reset"]
		if !ok {
			t.Fatalf("%s: no nan_reset among the extras", tc.name)
		}
		if got := float64s(reset); !slices.Equal(got, tc.want) {
			t.Errorf("%s: nan_reset %v, want %v", tc.name, got, tc.want)
		}
	}
}
