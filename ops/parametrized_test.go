package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestBoundOperatorsShareOneGraph compiles each operator's bound form once
// and feeds it another operator's data of the same key: A, its VJP, the
// adjoint (and for inpainting the pseudo-inverse and Gram diagonal) must be
// the other operator's own, to float32 rounding.
func TestBoundOperatorsShareOneGraph(t *testing.T) {
	b := newBackend(t)
	mask := func(seed uint64) Parametrized {
		m, err := RandomMask(8, 8, [2]float64{0.3, 0.7}, rand.New(rand.NewPCG(seed, 0)))
		if err != nil {
			t.Fatal(err)
		}
		op, err := NewInpainting(m, 8, 8)
		if err != nil {
			t.Fatal(err)
		}
		return op
	}
	motion := func(seed uint64) Parametrized {
		op, err := NewMotionBlur(5, 0.5, seed)
		if err != nil {
			t.Fatal(err)
		}
		return op
	}
	for _, tc := range []struct {
		name     string
		compiled Parametrized
		others   []Parametrized
	}{
		{"inpainting", mask(1), []Parametrized{mask(1), mask(2), mask(3)}},
		{"motion blur", motion(1), []Parametrized{motion(1), motion(2), motion(3)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, data, ok := tc.compiled.Parameters()
			if !ok {
				t.Fatalf("%s has no bound form", tc.compiled)
			}
			dims := []int{2, 3, 8, 8}
			n := 2 * 3 * 8 * 8
			x, v := randomVector(5, n), randomVector(6, n)
			_, gram := tc.compiled.Bind(nil).(DiagonalGram)
			exec := graph.MustNewExec(b, func(in []*graph.Node) []*graph.Node {
				x, v, bound := in[0], in[1], tc.compiled.Bind(in[2:])
				y := bound.Apply(x)
				outs := []*graph.Node{y, graph.Gradient(graph.ReduceAllSum(graph.Mul(y, v)), x)[0], bound.(Linear).Adjoint(v)}
				if p, ok := bound.(PseudoInverter); ok {
					outs = append(outs, p.PseudoInverse(v))
				}
				if gram {
					d, ok := bound.(DiagonalGram).GramDiagonal(graph.Abs(v))
					if !ok {
						panic("no Gram diagonal")
					}
					outs = append(outs, d)
				}
				if p, ok := bound.(Proximal); ok {
					outs = append(outs, p.Prox(x, v, graph.Const(x.Graph(), float32(0.3))))
				}
				return outs
			})
			for k, other := range tc.others {
				okey, odata, ok := other.Parameters()
				if !ok || okey != key {
					t.Fatalf("operator %d: key %q (ok %v), want %q", k, okey, ok, key)
				}
				if len(odata) != len(data) {
					t.Fatalf("operator %d: %d tensors, want %d", k, len(odata), len(data))
				}
				args := []any{tensors.FromFlatDataAndDimensions(x, dims...), tensors.FromFlatDataAndDimensions(v, dims...)}
				for _, d := range odata {
					args = append(args, d)
				}
				outs, err := exec.Exec(args...)
				if err != nil {
					t.Fatal(err)
				}
				want := evaluate(t, b, other, x, dims, v)
				checks := []struct {
					what string
					want []float32
				}{{"A(x)", want.y}, {"VJP", want.vjp}, {"adjoint", want.adjoint}}
				if p, ok := Operator(other).(PseudoInverter); ok {
					checks = append(checks, struct {
						what string
						want []float32
					}{"pseudo-inverse", evaluatePseudoInverse(t, b, p, v, dims)})
				}
				for j, c := range checks {
					assertClose(t, c.what, tensors.MustCopyFlatData[float32](outs[j]), c.want)
				}
				next := len(checks)
				if gram {
					absV := make([]float32, len(v))
					for i, e := range v {
						absV[i] = float32(math.Abs(float64(e)))
					}
					assertClose(t, "Gram diagonal", tensors.MustCopyFlatData[float32](outs[next]), evaluate(t, b, other, absV, dims, nil).y)
					next++
				}
				if p, ok := Operator(other).(Proximal); ok && next < len(outs) {
					prox := graph.MustNewExec(b, func(x, v *graph.Node) *graph.Node {
						return p.Prox(x, v, graph.Const(x.Graph(), float32(0.3)))
					})
					want := prox.MustExec(tensors.FromFlatDataAndDimensions(x, dims...), tensors.FromFlatDataAndDimensions(v, dims...))[0]
					assertClose(t, "proximal step", tensors.MustCopyFlatData[float32](outs[next]), tensors.MustCopyFlatData[float32](want))
				} else if next < len(outs) {
					t.Fatalf("%d outputs unchecked", len(outs)-next)
				}
			}
		})
	}
}

