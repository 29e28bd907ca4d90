package guidance_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/internal/num"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// antiCorrelatedPrior returns a Gaussian prior on imgH×imgW images whose
// covariance s·v vᵀ + e·I (v = +1 on the pixels plus marks, −1 elsewhere)
// has negative row sums on the +1 pixels when they are fewer: the case in
// which a diagonal made of row sums needs a rule for negative entries.
func antiCorrelatedPrior(r *rand.Rand, plus []bool, s, e float64) *gaussianPrior {
	d := imgH * imgW
	v := make([]float64, d)
	for k := range v {
		v[k] = -1
		if plus[k] {
			v[k] = 1
		}
	}
	p := &gaussianPrior{h: imgH, w: imgW, mu: make([]float64, d), cov: zeros(d, d)}
	for i := range d {
		p.mu[i] = 0.4*r.Float64() - 0.2
		for j := range d {
			p.cov[i][j] = s * v[i] * v[j]
		}
		p.cov[i][i] += e
	}
	p.chol, _ = p.cov.cholesky()
	return p
}

// TestNegativeRule checks the diagonal tmpd and cadps-gauss put into their
// likelihood where row sums are negative. In a Gaussian world the
// covariance Cov[x0|x_t] = (Σ⁻¹ + ᾱ/(1−ᾱ) I)⁻¹ is known, so the reported
// "covariance" of one step must be |s| under NegativeAbs (the default) and
// max(s, 0) under NegativeClamp, entry by entry, for the row sums s of
// A Cov Aᵀ (tmpd) or of Cov (tmpd's PixelSpace, cadps-gauss); the prior is
// chosen so that 7 of the 16 row sums of Cov are negative, and some of
// A Cov Aᵀ's.
func TestNegativeRule(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 9))
	w := newWorld(t, "diag", "inpaint", measureNoise, 3)
	// +1 on 3 of the 8 observed pixels and 4 of the 8 unobserved ones.
	mask := w.op.(*ops.Inpainting).Mask()
	plus := make([]bool, len(mask))
	seen := map[float32]int{}
	for k, m := range mask {
		plus[k] = (m == 1 && seen[m] < 3) || (m == 0 && seen[m] < 4)
		seen[m]++
	}
	w.prior = antiCorrelatedPrior(r, plus, 0.3, 0.05)
	ab, err := baseAlphaBar(w.process.Config())
	if err != nil {
		t.Fatal(err)
	}
	if w.net, err = w.prior.network(ab); err != nil {
		t.Fatal(err)
	}
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	const index = 60 // of 100: ᾱ ≈ 0.1, where Cov ≈ Σ still
	alphaBar := w.process.Schedule().AlphasCumprod[index]
	precision, err := w.prior.cov.inverse()
	if err != nil {
		t.Fatal(err)
	}
	for i := range precision {
		precision[i][i] += alphaBar / (1 - alphaBar)
	}
	post, err := precision.inverse()
	if err != nil {
		t.Fatal(err)
	}
	d := imgH * imgW
	rowSums := post.vec(onesVec(d))
	negative := 0
	for _, s := range rowSums {
		if s < 0 {
			negative++
		}
	}
	if negative != 7 {
		t.Fatalf("the test prior has %d negative row sums of Cov[x0|x_t], want 7: %v", negative, rowSums)
	}
	// tmpd's default: the row sums of A Cov Aᵀ, for inpainting m ⊙ Cov m.
	maskVec := make([]float64, d)
	for k, m := range mask {
		maskVec[k] = float64(m)
	}
	measSums := post.vec(maskVec)
	negative = 0
	for k := range measSums {
		measSums[k] *= maskVec[k]
		if measSums[k] < 0 {
			negative++
		}
	}
	if negative == 0 {
		t.Fatalf("the test prior has no negative row sums of A Cov Aᵀ: %v", measSums)
	}

	x := make([]float32, d)
	for k := range x {
		x[k] = float32(r.NormFloat64())
	}
	shape := []int{1, 1, imgH, imgW}
	yShape, err := w.op.OutputShape(shape)
	if err != nil {
		t.Fatal(err)
	}
	zeroY := make([]float32, num.Prod(yShape))
	for _, c := range []struct {
		name   string
		method guidance.Method
		rule   func(s float64) float64
		sums   []float64
		tol    float64 // relative to max |row sum|; cadps-gauss differences ε in float32
	}{
		{"tmpd/abs", guidance.TMPD{}, math.Abs, measSums, 1e-4},
		{"tmpd/clamp", guidance.TMPD{Diagonal: guidance.Diagonal{Negative: guidance.NegativeClamp}}, clampZero, measSums, 1e-4},
		{"tmpd/pixels/abs", guidance.TMPD{PixelSpace: true}, math.Abs, rowSums, 1e-4},
		{"tmpd/pixels/clamp", guidance.TMPD{PixelSpace: true, Diagonal: guidance.Diagonal{Negative: guidance.NegativeClamp}}, clampZero, rowSums, 1e-4},
		{"cadps-gauss/abs", guidance.CADPSGauss{}, math.Abs, rowSums, 5e-3},
		{"cadps-gauss/clamp", guidance.CADPSGauss{Diagonal: guidance.Diagonal{Negative: guidance.NegativeClamp}}, clampZero, rowSums, 5e-3},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := cadps.NewSampler(cadps.Problem{Backend: b, Ctx: context.New(), Net: w.net, Process: w.process,
				Op: w.op, Method: c.method, Scale: 1, SigmaY: w.sigma})
			if err != nil {
				t.Fatal(err)
			}
			info, err := s.Step(tensors.FromFlatDataAndDimensions(x, shape...), index,
				tensors.FromFlatDataAndDimensions(make([]float32, d), shape...),
				tensors.FromFlatDataAndDimensions(zeroY, yShape...),
				tensors.FromFlatDataAndDimensions(w.y, yShape...))
			if err != nil {
				t.Fatal(err)
			}
			got := tensors.MustCopyFlatData[float32](info.Extra["covariance"])
			scale := 0.0
			for _, s := range c.sums {
				scale = math.Max(scale, math.Abs(s))
			}
			for k, s := range c.sums {
				if want := c.rule(s); math.Abs(float64(got[k])-want) > c.tol*scale {
					t.Errorf("pixel %d: covariance %.6g, want %.6g (row sum %.6g)", k, got[k], want, s)
				}
			}
		})
	}
}

