package guidance_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Sizes of the exact checks: 4×4 single-channel images (d = 16), a batch
// of samples per run, and a respaced process.
const (
	imgH, imgW   = 4, 4
	numSamples   = 2000
	exactSteps   = "100"
	matrixRows   = 8
	measureNoise = 0.1
)

// world is a Gaussian inverse problem with a known posterior.
type world struct {
	prior   *gaussianPrior
	op      ops.Operator
	a       matrix    // A as a matrix on flattened images
	y       []float32 // the measurement of one image, shaped as the operator's output
	yObs    []float64 // A x* + σ n as a vector
	sigma   float64
	mean    []float64 // exact posterior mean
	cov     matrix    // exact posterior covariance
	process *diffusion.Process
	net     guidance.Network // the prior's exact ε
	postNet guidance.Network // the posterior's exact ε: exact conditional sampling
	// free lists the coordinates the posterior leaves random (all of them
	// when σ > 0; the unobserved pixels of noiseless inpainting).
	free []int
	// fixed lists the coordinates a noiseless measurement determines.
	fixed []int
}

// newWorld builds the problem: prior kind "diag", "full" or "unit" (Σ = I),
// operator "inpaint" (a random half of the pixels) or "matrix" (a random
// 8×16 matrix), and measurement noise σ.
func newWorld(t testing.TB, priorKind, opKind string, sigma float64, seed uint64) *world {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	w := &world{sigma: sigma}
	switch priorKind {
	case "diag":
		w.prior = newGaussianPrior(r, imgH, imgW, false, 0.05, 0.5)
	case "full":
		w.prior = newGaussianPrior(r, imgH, imgW, true, 0.01, 0.5)
	case "unit":
		w.prior = newGaussianPrior(r, imgH, imgW, true, 1, 1)
	default:
		t.Fatalf("unknown prior %q", priorKind)
	}
	d := w.prior.dim()
	switch opKind {
	case "inpaint":
		mask := make([]float32, d)
		for _, k := range r.Perm(d)[:d/2] {
			mask[k] = 1
		}
		op, err := ops.NewInpainting(mask, imgH, imgW)
		if err != nil {
			t.Fatal(err)
		}
		w.op, w.a = op, selection(mask)
	case "matrix":
		w.a = zeros(matrixRows, d)
		for i := range w.a {
			for j := range w.a[i] {
				w.a[i][j] = r.NormFloat64() / math.Sqrt(float64(d))
			}
		}
		op, err := matrixOperator(w.a, imgH, imgW)
		if err != nil {
			t.Fatal(err)
		}
		w.op = op
	default:
		t.Fatalf("unknown operator %q", opKind)
	}
	truth := w.prior.sample(r)
	w.yObs = w.a.vec(truth)
	for k := range w.yObs {
		w.yObs[k] += sigma * r.NormFloat64()
	}
	if opKind == "inpaint" {
		w.y = make([]float32, d)
		for j, row := range w.a.t() { // column j of A is pixel j
			for i, v := range row {
				if v == 1 {
					w.y[j] = float32(w.yObs[i])
				}
			}
		}
	} else {
		w.y = toF32(w.yObs)
	}
	var err error
	if w.mean, w.cov, err = w.prior.posterior(w.a, w.yObs, sigma); err != nil {
		t.Fatal(err)
	}
	observed := map[int]bool{}
	if sigma == 0 && opKind == "inpaint" {
		for _, row := range w.a {
			for j, v := range row {
				if v == 1 {
					observed[j] = true
				}
			}
		}
	}
	for k := range d {
		if observed[k] {
			w.fixed = append(w.fixed, k)
		} else {
			w.free = append(w.free, k)
		}
	}
	cfg := diffusion.Config{Steps: 1000, NoiseSchedule: "linear", Respacing: exactSteps,
		MeanType: diffusion.MeanEpsilon, VarType: diffusion.VarFixedLarge}
	if w.process, err = diffusion.New(cfg); err != nil {
		t.Fatal(err)
	}
	ab, err := baseAlphaBar(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if w.net, err = w.prior.network(ab); err != nil {
		t.Fatal(err)
	}
	post := &gaussianPrior{h: imgH, w: imgW, mu: w.mean, cov: w.cov}
	if w.postNet, err = post.network(ab); err != nil {
		t.Fatal(err)
	}
	return w
}

// run configures one sampling run in a world.
type run struct {
	method guidance.Method
	net    guidance.Network // nil: the prior's
	scale  float64
	ddim   bool
	n      int
	seed   uint64
}

// sample runs r on a batch of r.n images and returns them flattened.
func (w *world) sample(t testing.TB, r run) [][]float64 {
	t.Helper()
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	net := r.net
	if net == nil {
		net = w.net
	}
	s, err := cadps.NewSampler(cadps.Problem{Backend: b, Ctx: context.New(), Net: net, Process: w.process,
		Op: w.op, Method: r.method, Scale: r.scale, SigmaY: w.sigma, DDIM: r.ddim})
	if err != nil {
		t.Fatal(err)
	}
	n := r.n
	shape := []int{n, 1, imgH, imgW}
	yShape, err := w.op.OutputShape(shape)
	if err != nil {
		t.Fatal(err)
	}
	ys := make([]float32, 0, n*len(w.y))
	for range n {
		ys = append(ys, w.y...)
	}
	x, err := s.Run(nil, shape, tensors.FromFlatDataAndDimensions(ys, yShape...), cadps.NewSeededNoise(r.seed), nil)
	if err != nil {
		t.Fatal(err)
	}
	flat := tensors.MustCopyFlatData[float32](x)
	d := w.prior.dim()
	out := make([][]float64, n)
	for i := range out {
		out[i] = make([]float64, d)
		for k := range d {
			out[i][k] = float64(flat[i*d+k])
		}
	}
	return out
}

// sampleErrors summarise samples against the exact posterior.
type sampleErrors struct {
	// Mean is the Mahalanobis distance ‖L⁻¹(m̂ − μ)‖ / √d' of the sample mean
	// from the posterior mean, on the free coordinates (L Lᵀ = Σ_post).
	Mean float64
	// Cov is ‖L⁻¹ Ĉ L⁻ᵀ − I‖_F / √d', the whitened covariance error.
	Cov float64
	// Fixed is the largest |x − x_post| over the coordinates a noiseless
	// measurement fixes (0 when there are none).
	Fixed float64
	// Residual is the mean ‖y − A x‖ of the samples.
	Residual float64
}

func (e sampleErrors) String() string {
	return fmt.Sprintf("mean %.3f, cov %.3f, fixed %.3g, residual %.3f", e.Mean, e.Cov, e.Fixed, e.Residual)
}

// compare returns the samples' sampleErrors against the exact posterior.
func (w *world) compare(t testing.TB, xs [][]float64) sampleErrors {
	t.Helper()
	free := w.free
	k := len(free)
	n := float64(len(xs))
	mean := make([]float64, k)
	for _, x := range xs {
		for i, c := range free {
			mean[i] += x[c] / n
		}
	}
	emp := zeros(k, k)
	for _, x := range xs {
		for i, ci := range free {
			for j, cj := range free {
				emp[i][j] += (x[ci] - mean[i]) * (x[cj] - mean[j]) / (n - 1)
			}
		}
	}
	post := zeros(k, k)
	dm := make([]float64, k)
	for i, ci := range free {
		dm[i] = mean[i] - w.mean[ci]
		for j, cj := range free {
			post[i][j] = w.cov[ci][cj]
		}
	}
	l, err := post.cholesky()
	if err != nil {
		t.Fatalf("posterior covariance: %v", err)
	}
	li := lowerInverse(l)
	var e sampleErrors
	for _, v := range li.vec(dm) {
		e.Mean += v * v
	}
	e.Mean = math.Sqrt(e.Mean / float64(k))
	white := li.mul(emp).mul(li.t())
	for i := range white {
		for j := range white {
			d := white[i][j]
			if i == j {
				d--
			}
			e.Cov += d * d
		}
	}
	e.Cov = math.Sqrt(e.Cov / float64(k))
	for _, x := range xs {
		for _, c := range w.fixed {
			e.Fixed = math.Max(e.Fixed, math.Abs(x[c]-w.mean[c]))
		}
		ax := w.a.vec(x)
		r := 0.0
		for i := range ax {
			r += (w.yObs[i] - ax[i]) * (w.yObs[i] - ax[i])
		}
		e.Residual += math.Sqrt(r) / n
	}
	return e
}

// lowerInverse returns the inverse of a lower-triangular matrix.
func lowerInverse(l matrix) matrix {
	n := len(l)
	inv := zeros(n, n)
	for c := range n {
		for i := c; i < n; i++ {
			s := 0.0
			if i == c {
				s = 1
			}
			for k := c; k < i; k++ {
				s -= l[i][k] * inv[k][c]
			}
			inv[i][c] = s / l[i][i]
		}
	}
	return inv
}
