// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cadps/toolkit/internal/benchutil"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestSliceFloat32 checks float32 slices (whole trailing axes, strided
// outer and inner axes, short runs, single elements) against indexing the
// operand element by element.
func TestSliceFloat32(t *testing.T) {
	be := newTestBackend(t)
	r := rand.New(rand.NewPCG(5, 6))
	cases := []struct{ dims, starts, limits, strides []int }{
		{[]int{3, 5, 7}, []int{1, 0, 0}, []int{3, 5, 7}, []int{1, 1, 1}},
		{[]int{3, 5, 7}, []int{0, 1, 2}, []int{3, 4, 7}, []int{1, 1, 1}},
		{[]int{3, 5, 7}, []int{0, 0, 0}, []int{3, 5, 7}, []int{2, 1, 1}},
		{[]int{3, 5, 7}, []int{0, 0, 1}, []int{3, 5, 7}, []int{1, 2, 2}},
		{[]int{4, 9, 10}, []int{1, 0, 0}, []int{4, 9, 10}, []int{2, 3, 1}},
		{[]int{2, 6, 3}, []int{0, 1, 0}, []int{2, 6, 2}, []int{1, 1, 1}},
		{[]int{2, 1, 11}, []int{0, 0, 3}, []int{2, 1, 11}, []int{1, 1, 1}},
		{[]int{13}, []int{2}, []int{13}, []int{1}},
		{[]int{5, 5}, []int{4, 4}, []int{5, 5}, []int{1, 1}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%v/%v/%v/%v", c.dims, c.starts, c.limits, c.strides), func(t *testing.T) {
			x := randTensor(r, c.dims...)
			flat := tensors.MustCopyFlatData[float32](x)
			got := graph.MustExecOnce(be, func(x *graph.Node) *graph.Node {
				specs := make([]graph.SliceAxisSpec, len(c.dims))
				for a := range specs {
					specs[a] = graph.AxisRange(c.starts[a], c.limits[a]).Stride(c.strides[a])
				}
				return graph.Slice(x, specs...)
			}, x)
			var want []float32
			var walk func(axis, offset int)
			walk = func(axis, offset int) {
				if axis == len(c.dims) {
					want = append(want, flat[offset])
					return
				}
				for i := c.starts[axis]; i < c.limits[axis]; i += c.strides[axis] {
					walk(axis+1, offset*c.dims[axis]+i)
				}
			}
			walk(0, 0)
			if g := tensors.MustCopyFlatData[float32](got); !slices.Equal(g, want) {
				t.Fatalf("got %v, want %v", g, want)
			}
		})
	}
}

