package ops

import (
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/internal/fixtures"
)

// TestGoBackend applies the operators built from convolutions (blurs, and
// the bicubic resizer's separable matrices) on GoMLX's own pure-Go backend
// (GOMLX_BACKEND=go, offered for comparison) and checks that it gives the
// toolkit's CPU backend's A(x). That backend refuses a convolution whose
// strides are left unset.
func TestGoBackend(t *testing.T) {
	simple, err := backend.NewWithConfig("go:ops_sequential")
	if err != nil {
		t.Fatal(err)
	}
	def := newBackend(t)
	dims := []int{1, 3, 16, 16}
	x := make([]float32, 3*16*16)
	for i := range x {
		x[i] = float32(i%13)/6 - 1
	}
	for _, spec := range []string{"gaussian_blur:kernel_size=5,sigma=1.5", "motion_blur:kernel_size=7", "super_resolution:factor=2"} {
		t.Run(spec, func(t *testing.T) {
			op, err := Parse(spec, dims, 1)
			if err != nil {
				t.Fatal(err)
			}
			want := evaluate(t, def, op, x, dims, nil).y
			got := evaluate(t, simple, op, x, dims, nil).y
			d, err := fixtures.MaxRelDiff(got, want)
			if err != nil {
				t.Fatal(err)
			}
			if d > 1e-6 {
				t.Errorf("GoMLX's pure-Go backend differs from the toolkit's by %.3g > 1e-6", d)
			}
		})
	}
}
