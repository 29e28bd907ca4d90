package guidance_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/internal/num"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// maxDiff returns max |a − b| over the given coordinates of every sample.
func maxDiff(a, b [][]float64, coords []int) float64 {
	m := 0.0
	for i := range a {
		for _, k := range coords {
			m = math.Max(m, math.Abs(a[i][k]-b[i][k]))
		}
	}
	return m
}

// The diagonal estimators the exact checks use besides the row sums: on a
// diagonal prior the Jacobian is diagonal, so every ±1 probe and every unit
// vector recovers the diagonal exactly.
var (
	hutchinson2   = guidance.Diagonal{Estimator: guidance.Hutchinson, Probes: 2, Seed: 4}
	exactDiagonal = guidance.Diagonal{Estimator: guidance.ExactDiagonal}
)

// TestExactPosteriorSampling checks the methods that are exact in a Gaussian
// world against exact conditional sampling: the unconditional sampler run on
// the posterior's own exact ε with the same noise. For a Gaussian prior,
// E[x0 | x_t, y] under the Gaussian likelihood with the true Cov[x0|x_t] is
// the posterior's Tweedie estimate, so these methods must follow the exact
// posterior sampler's trajectories to float32 precision, sample by sample:
// mmps always (with CG iterations ≥ the measurement size), tmpd and
// cadps-gauss when Cov[x0|x_t] is diagonal (a diagonal prior), pigdm when it
// is (1−ᾱ)I (a unit-covariance prior), and projection and mcg for noiseless
// inpainting of a diagonal prior, where they must agree on the unobserved
// pixels and put the observed ones at q_sample(y) of the last index.
func TestExactPosteriorSampling(t *testing.T) {
	const n = 200
	cases := []struct {
		name, prior, op string
		sigma           float64
		method          guidance.Method
		ddim            bool
		tol             float64 // on every coordinate the posterior leaves random
		fixedTol        float64 // on the pixels a noiseless measurement fixes
	}{
		{"mmps/full/matrix", "full", "matrix", measureNoise, guidance.MMPS{CGIterations: matrixRows}, false, 2e-3, 0},
		{"mmps/full/matrix/ddim", "full", "matrix", measureNoise, guidance.MMPS{CGIterations: matrixRows}, true, 5e-3, 0},
		{"mmps/full/inpaint", "full", "inpaint", measureNoise, guidance.MMPS{CGIterations: imgH * imgW / 2}, false, 2e-3, 0},
		{"tmpd/diag/matrix/pixels", "diag", "matrix", measureNoise, guidance.TMPD{CGIterations: matrixRows, PixelSpace: true}, false, 1e-4, 0},
		{"tmpd/diag/inpaint/pixels", "diag", "inpaint", measureNoise, guidance.TMPD{PixelSpace: true}, false, 1e-4, 0},
		{"tmpd/diag/inpaint", "diag", "inpaint", measureNoise, guidance.TMPD{}, false, 1e-4, 0},
		{"cadps-gauss/diag/matrix", "diag", "matrix", measureNoise, guidance.CADPSGauss{CGIterations: matrixRows}, false, 5e-4, 0},
		{"cadps-gauss/diag/inpaint", "diag", "inpaint", measureNoise, guidance.CADPSGauss{}, false, 5e-4, 0},
		{"tmpd/diag/matrix/pixels/hutchinson", "diag", "matrix", measureNoise, guidance.TMPD{CGIterations: matrixRows, Diagonal: hutchinson2, PixelSpace: true}, false, 1e-4, 0},
		{"tmpd/diag/inpaint/hutchinson", "diag", "inpaint", measureNoise, guidance.TMPD{Diagonal: hutchinson2}, false, 1e-4, 0},
		{"tmpd/diag/inpaint/exact", "diag", "inpaint", measureNoise, guidance.TMPD{Diagonal: exactDiagonal}, false, 1e-4, 0},
		{"cadps-gauss/diag/matrix/hutchinson", "diag", "matrix", measureNoise, guidance.CADPSGauss{CGIterations: matrixRows, Diagonal: hutchinson2}, false, 5e-4, 0},
		{"cadps-gauss/diag/inpaint/exact", "diag", "inpaint", measureNoise, guidance.CADPSGauss{Diagonal: exactDiagonal}, false, 5e-4, 0},
		{"pigdm/unit/matrix", "unit", "matrix", measureNoise, guidance.PiGDM{CGIterations: matrixRows}, false, 1e-4, 0},
		{"pigdm/unit/inpaint", "unit", "inpaint", measureNoise, guidance.PiGDM{}, false, 1e-4, 0},
		{"pigdm/unit/inpaint/noiseless", "unit", "inpaint", 0, guidance.PiGDM{}, false, 1e-4, 1e-4},
		{"projection/diag/inpaint", "diag", "inpaint", 0, guidance.Projection{}, false, 1e-4, 0.06},
		{"mcg/diag/inpaint", "diag", "inpaint", 0, guidance.MCG{}, false, 1e-4, 0.06},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, c.prior, c.op, c.sigma, 1)
			got := w.sample(t, run{method: c.method, scale: 1, ddim: c.ddim, n: n, seed: 3})
			want := w.sample(t, run{method: guidance.Unconditional{}, net: w.postNet, ddim: c.ddim, n: n, seed: 3})
			if d := maxDiff(got, want, w.free); d > c.tol || math.IsNaN(d) {
				t.Errorf("max |x − x_exact| = %.3g on the free coordinates, want ≤ %.0e", d, c.tol)
			} else {
				t.Logf("max |x − x_exact| = %.3g on the free coordinates", d)
			}
			if len(w.fixed) > 0 {
				if d := maxDiff(got, want, w.fixed); d > c.fixedTol || math.IsNaN(d) {
					t.Errorf("max |x − y| = %.3g on the observed pixels, want ≤ %.0e", d, c.fixedTol)
				} else {
					t.Logf("max |x − y| = %.3g on the observed pixels", d)
				}
			}
		})
	}
}