// evaluatePseudoInverse returns A⁺y for y shaped dims.
func evaluatePseudoInverse(t *testing.T, b backends.Backend, p PseudoInverter, y []float32, dims []int) []float32 {
	t.Helper()
	exec := graph.MustNewExec(b, func(y *graph.Node) *graph.Node { return p.PseudoInverse(y) })
	out, err := exec.Exec(tensors.FromFlatDataAndDimensions(y, dims...))
	if err != nil {
		t.Fatal(err)
	}
	return tensors.MustCopyFlatData[float32](out[0])
}

// assertClose fails when got and want differ by more than float32 rounding.
func assertClose(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*(1+math.Abs(float64(want[i]))) {
			t.Fatalf("%s: value %d is %v, want %v", what, i, got[i], want[i])
		}
	}
}

// TestParametersKeys checks which operators have a bound form and that
// keys tell apart what the graphs depend on besides the data.
func TestParametersKeys(t *testing.T) {
	gauss, err := NewGaussianBlur(5, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := gauss.Parameters(); ok {
		t.Error("a separable blur has a bound form, but runs as matrix products built for the image's size")
	}
	key := func(op Parametrized) string {
		k, _, ok := op.Parameters()
		if !ok {
			t.Fatalf("%s has no bound form", op)
		}
		return k
	}
	m1, _ := NewMotionBlur(5, 0.5, 1)
	m2, _ := NewMotionBlur(7, 0.5, 1)
	plain, err := NewBlur("motion_blur", m1.Kernel(), 5)
	if err != nil {
		t.Fatal(err)
	}
	mask8, _ := NewInpainting(make([]float32, 64), 8, 8)
	mask4, _ := NewInpainting(make([]float32, 16), 4, 4)
	for _, pair := range [][2]Parametrized{{m1, m2}, {m1, plain}, {mask8, mask4}} {
		if key(pair[0]) == key(pair[1]) {
			t.Errorf("%s and %s share the key %q", pair[0], pair[1], key(pair[0]))
		}
	}
}

// TestBoundFormsLackHostComputedParts checks that a bound operator offers
// no interface computed from its data on the host (an SVD), so that
// methods needing one refuse it, and that Bind(nil) cannot build a graph.
func TestBoundFormsLackHostComputedParts(t *testing.T) {
	mask, _ := NewInpainting(make([]float32, 64), 8, 8)
	motion, _ := NewMotionBlur(5, 0.5, 1)
	for _, op := range []Parametrized{mask, motion} {
		bound := op.Bind(nil)
		if _, ok := bound.(Decomposer); ok {
			t.Errorf("bound %s gives an SVD", op.Name())
		}
		if _, ok := bound.(Proximal); ok != (op.Name() == "inpainting") {
			t.Errorf("bound %s gives a proximal step: %v; want it only for inpainting, whose step is built from the mask in the graph", op.Name(), ok)
		}
		if _, ok := bound.(ZeroReporter); ok {
			t.Errorf("bound %s reports on its data", op.Name())
		}
		if KindOf(bound) != KindOf(op) {
			t.Errorf("bound %s is of kind %s, want %s", op.Name(), KindOf(bound), KindOf(op))
		}
		func() {
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(fmt.Sprint(r), "for checks only") {
					t.Errorf("Apply of %s bound to nothing: panic %v, want one saying Bind(nil) is for checks", op.Name(), r)
				}
			}()
			graph.MustNewExec(newBackend(t), func(x *graph.Node) *graph.Node { return bound.Apply(x) }).MustExec(tensors.FromFlatDataAndDimensions(make([]float32, 192), 1, 3, 8, 8))
		}()
	}
	if m, ok := Operator(motion.Bind(nil)).(MotionReporter); !ok || !m.MotionBlur() {
		t.Error("a bound motion blur does not report its motion")
	}
}