// TestBroadcastInDimFloat32 checks explicit broadcasts onto new leading,
// trailing and middle axes, of size-1 axes and of a scalar, against
// element-by-element indexing; axes lists where each axis of from lands.
func TestBroadcastInDimFloat32(t *testing.T) {
	be := newTestBackend(t)
	r := rand.New(rand.NewPCG(7, 8))
	cases := []struct {
		from, to, axes []int
	}{
		{[]int{7}, []int{3, 7}, []int{1}},
		{[]int{7}, []int{7, 9}, []int{0}},
		{[]int{3, 5}, []int{3, 4, 5}, []int{0, 2}},
		{[]int{3, 5}, []int{2, 3, 5, 6}, []int{1, 2}},
		{[]int{2}, []int{2, 3}, []int{0}},
		{[]int{}, []int{4, 5}, []int{}},
		{[]int{1, 5}, []int{6, 5}, []int{0, 1}},
		// Nearest-neighbour upsampling and other repeats of each value.
		{[]int{2, 3, 1, 5, 1}, []int{2, 3, 2, 5, 2}, []int{0, 1, 2, 3, 4}},
		{[]int{3, 1, 7, 1}, []int{3, 3, 7, 3}, []int{0, 1, 2, 3}},
		{[]int{1, 9, 1}, []int{1, 9, 2}, []int{0, 1, 2}},
		{[]int{4, 1, 1}, []int{4, 3, 1}, []int{0, 1, 2}},
		{[]int{5}, []int{5, 2}, []int{0}},
		{[]int{3, 5}, []int{2, 3, 5, 3}, []int{1, 2}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%v/%v/%v", c.from, c.to, c.axes), func(t *testing.T) {
			x := randTensor(r, c.from...)
			flat := tensors.MustCopyFlatData[float32](x)
			got := graph.MustExecOnce(be, func(x *graph.Node) *graph.Node {
				if len(c.from) == len(c.to) {
					return graph.BroadcastToDims(x, c.to...)
				}
				var expanded []int
				for a := range c.to {
					if !slices.Contains(c.axes, a) {
						expanded = append(expanded, a)
					}
				}
				return graph.ExpandAndBroadcast(x, c.to, expanded)
			}, x)
			size := 1
			for _, d := range c.to {
				size *= d
			}
			want := make([]float32, size)
			idx := make([]int, len(c.to))
			for i := range want {
				src := 0
				for k, a := range c.axes {
					src = src*c.from[k] + min(idx[a], c.from[k]-1)
				}
				want[i] = flat[src]
				for a := len(c.to) - 1; a >= 0; a-- {
					idx[a]++
					if idx[a] < c.to[a] {
						break
					}
					idx[a] = 0
				}
			}
			if g := tensors.MustCopyFlatData[float32](got); !slices.Equal(g, want) {
				t.Fatalf("got %v, want %v", g, want)
			}
		})
	}
}

// TestFillElements checks Pad's fill of zero and non-zero values of one,
// four and eight bytes over lengths that are not powers of two.
func TestFillElements(t *testing.T) {
	for _, value := range [][]byte{{0}, {7}, {0, 0, 0, 0}, {1, 2, 3, 4}, {0, 0, 0, 0, 0, 0, 0, 9}} {
		for _, n := range []int{0, 1, 3, 5, 17} {
			out := make([]byte, n*len(value))
			for i := range out {
				out[i] = 0xAA
			}
			fillElements(out, value)
			for i := range out {
				if out[i] != value[i%len(value)] {
					t.Fatalf("value %v, %d elements: byte %d = %d, want %d", value, n, i, out[i], value[i%len(value)])
				}
			}
		}
	}
}

// BenchmarkNearestUpsample times the two halves of a UNet's 2× nearest-
// neighbour upsampling of [1,c,h,w] maps, one op each: the broadcast onto
// [1,c,h,2,w,2] (the forward) and the sum over its axes of 2 (the
// gradient), at the small prior's sizes and the FFHQ-256 UNet's largest.
func BenchmarkNearestUpsample(b *testing.B) {
	be := newTestBackend(b)
	for _, d := range [][3]int{{32, 16, 16}, {64, 8, 8}, {128, 128, 128}} {
		c, h, w := d[0], d[1], d[2]
		r := rand.New(rand.NewPCG(1, 1))
		for _, op := range []struct {
			name string
			in   *tensors.Tensor
			f    func(x *graph.Node) *graph.Node
		}{
			{"broadcast", benchutil.RandTensor(r, 1, c, h, 1, w, 1), func(x *graph.Node) *graph.Node {
				return graph.BroadcastToDims(x, 1, c, h, 2, w, 2)
			}},
			{"sum", benchutil.RandTensor(r, 1, c, h, 2, w, 2), func(x *graph.Node) *graph.Node {
				return graph.ReduceSum(x, 3, 5)
			}},
		} {
			b.Run(fmt.Sprintf("%s/%dx%dx%d", op.name, c, h, w), func(b *testing.B) {
				exec := graph.MustNewExec(be, op.f)
				exec.MustExec(op.in)[0].FinalizeAll()
				for b.Loop() {
					exec.MustExec(op.in)[0].FinalizeAll()
				}
			})
		}
	}
}
