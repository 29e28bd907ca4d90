package ops

import (
	"math"
	"testing"

	"github.com/cadps/toolkit/internal/num"
)

// outer returns the row-major size×size kernel col·rowᵀ.
func outer(col, row []float32) []float32 {
	k := make([]float32, 0, len(col)*len(row))
	for _, c := range col {
		for _, r := range row {
			k = append(k, c*r)
		}
	}
	return k
}

// TestBlurSeparable checks which kernels take the two-pass path, and that
// the two-pass A, its VJP and its adjoint equal the direct 2-D correlation
// (the same operator with the factors removed) to float32 rounding.
func TestBlurSeparable(t *testing.T) {
	gauss, err := GaussianKernel(61, 3)
	if err != nil {
		t.Fatal(err)
	}
	motion, err := NewMotionBlur(31, 0.5, 11)
	if err != nil {
		t.Fatal(err)
	}
	asym := outer([]float32{0.1, 0.5, 0.2, -0.3, 0.05}, []float32{1, -2, 0.5, 0.25, 3})
	perturbed := outer([]float32{0.1, 0.5, 0.2}, []float32{1, 2, 0.5})
	perturbed[4] += 1e-3
	b := newBackend(t)
	for _, c := range []struct {
		name      string
		kernel    []float32
		size      int
		separable bool
		shape     []int
	}{
		{"gaussian 61", gauss, 61, true, []int{1, 2, 70, 64}},
		{"asymmetric rank one", asym, 5, true, []int{2, 1, 9, 7}},
		{"asymmetric rank one, largest padding", asym, 5, true, []int{2, 3, 3, 5}},
		{"1x1", []float32{0.5}, 1, true, []int{1, 1, 4, 5}},
		{"motion", motion.Kernel(), 31, false, nil},
		{"rank one plus 1e-3", perturbed, 3, false, nil},
		{"zero", make([]float32, 9), 3, false, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			op, err := NewBlur("blur", c.kernel, c.size)
			if err != nil {
				t.Fatal(err)
			}
			if op.Separable() != c.separable {
				t.Fatalf("Separable() = %v, want %v", op.Separable(), c.separable)
			}
			if !c.separable {
				return
			}
			direct := *op
			direct.col, direct.row = nil, nil
			x := randomVector(3, num.Prod(c.shape))
			v := randomVector(4, num.Prod(c.shape))
			got := evaluate(t, b, op, x, c.shape, v)
			want := evaluate(t, b, &direct, x, c.shape, v)
			for _, p := range []struct {
				what      string
				got, want []float32
			}{{"A(x)", got.y, want.y}, {"VJP", got.vjp, want.vjp}, {"adjoint", got.adjoint, want.adjoint}} {
				scale, worst := 0.0, 0.0
				for i := range p.want {
					scale = math.Max(scale, math.Abs(float64(p.want[i])))
					worst = math.Max(worst, math.Abs(float64(p.got[i]-p.want[i])))
				}
				if worst > 1e-5*scale || math.IsNaN(worst) {
					t.Errorf("%s: max |two-pass − direct| = %.3g (scale %.3g)", p.what, worst, scale)
				}
			}
		})
	}
}

// TestBlurUseMatrices checks the choice between the matrix products and the
// correlation by their cost per pixel (H + W against size²).
func TestBlurUseMatrices(t *testing.T) {
	for _, c := range []struct {
		size  int
		shape []int
		want  bool
	}{
		{61, []int{1, 3, 256, 256}, true},
		{9, []int{1, 1, 32, 32}, true},
		{9, []int{1, 3, 256, 256}, false},
		{1, []int{1, 1, 4, 5}, false},
	} {
		k, err := GaussianKernel(c.size, 1)
		if err != nil {
			t.Fatal(err)
		}
		op, err := NewBlur("gaussian_blur", k, c.size)
		if err != nil {
			t.Fatal(err)
		}
		if got := op.useMatrices(c.shape); got != c.want {
			t.Errorf("%d×%d kernel on %v: matrices %v, want %v", c.size, c.size, c.shape, got, c.want)
		}
	}
}
