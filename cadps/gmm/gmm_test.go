package gmm

import (
	"errors"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/checkpoints"
	"github.com/cadps/toolkit/internal/linalg"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// randomSPD returns a random symmetric positive definite d×d matrix
// B Bᵀ + 0.5 I.
func randomSPD(d int, r *rand.Rand) []float64 {
	b := make([]float64, d*d)
	for i := range b {
		b[i] = r.NormFloat64() / math.Sqrt(float64(d))
	}
	c := make([]float64, d*d)
	for i := range d {
		for j := range d {
			c[i*d+j] = linalg.Dot(b[i*d:(i+1)*d], b[j*d:(j+1)*d])
		}
		c[i*d+i] += 0.5
	}
	return c
}

// inverse returns the inverse of the SPD n×n matrix a.
func inverse(t *testing.T, a []float64, n int) []float64 {
	t.Helper()
	l, err := cholesky(a, n)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, n*n)
	e := make([]float64, n)
	for j := range n {
		clear(e)
		e[j] = 1
		c := cholSolve(l, n, e)
		for i := range n {
			out[i*n+j] = c[i]
		}
	}
	return out
}

// Covariance kinds of randomMixture.
const (
	full      = "full"
	diagonal  = "diagonal"
	isotropic = "isotropic"
)

// randomMixture returns a K-component mixture in d dimensions with
// covariances of the given kind and well-separated means.
func randomMixture(t *testing.T, K, d int, kind string, r *rand.Rand) *Mixture {
	t.Helper()
	w := make([]float64, K)
	means := make([][]float64, K)
	covs := make([][]float64, K)
	sum := 0.0
	for k := range K {
		w[k] = 0.2 + r.Float64()
		sum += w[k]
		means[k] = make([]float64, d)
		for j := range means[k] {
			means[k][j] = 3 * r.NormFloat64()
		}
		switch kind {
		case diagonal, isotropic:
			covs[k] = make([]float64, d*d)
			v := 0.3 + r.Float64()
			for j := range d {
				if kind == diagonal {
					v = 0.3 + r.Float64()
				}
				covs[k][j*d+j] = v
			}
		default:
			covs[k] = randomSPD(d, r)
		}
	}
	for k := range w {
		w[k] /= sum
	}
	m, err := New(w, means, covs)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func maxAbsDiff(a, b []float64) float64 {
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(a[i]-b[i]))
	}
	return m
}

func TestLinearAlgebra(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 5, 12} {
		a := randomSPD(n, r)
		vals, vecs, err := linalg.SymEigen(a, n)
		if err != nil {
			t.Fatal(err)
		}
		rec := make([]float64, n*n)
		for i := range n {
			for j := range n {
				for l := range n {
					rec[i*n+j] += vecs[i*n+l] * vals[l] * vecs[j*n+l]
				}
			}
		}
		if e := maxAbsDiff(rec, a); e > 1e-10 {
			t.Errorf("n=%d: U diag(λ) Uᵀ differs from a by %g", n, e)
		}
		inv := inverse(t, a, n)
		for i := range n {
			for j := range n {
				s := 0.0
				for l := range n {
					s += a[i*n+l] * inv[l*n+j]
				}
				want := 0.0
				if i == j {
					want = 1
				}
				if math.Abs(s-want) > 1e-10 {
					t.Fatalf("n=%d: (a a⁻¹)[%d,%d] = %g", n, i, j, s)
				}
			}
		}
	}
	if _, err := cholesky([]float64{1, 2, 2, 1}, 2); err == nil {
		t.Error("cholesky of an indefinite matrix succeeded")
	}
}

