package ops

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestGramDiagonal checks the closed-form diagonal of A diag(c) Aᵀ against
// A applied to the columns of diag(c) Aᵀ built densely, and that operators
// whose rows overlap are not given one.
func TestGramDiagonal(t *testing.T) {
	const h, w = 8, 8
	r := rand.New(rand.NewPCG(3, 4))
	mask := make([]float32, h*w)
	for k := range mask {
		mask[k] = float32(r.IntN(2))
	}
	inpaint, err := NewInpainting(mask, h, w)
	if err != nil {
		t.Fatal(err)
	}
	box, err := NewSuperResolution(2, "box")
	if err != nil {
		t.Fatal(err)
	}
	cubic, err := NewSuperResolution(2, "cubic")
	if err != nil {
		t.Fatal(err)
	}
	blur, err := NewGaussianBlur(3, 1)
	if err != nil {
		t.Fatal(err)
	}
	c := make([]float32, h*w)
	for k := range c {
		c[k] = r.Float32()
	}
	cases := []struct {
		name string
		op   Linear
		ok   bool
	}{
		{"inpainting", inpaint, true},
		{"super_resolution box", box, true},
		{"super_resolution cubic", cubic, false},
		{"gaussian_blur", blur, false},
	}
	b := newBackend(t)
	run := func(f func(g *graph.Graph) *graph.Node) []float32 {
		out, err := graph.ExecOnce(b, f)
		if err != nil {
			t.Fatal(err)
		}
		return tensors.MustCopyFlatData[float32](out)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ok bool
			got := run(func(g *graph.Graph) *graph.Node {
				cn := graph.Reshape(graph.Const(g, c), 1, 1, h, w)
				dg, implements := tc.op.(DiagonalGram)
				if !implements {
					return graph.Zeros(g, cn.Shape())
				}
				d, diag := dg.GramDiagonal(cn)
				if ok = diag; !diag {
					return graph.Zeros(g, cn.Shape())
				}
				return d
			})
			if ok != tc.ok {
				t.Fatalf("GramDiagonal ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			// Dense G = A diag(c) Aᵀ, column by column: G e_j = A(c ⊙ Aᵀ e_j).
			want := run(func(g *graph.Graph) *graph.Node {
				cn := graph.Reshape(graph.Const(g, c), 1, 1, h, w)
				probe := graph.Zeros(g, tc.op.Apply(cn).Shape())
				m := probe.Shape().Size()
				cols := make([]*graph.Node, m)
				for j := range m {
					e := graph.Reshape(graph.OneHot(graph.Const(g, int32(j)), m, probe.DType()), probe.Shape().Dimensions...)
					cols[j] = graph.Reshape(tc.op.Apply(graph.Mul(cn, tc.op.Adjoint(e))), 1, m)
				}
				return graph.Concatenate(cols, 0) // row j = G e_j
			})
			m := len(got)
			for j := range m {
				for i := range m {
					v := float64(want[j*m+i])
					if i == j {
						v -= float64(got[i])
					}
					if math.Abs(v) > 1e-5 {
						t.Fatalf("G[%d,%d] off by %.3g", i, j, v)
					}
				}
			}
		})
	}
}

// TestMeasuresImage checks which tasks' measurements are images.
func TestMeasuresImage(t *testing.T) {
	for _, c := range []struct {
		spec string
		want bool
	}{
		{"super_resolution:factor=4", true},
		{"gaussian_blur", true},
		{"motion_blur", true},
		{"inpaint_box", true},
		{"phase_retrieval", false},
		{"phase_retrieval:oversample=0", false},
	} {
		op, err := Parse(c.spec, img256, 1)
		if err != nil {
			t.Fatal(err)
		}
		if got := MeasuresImage(op); got != c.want {
			t.Errorf("MeasuresImage(%s) = %v, want %v", c.spec, got, c.want)
		}
	}
	f, err := NewFunc("square", func(in []int) ([]int, error) { return in, nil }, graph.Square)
	if err != nil {
		t.Fatal(err)
	}
	if !MeasuresImage(f) {
		t.Error("MeasuresImage of a Func = false, want true (the default)")
	}
}

// TestHasSVD checks which tasks' operators give an SVD and a closed-form
// proximal step: all linear ones but blurs with a non-separable kernel.
func TestHasSVD(t *testing.T) {
	for _, c := range []struct {
		spec string
		want bool
	}{
		{"super_resolution:factor=4", true},
		{"gaussian_blur", true},
		{"motion_blur", false},
		{"inpaint_box", true},
		{"phase_retrieval", false},
	} {
		op, err := Parse(c.spec, img256, 1)
		if err != nil {
			t.Fatal(err)
		}
		if got := HasSVD(op); got != c.want {
			t.Errorf("HasSVD(%s) = %v, want %v", c.spec, got, c.want)
		}
		if got := HasProx(op); got != c.want {
			t.Errorf("HasProx(%s) = %v, want %v", c.spec, got, c.want)
		}
	}
}

// TestGramDiagonalOtherShape checks that an operator with a closed-form
// Gram diagonal answers ok = false, without panicking, for a c of a shape
// it does not take.
func TestGramDiagonalOtherShape(t *testing.T) {
	mask := make([]float32, 16*16)
	for k := range mask {
		mask[k] = float32(k % 2)
	}
	inpaint, err := NewInpainting(mask, 16, 16)
	if err != nil {
		t.Fatal(err)
	}
	box, err := NewSuperResolution(2, "box")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		op   DiagonalGram
		dims []int
	}{
		{"inpainting 16x16 on 8x8", inpaint, []int{1, 3, 8, 8}},
		{"inpainting 16x16 on 16x8", inpaint, []int{1, 3, 16, 8}},
		{"inpainting on a 3-D c", inpaint, []int{3, 16, 16}},
		{"super_resolution x2 on 1x1", box, []int{1, 3, 1, 1}},
		{"super_resolution on a 3-D c", box, []int{3, 8, 8}},
	}
	b := newBackend(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ok bool
			_, err := graph.ExecOnce(b, func(g *graph.Graph) *graph.Node {
				c := graph.Zeros(g, shapes.Make(dtypes.Float32, tc.dims...))
				if _, ok = tc.op.GramDiagonal(c); ok {
					t.Errorf("GramDiagonal(c %v) ok = true, want false", tc.dims)
				}
				return c
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