// TestGaussianPosteriorStatistics compares every method's samples with the
// exact posterior of a correlated Gaussian prior and a random 8×16 matrix
// (σ_y = 0.1), where only mmps is exact. It checks that each method is at
// least consistent — its sample mean is much closer to the posterior mean
// than the prior's and its residual is below the unconditional one — and
// that mmps matches the posterior as well as the exact sampler does. The
// numbers are recorded in docs/methods.md.
func TestGaussianPosteriorStatistics(t *testing.T) {
	if testing.Short() {
		t.Skip("statistics of 1000 samples per method")
	}
	const n = 1000
	w := newWorld(t, "full", "matrix", measureNoise, 1)
	exact := w.compare(t, w.sample(t, run{method: guidance.Unconditional{}, net: w.postNet, n: n, seed: 3}))
	uncond := w.compare(t, w.sample(t, run{method: guidance.Unconditional{}, n: n, seed: 3}))
	t.Logf("exact posterior sampler: %v", exact)
	t.Logf("unconditional:           %v", uncond)
	cases := []struct {
		method guidance.Method
		scale  float64
		exact  bool
	}{
		{guidance.MMPS{CGIterations: matrixRows}, 1, true},
		{guidance.MMPS{CGIterations: 2}, 1, false},
		{guidance.TMPD{}, 1, false},
		{guidance.TMPD{Diagonal: exactDiagonal}, 1, false},
		{guidance.TMPD{CGIterations: matrixRows, PixelSpace: true}, 1, false},
		{guidance.TMPD{CGIterations: matrixRows, PixelSpace: true, Diagonal: exactDiagonal}, 1, false},
		{guidance.TMPD{CGIterations: matrixRows, PixelSpace: true, Diagonal: guidance.Diagonal{Estimator: guidance.Hutchinson, Probes: 4}}, 1, false},
		{guidance.CADPSGauss{CGIterations: matrixRows}, 1, false},
		{guidance.PiGDM{CGIterations: matrixRows}, 1, false},
		{guidance.DPS{}, 0.3, false},
		{guidance.CADPS{}, 0.3, false},
	}
	for _, c := range cases {
		e := w.compare(t, w.sample(t, run{method: c.method, scale: c.scale, n: n, seed: 3}))
		t.Logf("%-13s ζ=%.1f %s%s: %v", c.method.Name(), c.scale, diagonalOf(c.method), pixelSpace(c.method), e)
		if e.Mean > uncond.Mean/5 || math.IsNaN(e.Mean) {
			t.Errorf("%s: mean error %.3f, not well below the prior's %.3f", c.method.Name(), e.Mean, uncond.Mean)
		}
		if e.Residual > uncond.Residual/2 {
			t.Errorf("%s: residual %.3f, not well below the unconditional %.3f", c.method.Name(), e.Residual, uncond.Residual)
		}
		if c.exact && (math.Abs(e.Mean-exact.Mean) > 0.01 || math.Abs(e.Cov-exact.Cov) > 0.01) {
			t.Errorf("%s: %v, the exact sampler %v", c.method.Name(), e, exact)
		}
	}
}

