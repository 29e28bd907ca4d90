package guidance_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// blockSum returns the 4×16 matrix that sums each 2×2 block of a 4×4
// image (pixel binning), its rows in the row-major order of the 2×2
// output: A(1) = 4, so the measurement is no image in x's value range.
func blockSum() matrix {
	a := zeros(4, 16)
	for r := range 4 {
		for c := range 4 {
			a[(r/2)*2+c/2][r*4+c] = 1
		}
	}
	return a
}

// TestDiffPIRDataStepUnits checks DiffPIR's data step on an operator with
// A(1) ≠ 1 against the direct solution of argmin ‖y − A x‖² + ρ‖x − x̂0‖²,
// (AᵀA + ρI)⁻¹(Aᵀy + ρ x̂0), with the step's x̂0 and ρ: a step that
// converts y to [0,1] units as (y + 1)/2 solves another problem.
func TestDiffPIRDataStepUnits(t *testing.T) {
	const lambda, sigmaY, steps, index = 100, 0.05, 5, 1
	a := blockSum()
	in, out := []int{1, 1, 4, 4}, []int{1, 1, 2, 2}
	op := denseOperator(t, "block_sum", a, in, out)
	m := guidance.DiffPIR{Lambda: lambda, Zeta: 0.25, Guidance: 1}
	s, p := toySampler(t, m, op, steps, sigmaY)

	y := uniformTensor(2, out, -2, 2)
	info, err := s.StepDraws(uniformTensor(1, in, -1, 1), index, zeroDraws(m, in, out), y)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := guidance.DiffPIRTimesteps(p)
	if err != nil {
		t.Fatal(err)
	}
	sched, err := guidance.DiffPIRSchedule(p, lambda, sigmaY)
	if err != nil {
		t.Fatal(err)
	}
	rho := float64(sched["rhos"][ts[steps-1-index]])

	x0 := float64s(info.PredXStart)
	lhs := a.t().mul(a)
	for i := range lhs {
		lhs[i][i] += rho
	}
	inv, err := lhs.inverse()
	if err != nil {
		t.Fatal(err)
	}
	rhs := a.t().vec(float64s(y))
	for i := range rhs {
		rhs[i] += rho * x0[i]
	}
	want := inv.vec(rhs)
	got := float64s(info.Extra["x0_data"])
	var e float64
	for i := range want {
		e = max(e, math.Abs(got[i]-want[i]))
	}
	t.Logf("ρ = %.3g: max |data step − direct solution| = %.2g", rho, e)
	if e > 1e-4 {
		t.Errorf("the data step is %.3g from argmin ‖y − A x‖² + ρ‖x − x̂0‖² (ρ = %.3g)", e, rho)
	}
}

