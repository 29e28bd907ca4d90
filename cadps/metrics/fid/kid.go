package fid

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// KIDOptions select the subsets KID averages over; the zero value means
// torch-fidelity's defaults (100 subsets of 1000 vectors, seed 0). A
// field of 0 or less takes its default; a SubsetSize of 1 is an error.
type KIDOptions struct {
	Subsets    int
	SubsetSize int
	Seed       uint64
}

// maxGramBytes bounds the precomputed kernel matrices of KID; larger sets
// compute the kernels of each subset instead.
const maxGramBytes = 1 << 30

// KIDValue is a kernel Inception distance and the subsets it averages.
type KIDValue struct {
	// KID is the mean of the subsets' MMD², Std their standard deviation
	// (population).
	KID, Std float64
	// SubsetSize is the number of vectors drawn from each set for each
	// subset: min(n1, n2, KIDOptions.SubsetSize), so smaller than asked
	// when a set is.
	SubsetSize int
	// Subsets is the number of subsets averaged: 1 when SubsetSize equals
	// both set sizes (every subset would be the whole of both sets).
	Subsets int
}

// KID returns the kernel Inception distance (Bińkowski et al. 2018) of
// feature sets a [n1][d] and b [n2][d], as torch-fidelity and clean-fid
// compute it: for each of the subsets, m = min(n1, n2, SubsetSize) vectors
// are drawn from each set without replacement and the unbiased MMD² with
// the kernel k(x, y) = (xᵀy/d + 1)³ is computed,
//
//	(Σ_{i≠j} k(xi,xj) + Σ_{i≠j} k(yi,yj)) / (m(m−1)) − 2 Σ_{i,j} k(xi,yj) / m²;
//
// KID is their mean, and Std their standard deviation (population). A set
// smaller than SubsetSize makes the subsets smaller (torch-fidelity refuses
// it instead); the result reports the size used. The draws come from a PCG
// generator seeded with opts.Seed, so they are not those of the Python
// packages; when m equals both set sizes every subset is the whole set and
// the value is exact.
func KID(a, b [][]float32, opts KIDOptions) (*KIDValue, error) {
	if opts.Subsets <= 0 {
		opts.Subsets = 100
	}
	if opts.SubsetSize <= 0 {
		opts.SubsetSize = 1000
	}
	if opts.SubsetSize < 2 {
		return nil, fmt.Errorf("fid: KID needs subsets of at least 2 vectors, got a subset size of %d", opts.SubsetSize)
	}
	n1, n2 := len(a), len(b)
	if n1 < 2 || n2 < 2 {
		return nil, fmt.Errorf("fid: KID needs at least 2 feature vectors per set, got %d and %d", n1, n2)
	}
	d := len(a[0])
	if d < 1 {
		return nil, fmt.Errorf("fid: KID: the feature vectors have no values")
	}
	x, err := denseOf(append(append([][]float32{}, a...), b...), d)
	if err != nil {
		return nil, err
	}
	m := min(n1, n2, opts.SubsetSize)
	if m == n1 && m == n2 {
		opts.Subsets = 1 // every subset is the whole of both sets
	}
	var gram *mat.Dense
	if n := n1 + n2; n*n*8 <= maxGramBytes {
		gram = kernel(x, x, d)
	}
	r := rand.New(rand.NewPCG(opts.Seed, 0x4b4944))
	vals := make([]float64, opts.Subsets)
	for s := range vals {
		ia := r.Perm(n1)[:m]
		ib := r.Perm(n2)[:m]
		for i := range ib {
			ib[i] += n1
		}
		vals[s] = mmd(x, gram, ia, ib, d)
	}
	res := &KIDValue{SubsetSize: m, Subsets: len(vals)}
	for _, v := range vals {
		res.KID += v
	}
	res.KID /= float64(len(vals))
	for _, v := range vals {
		res.Std += (v - res.KID) * (v - res.KID)
	}
	res.Std = math.Sqrt(res.Std / float64(len(vals)))
	return res, nil
}

// denseOf stacks vectors of d values into a matrix.
func denseOf(v [][]float32, d int) (*mat.Dense, error) {
	x := mat.NewDense(len(v), d, nil)
	for i, row := range v {
		if len(row) != d {
			return nil, fmt.Errorf("fid: feature vector %d has %d values, vector 0 has %d", i, len(row), d)
		}
		for j, f := range row {
			if v := float64(f); math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("fid: feature vector %d has %v at %d", i, v, j)
			}
			x.Set(i, j, float64(f))
		}
	}
	return x, nil
}

// kernel returns (x yᵀ/d + 1)³.
func kernel(x, y mat.Matrix, d int) *mat.Dense {
	var k mat.Dense
	k.Mul(x, y.T())
	k.Apply(func(_, _ int, v float64) float64 {
		t := v/float64(d) + 1
		return t * t * t
	}, &k)
	return &k
}

// mmd is the unbiased MMD² of the rows ia and ib of x, from the
// precomputed gram when there is one.
func mmd(x, gram *mat.Dense, ia, ib []int, d int) float64 {
	m := len(ia)
	var kxx, kyy, kxy mat.Matrix
	if gram != nil {
		sub := func(r, c []int) mat.Matrix {
			s := mat.NewDense(len(r), len(c), nil)
			for i, ri := range r {
				for j, cj := range c {
					s.Set(i, j, gram.At(ri, cj))
				}
			}
			return s
		}
		kxx, kyy, kxy = sub(ia, ia), sub(ib, ib), sub(ia, ib)
	} else {
		rows := func(idx []int) *mat.Dense {
			s := mat.NewDense(len(idx), d, nil)
			for i, k := range idx {
				s.SetRow(i, x.RawRowView(k))
			}
			return s
		}
		xa, xb := rows(ia), rows(ib)
		kxx, kyy, kxy = kernel(xa, xa, d), kernel(xb, xb, d), kernel(xa, xb, d)
	}
	offDiag := func(k mat.Matrix) float64 { return mat.Sum(k) - mat.Trace(k) }
	fm := float64(m)
	return (offDiag(kxx)+offDiag(kyy))/(fm*(fm-1)) - 2*mat.Sum(kxy)/(fm*fm)
}