// TestPosteriorOneComponent checks the exact posterior of a single Gaussian
// against the Gaussian conditional in information form:
// Σ' = (Σ⁻¹ + AᵀA/σ²)⁻¹, μ' = Σ'(Σ⁻¹μ + Aᵀy/σ²).
func TestPosteriorOneComponent(t *testing.T) {
	for _, tc := range []struct {
		d, m  int
		kind  string
		sigma float64
	}{
		{d: 4, m: 2, kind: full, sigma: 0.3},
		{d: 6, m: 1, kind: full, sigma: 2},
		{d: 5, m: 5, kind: diagonal, sigma: 0.05},
	} {
		r := rand.New(rand.NewPCG(uint64(tc.d), uint64(tc.m)))
		prior := randomMixture(t, 1, tc.d, tc.kind, r)
		a := make([][]float64, tc.m)
		y := make([]float64, tc.m)
		for i := range a {
			a[i] = make([]float64, tc.d)
			for j := range a[i] {
				a[i][j] = r.NormFloat64()
			}
			y[i] = r.NormFloat64()
		}
		post, err := NewPosterior(prior, a, y, tc.sigma)
		if err != nil {
			t.Fatal(err)
		}
		d := tc.d
		prec := inverse(t, prior.Cov(0), d)
		info := append([]float64(nil), prec...)
		s2 := tc.sigma * tc.sigma
		for i := range d {
			for j := range d {
				for l := range a {
					info[i*d+j] += a[l][i] * a[l][j] / s2
				}
			}
		}
		cov := inverse(t, info, d)
		h := make([]float64, d)
		mu := prior.Mean(0)
		for i := range d {
			h[i] = linalg.Dot(prec[i*d:(i+1)*d], mu)
			for l := range a {
				h[i] += a[l][i] * y[l] / s2
			}
		}
		mean := make([]float64, d)
		for i := range d {
			mean[i] = linalg.Dot(cov[i*d:(i+1)*d], h)
		}
		if e := maxAbsDiff(post.Mean(0), mean); e > 1e-9 {
			t.Errorf("%+v: posterior mean differs from the Gaussian conditional by %g", tc, e)
		}
		if e := maxAbsDiff(post.Cov(0), cov); e > 1e-9 {
			t.Errorf("%+v: posterior covariance differs from the Gaussian conditional by %g", tc, e)
		}
		if w := post.Weights()[0]; math.Abs(w-1) > 1e-12 {
			t.Errorf("%+v: single weight %g", tc, w)
		}
		// The log density agrees with the Gaussian density of (mean, cov).
		x := make([]float64, d)
		for i := range x {
			x[i] = mean[i] + r.NormFloat64()
		}
		l, err := cholesky(cov, d)
		if err != nil {
			t.Fatal(err)
		}
		diff := make([]float64, d)
		for i := range d {
			diff[i] = x[i] - mean[i]
		}
		want := -0.5*linalg.Dot(diff, cholSolve(l, d, diff)) - 0.5*cholLogDet(l, d) - 0.5*float64(d)*math.Log(2*math.Pi)
		if got := post.LogDensity(x); math.Abs(got-want) > 1e-8 {
			t.Errorf("%+v: log density %g, Gaussian %g", tc, got, want)
		}
	}
}

// TestPosteriorImportance checks a multi-component posterior against
// self-normalised importance reweighting of prior samples by the
// likelihood: the weights (through the component each sample came from) and
// the mean agree within a few standard errors.
func TestPosteriorImportance(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	const d, K, n = 2, 3, 200000
	prior := randomMixture(t, K, d, full, r)
	a := [][]float64{{1, 0.5}}
	y := []float64{1.0}
	const sigma = 0.8
	post, err := NewPosterior(prior, a, y, sigma)
	if err != nil {
		t.Fatal(err)
	}
	iw := make([]float64, n)
	comp := make([]int, n)
	xs := make([][]float64, n)
	sum, sum2 := 0.0, 0.0
	for i := range n {
		k := drawCategorical(prior.weights, r)
		x := prior.sampleComponent(k, r)
		res := y[0] - linalg.Dot(a[0], x)
		iw[i] = math.Exp(-0.5 * res * res / (sigma * sigma))
		comp[i], xs[i] = k, x
		sum += iw[i]
		sum2 += iw[i] * iw[i]
	}
	ess := sum * sum / sum2
	if ess < 1000 {
		t.Fatalf("effective sample size %g too small for the test", ess)
	}
	wantW := post.Weights()
	for k := range K {
		est := 0.0
		for i := range n {
			if comp[i] == k {
				est += iw[i]
			}
		}
		est /= sum
		se := math.Sqrt(wantW[k]*(1-wantW[k])/ess) + 1e-4
		if math.Abs(est-wantW[k]) > 5*se {
			t.Errorf("weight %d: importance %g, exact %g (se %g)", k, est, wantW[k], se)
		}
	}
	wantMean := make([]float64, d)
	for k := range K {
		for j := range d {
			wantMean[j] += wantW[k] * post.means[k][j]
		}
	}
	for j := range d {
		est, v := 0.0, 0.0
		for i := range n {
			est += iw[i] * xs[i][j]
		}
		est /= sum
		for i := range n {
			v += iw[i] * (xs[i][j] - est) * (xs[i][j] - est)
		}
		v /= sum
		se := math.Sqrt(v / ess)
		if math.Abs(est-wantMean[j]) > 5*se {
			t.Errorf("mean[%d]: importance %g, exact %g (se %g)", j, est, wantMean[j], se)
		}
	}
}