// TestDiffPIRStartInpainting checks DiffPIR's start for inpainting with a
// zero initial draw: √ᾱ_{T−1}(2x_up − 1) with x_up the masked measurement
// in [0,1] units, so the missing pixels start at −√ᾱ_{T−1} whatever noise
// y holds there, as the released code's x = y·mask does.
func TestDiffPIRStartInpainting(t *testing.T) {
	in := []int{1, 2, 4, 4}
	mask := []float32{1, 1, 0, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 1}
	op, err := ops.NewInpainting(mask, 4, 4)
	if err != nil {
		t.Fatal(err)
	}
	m := guidance.DiffPIR{Zeta: -1, Guidance: 1}
	s, p := toySampler(t, m, op, 4, 0.05)
	y := uniformValues(3, 32, -1, 1) // noise in the missing pixels too
	x, err := s.Start(tensors.FromFlatDataAndDimensions(make([]float32, 32), in...), tensors.FromFlatDataAndDimensions(y, in...))
	if err != nil {
		t.Fatal(err)
	}
	sched, err := guidance.DiffPIRSchedule(p, 1, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	sqrtA := sched["sqrt_alphas_cumprod"]
	scale := float64(sqrtA[len(sqrtA)-1])
	got := float64s(x)
	for i, g := range got {
		want := scale * float64(y[i])
		if mask[i%16] == 0 {
			want = -scale
		}
		if math.Abs(g-want) > 1e-6 {
			t.Errorf("x_T[%d] (mask %v) = %.6g, want %.6g", i, mask[i%16], g, want)
		}
	}
}

// TestDiffPIRVectorMeasurement runs DiffPIR on images measured as a vector
// [N,m] (a dense 6×16 matrix on 4×4 images): the run completes, and a zero
// initial draw starts from √ᾱ_{T−1} A⁺y, A⁺y = Aᵀ(AAᵀ)⁻¹y.
func TestDiffPIRVectorMeasurement(t *testing.T) {
	in, out := []int{1, 1, 4, 4}, []int{1, 6}
	r := uniformValues(5, 6*16, -0.5, 0.5)
	a := zeros(6, 16)
	for i := range a {
		for j := range a[i] {
			a[i][j] = float64(r[i*16+j])
		}
	}
	op := denseOperator(t, "dense", a, in, out)
	m := guidance.DiffPIR{Zeta: -1, Guidance: 1}
	s, p := toySampler(t, m, op, 5, 0.05)
	y := uniformTensor(6, out, -1, 1)
	if _, err := s.Run(nil, in, y, cadps.NewSeededNoise(1), nil); err != nil {
		t.Fatalf("run: %v", err)
	}

	x, err := s.Start(tensors.FromFlatDataAndDimensions(make([]float32, 16), in...), y)
	if err != nil {
		t.Fatal(err)
	}
	sched, err := guidance.DiffPIRSchedule(p, 1, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	sqrtA := sched["sqrt_alphas_cumprod"]
	scale := float64(sqrtA[len(sqrtA)-1])
	gram, err := a.mul(a.t()).inverse()
	if err != nil {
		t.Fatal(err)
	}
	want := a.t().vec(gram.vec(float64s(y)))
	for i, g := range float64s(x) {
		if math.Abs(g-scale*want[i]) > 1e-5*scale*(1+math.Abs(want[i])) {
			t.Errorf("x_T[%d] = %.6g, want √ᾱ·(A⁺y)[%d] = %.6g", i, g, i, scale*want[i])
		}
	}
}

// TestDiffPIRRenoise checks DiffPIR's re-noising from a step's guided x̂0
// (its x0_data) against its float64 evaluation, for η and ζ of the
// released configs (η = 0) and others:
//
//	ε̂ = (x − √ᾱ_t x̂0)/√(1−ᾱ_t),  σ_η = η √(1−ᾱ_{t'})/√(1−ᾱ_t) √β_t
//	x' = √ᾱ_{t'} x̂0 + √(1−ζ)(√(1−ᾱ_{t'} − σ_η²) ε̂ + σ_η n₁) + √ζ √(1−ᾱ_{t'}) n₂
//
// The fixture diffpir-sr2 runs η = 0 only, where n₁ has no weight.
func TestDiffPIRRenoise(t *testing.T) {
	in, out := []int{1, 1, 2, 2}, []int{1, 4}
	a := zeros(4, 4)
	for k, s := range []float64{2, 0.5, 1, 0.1} {
		a[k][k] = s
	}
	op := denseOperator(t, "diagonal", a, in, out)
	const steps = 6
	for _, tc := range []struct {
		eta, zeta float64
		index     int
	}{
		{0, 0.25, 4}, {0.5, 0.25, 4}, {1, 0.25, 2}, {1, 0, 1}, {0.5, 1, 3},
	} {
		t.Run(fmt.Sprintf("eta=%g,zeta=%g,index=%d", tc.eta, tc.zeta, tc.index), func(t *testing.T) {
			m := guidance.DiffPIR{Lambda: 2, Zeta: tc.zeta, Eta: tc.eta, Guidance: 1}
			s, p := toySampler(t, m, op, steps, 0.05)
			ts, err := guidance.DiffPIRTimesteps(p)
			if err != nil {
				t.Fatal(err)
			}
			sched, err := guidance.DiffPIRSchedule(p, m.Lambda, 0.05)
			if err != nil {
				t.Fatal(err)
			}
			k := steps - 1 - tc.index
			cur, next := ts[k], ts[k+1]
			sa, s1 := float64(sched["sqrt_alphas_cumprod"][cur]), float64(sched["sqrt_1m_alphas_cumprod"][cur])
			saN, s1N := float64(sched["sqrt_alphas_cumprod"][next]), float64(sched["sqrt_1m_alphas_cumprod"][next])
			beta := float64(sched["betas"][cur])

			x := uniformValues(1, 4, -1.5, 1.5)
			n1, n2 := uniformValues(2, 4, -2, 2), uniformValues(3, 4, -2, 2)
			draws := []*tensors.Tensor{tensors.FromFlatDataAndDimensions(n1, in...), tensors.FromFlatDataAndDimensions(n2, in...)}
			info, err := s.StepDraws(tensors.FromFlatDataAndDimensions(x, in...), tc.index, draws, uniformTensor(4, out, -1, 1))
			if err != nil {
				t.Fatal(err)
			}
			x0, got := float64s(info.Extra["x0_data"]), float64s(info.X)
			sEta := tc.eta * s1N / s1 * math.Sqrt(beta)
			for p := range x {
				e := (float64(x[p]) - sa*x0[p]) / s1
				want := saN*x0[p] + math.Sqrt(1-tc.zeta)*(math.Sqrt(s1N*s1N-sEta*sEta)*e+sEta*float64(n1[p])) +
					math.Sqrt(tc.zeta)*s1N*float64(n2[p])
				if math.Abs(got[p]-want) > 1e-5*max(1, math.Abs(want)) {
					t.Errorf("pixel %d (t = %d → %d, σ_η = %.4g): x' = %.7g, want %.7g", p, cur, next, sEta, got[p], want)
				}
			}
		})
	}
}
