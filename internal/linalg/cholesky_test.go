package linalg

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestCholesky(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 5, 17} {
		// a = B Bᵀ + I is symmetric positive definite.
		b := make([]float64, n*n)
		for k := range b {
			b[k] = r.NormFloat64()
		}
		a := make([]float64, n*n)
		for i := range n {
			for j := range n {
				for k := range n {
					a[i*n+j] += b[i*n+k] * b[j*n+k]
				}
			}
			a[i*n+i]++
		}
		l, err := Cholesky(a, n)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			for j := range n {
				var s float64
				for k := range n {
					s += l[i*n+k] * l[j*n+k]
				}
				if math.Abs(s-a[i*n+j]) > 1e-10*(1+math.Abs(a[i*n+j])) {
					t.Fatalf("n=%d: (LLᵀ)[%d,%d] = %v, want %v", n, i, j, s, a[i*n+j])
				}
				if j > i && l[i*n+j] != 0 {
					t.Fatalf("n=%d: L[%d,%d] = %v above the diagonal", n, i, j, l[i*n+j])
				}
			}
		}
		// Solve a x = y for a known x.
		x := make([]float64, n)
		y := make([]float64, n)
		for i := range n {
			x[i] = float64(i) - 1.5
		}
		for i := range n {
			for j := range n {
				y[i] += a[i*n+j] * x[j]
			}
		}
		CholSolve(l, n, y)
		for i := range n {
			if math.Abs(y[i]-x[i]) > 1e-9 {
				t.Fatalf("n=%d: x[%d] = %v, want %v", n, i, y[i], x[i])
			}
		}
		// log det from the LU-free product of the pivots, checked for n = 2.
		if n == 2 {
			det := a[0]*a[3] - a[1]*a[2]
			if got := CholLogDet(l, n); math.Abs(got-math.Log(det)) > 1e-12 {
				t.Errorf("log det %v, want %v", got, math.Log(det))
			}
		}
	}
}

func TestCholeskyErrors(t *testing.T) {
	cases := []struct {
		name string
		a    []float64
		n    int
		want string
	}{
		{"size", []float64{1, 2, 3}, 2, "3 values"},
		{"singular", []float64{1, 1, 1, 1}, 2, "row 1"},
		{"indefinite", []float64{1, 2, 2, 1}, 2, "not positive definite"},
		{"nan", []float64{math.NaN()}, 1, "row 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Cholesky(c.a, c.n)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}
