package linalg

import (
	"fmt"
	"math"
	"slices"
)

// SVD returns the singular value decomposition a = U diag(s) Vᵀ of a
// dense r×c matrix (row-major rows) by one-sided Jacobi rotations: u is
// r×k, s has k = min(r,c) values in decreasing order, v is c×c with its
// first k columns matching s and the rest spanning the null space.
func SVD(a [][]float64) (u [][]float64, s []float64, v [][]float64, err error) {
	r := len(a)
	if r == 0 || len(a[0]) == 0 {
		return nil, nil, nil, fmt.Errorf("linalg: SVD of an empty matrix")
	}
	c := len(a[0])
	for _, row := range a {
		if len(row) != c {
			return nil, nil, nil, fmt.Errorf("linalg: SVD of a ragged matrix (rows of different lengths)")
		}
		for _, x := range row {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, nil, nil, fmt.Errorf("linalg: SVD of a matrix with non-finite entries")
			}
		}
	}
	if r < c {
		return svdWide(a)
	}
	// Columns of w = a·v are rotated until orthogonal; w is kept column-major.
	w := make([][]float64, c)
	v = make([][]float64, c) // v[j] is column j
	for j := range w {
		w[j] = make([]float64, r)
		for i := range r {
			w[j][i] = a[i][j]
		}
		v[j] = make([]float64, c)
		v[j][j] = 1
	}
	for sweep := 0; sweep < 60; sweep++ {
		rotated := false
		for p := 0; p < c-1; p++ {
			for q := p + 1; q < c; q++ {
				alpha, beta, gamma := Dot(w[p], w[p]), Dot(w[q], w[q]), Dot(w[p], w[q])
				if gamma == 0 || math.Abs(gamma) <= 1e-15*math.Sqrt(alpha*beta) {
					continue
				}
				rotated = true
				zeta := (beta - alpha) / (2 * gamma)
				t := math.Copysign(1, zeta) / (math.Abs(zeta) + math.Sqrt(1+zeta*zeta))
				cs := 1 / math.Sqrt(1+t*t)
				sn := cs * t
				rotate(w[p], w[q], cs, sn)
				rotate(v[p], v[q], cs, sn)
			}
		}
		if !rotated {
			break
		}
	}
	order := make([]int, c)
	norms := make([]float64, c)
	for j := range order {
		order[j] = j
		norms[j] = math.Sqrt(Dot(w[j], w[j]))
	}
	slices.SortStableFunc(order, func(x, y int) int {
		switch {
		case norms[x] > norms[y]:
			return -1
		case norms[x] < norms[y]:
			return 1
		}
		return 0
	})
	k := min(r, c)
	s = make([]float64, k)
	u = make([][]float64, r)
	for i := range u {
		u[i] = make([]float64, k)
	}
	vOut := make([][]float64, c)
	for i := range vOut {
		vOut[i] = make([]float64, c)
	}
	for jj, j := range order {
		for i := range c {
			vOut[i][jj] = v[j][i]
		}
		if jj < k {
			if norms[j] <= 1e-13*norms[order[0]] {
				continue // numerically zero: completeColumns gives u a unit column
			}
			s[jj] = norms[j]
			for i := range r {
				if norms[j] > 0 {
					u[i][jj] = w[j][i] / norms[j]
				}
			}
		}
	}
	completeColumns(u, s)
	return u, s, vOut, nil
}

// svdWide is SVD for r < c: the rotations run over the r columns of
// aᵀ (c² rotations of length-c columns would cost seconds for the mixture
// benchmark's 4×800 matrices), and V's null space is completed by the
// Householder reflections of a QR factorisation of its first r columns.
func svdWide(a [][]float64) (u [][]float64, s []float64, v [][]float64, err error) {
	r, c := len(a), len(a[0])
	at := make([][]float64, c)
	for j := range at {
		at[j] = make([]float64, r)
		for i := range r {
			at[j][i] = a[i][j]
		}
	}
	ut, s, vt, err := SVD(at) // aᵀ = ut·diag(s)·vtᵀ: ut is c×r, vt r×r
	if err != nil {
		return nil, nil, nil, err
	}
	v = make([][]float64, c)
	for i := range v {
		v[i] = make([]float64, c)
		copy(v[i], ut[i])
	}
	for j, col := range householderComplement(ut, r) {
		for i := range c {
			v[i][r+j] = col[i]
		}
	}
	return vt, s, v, nil
}

// householderComplement returns c−k unit vectors orthogonal to each other
// and to the k orthonormal columns of the c×k matrix q: the last c−k
// columns of the orthogonal factor of q's Householder QR.
func householderComplement(q [][]float64, k int) [][]float64 {
	c := len(q)
	m := make([][]float64, k) // m[j] is column j, reduced in place
	for j := range m {
		m[j] = make([]float64, c)
		for i := range c {
			m[j][i] = q[i][j]
		}
	}
	refl := make([][]float64, k)
	for j := range k {
		x := m[j][j:]
		norm := math.Sqrt(Dot(x, x))
		w := append([]float64(nil), x...)
		w[0] += math.Copysign(norm, x[0])
		ww := Dot(w, w)
		if ww == 0 {
			refl[j] = nil
			continue
		}
		refl[j] = w
		for jj := j; jj < k; jj++ {
			y := m[jj][j:]
			f := 2 * Dot(w, y) / ww
			for i := range y {
				y[i] -= f * w[i]
			}
		}
	}
	out := make([][]float64, c-k)
	for e := range out {
		col := make([]float64, c)
		col[k+e] = 1
		for j := k - 1; j >= 0; j-- {
			w := refl[j]
			if w == nil {
				continue
			}
			y := col[j:]
			f := 2 * Dot(w, y) / Dot(w, w)
			for i := range y {
				y[i] -= f * w[i]
			}
		}
		out[e] = col
	}
	return out
}

// completeColumns replaces the columns of u whose singular value is zero
// by unit vectors orthogonal to the others (Gram–Schmidt over the standard
// basis), so that u stays orthogonal for rank-deficient matrices.
func completeColumns(u [][]float64, s []float64) {
	r := len(u)
	for j, sj := range s {
		if sj > 0 {
			continue
		}
		for e := 0; e < r; e++ {
			col := make([]float64, r)
			col[e] = 1
			for range 2 { // twice, for orthogonality to rounding
				for k := range s {
					if k == j || (s[k] == 0 && k > j) {
						continue
					}
					var d float64
					for i := range r {
						d += u[i][k] * col[i]
					}
					for i := range r {
						col[i] -= d * u[i][k]
					}
				}
			}
			if n := math.Sqrt(Dot(col, col)); n > 1e-6 {
				for i := range r {
					u[i][j] = col[i] / n
				}
				break
			}
		}
	}
}

// Dot returns the dot product of a and b, which have the same length.
func Dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// rotate applies the Jacobi rotation (c, s) to the pair of vectors (a, b).
func rotate(a, b []float64, c, s float64) {
	for i := range a {
		x, y := a[i], b[i]
		a[i] = c*x - s*y
		b[i] = s*x + c*y
	}
}
