package guidance_test

import (
	"math"
	"testing"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// lowRank returns B (3×2), C (2×8) and A = B C, a 3×8 matrix of rank 2 on
// images shaped [N,1,2,4], measured as [N,3].
func lowRank() (b, c, a matrix) {
	b, c = zeros(3, 2), zeros(2, 8)
	for k, v := range uniformValues(21, 3*2, -1, 1) {
		b[k/2][k%2] = float64(v)
	}
	for k, v := range uniformValues(22, 2*8, -1, 1) {
		c[k/8][k%8] = float64(v)
	}
	return b, c, b.mul(c)
}

// rangeProjector returns A A⁺ = B(BᵀB)⁻¹Bᵀ for A = B C with B of full
// column rank: the projector onto A's range.
func rangeProjector(t *testing.T, b matrix) matrix {
	t.Helper()
	g, err := b.t().mul(b).inverse()
	if err != nil {
		t.Fatal(err)
	}
	return b.mul(g).mul(b.t())
}

// applyRows returns a·x for every row x of the flat batch v (rows of
// len(a[0]) values).
func applyRows(a matrix, v []float64) []float64 {
	var out []float64
	for k := 0; k < len(v); k += len(a[0]) {
		out = append(out, a.vec(v[k:k+len(a[0])])...)
	}
	return out
}

// checkFinite fails the test when v holds a NaN or an infinity.
func checkFinite(t *testing.T, what string, v []float64) {
	t.Helper()
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			t.Fatalf("%s[%d] = %v", what, i, x)
		}
	}
}

// TestProjectionSVDOperator runs projection and mcg on an operator built
// from a decomposition alone (ops.NewSVDOperator of a 3×8 matrix of rank
// 2), which its pseudo-inverse lets them take. One step projects its
// sample onto the measurement diffused to the step's index, y_i = √ᾱ_i y +
// √(1−ᾱ_i) z_y, as far as A reaches: A x_{t−1} = A A⁺ y_i, the part of
// y_i in A's range. A run from noise is finite and ends with A x_0 near
// y's part in A's range.
func TestProjectionSVDOperator(t *testing.T) {
	const steps, index = 5, 3
	b, _, a := lowRank()
	in, out := []int{2, 1, 2, 4}, []int{2, 3}
	op := denseOperator(t, "low_rank", a, in, out)
	proj := rangeProjector(t, b)
	for _, m := range []guidance.Method{guidance.Projection{}, guidance.MCG{}} {
		t.Run(m.Name(), func(t *testing.T) {
			if err := guidance.CheckOperator(m, op); err != nil {
				t.Fatalf("CheckOperator: %v", err)
			}
			s, p := toySampler(t, m, op, steps, 0.05)
			y := uniformTensor(3, out, -1, 1)
			zy := uniformTensor(4, out, -2, 2)
			info, err := s.Step(uniformTensor(1, in, -1, 1), index, uniformTensor(2, in, -2, 2), zy, y)
			if err != nil {
				t.Fatal(err)
			}
			x := float64s(info.X)
			checkFinite(t, "x_{t−1}", x)
			sched := p.Schedule()
			sa, s1 := sched.SqrtAlphasCumprod[index], sched.SqrtOneMinusAlphasCumprod[index]
			yi := float64s(y)
			for k, z := range float64s(zy) {
				yi[k] = sa*yi[k] + s1*z
			}
			got, want := applyRows(a, x), applyRows(proj, yi)
			for k := range want {
				if math.Abs(got[k]-want[k]) > 1e-4*(1+math.Abs(want[k])) {
					t.Errorf("(A x_{t−1})[%d] = %.6g, want (A A⁺ y_i)[%d] = %.6g", k, got[k], k, want[k])
				}
			}

			x0, err := s.Run(nil, in, y, cadps.NewSeededNoise(1), nil)
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			final := float64s(x0)
			checkFinite(t, "x_0", final)
			got, want = applyRows(a, final), applyRows(proj, float64s(y))
			for k := range want {
				if math.Abs(got[k]-want[k]) > 0.1 {
					t.Errorf("(A x_0)[%d] = %.4g, want about (A A⁺ y)[%d] = %.4g", k, got[k], k, want[k])
				}
			}
		})
	}
}