// TestPosteriorSample checks the exact sampler's moments and weights against
// the closed-form mixture.
func TestPosteriorSample(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const d, K, n = 3, 4, 100000
	prior := randomMixture(t, K, d, full, r)
	a := [][]float64{{1, -1, 0.5}, {0.3, 0.2, 1}}
	post, err := NewPosterior(prior, a, []float64{0.5, -1}, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	xs := post.Sample(n, r)
	w := post.Weights()
	mean := make([]float64, d)
	second := make([]float64, d*d)
	for k := range K {
		c := post.Cov(k)
		for i := range d {
			mean[i] += w[k] * post.means[k][i]
			for j := range d {
				second[i*d+j] += w[k] * (c[i*d+j] + post.means[k][i]*post.means[k][j])
			}
		}
	}
	for i := range d {
		got, got2 := 0.0, 0.0
		for _, x := range xs {
			got += x[i]
			got2 += x[i] * x[i]
		}
		got /= n
		v := got2/n - got*got
		se := math.Sqrt(v / n)
		if math.Abs(got-mean[i]) > 5*se {
			t.Errorf("sample mean[%d] = %g, exact %g (se %g)", i, got, mean[i], se)
		}
		wantVar := second[i*d+i] - mean[i]*mean[i]
		if math.Abs(v-wantVar) > 0.03*wantVar {
			t.Errorf("sample variance[%d] = %g, exact %g", i, v, wantVar)
		}
	}
	tv, _, err := WeightError(post, xs)
	if err != nil {
		t.Fatal(err)
	}
	// Assignment misclassifies only where components overlap; with exact
	// samples the error stays small.
	if tv > 0.05 {
		t.Errorf("weight error of exact samples %g", tv)
	}
}

// evalNetwork runs the mixture network on x [n, d] at timestep t.
func evalNetwork(t *testing.T, m *Mixture, ac []float64, x []float64, n int, ts float32) []float32 {
	t.Helper()
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	net := m.Network(ac)
	ctx := context.New()
	exec, err := context.NewExec(b, ctx, func(ctx *context.Context, xn, tn *graph.Node) *graph.Node {
		return net(ctx, xn, tn)
	})
	if err != nil {
		t.Fatal(err)
	}
	tv := make([]float32, n)
	for i := range tv {
		tv[i] = ts
	}
	out, err := exec.Exec(tensors.FromFlatDataAndDimensions(toF32(x), n, m.Dim()), tensors.FromFlatDataAndDimensions(tv, n))
	if err != nil {
		t.Fatal(err)
	}
	return tensors.MustCopyFlatData[float32](out[0])
}

// linearAlphasCumprod returns ᾱ of the 1000-step linear process.
func linearAlphasCumprod(t *testing.T) []float64 {
	t.Helper()
	p, err := diffusion.New(diffusion.Config{Steps: 1000, NoiseSchedule: "linear",
		MeanType: diffusion.MeanEpsilon, VarType: diffusion.VarFixedSmall})
	if err != nil {
		t.Fatal(err)
	}
	ac, err := AlphasCumprod(p)
	if err != nil {
		t.Fatal(err)
	}
	return ac
}

// TestNetworkMatchesScore checks the graph's ε against central finite
// differences of the host log p_t (and against the host ε), for diagonal
// and full covariances, at small, middle and large t.
func TestNetworkMatchesScore(t *testing.T) {
	ac := linearAlphasCumprod(t)
	for _, tc := range []struct {
		name string
		K, d int
	}{
		{diagonal, 4, 5},
		{full, 3, 4},
		{isotropic, 5, 6},
		{"single", 1, 3},
	} {
		r := rand.New(rand.NewPCG(11, uint64(tc.K)))
		kind := tc.name
		if kind == "single" {
			kind = full
		}
		m := randomMixture(t, tc.K, tc.d, kind, r)
		for _, ts := range []int{0, 10, 300, 999} {
			const n = 3
			x := make([]float64, n*tc.d)
			abar := ac[ts]
			for i := range n { // points near the diffused components
				k := r.IntN(tc.K)
				for j := range tc.d {
					x[i*tc.d+j] = math.Sqrt(abar)*m.means[k][j] + r.NormFloat64()
				}
			}
			got := evalNetwork(t, m, ac, x, n, float32(ts))
			for i := range n {
				xi := x[i*tc.d : (i+1)*tc.d]
				host := m.Eps(xi, abar)
				scale := 0.0
				for j := range tc.d {
					h := 1e-5
					xp := append([]float64(nil), xi...)
					xm := append([]float64(nil), xi...)
					xp[j] += h
					xm[j] -= h
					fd := -math.Sqrt(1-abar) * (m.LogDensity(xp, abar) - m.LogDensity(xm, abar)) / (2 * h)
					if math.Abs(fd-host[j]) > 1e-5*(1+math.Abs(fd)) {
						t.Errorf("%s t=%d point %d: host ε[%d] = %g, finite differences %g", tc.name, ts, i, j, host[j], fd)
					}
					scale = math.Max(scale, math.Abs(fd))
				}
				for j := range tc.d {
					if e := math.Abs(float64(got[i*tc.d+j]) - host[j]); e > 2e-4*(1+scale) {
						t.Errorf("%s t=%d point %d: graph ε[%d] = %g, exact %g", tc.name, ts, i, j, got[i*tc.d+j], host[j])
					}
				}
			}
		}
	}
}

// TestNetworkGradient checks reverse-mode autodiff through the network (what
// DPS and CA-DPS differentiate): ∇_x Σ v·ε(x) against finite differences of
// the host ε.
func TestNetworkGradient(t *testing.T) {
	ac := linearAlphasCumprod(t)
	for _, kind := range []string{diagonal, full, isotropic} {
		r := rand.New(rand.NewPCG(5, 5))
		const K, d, ts = 3, 4, 200
		m := randomMixture(t, K, d, kind, r)
		net := m.Network(ac)
		v := make([]float64, d)
		x := make([]float64, d)
		for j := range d {
			v[j] = r.NormFloat64()
			x[j] = math.Sqrt(ac[ts])*m.means[0][j] + 0.5*r.NormFloat64()
		}
		b, err := backend.New()
		if err != nil {
			t.Fatal(err)
		}
		exec, err := context.NewExec(b, context.New(), func(ctx *context.Context, xn *graph.Node) *graph.Node {
			tn := graph.Const(xn.Graph(), []float32{ts})
			eps := net(ctx, xn, tn)
			f := graph.ReduceAllSum(graph.Mul(eps, graph.Const(xn.Graph(), [][]float32{toF32(v)})))
			return graph.Gradient(f, xn)[0]
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Exec(tensors.FromFlatDataAndDimensions(toF32(x), 1, d))
		if err != nil {
			t.Fatal(err)
		}
		got := tensors.MustCopyFlatData[float32](out[0])
		for j := range d {
			h := 1e-5
			xp := append([]float64(nil), x...)
			xm := append([]float64(nil), x...)
			xp[j] += h
			xm[j] -= h
			fd := (linalg.Dot(v, m.Eps(xp, ac[ts])) - linalg.Dot(v, m.Eps(xm, ac[ts]))) / (2 * h)
			if math.Abs(float64(got[j])-fd) > 1e-3*(1+math.Abs(fd)) {
				t.Errorf("%s: ∂/∂x[%d] = %g by autodiff, %g by finite differences", kind, j, got[j], fd)
			}
		}
	}
}

// TestNetworkStandardHighDim checks the isotropic fast path in float32 at
// the largest standard dimension against the host ε in float64.
func TestNetworkStandardHighDim(t *testing.T) {
	ac := linearAlphasCumprod(t)
	p, err := Standard(800, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Prior.isotropicVariances(); !ok {
		t.Fatal("the standard prior is not detected as isotropic")
	}
	r := rand.New(rand.NewPCG(1, 1))
	for _, ts := range []int{0, 50, 500, 999} {
		const n = 4
		x := make([]float64, 0, n*800)
		abar := ac[ts]
		for _, v := range p.Prior.Sample(n, r) {
			for j := range v {
				x = append(x, math.Sqrt(abar)*v[j]+math.Sqrt(1-abar)*r.NormFloat64())
			}
		}
		got := evalNetwork(t, p.Prior, ac, x, n, float32(ts))
		for i := range n {
			want := p.Prior.Eps(x[i*800:(i+1)*800], abar)
			worst := 0.0
			for j := range want {
				worst = math.Max(worst, math.Abs(float64(got[i*800+j])-want[j]))
			}
			if worst > 1e-3 {
				t.Errorf("t=%d point %d: graph ε differs from exact by %g", ts, i, worst)
			}
		}
	}
}

func TestDistances(t *testing.T) {
	if got := wasserstein1D([]float64{1, 0}, []float64{0, 1, 0.5}); math.Abs(got-1.0/12) > 1e-15 {
		t.Errorf("W₂²({0,1}, {0,½,1}) = %g, want 1/12", got)
	}
	r := rand.New(rand.NewPCG(9, 9))
	const d, n = 3, 400
	a, b, c := make([][]float64, n), make([][]float64, n), make([][]float64, n)
	shift := []float64{3, 0, 4}
	for i := range n {
		a[i], b[i], c[i] = make([]float64, d), make([]float64, d), make([]float64, d)
		for j := range d {
			a[i][j] = r.NormFloat64()
			b[i][j] = r.NormFloat64()
			c[i][j] = a[i][j] + shift[j]
		}
	}
	tests := []struct {
		name     string
		x, y     [][]float64
		swLo     float64
		swHi     float64
		energyLo float64
		energyHi float64
	}{
		// SW₂² of a shifted copy is E(θᵀc)² = ‖c‖²/d (= 25/3) exactly per
		// projection's expectation.
		// For identical sets the unbiased within-set terms exceed the
		// cross term (which counts the zero self-distances) by O(1/n).
		{name: "identical", x: a, y: a, swLo: 0, swHi: 1e-12, energyLo: -0.05, energyHi: 0},
		{name: "same distribution", x: a, y: b, swLo: 0, swHi: 0.25, energyLo: -0.05, energyHi: 0.05},
		{name: "shifted", x: a, y: c, swLo: math.Sqrt(25.0/3) * 0.9, swHi: math.Sqrt(25.0/3) * 1.1, energyLo: 3, energyHi: 100},
	}
	for _, tc := range tests {
		sw, err := SlicedWasserstein(tc.x, tc.y, 2000, 1)
		if err != nil {
			t.Fatal(err)
		}
		if sw < tc.swLo || sw > tc.swHi {
			t.Errorf("%s: SW₂ = %g, want in [%g, %g]", tc.name, sw, tc.swLo, tc.swHi)
		}
		e, err := EnergyDistance(tc.x, tc.y)
		if err != nil {
			t.Fatal(err)
		}
		if e < tc.energyLo || e > tc.energyHi {
			t.Errorf("%s: energy distance = %g, want in [%g, %g]", tc.name, e, tc.energyLo, tc.energyHi)
		}
	}
	sw1, _ := SlicedWasserstein(a, c, 50, 42)
	sw2, _ := SlicedWasserstein(a, c, 50, 42)
	if sw1 != sw2 {
		t.Errorf("same seed, different SW: %g and %g", sw1, sw2)
	}
	if _, err := SlicedWasserstein(a, [][]float64{{1, 2}}, 10, 1); err == nil {
		t.Error("SW of sets of different dimensions succeeded")
	}
}

// TestSmallUnits: a problem in units 10⁷ times smaller (prior, y and σ_y
// scaled, so that A Σ Aᵀ + σ_y² I is of order 1e-14) has the same posterior
// weights, and an A scaled by 1e-7 (A Aᵀ of order 1e-14) gives an operator
// with A A⁺ = I; both were refused as singular.
func TestSmallUnits(t *testing.T) {
	var want []float64
	for _, c := range []float64{1, 1e-4, 1e-7} {
		m, err := New([]float64{0.4, 0.6}, [][]float64{{-c, 0}, {c, 2 * c}},
			[][]float64{{c * c, 0.3 * c * c, 0.3 * c * c, 2 * c * c}, {c * c, 0, 0, c * c}})
		if err != nil {
			t.Fatal(err)
		}
		if post, err := NewPosterior(m, [][]float64{{1, 0.5}}, []float64{0.5 * c}, 0.5*c); err != nil {
			t.Errorf("scale %g: %v", c, err)
		} else {
			w := post.Weights()
			if want == nil {
				want = w
			}
			if d := maxAbsDiff(w, want); d > 1e-12 {
				t.Errorf("scale %g: weights %v, at scale 1 %v", c, w, want)
			}
		}
		a := [][]float64{{c, 0.5 * c}}
		if op, err := NewMatrix(a); err != nil {
			t.Errorf("scale %g: operator: %v", c, err)
		} else if got := float64(op.pinv[0])*a[0][0] + float64(op.pinv[1])*a[0][1]; math.Abs(got-1) > 1e-6 {
			t.Errorf("scale %g: A A⁺ = %g, want 1", c, got)
		}
	}
}

// TestDistancesRefuseNonFinite: a NaN or infinite sample (a diverged
// sampler's) is an error naming it, not a NaN distance or a sample counted
// in component 0.
func TestDistancesRefuseNonFinite(t *testing.T) {
	p, err := Standard(4, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	post, err := p.Posterior()
	if err != nil {
		t.Fatal(err)
	}
	ref := post.Sample(10, rand.New(rand.NewPCG(1, 1)))
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		s := post.Sample(10, rand.New(rand.NewPCG(2, 1)))
		s[3][1] = bad
		for _, tc := range []struct {
			name string
			run  func() error
			want string
		}{
			{"sliced Wasserstein", func() error { _, err := SlicedWasserstein(s, ref, 10, 1); return err }, "point 3 of set 1: coordinate 1"},
			{"sliced Wasserstein, reference", func() error { _, err := SlicedWasserstein(ref, s, 10, 1); return err }, "point 3 of set 2: coordinate 1"},
			{"energy distance", func() error { _, err := EnergyDistance(s, ref); return err }, "point 3 of set 1: coordinate 1"},
			{"weight error", func() error { _, _, err := WeightError(post, s); return err }, "sample 3: coordinate 1"},
		} {
			err := tc.run()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s with a %g sample: error %v, want one containing %q", tc.name, bad, err, tc.want)
			}
		}
	}
}

// TestWeightErrorOneMode: samples all in one component give TV = 1 − w'_k.
func TestWeightErrorOneMode(t *testing.T) {
	p, err := Standard(8, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	post, err := p.Posterior()
	if err != nil {
		t.Fatal(err)
	}
	w := post.Weights()
	k := 0
	for j := range w {
		if w[j] > w[k] {
			k = j
		}
	}
	xs := make([][]float64, 50)
	for i := range xs {
		xs[i] = post.Mean(k)
	}
	tv, frac, err := WeightError(post, xs)
	if err != nil {
		t.Fatal(err)
	}
	if frac[k] != 1 || math.Abs(tv-(1-w[k])) > 1e-12 {
		t.Errorf("TV = %g (fraction %g), want %g", tv, frac[k], 1-w[k])
	}
}

func TestStandard(t *testing.T) {
	for _, tc := range []struct{ d, m int }{{8, 1}, {8, 2}, {80, 4}, {7, 3}} {
		p, err := Standard(tc.d, tc.m, 5)
		if err != nil {
			t.Fatal(err)
		}
		if p.Prior.K() != 25 || p.Prior.Dim() != tc.d || !p.Prior.Diagonal() {
			t.Fatalf("%+v: K=%d d=%d diagonal=%v", tc, p.Prior.K(), p.Prior.Dim(), p.Prior.Diagonal())
		}
		if mu := p.Prior.Mean(0); mu[0] != -16 || (tc.d > 1 && mu[1] != -16) {
			t.Errorf("%+v: first mean starts %v", tc, mu[:2])
		}
		if mu := p.Prior.Mean(1); tc.d > 1 && (mu[0] != -16 || mu[1] != -8) {
			t.Errorf("%+v: second mean starts %v", tc, mu[:2])
		}
		// The singular values of A are the sorted uniforms: A Aᵀ has
		// eigenvalues in (0, 1) and σ_y ≤ the largest singular value.
		gram := make([]float64, tc.m*tc.m)
		for i := range tc.m {
			for j := range tc.m {
				gram[i*tc.m+j] = linalg.Dot(p.A[i], p.A[j])
			}
		}
		vals, _, err := linalg.SymEigen(gram, tc.m)
		if err != nil {
			t.Fatal(err)
		}
		smax := 0.0
		for _, v := range vals {
			if !(v > 0 && v < 1) {
				t.Errorf("%+v: squared singular value %g outside (0,1)", tc, v)
			}
			smax = math.Max(smax, math.Sqrt(v))
		}
		if !(p.SigmaY > 0 && p.SigmaY <= smax+1e-12) {
			t.Errorf("%+v: σ_y = %g, largest singular value %g", tc, p.SigmaY, smax)
		}
		q, _ := Standard(tc.d, tc.m, 5)
		if q.SigmaY != p.SigmaY || q.Y[0] != p.Y[0] {
			t.Errorf("%+v: the same seed gave different problems", tc)
		}
	}
}

// The matrix operator is what the projection-type and Gaussian-likelihood
// methods need.
var (
	_ ops.Linear         = (*Matrix)(nil)
	_ ops.PseudoInverter = (*Matrix)(nil)
)

func TestMatrixOperator(t *testing.T) {
	p, err := Standard(6, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	op, err := p.Operator()
	if err != nil {
		t.Fatal(err)
	}
	if s, err := op.OutputShape([]int{5, 6}); err != nil || s[0] != 5 || s[1] != 3 {
		t.Errorf("OutputShape([5 6]) = %v, %v", s, err)
	}
	if _, err := op.OutputShape([]int{5, 1, 6}); err == nil {
		t.Error("OutputShape accepted [5 1 6]")
	}
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	y := []float32{0.5, -1, 2}
	exec, err := graph.NewExec(b, func(yn *graph.Node) []*graph.Node {
		x := op.PseudoInverse(yn)
		return []*graph.Node{op.Apply(x), op.Adjoint(yn)}
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Exec(tensors.FromFlatDataAndDimensions(y, 1, 3))
	if err != nil {
		t.Fatal(err)
	}
	back := tensors.MustCopyFlatData[float32](out[0])
	for i := range y {
		if math.Abs(float64(back[i]-y[i])) > 1e-4 {
			t.Errorf("A A⁺ y = %v, want %v", back, y)
			break
		}
	}
	adj := tensors.MustCopyFlatData[float32](out[1])
	for j := range 6 {
		want := 0.0
		for i := range 3 {
			want += p.A[i][j] * float64(y[i])
		}
		if math.Abs(float64(adj[j])-want) > 1e-4 {
			t.Errorf("Aᵀy[%d] = %g, want %g", j, adj[j], want)
		}
	}
}

// TestProblemFile round-trips a problem and checks the errors for malformed
// files.
func TestProblemFile(t *testing.T) {
	full3 := randomMixture(t, 3, 5, full, rand.New(rand.NewPCG(1, 2)))
	for _, tc := range []struct {
		name string
		make func() (*Problem, error)
	}{
		{"standard, d = 4, m = 2, seed 8", func() (*Problem, error) { return Standard(4, 2, 8) }},
		// Weights that renormalise to themselves only up to rounding: the
		// file held the renormalised weights, which renormalised again.
		{"standard, d = 8, m = 2, seed 10", func() (*Problem, error) { return Standard(8, 2, 10) }},
		{"standard, d = 8, m = 2, seed 11", func() (*Problem, error) { return Standard(8, 2, 11) }},
		// Full covariances: the file held U diag(λ) Uᵀ recomputed from the
		// eigendecomposition, which decomposed again to other last bits.
		{"full covariances", func() (*Problem, error) {
			return &Problem{Prior: full3, A: [][]float64{{1, 2, 3, 4, 5}}, Y: []float64{1}, SigmaY: 0.5}, nil
		}},
	} {
		p, err := tc.make()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "p.safetensors")
		if err := p.Save(path); err != nil {
			t.Fatal(err)
		}
		q, err := LoadProblem(path)
		if err != nil {
			t.Fatal(err)
		}
		// The file holds the problem bit for bit: a run of the file is the
		// run of the problem that was saved.
		var changed []string
		for _, part := range []struct {
			name string
			a, b any
		}{
			{"weights", p.Prior.weights, q.Prior.weights}, {"means", p.Prior.means, q.Prior.means},
			{"covariances", p.Prior.comps, q.Prior.comps}, {"A", p.A, q.A}, {"y", p.Y, q.Y}, {"σ_y", p.SigmaY, q.SigmaY},
		} {
			if !reflect.DeepEqual(part.a, part.b) {
				changed = append(changed, part.name)
			}
		}
		if changed != nil || !reflect.DeepEqual(q, p) {
			t.Errorf("%s: round trip changed the problem (%s)", tc.name, strings.Join(changed, ", "))
		}
	}

	// Small valid problem, edited per case.
	base := func() map[string]struct {
		shape []int
		v     []float32
	} {
		return map[string]struct {
			shape []int
			v     []float32
		}{
			"weights": {[]int{2}, []float32{0.25, 0.75}},
			"means":   {[]int{2, 2}, []float32{0, 0, 1, 1}},
			"covs":    {[]int{2, 2, 2}, []float32{1, 0.5, 0.5, 1, 2, 0, 0, 1}},
			"A":       {[]int{1, 2}, []float32{1, 0}},
			"y":       {[]int{1}, []float32{0.3}},
			"sigma_y": {[]int{1}, []float32{0.1}},
		}
	}
	for _, tc := range []struct {
		name, key string
		shape     []int
		v         []float32
		drop      bool
		want      string // "" = valid
	}{
		{name: "valid"},
		{name: "weights not summing to 1", key: "weights", shape: []int{2}, v: []float32{0.3, 0.3}, want: "sum to"},
		{name: "negative weight", key: "weights", shape: []int{2}, v: []float32{-0.5, 1.5}, want: "non-negative"},
		{name: "indefinite covariance", key: "covs", shape: []int{2, 2, 2}, v: []float32{1, 2, 2, 1, 2, 0, 0, 1}, want: "not positive definite"},
		{name: "negative variance", key: "covs", shape: []int{2, 2, 2}, v: []float32{1, 0, 0, 1, -2, 0, 0, 1}, want: "not positive definite"},
		{name: "asymmetric covariance", key: "covs", shape: []int{2, 2, 2}, v: []float32{1, 0.5, 0, 1, 2, 0, 0, 1}, want: "not symmetric"},
		{name: "covs shape", key: "covs", shape: []int{2, 2, 1}, v: []float32{1, 0, 0, 1}, want: "covs has shape"},
		{name: "A width", key: "A", shape: []int{1, 3}, v: []float32{1, 0, 0}, want: "A has shape"},
		{name: "y length", key: "y", shape: []int{2}, v: []float32{1, 0}, want: "y has shape"},
		{name: "means count", key: "means", shape: []int{3, 2}, v: []float32{0, 0, 1, 1, 2, 2}, want: "means has shape"},
		{name: "zero sigma", key: "sigma_y", shape: []int{1}, v: []float32{0}, want: "sigma_y"},
		{name: "NaN mean", key: "means", shape: []int{2, 2}, v: []float32{0, float32(math.NaN()), 1, 1}, want: "non-finite"},
		{name: "missing y", key: "y", drop: true, want: `no tensor "y"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := base()
			if tc.key != "" {
				if tc.drop {
					delete(ts, tc.key)
				} else {
					ts[tc.key] = struct {
						shape []int
						v     []float32
					}{tc.shape, tc.v}
				}
			}
			sd := checkpoints.NewStateDict("test")
			for _, k := range []string{"weights", "means", "covs", "A", "y", "sigma_y"} {
				if e, ok := ts[k]; ok {
					if err := sd.Add(checkpoints.FromFloat32(k, e.shape, e.v)); err != nil {
						t.Fatal(err)
					}
				}
			}
			path := filepath.Join(t.TempDir(), "bad.safetensors")
			if err := checkpoints.SaveSafetensors(path, sd); err != nil {
				t.Fatal(err)
			}
			_, err := LoadProblem(path)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("valid file: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("no error, want one containing %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

// TestProblemSaveShapes checks that Save refuses a problem whose A or y
// does not agree with the prior's dimension, naming the part, rather than
// building tensors that do not hold their shapes' values, and one that
// LoadProblem would refuse (no prior, no rows, σ_y not positive, a value
// that is not finite), writing nothing.
func TestProblemSaveShapes(t *testing.T) {
	prior := randomMixture(t, 2, 3, full, rand.New(rand.NewPCG(1, 2)))
	a := [][]float64{{1, 2, 3}, {4, 5, 6}}
	for _, tc := range []struct {
		name  string
		prior *Mixture
		a     [][]float64
		y     []float64
		sigma float64
		want  string
	}{
		{"short row of A", prior, [][]float64{{1, 2, 3}, {1, 2}}, []float64{0, 0}, 0.5, "row 1 of A has 2 columns, the prior has dimension 3"},
		{"long row of A", prior, [][]float64{{1, 2, 3, 4}}, []float64{0}, 0.5, "row 0 of A has 4 columns, the prior has dimension 3"},
		{"short y", prior, a, []float64{0}, 0.5, "y has 1 values but A has 2 rows"},
		{"no prior", nil, a, []float64{0, 0}, 0.5, "the prior is nil"},
		{"no rows", prior, nil, nil, 0.5, "the measurement matrix A has no rows"},
		{"zero sigma_y", prior, a, []float64{0, 0}, 0, "σ_y = 0 must be positive and finite"},
		{"NaN in y", prior, a, []float64{0, math.NaN()}, 0.5, "y[1] is not finite"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Problem{Prior: tc.prior, A: tc.a, Y: tc.y, SigmaY: tc.sigma}
			path := filepath.Join(t.TempDir(), "p.safetensors")
			if err := p.Save(path); err == nil || err.Error() != "gmm: saving problem to "+path+": "+tc.want {
				t.Fatalf("Save: %v, want the error ending %q", err, tc.want)
			}
			if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Save wrote %s (%v)", path, err)
			}
		})
	}
}