// clampZero is max(s, 0).
func clampZero(s float64) float64 { return math.Max(s, 0) }

// onesVec returns n ones.
func onesVec(n int) []float64 {
	v := make([]float64, n)
	for k := range v {
		v[k] = 1
	}
	return v
}

// The rule is an option of the method spec, and the settings name it.
func TestNegativeRuleSpec(t *testing.T) {
	for _, c := range []struct {
		spec, want string
		err        bool
	}{
		{"tmpd", "rowsum", false},
		{"tmpd:negative=abs", "rowsum", false},
		{"tmpd:negative=clamp", "rowsum(negative=clamp)", false},
		{"cadps-gauss:negative=clamp,diagonal=hutchinson,probes=2", "hutchinson(probes=2,seed=0,negative=clamp)", false},
		{"tmpd:negative=zero", "", true},
		{"pigdm:negative=abs", "", true},
	} {
		m, err := guidance.ParseSpec(c.spec, guidance.Options{})
		if (err != nil) != c.err {
			t.Errorf("ParseSpec(%q): error %v, want error %v", c.spec, err, c.err)
			continue
		}
		if err == nil {
			if got := diagonalOf(m); got != c.want {
				t.Errorf("ParseSpec(%q): diagonal %q, want %q", c.spec, got, c.want)
			}
		}
	}
}