// TestPiGDMNoiselessSVDOperator checks ΠGDM's step at σ_y = 0 on an
// ops.SVDOperator of rank 2, which it now solves as A⁺r/r_t², against the
// same matrix given as a linear function without a pseudo-inverse, which
// it solves by conjugate gradients: Aᵀ(AAᵀ)⁺ = A⁺, and with y in A's
// range CG reaches the same solution.
func TestPiGDMNoiselessSVDOperator(t *testing.T) {
	const steps, index = 5, 2
	_, _, a := lowRank()
	in, out := []int{2, 1, 2, 4}, []int{2, 3}
	svd := denseOperator(t, "low_rank", a, in, out)
	lin := denseLinearFunc(t, a)
	xTrue := make([]float64, 2*8)
	for k, v := range uniformValues(5, 2*8, -1, 1) {
		xTrue[k] = float64(v)
	}
	yv := toFloat32(applyRows(a, xTrue)) // in A's range
	var next [][]float64
	for _, op := range []ops.Operator{svd, lin} { // tensors per sampler: each has its backend
		s, _ := toySampler(t, guidance.PiGDM{}, op, steps, 0)
		y := tensors.FromFlatDataAndDimensions(yv, out...)
		info, err := s.Step(uniformTensor(6, in, -1, 1), index, uniformTensor(7, in, -2, 2), uniformTensor(8, out, -2, 2), y)
		if err != nil {
			t.Fatalf("%s: %v", op.Name(), err)
		}
		v := float64s(info.X)
		checkFinite(t, op.Name()+" x_{t−1}", v)
		next = append(next, v)
	}
	for k := range next[0] {
		if math.Abs(next[0][k]-next[1][k]) > 1e-4*(1+math.Abs(next[1][k])) {
			t.Errorf("x_{t−1}[%d]: %.6g through A⁺, %.6g through CG", k, next[0][k], next[1][k])
		}
	}
}

// TestDiffPIRStartSVDOperator checks DiffPIR's start on an ops.SVDOperator
// measured as a vector: with a zero draw it is √ᾱ_{T−1} V Σ⁺ Uᵀ y with the
// singular values below 10⁻³ of the largest left out (10⁻⁴ and 0 here), not
// the operator's pseudo-inverse, which inverts 10⁻⁴.
func TestDiffPIRStartSVDOperator(t *testing.T) {
	in, out := []int{1, 1, 2, 2}, []int{1, 4}
	a := zeros(4, 4)
	for i, s := range []float64{1, 0.5, 1e-4, 0} {
		a[i][i] = s
	}
	op := denseOperator(t, "diagonal", a, in, out)
	m := guidance.DiffPIR{Zeta: -1, Guidance: 1}
	s, p := toySampler(t, m, op, 4, 0.05)
	y := []float32{0.4, -0.3, 0.2, 0.1}
	x, err := s.Start(tensors.FromFlatDataAndDimensions(make([]float32, 4), in...), tensors.FromFlatDataAndDimensions(y, out...))
	if err != nil {
		t.Fatal(err)
	}
	sched, err := guidance.DiffPIRSchedule(p, 1, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	sqrtA := sched["sqrt_alphas_cumprod"]
	scale := float64(sqrtA[len(sqrtA)-1])
	want := []float64{float64(y[0]), 2 * float64(y[1]), 0, 0}
	for i, g := range float64s(x) {
		if math.Abs(g-scale*want[i]) > 1e-6 {
			t.Errorf("x_T[%d] = %.6g, want %.6g", i, g, scale*want[i])
		}
	}
}

// denseLinearFunc returns x ↦ a·vec(x) on images [N,1,2,4] as a linear
// function with an adjoint and nothing more (no pseudo-inverse, no SVD).
func denseLinearFunc(t *testing.T, a matrix) *ops.LinearFunc {
	t.Helper()
	m, d := len(a), len(a[0])
	flat := make([]float32, 0, m*d)
	for _, row := range a {
		flat = append(flat, toFloat32(row)...)
	}
	constA := func(g *graph.Graph) *graph.Node {
		return graph.Const(g, tensors.FromFlatDataAndDimensions(flat, m, d))
	}
	op, err := ops.NewLinearFunc("low_rank_func",
		func(in []int) ([]int, error) { return []int{in[0], m}, nil },
		func(x *graph.Node) *graph.Node {
			return graph.Einsum("nd,md->nm", graph.Reshape(x, x.Shape().Dim(0), d), constA(x.Graph()))
		},
		func(y *graph.Node) *graph.Node {
			n := y.Shape().Dim(0)
			return graph.Reshape(graph.Einsum("nm,md->nd", y, constA(y.Graph())), n, 1, 2, d/2)
		})
	if err != nil {
		t.Fatal(err)
	}
	return op
}

// toFloat32 returns v in float32.
func toFloat32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}
