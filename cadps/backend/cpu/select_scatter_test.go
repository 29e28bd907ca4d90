// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// poolGradRef is the gradient of sum(v · pool(x)) with respect to x for a
// 2-D max (or min) pool over the last two axes of x [planes, h, w]: each
// window's v goes to its first extreme element, padded positions excluded.
func poolGradRef(x []float32, planes, h, w, k, stride, pad, oh, ow int, v []float32, isMax bool) []float32 {
	g := make([]float32, len(x))
	for p := range planes {
		for oy := range oh {
			for ox := range ow {
				best := -1
				for ky := range k {
					for kx := range k {
						y, xx := oy*stride-pad+ky, ox*stride-pad+kx
						if y < 0 || y >= h || xx < 0 || xx >= w {
							continue
						}
						i := (p*h+y)*w + xx
						if best < 0 || (isMax && x[i] > x[best]) || (!isMax && x[i] < x[best]) {
							best = i
						}
					}
				}
				if best >= 0 {
					g[best] += v[(p*oh+oy)*ow+ox]
				}
			}
		}
	}
	return g
}

// TestSelectAndScatter differentiates max and min window reductions and
// compares with poolGradRef, on maps with ties (small integers), padding,
// overlapping and skipping windows, and odd sizes.
func TestSelectAndScatter(t *testing.T) {
	be := newTestBackend(t)
	r := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct {
		name                  string
		planes, h, w, k, s, p int
		isMax                 bool
	}{
		{"max 3x3 s2", 3, 9, 7, 3, 2, 0, true},
		{"max 3x3 s1 pad1", 2, 5, 6, 3, 1, 1, true},
		{"max 2x2 s2", 1, 8, 8, 2, 2, 0, true},
		{"max 3x3 s3 skips", 2, 10, 11, 2, 3, 0, true},
		{"max 1x1", 1, 3, 4, 1, 1, 0, true},
		{"min 3x3 s2 pad1", 2, 7, 5, 3, 2, 1, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			oh := (c.h+2*c.p-c.k)/c.s + 1
			ow := (c.w+2*c.p-c.k)/c.s + 1
			x := make([]float32, c.planes*c.h*c.w)
			for i := range x {
				x[i] = float32(r.IntN(4)) // ties in most windows
			}
			v := make([]float32, c.planes*oh*ow)
			for i := range v {
				v[i] = float32(r.NormFloat64())
			}
			op := backends.ReduceOpMax
			if !c.isMax {
				op = backends.ReduceOpMin
			}
			exec, err := graph.NewExec(be, func(x, v *graph.Node) *graph.Node {
				y := graph.BackendReduceWindow(x, op, []int{1, c.k, c.k}, []int{1, c.s, c.s}, nil, nil,
					[][2]int{{}, {c.p, c.p}, {c.p, c.p}})
				return graph.Gradient(graph.ReduceAllSum(graph.Mul(y, v)), x)[0]
			})
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, c.planes, c.h, c.w), tensors.FromFlatDataAndDimensions(v, c.planes, oh, ow))
			if err != nil {
				t.Fatal(err)
			}
			got := tensors.MustCopyFlatData[float32](out[0])
			want := poolGradRef(x, c.planes, c.h, c.w, c.k, c.s, c.p, oh, ow, v, c.isMax)
			for i := range want {
				if d := got[i] - want[i]; d > 1e-6 || d < -1e-6 {
					t.Fatalf("element %d: got %g, want %g", i, got[i], want[i])
				}
			}
		})
	}
}

// TestSelectAndScatterRefuses names the problem for a source whose shape is
// not the operand's windows.
func TestSelectAndScatterRefuses(t *testing.T) {
	be := newTestBackend(t)
	b := be.Builder("refuse")
	x, err := b.Parameter("x", shapes.Make(dtypes.Float32, 4, 4), nil)
	if err != nil {
		t.Fatal(err)
	}
	src, err := b.Parameter("v", shapes.Make(dtypes.Float32, 3, 3), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.SelectAndScatterMax(x, src, []int{2, 2}, []int{2, 2}, nil); err == nil {
		t.Fatal("a [3,3] source for the [2,2] windows of a [4,4] operand was accepted")
	}
}
