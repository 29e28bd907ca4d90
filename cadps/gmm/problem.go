package gmm

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/cadps/toolkit/checkpoints"
	"github.com/cadps/toolkit/internal/linalg"
)

// Problem is a linear inverse problem with a mixture prior:
// y = A x + σ_y n, x ~ Prior, n ~ N(0, I).
type Problem struct {
	// Prior is the mixture prior p(x).
	Prior *Mixture
	// A is the measurement matrix, m rows of length d.
	A [][]float64
	// Y is the measurement [m].
	Y []float64
	// SigmaY is the measurement noise level σ_y > 0.
	SigmaY float64
}

// Posterior returns the problem's exact posterior.
func (p *Problem) Posterior() (*Posterior, error) {
	return NewPosterior(p.Prior, p.A, p.Y, p.SigmaY)
}

// Operator returns A as a graph operator on [N, d] batches.
func (p *Problem) Operator() (*Matrix, error) { return NewMatrix(p.A) }

// GridSpacing is the spacing of the standard setting's means.
const GridSpacing = 8.0

// Standard returns a random problem of the standard Gaussian-mixture
// setting of MCGdiff (Cardoso et al., ICLR 2024, appendix B.3), in dimension
// d with m measurements, drawn from seed:
//
//   - 25 components with means (8i, 8j, 8i, 8j, …) ∈ R^d for i, j ∈
//     {−2, …, 2} (i the outer loop; an odd d ends with an 8i) and unit
//     covariances;
//   - weights w_k = z_k² / Σ z_l², z ~ N(0, I₂₅);
//   - A = U diag(s) V_mᵀ where U S V_mᵀ is the thin SVD of an m×d matrix of
//     independent N(0, 1) entries and s are m independent Uniform(0, 1)
//     values sorted in decreasing order (paired with the decreasing
//     singular values);
//   - σ_y = u · max(s), u ~ Uniform(0, 1);
//   - y = A x* + σ_y n with x* drawn from the prior and n ~ N(0, I_m).
//
// The draws are made in that order from one PCG stream seeded by seed.
func Standard(d, m int, seed uint64) (*Problem, error) {
	if d < 1 || m < 1 || m > d {
		return nil, fmt.Errorf("gmm: standard setting needs 1 ≤ m ≤ d, got d = %d, m = %d", d, m)
	}
	r := rand.New(rand.NewPCG(seed, 0x6a1e))
	var means, variances [][]float64
	var weights []float64
	sum := 0.0
	for i := -2; i <= 2; i++ {
		for j := -2; j <= 2; j++ {
			mu := make([]float64, d)
			for c := range mu {
				if c%2 == 0 {
					mu[c] = GridSpacing * float64(i)
				} else {
					mu[c] = GridSpacing * float64(j)
				}
			}
			means = append(means, mu)
			v := make([]float64, d)
			for c := range v {
				v[c] = 1
			}
			variances = append(variances, v)
		}
	}
	for range means {
		z := r.NormFloat64()
		weights = append(weights, z*z)
		sum += z * z
	}
	for k := range weights {
		weights[k] /= sum
	}
	prior, err := NewDiagonal(weights, means, variances)
	if err != nil {
		return nil, err
	}
	a, smax, err := randomMatrix(m, d, r)
	if err != nil {
		return nil, err
	}
	sigma := r.Float64() * smax
	if !(sigma > 0) {
		return nil, fmt.Errorf("gmm: seed %d drew σ_y = 0", seed)
	}
	x := prior.Sample(1, r)[0]
	y := make([]float64, m)
	for i := range y {
		y[i] = linalg.Dot(a[i], x) + sigma*r.NormFloat64()
	}
	return &Problem{Prior: prior, A: a, Y: y, SigmaY: sigma}, nil
}

