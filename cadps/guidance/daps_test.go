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

// TestDAPSLangevinTerms checks a DAPS stage's Langevin steps, each term of
// the score in turn, against their float64 evaluation from the stage's own
// x̂0 (its PredXStart), on a diagonal A = diag(2, 0.5, 1, 0.1) of 2×2
// images: from x = x̂0, K times
//
//	x ← x + lr_n (−2Aᵀ(Ax − y)/τ² + (x̂0 − x)/σ_n²) + √(2 lr_n) ε_k.
//
// The fixture daps-sr2 cannot tell a wrong prior term: its random network
// leaves x̂0 within rounding of the Langevin iterates at the stages where
// (x̂0 − x)/σ² is not negligible, and its values of several hundred make
// the tolerance, relative to them, larger than the term.
func TestDAPSLangevinTerms(t *testing.T) {
	in, out := []int{1, 1, 2, 2}, []int{1, 4}
	diag := []float64{2, 0.5, 1, 0.1}
	a := zeros(4, 4)
	for k, s := range diag {
		a[k][k] = s
	}
	op := denseOperator(t, "diagonal", a, in, out)
	for _, tc := range []struct {
		name    string
		tau, lr float64
		index   int
	}{
		{"prior term alone (τ large)", 1e3, 0.05, 0},
		{"data term alone (τ small)", 0.05, 1e-4, 1},
		{"both terms", 1, 0.05, 0},
		{"both terms, first stage", 1, 0.05, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := guidance.DAPS{SigmaMax: 2, SigmaMin: 0.5, ODESteps: 1, ODESigmaMin: 0.01, LangevinSteps: 3,
				LR: tc.lr, LRMinRatio: 0.5, Tau: tc.tau}
			const steps = 3
			s, _ := toySampler(t, m, op, steps, 0.05)
			sigmas, _, lrs := guidance.DAPSGrid(m, steps, op)
			n := steps - 1 - tc.index
			sigma, lr := float64(sigmas[n]), float64(float32(lrs[n]))

			xt := uniformValues(1, 4, -2, 2)
			y := uniformValues(2, 4, -1, 1)
			var draws []*tensors.Tensor
			for k, d := range guidance.DrawShapes(m, in, out) {
				draws = append(draws, tensors.FromFlatDataAndDimensions(uniformValues(uint64(10+k), 4, -1.5, 1.5), d...))
			}
			info, err := s.StepDraws(tensors.FromFlatDataAndDimensions(xt, in...), tc.index, draws, tensors.FromFlatDataAndDimensions(y, out...))
			if err != nil {
				t.Fatal(err)
			}
			x0hat, got := float64s(info.PredXStart), float64s(info.Extra["x0y"])
			x := slices.Clone(x0hat)
			for k := range m.LangevinSteps {
				eps := float64s(draws[k])
				for p, s := range diag {
					data := -2 * s * (s*x[p] - float64(y[p])) / (tc.tau * tc.tau)
					prior := (x0hat[p] - x[p]) / (sigma * sigma)
					x[p] += lr*(data+prior) + math.Sqrt(2*lr)*eps[p]
				}
			}
			for p := range x {
				if d := math.Abs(got[p] - x[p]); d > 1e-5*max(1, math.Abs(x[p])) {
					t.Errorf("pixel %d (s = %g, σ = %.4g, lr = %.4g, τ = %g): x0y %.7g, want %.7g", p, diag[p], sigma, lr, tc.tau, got[p], x[p])
				}
			}
			// Each term must move the result well beyond the tolerance,
			// or the case checks nothing.
			if moved := math.Abs(x[0] - x0hat[0]); moved < 1e-2 {
				t.Fatalf("the Langevin steps move pixel 0 by %.3g only", moved)
			}
		})
	}
}
