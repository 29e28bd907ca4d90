// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/dtypes/bfloat16"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// newTestBackend returns this package's backend in its default configuration.
func newTestBackend(t testing.TB) backends.Backend {
	t.Helper()
	b, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newConfigured returns the backend named by config, "<name>[:<options>]":
// this package's ("cadps") or upstream's pure-Go backend ("go"), for
// comparisons.
func newConfigured(config string) (backends.Backend, error) {
	name, options, _ := strings.Cut(config, ":")
	if name == "go" {
		return simplego.New(options)
	}
	return New(options)
}
func randSlice(r *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = r.NormFloat64()
	}
	return v
}

func assertClose(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > tol*math.Max(1, math.Abs(want[i])) {
			t.Fatalf("%s: element %d = %g, want %g", what, i, got[i], want[i])
		}
	}
}

// twoInputGraph is a compiled graph of two parameters, x and k, of one
// dtype (float32 or float64).
type twoInputGraph struct {
	be       *Backend
	b        *Builder
	exec     *Executable
	dtype    dtypes.DType
	xd, kd   []int
	outShape shapes.Shape
}

// compileTwoInputs builds the graph whose output build returns from the
// parameters x [xd] and k [kd] of dtype, and compiles it.
func compileTwoInputs(t *testing.T, dtype dtypes.DType, xd, kd []int, build func(b *Builder, x, k backends.Op) (backends.Op, error)) *twoInputGraph {
	t.Helper()
	be, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	g := &twoInputGraph{be: be.(*Backend), dtype: dtype, xd: xd, kd: kd}
	g.b = be.Builder(t.Name()).(*Builder)
	xo, err := g.b.Parameter("x", shapes.Make(dtype, xd...), nil)
	if err != nil {
		t.Fatal(err)
	}
	ko, err := g.b.Parameter("k", shapes.Make(dtype, kd...), nil)
	if err != nil {
		t.Fatal(err)
	}
	y, err := build(g.b, xo, ko)
	if err != nil {
		t.Fatal(err)
	}
	if g.outShape, err = g.b.OpShape(y); err != nil {
		t.Fatal(err)
	}
	exec, err := g.b.Compile([]backends.Op{y}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g.exec = exec.(*Executable)
	return g
}

// run executes the graph on x and k (flat, in the parameters' layouts,
// converted to the graph's dtype) and returns its output as float64.
func (g *twoInputGraph) run(t *testing.T, x, k []float64) []float64 {
	t.Helper()
	buffer := func(v []float64, dims []int) backends.Buffer {
		var flat any = v
		if g.dtype == dtypes.Float32 {
			v32 := make([]float32, len(v))
			for i, f := range v {
				v32[i] = float32(f)
			}
			flat = v32
		}
		buf, err := g.be.BufferFromFlatData(0, flat, shapes.Make(g.dtype, dims...))
		if err != nil {
			t.Fatal(err)
		}
		return buf
	}
	outs, err := g.exec.Execute([]backends.Buffer{buffer(x, g.xd), buffer(k, g.kd)}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]float64, g.outShape.Size())
	if g.dtype != dtypes.Float32 {
		if err := g.be.BufferToFlatData(outs[0], got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	got32 := make([]float32, len(got))
	if err := g.be.BufferToFlatData(outs[0], got32); err != nil {
		t.Fatal(err)
	}
	for i, v := range got32 {
		got[i] = float64(v)
	}
	return got
}

// boolToInt is 1 for true, 0 for false.
func boolToInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// flat64 returns x's values as float64 (64-bit integers past 2⁵³
// rounded: compareOutputs compares integers by their own values).
func flat64(t *testing.T, x *tensors.Tensor) []float64 {
	t.Helper()
	var out []float64
	err := x.ConstFlatData(func(flat any) {
		switch v := flat.(type) {
		case []float32:
			for _, e := range v {
				out = append(out, float64(e))
			}
		case []float64:
			out = append(out, v...)
		case []bfloat16.BFloat16:
			for _, e := range v {
				out = append(out, float64(e.Float32()))
			}
		case []int32:
			for _, e := range v {
				out = append(out, float64(e))
			}
		case []int64:
			for _, e := range v {
				out = append(out, float64(e))
			}
		case []uint64:
			for _, e := range v {
				out = append(out, float64(e))
			}
		case []bool:
			for _, e := range v {
				out = append(out, float64(boolToInt(e)))
			}
		default:
			t.Fatalf("unexpected dtype %T", flat)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tensorOf converts v to dtype.
func tensorOf(dtype dtypes.DType, v []float32, dims ...int) *tensors.Tensor {
	switch dtype {
	case dtypes.Float64:
		w := make([]float64, len(v))
		for i, e := range v {
			w[i] = float64(e)
		}
		return tensors.FromFlatDataAndDimensions(w, dims...)
	case dtypes.BFloat16:
		w := make([]bfloat16.BFloat16, len(v))
		for i, e := range v {
			w[i] = bfloat16.FromFloat32(e)
		}
		return tensors.FromFlatDataAndDimensions(w, dims...)
	}
	return tensors.FromFlatDataAndDimensions(v, dims...)
}

// randValues returns n uniform values in [−1, 1).
func randValues(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = 2*r.Float32() - 1
	}
	return v
}

// dotAxes lays out one DotGeneral operand's axes in an order drawn from r:
// batch axes of the sizes batch, contracting axes of the sizes ks and free
// axes of the sizes free. It returns the operand's dimensions and the
// positions of its contracting and its batch axes, in the order given.
func dotAxes(r *rand.Rand, batch, ks, free []int) (dims, contract, bat []int) {
	type ax struct{ kind, idx, size int } // kind: 0 batch, 1 contracting, 2 free
	var axs []ax
	for j, b := range batch {
		axs = append(axs, ax{0, j, b})
	}
	for j, c := range ks {
		axs = append(axs, ax{1, j, c})
	}
	for j, f := range free {
		axs = append(axs, ax{2, j, f})
	}
	r.Shuffle(len(axs), func(a, b int) { axs[a], axs[b] = axs[b], axs[a] })
	dims, contract, bat = make([]int, len(axs)), make([]int, len(ks)), make([]int, len(batch))
	for j, a := range axs {
		dims[j] = a.size
		switch a.kind {
		case 0:
			bat[a.idx] = j
		case 1:
			contract[a.idx] = j
		}
	}
	return dims, contract, bat
}