// randomMatrix draws G (m×d, N(0,1) entries) and s (m sorted Uniform(0,1)
// values) from r and returns A = U diag(s) V_mᵀ, with G = U diag(S) V_mᵀ its
// thin SVD, and max(s).
func randomMatrix(m, d int, r *rand.Rand) ([][]float64, float64, error) {
	g := make([][]float64, m)
	for i := range g {
		g[i] = make([]float64, d)
		for j := range g[i] {
			g[i][j] = r.NormFloat64()
		}
	}
	s := make([]float64, m)
	for i := range s {
		s[i] = r.Float64()
	}
	slices.SortFunc(s, func(a, b float64) int { return -cmpFloat(a, b) })
	gram := make([]float64, m*m)
	for i := range m {
		for j := range m {
			gram[i*m+j] = linalg.Dot(g[i], g[j])
		}
	}
	vals, vecs, err := linalg.SymEigen(gram, m) // G Gᵀ = U diag(S²) Uᵀ
	if err != nil {
		return nil, 0, fmt.Errorf("gmm: random measurement matrix: %w", err)
	}
	order := make([]int, m)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return -cmpFloat(vals[a], vals[b]) })
	a := make([][]float64, m)
	for i := range a {
		a[i] = make([]float64, d)
	}
	ug := make([]float64, d)
	for rank, c := range order {
		if !(vals[c] > 0) {
			return nil, 0, errors.New("gmm: random measurement matrix is rank deficient")
		}
		// u_c = column c of vecs; v_c = Gᵀ u_c / S_c; A += s_rank u_c v_cᵀ.
		clear(ug)
		for i := range m {
			for j := range d {
				ug[j] += vecs[i*m+c] * g[i][j]
			}
		}
		f := s[rank] / math.Sqrt(vals[c])
		for i := range m {
			for j := range d {
				a[i][j] += f * vecs[i*m+c] * ug[j]
			}
		}
	}
	return a, s[0], nil
}

// cmpFloat orders a and b.
func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Tensor names of a problem file.
const (
	keyWeights = "weights"
	keyMeans   = "means"
	keyCovs    = "covs"
	keyA       = "A"
	keyY       = "y"
	keySigmaY  = "sigma_y"
)

// Save writes the problem as a safetensors file of float64 tensors:
// weights [K], means [K,d], covs [K,d,d], A [m,d], y [m], sigma_y [1].
// The weights and covariances are written as the mixture was given them
// (before the weights are renormalised and the covariances decomposed),
// and float64 keeps every bit, so [LoadProblem] gives back the problem
// that a run of it evaluated, bit for bit. A problem that [NewPosterior]
// refuses (no prior, no rows of A, a row or y of the wrong length, a
// value that is not finite, σ_y not positive), which LoadProblem would
// refuse too, is an error naming the part, and nothing is written.
func (p *Problem) Save(path string) error {
	if err := checkProblem(p.Prior, p.A, p.Y, p.SigmaY); err != nil {
		return fmt.Errorf("gmm: saving problem to %s: %w", path, err)
	}
	K, d, m := p.Prior.K(), p.Prior.Dim(), len(p.A)
	sd := checkpoints.NewStateDict(path)
	var means, covs, a []float64
	for k := range K {
		means = append(means, p.Prior.means[k]...)
		covs = append(covs, p.Prior.Cov(k)...)
	}
	for _, row := range p.A {
		a = append(a, row...)
	}
	for _, t := range []*checkpoints.Tensor{
		checkpoints.FromFloat64(keyWeights, []int{K}, p.Prior.given),
		checkpoints.FromFloat64(keyMeans, []int{K, d}, means),
		checkpoints.FromFloat64(keyCovs, []int{K, d, d}, covs),
		checkpoints.FromFloat64(keyA, []int{m, d}, a),
		checkpoints.FromFloat64(keyY, []int{m}, p.Y),
		checkpoints.FromFloat64(keySigmaY, []int{1}, []float64{p.SigmaY}),
	} {
		if err := sd.Add(t); err != nil {
			return fmt.Errorf("gmm: %w", err)
		}
	}
	if err := checkpoints.SaveSafetensors(path, sd); err != nil {
		return fmt.Errorf("gmm: saving problem: %w", err)
	}
	return nil
}