// TestGraphMaskSVD checks a bound inpainting's decomposition, built in the
// graph from its mask, against the host's (MaskSVD) bit for bit, padded:
// the same maps on the first m = C·K components, zeros after them, for
// masks that keep some, every and no pixel, one and three channels, and a
// mask that is not square.
func TestGraphMaskSVD(t *testing.T) {
	b := newBackend(t)
	random := func(h, w int, seed uint64) []float32 {
		m, err := RandomMask(h, w, [2]float64{0.3, 0.7}, rand.New(rand.NewPCG(seed, 0)))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	ones := func(n int) []float32 {
		m := make([]float32, n)
		for k := range m {
			m[k] = 1
		}
		return m
	}
	for _, tc := range []struct {
		name    string
		mask    []float32
		c, h, w int
	}{
		{"random, rgb", random(8, 8, 1), 3, 8, 8},
		{"random, gray, 6x10", random(6, 10, 2), 1, 6, 10},
		{"keeps every pixel", ones(16), 3, 4, 4},
		{"keeps no pixel", make([]float32, 16), 3, 4, 4},
		{"keeps one pixel", append(make([]float32, 15), 1), 2, 4, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op, err := NewInpainting(tc.mask, tc.h, tc.w)
			if err != nil {
				t.Fatal(err)
			}
			dims := []int{2, tc.c, tc.h, tc.w}
			d := tc.c * tc.h * tc.w
			host, err := op.SVD(dims)
			if err != nil {
				t.Fatal(err)
			}
			m := len(host.Singulars())
			_, data, ok := op.Parameters()
			if !ok {
				t.Fatal("no bound form")
			}
			x, v := randomVector(7, 2*d), randomVector(8, 2*d)
			exec := graph.MustNewExec(b, func(in []*graph.Node) []*graph.Node {
				x, v := in[0], in[1]
				gd := op.Bind(in[2:]).(GraphDecomposer).GraphSVD(x)
				y := op.Apply(x)
				row := graph.ConvertDType(gd.RowSpace(), dtypes.Float32)
				outs := []*graph.Node{gd.Singulars(), row, gd.Vt(x), gd.V(v), gd.Ut(y), gd.U(v), host.Vt(x), host.V(v)}
				if m == 0 { // the host's Uᵀ and U have no component
					return append(outs, graph.Zeros(x.Graph(), shapes.Make(dtypes.Float32, 2, 0)), graph.ZerosLike(x))
				}
				return append(outs, host.Ut(y), host.U(graph.Slice(v, graph.AxisRange(), graph.AxisRange(0, m))))
			})
			outs, err := exec.Exec(append([]any{tensors.FromFlatDataAndDimensions(x, dims...), tensors.FromFlatDataAndDimensions(v, 2, d)}, data[0])...)
			if err != nil {
				t.Fatal(err)
			}
			flat := func(k int) []float32 { return tensors.MustCopyFlatData[float32](outs[k]) }
			wantRow := make([]float32, d)
			for k := range m {
				wantRow[k] = 1
			}
			assertSame(t, "singular values", flat(0), wantRow)
			assertSame(t, "row space", flat(1), wantRow)
			assertSame(t, "Vᵀx", flat(2), flat(6))
			assertSame(t, "V v", flat(3), flat(7))
			ut, hostUt := flat(4), flat(8)
			for n := range 2 {
				assertSame(t, "Uᵀy", ut[n*d:n*d+m], hostUt[n*m:(n+1)*m])
				assertSame(t, "Uᵀy beyond m", ut[n*d+m:(n+1)*d], make([]float32, d-m))
			}
			assertSame(t, "U u", flat(5), flat(9))
		})
	}
}

// assertSame fails unless got and want hold the same values.
func assertSame(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: value %d is %v, want %v", what, i, got[i], want[i])
		}
	}
}