// TestOperatorRequirements checks that a method given an operator lacking
// what it needs reports it: CheckOperator returns ErrOperator naming the
// interface the operator lacks, and a step built anyway fails with an
// error, not a panic.
func TestOperatorRequirements(t *testing.T) {
	phase, err := ops.NewPhaseRetrieval(2)
	if err != nil {
		t.Fatal(err)
	}
	blur, err := ops.NewGaussianBlur(3, 1)
	if err != nil {
		t.Fatal(err)
	}
	sr, err := ops.NewSuperResolution(2, "")
	if err != nil {
		t.Fatal(err)
	}
	motion, err := ops.NewMotionBlurKernel([]float32{0.5, 0, 0, 0, 0.25, 0, 0, 0, 0.25}, 3)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		method string
		op     ops.Operator
		ok     bool
		want   string // what the refusal names: the interface the operator lacks
	}{
		{"dps", phase, true, ""},
		{"cadps", phase, true, ""},
		{"mmps", sr, true, ""},
		{"mmps", phase, false, "ops.Linear"},
		{"tmpd", phase, false, "ops.Linear"},
		{"pigdm", phase, false, "ops.Linear"},
		{"cadps-gauss", phase, false, "ops.Linear"},
		{"cadps-gauss", blur, true, ""},
		{"projection", sr, true, ""},
		{"projection", blur, false, "ops.PseudoInverter"},
		{"projection", phase, false, "ops.PseudoInverter"},
		{"mcg", blur, false, "ops.PseudoInverter"},
		{"ddrm", sr, true, ""},
		{"ddrm", blur, true, ""},
		{"ddrm", motion, false, "ops.Decomposer"},
		{"ddrm", phase, false, "ops.Decomposer"},
		{"diffpir", sr, true, ""},
		{"diffpir", motion, false, "ops.Proximal"},
		{"diffpir", phase, false, "ops.Proximal"},
		{"daps", phase, true, ""},
	}
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, "diag", "inpaint", measureNoise, 1)
	for _, c := range cases {
		t.Run(c.method+"/"+c.op.Name(), func(t *testing.T) {
			m, err := guidance.New(c.method, guidance.Options{})
			if err != nil {
				t.Fatal(err)
			}
			err = guidance.CheckOperator(m, c.op)
			if c.ok {
				if err != nil {
					t.Fatalf("CheckOperator: %v", err)
				}
				return
			}
			if !errors.Is(err, guidance.ErrOperator) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("CheckOperator = %v, want an error wrapping ErrOperator naming %s", err, c.want)
			}
			t.Logf("CheckOperator: %v", err)
			s, err := cadps.NewSampler(cadps.Problem{Backend: b, Ctx: context.New(), Net: w.net, Process: w.process,
				Op: c.op, Method: m, Scale: 1, SigmaY: 0.05})
			if err != nil {
				return // the sampler checked the operator itself
			}
			shape := []int{1, 1, imgH, imgW}
			yShape, err := c.op.OutputShape(shape)
			if err != nil {
				t.Fatal(err)
			}
			x := tensors.FromFlatDataAndDimensions(make([]float32, imgH*imgW), shape...)
			y := tensors.FromFlatDataAndDimensions(make([]float32, num.Prod(yShape)), yShape...)
			if _, err := s.Step(x, 3, x, y, y); !errors.Is(err, guidance.ErrOperator) {
				t.Fatalf("Step = %v, want an error wrapping ErrOperator", err)
			}
		})
	}
}

// pixelSpace marks tmpd's pixel-space variant.
func pixelSpace(m guidance.Method) string {
	if m, ok := m.(guidance.TMPD); ok && m.PixelSpace {
		return " (pixels)"
	}
	return ""
}

// diagonalOf names a method's diagonal estimator, "" for the methods
// without one.
func diagonalOf(m guidance.Method) string {
	switch m := m.(type) {
	case guidance.TMPD:
		return m.Diagonal.String()
	case guidance.CADPSGauss:
		return m.Diagonal.String()
	}
	return ""
}