// LoadProblem reads a problem file written by [Problem.Save] (or by anyone:
// any float dtype is accepted) and checks it: shapes that agree, weights
// summing to 1, symmetric positive definite covariances, σ_y > 0.
func LoadProblem(path string) (*Problem, error) {
	sd, err := checkpoints.LoadSafetensors(path)
	if err != nil {
		return nil, fmt.Errorf("gmm: %w", err)
	}
	p, err := problemFromStateDict(sd)
	if err != nil {
		return nil, fmt.Errorf("gmm: problem file %s: %w", path, err)
	}
	return p, nil
}

// problemFromStateDict builds and checks a problem from its tensors.
func problemFromStateDict(sd *checkpoints.StateDict) (*Problem, error) {
	get := func(name string, rank int) ([]float64, []int, error) {
		t, ok := sd.Tensors[name]
		if !ok {
			return nil, nil, fmt.Errorf("no tensor %q (want weights, means, covs, A, y, sigma_y)", name)
		}
		if len(t.Shape) != rank {
			return nil, nil, fmt.Errorf("%s has shape %v, want rank %d", name, t.Shape, rank)
		}
		v, err := t.Float64()
		if err != nil {
			return nil, nil, err
		}
		for i, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, nil, fmt.Errorf("%s has a non-finite value at flat index %d", name, i)
			}
		}
		return v, t.Shape, nil
	}
	w, ws, err := get(keyWeights, 1)
	if err != nil {
		return nil, err
	}
	mu, ms, err := get(keyMeans, 2)
	if err != nil {
		return nil, err
	}
	cv, cs, err := get(keyCovs, 3)
	if err != nil {
		return nil, err
	}
	a, as, err := get(keyA, 2)
	if err != nil {
		return nil, err
	}
	y, ys, err := get(keyY, 1)
	if err != nil {
		return nil, err
	}
	sy, ss, err := get(keySigmaY, 1)
	if err != nil {
		return nil, err
	}
	K, d, m := ws[0], ms[1], as[0]
	switch {
	case K == 0 || d == 0 || m == 0:
		return nil, fmt.Errorf("empty problem: %d components, dimension %d, %d measurements", K, d, m)
	case ms[0] != K:
		return nil, fmt.Errorf("means has shape %v but weights has %d components", ms, K)
	case cs[0] != K || cs[1] != d || cs[2] != d:
		return nil, fmt.Errorf("covs has shape %v, want [%d %d %d]", cs, K, d, d)
	case as[1] != d:
		return nil, fmt.Errorf("tensor A has shape %v, want [m %d] for means of dimension %d", as, d, d)
	case ys[0] != m:
		return nil, fmt.Errorf("y has shape %v, want [%d] for A %v", ys, m, as)
	case ss[0] != 1:
		return nil, fmt.Errorf("sigma_y has shape %v, want [1]", ss)
	case !(sy[0] > 0):
		return nil, fmt.Errorf("sigma_y is %g; it must be positive", sy[0])
	}
	sum := 0.0
	for _, x := range w {
		sum += x
	}
	if math.Abs(sum-1) > weightTolerance {
		return nil, fmt.Errorf("weights sum to %.6g, not 1", sum)
	}
	means, covs := make([][]float64, K), make([][]float64, K)
	for k := range K {
		means[k] = mu[k*d : (k+1)*d]
		covs[k] = cv[k*d*d : (k+1)*d*d]
	}
	prior, err := New(w, means, covs)
	if err != nil {
		return nil, err
	}
	rows := make([][]float64, m)
	for i := range rows {
		rows[i] = a[i*d : (i+1)*d]
	}
	return &Problem{Prior: prior, A: rows, Y: y, SigmaY: sy[0]}, nil
}
