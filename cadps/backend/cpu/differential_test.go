// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// The tests of this file build small GoMLX graphs over many random shapes
// (fixed seeds) and run each on this package's backend and on upstream's
// pure-Go backend, whose loops the fork's kernels replace: data movement
// and element-wise arithmetic must agree exactly, float32 sums to a
// relative 1e-5 (times the square root of their length, for the order of
// the additions differs), and NaN and ±Inf must come out where upstream
// puts them. Where the fork differs from upstream on purpose, or upstream
// is wrong, the reference computes the intended values by other ops:
// bfloat16 sums accumulate in float32, and batch-grouped convolutions are
// computed one group at a time. A NaN or infinity in a convolution's
// kernel is kept away from padding: upstream skips padded taps, this
// backend multiplies them by zero, which gives NaN as a zero-padded input
// does.

// refBackend is upstream's pure-Go backend with the ops it lacks (Reverse,
// which every convolution gradient uses, and Pad) built from slices and
// concatenations, and ConvGeneral's defaults for missing strides and
// dilations.
type refBackend struct{ backends.Backend }

func (r refBackend) Builder(name string) backends.Builder {
	return refBuilder{r.Backend.Builder(name)}
}

type refBuilder struct{ backends.Builder }

// Reverse reverses x along axes one index at a time.
func (r refBuilder) Reverse(x backends.Op, axes ...int) (backends.Op, error) {
	for _, axis := range axes {
		s, err := r.OpShape(x)
		if err != nil {
			return nil, err
		}
		n := s.Dimensions[axis]
		if n <= 1 {
			continue
		}
		starts, limits := make([]int, s.Rank()), slices.Clone(s.Dimensions)
		parts := make([]backends.Op, n)
		for i := range n {
			starts[axis], limits[axis] = n-1-i, n-i
			// Upstream's Slice keeps the slices it is given.
			if parts[i], err = r.Slice(x, slices.Clone(starts), slices.Clone(limits), unitStrides(s.Rank())); err != nil {
				return nil, err
			}
		}
		if x, err = r.Concatenate(axis, parts...); err != nil {
			return nil, err
		}
	}
	return x, nil
}

// ConvGeneral takes no strides or dilations as 1s, as this package's
// backend does (GoMLX's convolution gradients pass no strides).
func (r refBuilder) ConvGeneral(x, kernel backends.Op, axes backends.ConvolveAxesConfig, strides []int, paddings [][2]int,
	inputDilations, kernelDilations []int, channelGroupCount, batchGroupCount int) (backends.Op, error) {
	n := len(axes.InputSpatial)
	for _, p := range []*[]int{&strides, &inputDilations, &kernelDilations} {
		if len(*p) == 0 {
			*p = unitStrides(n)
		}
	}
	return r.Builder.ConvGeneral(x, kernel, axes, strides, paddings, inputDilations, kernelDilations, channelGroupCount, batchGroupCount)
}

func unitStrides(n int) []int {
	v := make([]int, n)
	for i := range v {
		v[i] = 1
	}
	return v
}

// Pad pads x one axis at a time: interior fill between the slices of
// single elements, then the edges filled or cut.
func (r refBuilder) Pad(x, fill backends.Op, axesConfig ...backends.PadAxis) (backends.Op, error) {
	block := func(like backends.Op, axis, size int) (backends.Op, error) {
		s, err := r.OpShape(like)
		if err != nil {
			return nil, err
		}
		s = s.Clone()
		s.Dimensions[axis] = size
		return r.BroadcastInDim(fill, s, nil)
	}
	cut := func(y backends.Op, axis, from, to int) (backends.Op, error) {
		s, err := r.OpShape(y)
		if err != nil {
			return nil, err
		}
		starts, limits := make([]int, s.Rank()), slices.Clone(s.Dimensions)
		starts[axis], limits[axis] = from, s.Dimensions[axis]-to
		return r.Slice(y, starts, limits, unitStrides(s.Rank()))
	}
	for axis, pa := range axesConfig {
		s, err := r.OpShape(x)
		if err != nil {
			return nil, err
		}
		n := s.Dimensions[axis]
		if pa.Interior > 0 && n > 1 {
			gap, err := block(x, axis, pa.Interior)
			if err != nil {
				return nil, err
			}
			var parts []backends.Op
			for i := range n {
				part, err := cut(x, axis, i, n-1-i)
				if err != nil {
					return nil, err
				}
				if i > 0 {
					parts = append(parts, gap)
				}
				parts = append(parts, part)
			}
			if x, err = r.Concatenate(axis, parts...); err != nil {
				return nil, err
			}
		}
		if pa.Start < 0 || pa.End < 0 {
			if x, err = cut(x, axis, max(0, -pa.Start), max(0, -pa.End)); err != nil {
				return nil, err
			}
		}
		parts := []backends.Op{x}
		if pa.Start > 0 {
			b, err := block(x, axis, pa.Start)
			if err != nil {
				return nil, err
			}
			parts = append([]backends.Op{b}, parts...)
		}
		if pa.End > 0 {
			b, err := block(x, axis, pa.End)
			if err != nil {
				return nil, err
			}
			parts = append(parts, b)
		}
		if len(parts) > 1 {
			if x, err = r.Concatenate(axis, parts...); err != nil {
				return nil, err
			}
		}
	}
	return x, nil
}

// SelectAndScatterMax is upstream's missing max-pool gradient built from
// slices, comparisons and padding (selectAndScatterRef).
func (r refBuilder) SelectAndScatterMax(operand, source backends.Op, window, strides []int, paddings [][2]int) (backends.Op, error) {
	return r.selectAndScatterRef(true, operand, source, window, strides, paddings)
}

// SelectAndScatterMin is SelectAndScatterMax with the smallest element.
func (r refBuilder) SelectAndScatterMin(operand, source backends.Op, window, strides []int, paddings [][2]int) (backends.Op, error) {
	return r.selectAndScatterRef(false, operand, source, window, strides, paddings)
}

// selectAndScatterRef walks the taps of the windows in row-major order,
// each a strided slice of the padded operand holding that tap of every
// window: a tap replaces a window's choice where it is inside the operand
// and either the first such tap or strictly larger (smaller) than the
// choice so far, so that ties go to the first extreme element and padding
// is never chosen, as in this package's backend. Each tap's chosen source
// values are then padded back into the padded operand's shape (interior
// padding for the strides), the taps summed, in tap order rather than
// window order (overlapping windows may round differently), and the
// padding cut away.
func (r refBuilder) selectAndScatterRef(isMax bool, operandOp, sourceOp backends.Op, window, strides []int, paddings [][2]int) (backends.Op, error) {
	xs, err := r.OpShape(operandOp)
	if err != nil {
		return nil, err
	}
	ws, err := r.OpShape(sourceOp)
	if err != nil {
		return nil, err
	}
	rank := xs.Rank()
	if strides == nil {
		strides = window
	}
	if paddings == nil {
		paddings = make([][2]int, rank)
	}
	var zero, yes, no backends.Op
	switch xs.DType {
	case dtypes.Float32:
		zero, err = r.Constant([]float32{0})
	case dtypes.Float64:
		zero, err = r.Constant([]float64{0})
	default:
		return nil, fmt.Errorf("reference SelectAndScatter: dtype %s not supported", xs.DType)
	}
	if err != nil {
		return nil, err
	}
	if yes, err = r.Constant([]bool{true}); err != nil {
		return nil, err
	}
	if no, err = r.Constant([]bool{false}); err != nil {
		return nil, err
	}
	if ws.Size() == 0 {
		return r.BroadcastInDim(zero, xs, nil)
	}
	pads := make([]backends.PadAxis, rank)
	for a, p := range paddings {
		pads[a] = backends.PadAxis{Start: p[0], End: p[1]}
	}
	xp, err := r.Pad(operandOp, zero, pads...)
	if err != nil {
		return nil, err
	}
	ps, err := r.OpShape(xp)
	if err != nil {
		return nil, err
	}
	out, err := r.BroadcastInDim(zero, ps, nil)
	if err != nil {
		return nil, err
	}
	inside, err := r.BroadcastInDim(yes, shapes.Make(dtypes.Bool, xs.Dimensions...), nil)
	if err != nil {
		return nil, err
	}
	if inside, err = r.Pad(inside, no, pads...); err != nil {
		return nil, err
	}
	zeroWindows, err := r.BroadcastInDim(zero, ws, nil)
	if err != nil {
		return nil, err
	}
	tapIndex := func(t int) (backends.Op, error) {
		c, err := r.Constant([]int32{int32(t)})
		if err != nil {
			return nil, err
		}
		return r.BroadcastInDim(c, shapes.Make(dtypes.Int32, ws.Dimensions...), nil)
	}
	var taps [][]int
	for off := make([]int, rank); ; {
		taps = append(taps, slices.Clone(off))
		if !nextIndex(off, window) {
			break
		}
	}
	slice := func(x backends.Op, off []int) (backends.Op, error) {
		limits := make([]int, rank)
		for a := range rank {
			limits[a] = off[a] + (ws.Dimensions[a]-1)*strides[a] + 1
		}
		return r.Slice(x, slices.Clone(off), limits, slices.Clone(strides))
	}
	var best, found, choice backends.Op
	for t, off := range taps {
		v, err := slice(xp, off)
		if err != nil {
			return nil, err
		}
		m, err := slice(inside, off)
		if err != nil {
			return nil, err
		}
		ti, err := tapIndex(t)
		if err != nil {
			return nil, err
		}
		if t == 0 {
			best, found, choice = v, m, ti
			continue
		}
		var better backends.Op
		if isMax {
			better, err = r.GreaterThan(v, best)
		} else {
			better, err = r.LessThan(v, best)
		}
		if err != nil {
			return nil, err
		}
		notFound, err := r.LogicalNot(found)
		if err != nil {
			return nil, err
		}
		if better, err = r.LogicalOr(notFound, better); err != nil {
			return nil, err
		}
		take, err := r.LogicalAnd(m, better)
		if err != nil {
			return nil, err
		}
		if best, err = r.Where(take, v, best); err != nil {
			return nil, err
		}
		if choice, err = r.Where(take, ti, choice); err != nil {
			return nil, err
		}
		if found, err = r.LogicalOr(found, m); err != nil {
			return nil, err
		}
	}
	for t, off := range taps {
		ti, err := tapIndex(t)
		if err != nil {
			return nil, err
		}
		chosen, err := r.Equal(choice, ti)
		if err != nil {
			return nil, err
		}
		if chosen, err = r.LogicalAnd(chosen, found); err != nil {
			return nil, err
		}
		part, err := r.Where(chosen, sourceOp, zeroWindows)
		if err != nil {
			return nil, err
		}
		back := make([]backends.PadAxis, rank)
		for a := range rank {
			span := (ws.Dimensions[a]-1)*strides[a] + 1
			back[a] = backends.PadAxis{Start: off[a], End: ps.Dimensions[a] - off[a] - span, Interior: strides[a] - 1}
		}
		if part, err = r.Pad(part, zero, back...); err != nil {
			return nil, err
		}
		if out, err = r.Add(out, part); err != nil {
			return nil, err
		}
	}
	// Padded positions are never chosen: cutting them away drops zeros.
	starts, limits := make([]int, rank), make([]int, rank)
	for a := range rank {
		starts[a], limits[a] = paddings[a][0], paddings[a][0]+xs.Dimensions[a]
	}
	return r.Slice(out, starts, limits, unitStrides(rank))
}

// differ runs graphs on both backends.
type differ struct {
	fork, ref backends.Backend
	// ran and skipped count the cases both backends ran, and those both
	// refused (a shape GoMLX's graph package cannot differentiate, say).
	ran, skipped int
}

func newDiffer(t *testing.T) *differ {
	t.Helper()
	// Sequential: upstream's parallel executor races (go test -race).
	ref, err := simplego.New("ops_sequential")
	if err != nil {
		t.Fatal(err)
	}
	return &differ{fork: newTestBackend(t), ref: refBackend{ref}}
}

// runGraph returns fn's outputs on be for inputs, or the error building or
// running it.
func runGraph(be backends.Backend, fn func([]*graph.Node) []*graph.Node, inputs []*tensors.Tensor) ([]*tensors.Tensor, error) {
	exec, err := graph.NewExec(be, fn)
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	args := make([]any, len(inputs))
	for i, x := range inputs {
		// A tensor lives on one backend only.
		if args[i], err = x.LocalClone(); err != nil {
			return nil, err
		}
	}
	return exec.Exec(args...)
}

// check runs fn on both backends and compares its outputs: exactly when tol
// is 0 (NaN matching NaN), otherwise |fork − ref| ≤ tol·max(1, |ref|), with
// NaNs and infinities in the same places.
func (d *differ) check(t *testing.T, name string, tol float64, fn func([]*graph.Node) []*graph.Node, inputs ...*tensors.Tensor) {
	t.Helper()
	d.checkAgainst(t, name, tol, fn, fn, inputs...)
}

// checkAgainst is check with refFn, a graph computing the same values by
// other ops, run on upstream's backend.
func (d *differ) checkAgainst(t *testing.T, name string, tol float64, fn, refFn func([]*graph.Node) []*graph.Node, inputs ...*tensors.Tensor) {
	t.Helper()
	want, errRef := runGraph(d.ref, refFn, inputs)
	got, errFork := runGraph(d.fork, fn, inputs)
	switch {
	case errRef != nil && errFork != nil:
		d.skipped++
		return
	case errRef != nil:
		t.Fatalf("%s: upstream fails (%v), this backend does not", name, errRef)
	case errFork != nil:
		t.Fatalf("%s: %v", name, errFork)
	}
	d.ran++
	compareOutputs(t, name, tol, got, want)
}

// compareOutputs compares got with want as check does.
func compareOutputs(t *testing.T, name string, tol float64, got, want []*tensors.Tensor) {
	t.Helper()
	for i := range want {
		if !got[i].Shape().Equal(want[i].Shape()) {
			t.Fatalf("%s: output %d is %s, want %s", name, i, got[i].Shape(), want[i].Shape())
		}
		if dt := want[i].DType(); dt.IsInt() || dt == dtypes.Bool {
			sameInts(t, name, i, got[i], want[i])
			continue
		}
		g, w := flat64(t, got[i]), flat64(t, want[i])
		for j := range w {
			a, b := g[j], w[j]
			ok := a == b || (math.IsNaN(a) && math.IsNaN(b))
			if !ok && tol > 0 && !math.IsNaN(a) && !math.IsNaN(b) && !math.IsInf(b, 0) {
				ok = math.Abs(a-b) <= tol*math.Max(1, math.Abs(b))
			}
			if !ok {
				t.Fatalf("%s: output %d %s, element %d = %g, upstream %g", name, i, want[i].Shape(), j, a, b)
			}
		}
	}
}

// sameInts fails t unless output i's integers or booleans, got, are
// want's exactly.
func sameInts(t *testing.T, name string, i int, got, want *tensors.Tensor) {
	t.Helper()
	err := got.ConstFlatData(func(gf any) {
		err := want.ConstFlatData(func(wf any) {
			g, w := reflect.ValueOf(gf), reflect.ValueOf(wf)
			for j := range w.Len() {
				if a, b := g.Index(j).Interface(), w.Index(j).Interface(); a != b {
					t.Fatalf("%s: output %d %s, element %d = %v, upstream %v", name, i, want.Shape(), j, a, b)
				}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

// randUniform returns a tensor of dims of uniform values in [−1, 1) of dtype.
func randUniform(r *rand.Rand, dtype dtypes.DType, dims ...int) *tensors.Tensor {
	return tensorOf(dtype, randValues(r, prod(dims)), dims...)
}

// specials returns v with a few NaNs and infinities at random places.
func specials(r *rand.Rand, v []float32, count int) []float32 {
	s := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}
	for range count {
		v[r.IntN(len(v))] = s[r.IntN(len(s))]
	}
	return v
}

// channelCounts straddle the micro-kernels' 6-row and 16/32-column tiles.
var channelCounts = []int{1, 2, 3, 5, 6, 7, 8, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 65, 70}

// commonDivisors returns the divisors of both a and b.
func commonDivisors(a, b int) []int {
	var ds []int
	for d := 1; d <= min(a, b); d++ {
		if a%d == 0 && b%d == 0 {
			ds = append(ds, d)
		}
	}
	return ds
}

// convFuzzCase is one random convolution: sizes, parameters and layouts.
type convFuzzCase struct {
	n, c, o, chGroups, batchGroups int
	in, kern                       []int
	strides, idil, kdil            []int
	pads                           [][2]int
	axes                           backends.ConvolveAxesConfig
	xDims, kDims                   []int
	outSize                        int // output positions per image and channel
}

// addAxis adds a spatial axis of input length l, kernel length k, stride
// st, input and kernel dilations id and kd and padding p to cc, and returns
// its output length; fits is false, and cc unchanged, where the padded,
// dilated input is shorter than the dilated kernel or a negative padding
// cuts more than the input.
func (cc *convFuzzCase) addAxis(l, k, st, id, kd int, p [2]int) (out int, fits bool) {
	e := (k-1)*kd + 1
	lp := (l-1)*id + 1 + p[0] + p[1]
	if lp < e || -p[0] > l || -p[1] > l {
		return 0, false
	}
	out = (lp-e)/st + 1
	cc.outSize *= out
	cc.in, cc.kern = append(cc.in, l), append(cc.kern, k)
	cc.strides, cc.idil, cc.kdil = append(cc.strides, st), append(cc.idil, id), append(cc.kdil, kd)
	cc.pads = append(cc.pads, p)
	return out, true
}

// tol is the tolerance of float32 results: 1e-5 times the square root of
// the longest sum behind an output value or gradient, for float32 sums of
// that many terms differ by their order.
func (cc convFuzzCase) tol() float64 {
	taps := 1
	for _, k := range cc.kern {
		taps *= k
	}
	longest := max(cc.c/cc.chGroups*taps, cc.o*taps, cc.n*cc.outSize)
	return 1e-5 * math.Sqrt(float64(longest))
}

func (cc convFuzzCase) String() string {
	return fmt.Sprintf("n%d c%d o%d g%d bg%d in%v k%v s%v id%v kd%v p%v x%v k%v",
		cc.n, cc.c, cc.o, cc.chGroups, cc.batchGroups, cc.in, cc.kern, cc.strides, cc.idil, cc.kdil, cc.pads, cc.xDims, cc.kDims)
}

// randConvCase draws a convolution of spatial rank s whose cost on
// upstream's naive loop stays small. For grad, one GoMLX can differentiate:
// no input dilation, padding within half the dilated kernel, and the
// output laid out as the input.
func randConvCase(r *rand.Rand, s int, grad bool) convFuzzCase {
	for {
		cc := convFuzzCase{n: 1 + r.IntN(3), c: channelCounts[r.IntN(len(channelCounts))],
			o: channelCounts[r.IntN(len(channelCounts))], chGroups: 1, batchGroups: 1}
		switch r.IntN(6) {
		case 0:
			ds := commonDivisors(cc.c, cc.o)
			cc.chGroups = ds[r.IntN(len(ds))]
		case 1:
			ds := commonDivisors(cc.n, cc.o)
			cc.batchGroups = ds[r.IntN(len(ds))]
		}
		ok := true
		cc.outSize = 1
		cost := cc.n * cc.o * cc.c / cc.chGroups
		dilated := r.IntN(2) == 0
		for range s {
			l, k := 1+r.IntN(13), 1+r.IntN(5)
			st, kd, id := 1+r.IntN(3), 1, 1
			if r.IntN(3) == 0 {
				kd = 2 + r.IntN(2)
			}
			if !grad && r.IntN(4) == 0 {
				id = 2 + r.IntN(2)
			}
			// GoMLX's gradient allows no strides with kernel dilations,
			// and no padding past (e−1)/2.
			if grad && dilated {
				st = 1
			} else if grad {
				kd = 1
			}
			e := (k-1)*kd + 1
			p := [2]int{r.IntN(5) - 1, r.IntN(5) - 1}
			if grad {
				p = [2]int{r.IntN((e + 1) / 2), r.IntN((e + 1) / 2)}
			}
			out, fits := cc.addAxis(l, k, st, id, kd, p)
			if !fits {
				ok = false
				break
			}
			cost *= out * k
		}
		if !ok || cost > 1<<20 {
			continue
		}
		// Layouts: channels first or last, sometimes fully shuffled.
		layout := func() []int {
			p := make([]int, s+2)
			for i := range p {
				p[i] = i
			}
			switch r.IntN(3) {
			case 1: // batch, spatial..., channels
				p = append(append([]int{0}, p[2:]...), 1)
			case 2:
				r.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
			}
			return p // p[j]: canonical axis stored at axis j
		}
		xp, kp, yp := layout(), layout(), layout()
		if grad {
			yp = xp
		}
		cx := append([]int{cc.n, cc.c}, cc.in...)
		ck := append([]int{cc.o, cc.c / cc.chGroups}, cc.kern...)
		for _, a := range xp {
			cc.xDims = append(cc.xDims, cx[a])
		}
		for _, a := range kp {
			cc.kDims = append(cc.kDims, ck[a])
		}
		ax := &cc.axes
		ax.InputBatch, ax.InputChannels = slices.Index(xp, 0), slices.Index(xp, 1)
		ax.KernelOutputChannels, ax.KernelInputChannels = slices.Index(kp, 0), slices.Index(kp, 1)
		ax.OutputBatch, ax.OutputChannels = slices.Index(yp, 0), slices.Index(yp, 1)
		for i := range s {
			ax.InputSpatial = append(ax.InputSpatial, slices.Index(xp, 2+i))
			ax.KernelSpatial = append(ax.KernelSpatial, slices.Index(kp, 2+i))
			ax.OutputSpatial = append(ax.OutputSpatial, slices.Index(yp, 2+i))
		}
		return cc
	}
}

func (cc convFuzzCase) conv(x, k *graph.Node) *graph.Node {
	return graph.ConvGeneral(x, k, cc.axes, cc.strides, cc.pads, cc.inputDilations(), cc.kdil, cc.chGroups, cc.batchGroups)
}

// inputDilations is nil where no axis is dilated: GoMLX differentiates
// only convolutions given no input dilations at all.
func (cc convFuzzCase) inputDilations() []int {
	if slices.ContainsFunc(cc.idil, func(d int) bool { return d > 1 }) {
		return cc.idil
	}
	return nil
}

// splitConv is conv with its batch groups computed apart: group g of the
// output channels is the convolution of group g of the images with group g
// of the kernel's output channels, as XLA defines batch grouping.
func (cc convFuzzCase) splitConv(x, k *graph.Node) *graph.Node {
	if cc.batchGroups == 1 {
		return cc.conv(x, k)
	}
	nb, ob := cc.n/cc.batchGroups, cc.o/cc.batchGroups
	parts := make([]*graph.Node, cc.batchGroups)
	for g := range parts {
		xg := graph.SliceAxis(x, cc.axes.InputBatch, graph.AxisRange(g*nb, (g+1)*nb))
		kg := graph.SliceAxis(k, cc.axes.KernelOutputChannels, graph.AxisRange(g*ob, (g+1)*ob))
		parts[g] = graph.ConvGeneral(xg, kg, cc.axes, cc.strides, cc.pads, cc.inputDilations(), cc.kdil, cc.chGroups, 1)
	}
	return graph.Concatenate(parts, cc.axes.OutputChannels)
}

// TestDifferentialConv compares convolutions (float32, some float64 and
// bfloat16; 1-D, 2-D and 3-D; strides, input and kernel dilations, negative
// padding, channel and batch groups, 1 to 70 channels, any layout), their
// gradients with respect to input and kernel as GoMLX builds them, products
// spanning several cache blocks, and the bias and ReLU fusion with NaNs and
// infinities.
func TestDifferentialConv(t *testing.T) {
	d := newDiffer(t)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 150 {
		cc := randConvCase(r, 1+i%3, false) // 1-D, 2-D and 3-D
		// Mostly float32; float64 and bfloat16 (upstream's loop sums
		// bfloat16 products in float32, as this backend does) too.
		dtype, tol := dtypes.Float32, cc.tol()
		switch i % 10 {
		case 8:
			dtype, tol = dtypes.Float64, 1e-12
		case 9:
			dtype, tol = dtypes.BFloat16, 1e-2
		}
		x, k := randUniform(r, dtype, cc.xDims...), randUniform(r, dtype, cc.kDims...)
		d.checkAgainst(t, fmt.Sprintf("forward %s %s", dtype, cc), tol, func(in []*graph.Node) []*graph.Node {
			return []*graph.Node{cc.conv(in[0], in[1])}
		}, func(in []*graph.Node) []*graph.Node {
			// Upstream's loop gets batch groups wrong (TestConvBatchGroups).
			return []*graph.Node{cc.splitConv(in[0], in[1])}
		}, x, k)
	}
	for i := range 80 {
		cc := randConvCase(r, 1+i%2, true)
		x, k := randUniform(r, dtypes.Float32, cc.xDims...), randUniform(r, dtypes.Float32, cc.kDims...)
		grad := func(conv func(x, k *graph.Node) *graph.Node) func(in []*graph.Node) []*graph.Node {
			return func(in []*graph.Node) []*graph.Node {
				y := conv(in[0], in[1])
				v := graph.Sin(graph.IotaFull(y.Graph(), y.Shape()))
				return graph.Gradient(graph.ReduceAllSum(graph.Mul(y, v)), in[0], in[1])
			}
		}
		d.checkAgainst(t, "gradient "+cc.String(), cc.tol(), grad(cc.conv), grad(cc.splitConv), x, k)
	}
	// Direct convolutions spanning more than one cache block: more than
	// 144 output channels, more than 256 contracted taps, more than 2048
	// output positions.
	for _, cc := range []convFuzzCase{
		{n: 2, c: 3, o: 150, in: []int{40, 40}, kern: []int{3, 3}},
		{n: 1, c: 300, o: 20, in: []int{20, 20}, kern: []int{1, 1}},
		{n: 3, c: 29, o: 7, in: []int{30, 31}, kern: []int{3, 3}},
	} {
		cc.chGroups, cc.batchGroups = 1, 1
		cc.strides, cc.idil, cc.kdil, cc.pads = []int{1, 1}, []int{1, 1}, []int{1, 1}, [][2]int{{1, 1}, {1, 1}}
		cc.axes = backends.ConvolveAxesConfig{InputBatch: 0, InputChannels: 1, InputSpatial: []int{2, 3},
			KernelOutputChannels: 0, KernelInputChannels: 1, KernelSpatial: []int{2, 3},
			OutputBatch: 0, OutputChannels: 1, OutputSpatial: []int{2, 3}}
		cc.xDims, cc.kDims = []int{cc.n, cc.c, cc.in[0], cc.in[1]}, []int{cc.o, cc.c, cc.kern[0], cc.kern[1]}
		cc.outSize = (cc.in[0] + 3 - cc.kern[0]) * (cc.in[1] + 3 - cc.kern[1])
		d.check(t, "blocks "+cc.String(), cc.tol(), func(in []*graph.Node) []*graph.Node {
			return []*graph.Node{cc.conv(in[0], in[1])}
		}, randUniform(r, dtypes.Float32, cc.xDims...), randUniform(r, dtypes.Float32, cc.kDims...))
	}
	// Bias and ReLU after a canonical-layout convolution (the fused direct
	// path), with NaNs and infinities in the input or the kernel.
	for i := range 60 {
		cc := randConvCase(r, 1+i%2, false)
		cc.chGroups, cc.batchGroups = 1, 1
		s := len(cc.in)
		canon := []int{0, 1}
		for j := range s {
			canon = append(canon, 2+j)
		}
		cc.axes = backends.ConvolveAxesConfig{InputBatch: 0, InputChannels: 1, InputSpatial: canon[2:],
			KernelOutputChannels: 0, KernelInputChannels: 1, KernelSpatial: canon[2:],
			OutputBatch: 0, OutputChannels: 1, OutputSpatial: canon[2:]}
		cc.xDims = append([]int{cc.n, cc.c}, cc.in...)
		cc.kDims = append([]int{cc.o, cc.c}, cc.kern...)
		xv := randValues(r, prod(cc.xDims))
		kv := randValues(r, prod(cc.kDims))
		// A NaN or infinity in the kernel meets the padding and the zeros
		// of input dilation: upstream skips those taps, this backend
		// multiplies them by zero (NaN, as a zero-padded input gives in
		// PyTorch), so kernels get them only where nothing is padded.
		unpadded := cc.inputDilations() == nil && !slices.ContainsFunc(cc.pads, func(p [2]int) bool { return p[0] > 0 || p[1] > 0 })
		if i%3 == 2 && unpadded {
			specials(r, kv, 2)
		} else if i%3 != 0 {
			specials(r, xv, 3)
		}
		bias := randUniform(r, dtypes.Float32, cc.o)
		d.check(t, "bias+relu "+cc.String(), cc.tol(), func(in []*graph.Node) []*graph.Node {
			y := cc.conv(in[0], in[1])
			bdims := make([]int, y.Rank())
			for j := range bdims {
				bdims[j] = 1
			}
			bdims[1] = cc.o
			b := graph.Reshape(in[2], bdims...)
			zero := graph.ScalarZero(y.Graph(), dtypes.Float32)
			if i%2 == 0 { // both operand orders fuse
				yb := graph.Add(y, b)
				return []*graph.Node{graph.Max(yb, zero), yb}
			}
			yb := graph.Add(b, y)
			return []*graph.Node{graph.Max(zero, yb), yb}
		}, tensorOf(dtypes.Float32, xv, cc.xDims...), tensorOf(dtypes.Float32, kv, cc.kDims...), bias)
	}
	t.Logf("%d cases ran, %d refused by both backends", d.ran, d.skipped)
	if d.ran < 250 {
		t.Errorf("only %d cases ran", d.ran)
	}
}

// dotSizes straddle the SGEMM's tiles and panels.
var dotSizes = []int{1, 5, 6, 7, 15, 16, 17, 31, 32, 33, 191, 192, 193}

// TestDifferentialDotGeneral compares DotGeneral with batch and contracting
// axes anywhere, tiny, tall and skinny products and sizes around the tile
// edges, in float32, float64 and bfloat16, and NaN and infinities in either
// operand.
func TestDifferentialDotGeneral(t *testing.T) {
	d := newDiffer(t)
	r := rand.New(rand.NewPCG(3, 4))
	pick := func() int { return dotSizes[r.IntN(len(dotSizes))] }
	for i := range 300 {
		m, n, k := pick(), pick(), pick()
		for m*n*k > 1<<20 {
			m, n, k = pick(), pick(), pick()
		}
		batch := []int{}
		if r.IntN(2) == 0 {
			batch = append(batch, 1+r.IntN(3))
		}
		// Split the contraction into one or two axes, the free sizes into
		// one or two axes.
		ks := []int{k}
		if k%2 == 0 && r.IntN(2) == 0 {
			ks = []int{2, k / 2}
		}
		// Lay out each operand's axes in a random order.
		build := func(free int) ([]int, []int, []int) {
			var frees []int
			switch {
			case free == 1 && r.IntN(2) == 0: // no free axis at all
			case free%2 == 0 && r.IntN(2) == 0:
				frees = []int{2, free / 2}
			default:
				frees = []int{free}
			}
			return dotAxes(r, batch, ks, frees)
		}
		lDims, lc, lb := build(m)
		rDims, rc, rb := build(n)
		dtype := dtypes.Float32
		tol := 1e-5
		switch i % 8 {
		case 6:
			dtype, tol = dtypes.Float64, 1e-12
		case 7:
			dtype, tol = dtypes.BFloat16, 1e-2
		}
		lv, rv := randValues(r, prod(lDims)), randValues(r, prod(rDims))
		if i%5 == 4 {
			specials(r, lv, 2)
			specials(r, rv, 1)
		}
		name := fmt.Sprintf("%s lhs%v c%v b%v rhs%v c%v b%v", dtype, lDims, lc, lb, rDims, rc, rb)
		d.check(t, name, tol, func(in []*graph.Node) []*graph.Node {
			return []*graph.Node{graph.DotGeneral(in[0], lc, lb, in[1], rc, rb)}
		}, tensorOf(dtype, lv, lDims...), tensorOf(dtype, rv, rDims...))
	}
	// Products spanning more than one of the SGEMM's cache blocks (kc = 256,
	// mc = 144, nc = 2048) in each dimension.
	for _, mnk := range [][3]int{{145, 40, 257}, {7, 2049, 300}, {300, 2100, 33}} {
		m, n, k := mnk[0], mnk[1], mnk[2]
		d.check(t, fmt.Sprintf("blocks %v", mnk), 1e-5*math.Sqrt(float64(k)), func(in []*graph.Node) []*graph.Node {
			return []*graph.Node{graph.Dot(in[0], in[1]), graph.DotGeneral(in[1], []int{0}, nil, in[0], []int{1}, nil)}
		}, randUniform(r, dtypes.Float32, m, k), randUniform(r, dtypes.Float32, k, n))
	}
	// A NaN or infinity in A multiplies whole rows: a kernel that skips
	// zeros of B, or starts its sums from a product with 0, would drop it.
	for _, mnk := range [][3]int{{1, 1, 1}, {6, 16, 1}, {7, 17, 5}, {13, 33, 64}, {193, 31, 17}, {3, 200, 300}} {
		m, n, k := mnk[0], mnk[1], mnk[2]
		av, bv := randValues(r, m*k), make([]float32, k*n)
		specials(r, av, 1+m/10)
		d.check(t, fmt.Sprintf("special A times zero B %v", mnk), 1e-5, func(in []*graph.Node) []*graph.Node {
			return []*graph.Node{graph.Dot(in[0], in[1])}
		}, tensorOf(dtypes.Float32, av, m, k), tensorOf(dtypes.Float32, bv, k, n))
	}
	if d.skipped > 0 {
		t.Errorf("%d products refused by both backends", d.skipped)
	}
}

// TestDifferentialElementwise compares the arithmetic ops on every
// broadcast pattern of rank 1 to 4 (each axis of each operand full or 1,
// scalars too), Exp and Logistic, and ReLU, with NaNs and infinities.
func TestDifferentialElementwise(t *testing.T) {
	d := newDiffer(t)
	r := rand.New(rand.NewPCG(5, 6))
	binary := []struct {
		name string
		f    func(a, b *graph.Node) *graph.Node
	}{{"add", graph.Add}, {"sub", graph.Sub}, {"mul", graph.Mul}, {"div", graph.Div}, {"max", graph.Max}, {"min", graph.Min}}
	for rank := 0; rank <= 4; rank++ {
		dims := make([]int, rank)
		for a := range dims {
			dims[a] = []int{1, 2, 3, 5, 9, 17}[r.IntN(6)]
		}
		if rank > 0 {
			dims[rank-1] = []int{3, 8, 13, 33}[r.IntN(4)]
		}
		for mask := 0; mask < 1<<(2*rank); mask++ {
			ld, rd := slices.Clone(dims), slices.Clone(dims)
			for a := range rank {
				if mask>>a&1 == 1 {
					ld[a] = 1
				}
				if mask>>(rank+a)&1 == 1 {
					rd[a] = 1
				}
			}
			for _, dtype := range []dtypes.DType{dtypes.Float32, dtypes.Float64} {
				lv, rv := randValues(r, prod(ld)), randValues(r, prod(rd))
				if mask%3 == 0 {
					specials(r, lv, 1)
					specials(r, rv, 1)
				}
				for _, op := range binary {
					d.check(t, fmt.Sprintf("%s %s %v %v", op.name, dtype, ld, rd), 0, func(in []*graph.Node) []*graph.Node {
						return []*graph.Node{op.f(in[0], in[1])}
					}, tensorOf(dtype, lv, ld...), tensorOf(dtype, rv, rd...))
				}
			}
		}
	}
	// Scalar operands on either side, exactly as the vector–scalar kernels.
	for _, n := range []int{1, 7, 8, 9, 31, 100} {
		v := specials(r, randValues(r, n), 1)
		for _, op := range binary {
			d.check(t, fmt.Sprintf("%s scalar %d", op.name, n), 0, func(in []*graph.Node) []*graph.Node {
				s := graph.Const(in[0].Graph(), float32(0.375))
				return []*graph.Node{op.f(in[0], s), op.f(s, in[0])}
			}, tensorOf(dtypes.Float32, v, n))
		}
	}
	// Exp and Logistic (within an ulp or two), ReLU; values past the
	// vector exp's range, NaNs and infinities.
	for _, n := range []int{1, 7, 8, 9, 16, 33, 1000} {
		v := randValues(r, n)
		for i := range v {
			v[i] *= 100
		}
		specials(r, v, 1+n/50)
		d.check(t, fmt.Sprintf("exp/logistic/relu %d", n), 1e-6, func(in []*graph.Node) []*graph.Node {
			return []*graph.Node{graph.Exp(in[0]), graph.Logistic(in[0]),
				graph.Max(in[0], graph.ScalarZero(in[0].Graph(), dtypes.Float32))}
		}, tensorOf(dtypes.Float32, v, n))
	}
}

// viaFloat32 applies f to x in float32 when x is bfloat16 and rounds the
// result once.
func viaFloat32(x *graph.Node, f func(*graph.Node) *graph.Node) *graph.Node {
	if x.DType() != dtypes.BFloat16 {
		return f(x)
	}
	return graph.ConvertDType(f(graph.ConvertDType(x, dtypes.Float32)), dtypes.BFloat16)
}

// subsets returns every subset of the axes of a rank-r tensor.
func subsets(r int) [][]int {
	var out [][]int
	for mask := 0; mask < 1<<r; mask++ {
		var s []int
		for a := range r {
			if mask>>a&1 == 1 {
				s = append(s, a)
			}
		}
		out = append(out, s)
	}
	return out
}

// TestDifferentialReduce compares sums, maxima, minima and products over
// every subset of the axes of tensors of rank 1 to 4, in float32, float64
// and bfloat16, with NaNs and infinities in the maxima and minima.
func TestDifferentialReduce(t *testing.T) {
	d := newDiffer(t)
	r := rand.New(rand.NewPCG(7, 8))
	for rank := 1; rank <= 4; rank++ {
		for trial := range 3 {
			dims := make([]int, rank)
			for a := range dims {
				dims[a] = []int{1, 2, 3, 7, 8, 9, 17, 33}[r.IntN(8)]
			}
			for _, dtype := range []dtypes.DType{dtypes.Float32, dtypes.Float64, dtypes.BFloat16} {
				v := randValues(r, prod(dims))
				plain := tensorOf(dtype, v, dims...)
				special := tensorOf(dtype, specials(r, slices.Clone(v), 1+trial), dims...)
				tol := map[dtypes.DType]float64{dtypes.Float32: 1e-5, dtypes.Float64: 1e-12, dtypes.BFloat16: 1e-2}[dtype]
				for _, axes := range subsets(rank) {
					if len(axes) == 0 {
						continue
					}
					name := fmt.Sprintf("%s %v over %v", dtype, dims, axes)
					// bfloat16 sums accumulate in float32 (upstream rounds
					// after every addition): compare with that.
					// Sums of many terms differ by their order: the
					// tolerance grows as the square root of their count.
					count := 1
					for _, a := range axes {
						count *= dims[a]
					}
					d.checkAgainst(t, "sum "+name, tol*math.Sqrt(float64(count)), func(in []*graph.Node) []*graph.Node {
						return []*graph.Node{graph.ReduceSum(in[0], axes...)}
					}, func(in []*graph.Node) []*graph.Node {
						return []*graph.Node{viaFloat32(in[0], func(x *graph.Node) *graph.Node { return graph.ReduceSum(x, axes...) })}
					}, plain)
					d.check(t, "product "+name, tol, func(in []*graph.Node) []*graph.Node {
						return []*graph.Node{graph.ReduceMultiply(in[0], axes...)}
					}, plain)
					d.check(t, "max/min "+name, 0, func(in []*graph.Node) []*graph.Node {
						return []*graph.Node{graph.ReduceMax(in[0], axes...), graph.ReduceMin(in[0], axes...)}
					}, special)
				}
			}
		}
	}
}

// TestDifferentialReduceWindow compares max, min and sum pools (windows on
// any axes, strides, padding, dilations), float32 with NaNs and infinities,
// and bfloat16 sums.
func TestDifferentialReduceWindow(t *testing.T) {
	d := newDiffer(t)
	r := rand.New(rand.NewPCG(9, 10))
	for i := range 120 {
		rank := 2 + r.IntN(3)
		dims := make([]int, rank)
		win, strides, bdil, wdil := make([]int, rank), make([]int, rank), make([]int, rank), make([]int, rank)
		pads := make([][2]int, rank)
		for a := range rank {
			dims[a] = 1 + r.IntN(9)
			win[a], strides[a], bdil[a], wdil[a] = 1, 1, 1, 1
			// Mostly windows over the last two axes, the pooling path.
			if a >= rank-2 || r.IntN(4) == 0 {
				win[a] = 1 + r.IntN(min(dims[a], 4))
				strides[a] = 1 + r.IntN(3)
				pads[a] = [2]int{r.IntN(win[a]), r.IntN(win[a])}
				if i%5 == 0 {
					wdil[a] = 1 + r.IntN(2)
				}
				if i%7 == 0 {
					bdil[a] = 1 + r.IntN(2)
				}
			}
		}
		v := randValues(r, prod(dims))
		if i%2 == 0 {
			specials(r, v, 2)
		}
		name := fmt.Sprintf("%v window %v strides %v pads %v bdil %v wdil %v", dims, win, strides, pads, bdil, wdil)
		for _, op := range []struct {
			typ backends.ReduceOpType
			tol float64
		}{{backends.ReduceOpMax, 0}, {backends.ReduceOpMin, 0}, {backends.ReduceOpSum, 1e-5}} {
			dtype := dtypes.Float32
			if op.typ == backends.ReduceOpSum && i%4 == 1 {
				dtype = dtypes.BFloat16
			}
			pool := func(x *graph.Node) *graph.Node {
				return graph.BackendReduceWindow(x, op.typ, win, strides, bdil, wdil, pads)
			}
			d.checkAgainst(t, fmt.Sprintf("%s %s %s", op.typ, dtype, name), op.tol, func(in []*graph.Node) []*graph.Node {
				return []*graph.Node{pool(in[0])}
			}, func(in []*graph.Node) []*graph.Node {
				return []*graph.Node{viaFloat32(in[0], pool)} // bfloat16 sums accumulate in float32
			}, tensorOf(dtype, v, dims...))
		}
	}
	t.Logf("%d cases ran, %d refused by both backends", d.ran, d.skipped)
}

// TestDifferentialDataMovement compares, exactly, transposes with every
// permutation of rank 4, strided slices, padding (edge, negative and
// interior) and broadcasts, in float32, float64 and bfloat16.
func TestDifferentialDataMovement(t *testing.T) {
	d := newDiffer(t)
	r := rand.New(rand.NewPCG(11, 12))
	var perms [][]int
	var permute func(p []int, k int)
	permute = func(p []int, k int) {
		if k == len(p) {
			perms = append(perms, slices.Clone(p))
			return
		}
		for i := k; i < len(p); i++ {
			p[k], p[i] = p[i], p[k]
			permute(p, k+1)
			p[k], p[i] = p[i], p[k]
		}
	}
	permute([]int{0, 1, 2, 3}, 0)
	dtypesAll := []dtypes.DType{dtypes.Float32, dtypes.Float64, dtypes.BFloat16}
	for i, p := range perms {
		for _, dims := range [][]int{{2, 3, 5, 7}, {1, 9, 1, 17}, {4, 1, 33, 6}, {3, 8, 4, 5}} {
			dtype := dtypesAll[i%3]
			x := tensorOf(dtype, specials(r, randValues(r, prod(dims)), 1), dims...)
			d.check(t, fmt.Sprintf("transpose %s %v %v", dtype, dims, p), 0, func(in []*graph.Node) []*graph.Node {
				return []*graph.Node{graph.TransposeAllAxes(in[0], p...)}
			}, x)
		}
	}
	for i := range 150 {
		rank := 1 + r.IntN(4)
		dims := make([]int, rank)
		specs := make([]graph.SliceAxisSpec, rank)
		for a := range rank {
			dims[a] = 1 + r.IntN(12)
			lo := r.IntN(dims[a])
			hi := lo + 1 + r.IntN(dims[a]-lo)
			specs[a] = graph.AxisRange(lo, hi).Stride(1 + r.IntN(4))
		}
		dtype := dtypesAll[i%3]
		x := tensorOf(dtype, randValues(r, prod(dims)), dims...)
		d.check(t, fmt.Sprintf("slice %s %v %v", dtype, dims, specs), 0, func(in []*graph.Node) []*graph.Node {
			return []*graph.Node{graph.Slice(in[0], specs...)}
		}, x)
		// Broadcast the same tensor: every axis of size 1 grows, and a new
		// leading axis is added.
		to := []int{2}
		for _, dd := range dims {
			if dd == 1 {
				to = append(to, 1+r.IntN(9))
			} else {
				to = append(to, dd)
			}
		}
		// Pad with edge (negative too) and interior padding.
		pads := make([]backends.PadAxis, rank)
		for a := range rank {
			pads[a] = backends.PadAxis{Start: r.IntN(4) - 1, End: r.IntN(4) - 1, Interior: r.IntN(3)}
			if dims[a] == 1 {
				pads[a].Start, pads[a].End = max(0, pads[a].Start), max(0, pads[a].End)
			}
		}
		d.check(t, fmt.Sprintf("pad %s %v %v", dtype, dims, pads), 0, func(in []*graph.Node) []*graph.Node {
			return []*graph.Node{graph.Pad(in[0], graph.Scalar(in[0].Graph(), dtype, 0.5), pads...)}
		}, x)
		d.check(t, fmt.Sprintf("broadcast %s %v to %v", dtype, dims, to), 0, func(in []*graph.Node) []*graph.Node {
			return []*graph.Node{graph.BroadcastToDims(graph.InsertAxes(in[0], 0), to...)}
		}, x)
	}
}

// checkProcs is check with the fork run once per GOMAXPROCS in procs (the
// reference once): the fork's kernels split their work by it. fork should
// be a backend without a worker limit ("parallelism=-1"), so that
// GOMAXPROCS alone sets the number of goroutines, even past the cores.
func (d *differ) checkProcs(t *testing.T, fork backends.Backend, procs []int, name string, tol float64, fn func([]*graph.Node) []*graph.Node, inputs ...*tensors.Tensor) {
	t.Helper()
	d.checkEach(t, fork, procs, name, tol, false, fn, inputs...)
}

// checkEach is checkProcs, also comparing the signs of zeros when
// zeroSigns.
func (d *differ) checkEach(t *testing.T, fork backends.Backend, procs []int, name string, tol float64, zeroSigns bool, fn func([]*graph.Node) []*graph.Node, inputs ...*tensors.Tensor) {
	t.Helper()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	want, errRef := runGraph(d.ref, fn, inputs)
	for _, p := range procs {
		runtime.GOMAXPROCS(p)
		got, errFork := runGraph(fork, fn, inputs)
		switch {
		case errRef != nil && errFork != nil:
			d.skipped++
			continue
		case errRef != nil:
			t.Fatalf("%s: upstream fails (%v), this backend does not", name, errRef)
		case errFork != nil:
			t.Fatalf("%s GOMAXPROCS=%d: %v", name, p, errFork)
		}
		d.ran++
		pname := fmt.Sprintf("%s GOMAXPROCS=%d", name, p)
		compareOutputs(t, pname, tol, got, want)
		if zeroSigns {
			sameZeroSigns(t, pname, got, want)
		}
	}
}

// canonicalConv returns the convolution of n images of c channels and
// spatial sizes in by an o×c kernel of spatial sizes kern, channels first
// everywhere; nil strides and dilations are 1s.
func canonicalConv(n, c, o int, in, kern, strides, kdil, idil []int, pads [][2]int) convFuzzCase {
	s := len(in)
	cc := convFuzzCase{n: n, c: c, o: o, chGroups: 1, batchGroups: 1, in: in, kern: kern, pads: pads,
		strides: strides, kdil: kdil, idil: idil, outSize: 1}
	for _, p := range []*[]int{&cc.strides, &cc.kdil, &cc.idil} {
		if *p == nil {
			*p = unitStrides(s)
		}
	}
	spatial := make([]int, s)
	for i := range s {
		spatial[i] = 2 + i
		lp := (in[i]-1)*cc.idil[i] + 1 + pads[i][0] + pads[i][1]
		cc.outSize *= max(0, (lp-((kern[i]-1)*cc.kdil[i]+1))/cc.strides[i]+1)
	}
	cc.axes = backends.ConvolveAxesConfig{InputBatch: 0, InputChannels: 1, InputSpatial: spatial,
		KernelOutputChannels: 0, KernelInputChannels: 1, KernelSpatial: spatial,
		OutputBatch: 0, OutputChannels: 1, OutputSpatial: spatial}
	cc.xDims = append([]int{n, c}, in...)
	cc.kDims = append([]int{o, c}, kern...)
	return cc
}

// convAndGrads returns fn's graph: the convolution cc, then, with grads,
// the gradients of a weighted sum of it with respect to input and kernel
// (GoMLX's input gradient is a convolution with the reversed kernel, read
// in place by the direct path), and with fused, its bias add and ReLU.
func convAndGrads(cc convFuzzCase, grads, fused bool) func(in []*graph.Node) []*graph.Node {
	return func(in []*graph.Node) []*graph.Node {
		y := cc.conv(in[0], in[1])
		outs := []*graph.Node{y}
		if grads {
			v := graph.Sin(graph.IotaFull(y.Graph(), y.Shape()))
			outs = append(outs, graph.Gradient(graph.ReduceAllSum(graph.Mul(y, v)), in[0], in[1])...)
		}
		if fused {
			bdims := make([]int, y.Rank())
			for j := range bdims {
				bdims[j] = 1
			}
			bdims[1] = cc.o
			yb := graph.Add(y, graph.Reshape(in[2], bdims...))
			outs = append(outs, graph.Max(yb, graph.ScalarZero(y.Graph(), dtypes.Float32)))
		}
		return outs
	}
}

// TestDifferentialConvSmallMaps compares the regimes of the direct path
// that random shapes seldom reach: maps smaller than the kernel (1×1, 2×2,
// 1×3, 3×1 and 1-D maps under 3×3, 5×5, 7×1 kernels), with symmetric,
// asymmetric, negative and past-the-kernel padding, strides, kernel and
// input dilations, where only interior taps read the map and where no tap
// does (the output is then 0, or the bias); and products with more output
// channels than im2col columns, large enough to split by rows and pack
// the kernel in parallel, with bias and ReLU and through the reversed
// kernel of an input gradient. Each runs with GOMAXPROCS 1, 2 and 3.
func TestDifferentialConvSmallMaps(t *testing.T) {
	d := newDiffer(t)
	fork, err := New("parallelism=-1")
	if err != nil {
		t.Fatal(err)
	}
	procs := []int{1, 2, 3}
	r := rand.New(rand.NewPCG(13, 14))
	refused := 0 // gradients GoMLX does not build
	cases := []struct {
		in, kern, strides, kdil, idil []int
		pads                          [][2]int
	}{
		// 2-D maps under larger kernels.
		{in: []int{1, 1}, kern: []int{3, 3}, pads: [][2]int{{1, 1}, {1, 1}}},
		{in: []int{1, 1}, kern: []int{3, 3}, pads: [][2]int{{0, 2}, {2, 0}}},
		{in: []int{2, 2}, kern: []int{3, 3}, pads: [][2]int{{1, 1}, {1, 1}}},
		{in: []int{2, 2}, kern: []int{5, 5}, pads: [][2]int{{2, 2}, {2, 2}}}, // interior taps only
		{in: []int{2, 2}, kern: []int{5, 5}, pads: [][2]int{{1, 3}, {3, 1}}},
		{in: []int{1, 3}, kern: []int{3, 3}, pads: [][2]int{{1, 1}, {1, 1}}},
		{in: []int{3, 1}, kern: []int{3, 3}, pads: [][2]int{{1, 1}, {1, 1}}},
		{in: []int{1, 3}, kern: []int{5, 5}, pads: [][2]int{{2, 2}, {2, 2}}},
		{in: []int{2, 2}, kern: []int{7, 1}, pads: [][2]int{{3, 3}, {0, 0}}},
		{in: []int{3, 1}, kern: []int{7, 1}, pads: [][2]int{{3, 3}, {0, 0}}},
		{in: []int{1, 1}, kern: []int{5, 5}, pads: [][2]int{{2, 2}, {2, 2}}}, // only the centre tap
		{in: []int{1, 2}, kern: []int{5, 5}, pads: [][2]int{{2, 2}, {2, 2}}}, // interior taps only
		// Padding past the kernel's reach: outputs reading only padding.
		{in: []int{1, 1}, kern: []int{3, 3}, pads: [][2]int{{4, 4}, {3, 5}}},
		{in: []int{2, 1}, kern: []int{3, 3}, pads: [][2]int{{5, 0}, {0, 4}}},
		// Strides, with a tap or none reading the map.
		{in: []int{2, 2}, kern: []int{3, 3}, strides: []int{2, 2}, pads: [][2]int{{1, 1}, {1, 1}}},
		{in: []int{1, 1}, kern: []int{3, 3}, strides: []int{3, 3}, pads: [][2]int{{3, 3}, {3, 3}}},
		{in: []int{1, 1}, kern: []int{3, 3}, strides: []int{5, 5}, pads: [][2]int{{4, 4}, {4, 4}}}, // no tap reads the map
		{in: []int{1, 2}, kern: []int{3, 3}, strides: []int{5, 1}, pads: [][2]int{{4, 4}, {1, 1}}}, // none on one axis
		// Kernel and input dilations.
		{in: []int{2, 2}, kern: []int{3, 3}, kdil: []int{2, 2}, pads: [][2]int{{2, 2}, {2, 2}}},
		{in: []int{1, 3}, kern: []int{3, 3}, kdil: []int{3, 2}, pads: [][2]int{{3, 3}, {2, 2}}},
		{in: []int{2, 2}, kern: []int{3, 3}, idil: []int{2, 2}, pads: [][2]int{{1, 1}, {1, 1}}},
		{in: []int{2, 1}, kern: []int{5, 5}, idil: []int{2, 1}, strides: []int{2, 1}, pads: [][2]int{{2, 2}, {2, 2}}},
		// Negative padding.
		{in: []int{2, 2}, kern: []int{3, 3}, pads: [][2]int{{-1, 2}, {2, -1}}},
		{in: []int{3, 1}, kern: []int{5, 3}, pads: [][2]int{{-1, 3}, {1, 1}}},
		// 1-D.
		{in: []int{1}, kern: []int{3}, pads: [][2]int{{1, 1}}},
		{in: []int{2}, kern: []int{5}, pads: [][2]int{{2, 2}}},
		{in: []int{1}, kern: []int{7}, pads: [][2]int{{0, 6}}},
		{in: []int{2}, kern: []int{3}, strides: []int{2}, pads: [][2]int{{3, 3}}},
		{in: []int{1}, kern: []int{3}, strides: []int{4}, pads: [][2]int{{3, 3}}}, // no tap reads the map
		{in: []int{2}, kern: []int{3}, kdil: []int{2}, pads: [][2]int{{2, 2}}},
		{in: []int{3}, kern: []int{5}, pads: [][2]int{{-1, 4}}},
	}
	for i, c := range cases {
		n, ch, o := 1+i%2, channelCounts[r.IntN(len(channelCounts))], channelCounts[r.IntN(len(channelCounts))]
		cc := canonicalConv(n, ch, o, c.in, c.kern, c.strides, c.kdil, c.idil, c.pads)
		x, k := randUniform(r, dtypes.Float32, cc.xDims...), randUniform(r, dtypes.Float32, cc.kDims...)
		bias := randUniform(r, dtypes.Float32, cc.o)
		before := d.skipped
		d.checkProcs(t, fork, procs, cc.String(), cc.tol(), convAndGrads(cc, false, true), x, k, bias)
		// The kernel read through a view, as input gradients read theirs,
		// in every padding regime (GoMLX differentiates few of them):
		// stored [C, O, …] and reversed along its spatial axes, or along
		// all of them (negative channel strides).
		rc := cc
		rc.kDims = append([]int{cc.c, cc.o}, cc.kern...)
		rc.axes.KernelInputChannels, rc.axes.KernelOutputChannels = 0, 1
		reversed := cc.axes.KernelSpatial
		if i%2 == 1 {
			reversed = append([]int{0, 1}, reversed...)
		}
		d.checkProcs(t, fork, procs, fmt.Sprintf("reversed %v %s", reversed, rc), cc.tol(), func(in []*graph.Node) []*graph.Node {
			return []*graph.Node{rc.conv(in[0], graph.Reverse(in[1], reversed...))}
		}, x, randUniform(r, dtypes.Float32, rc.kDims...))
		if d.skipped > before {
			t.Fatalf("%s: refused by both backends", cc)
		}
		// GoMLX differentiates neither input dilation nor padding past
		// the dilated kernel's half, nor strides with kernel dilation.
		d.checkProcs(t, fork, procs, "gradient "+cc.String(), cc.tol(), convAndGrads(cc, true, false), x, k)
		if d.skipped > before {
			refused++
		}
	}
	// More output channels than im2col columns (the deep levels of a large
	// UNet): split by rows only when large enough, each block packing its
	// own rows; O is a multiple of neither the tile's 6 rows nor the row
	// blocks. The input gradient reads the reversed kernel through a view,
	// six rows at a time. The last case, with fewer output channels than
	// columns, packs its kernel whole (and its input gradient's reversed
	// one), split across goroutines, for blocks that split its columns.
	type p3 = [3]int // images, input and output channels
	for _, c := range []struct {
		nco      p3
		in, kern []int
		pads     [][2]int
	}{
		{nco: p3{1, 128, 500}, in: []int{2, 2}, kern: []int{3, 3}, pads: [][2]int{{1, 1}, {1, 1}}},
		{nco: p3{2, 1200, 501}, in: []int{1, 1}, kern: []int{3, 3}, pads: [][2]int{{1, 1}, {1, 1}}},
		{nco: p3{1, 300, 607}, in: []int{1, 2}, kern: []int{3, 3}, pads: [][2]int{{1, 1}, {1, 1}}},
		{nco: p3{1, 200, 1403}, in: []int{2}, kern: []int{3}, pads: [][2]int{{1, 1}}},
		{nco: p3{1, 128, 130}, in: []int{12, 12}, kern: []int{3, 3}, pads: [][2]int{{1, 1}, {1, 1}}},
	} {
		cc := canonicalConv(c.nco[0], c.nco[1], c.nco[2], c.in, c.kern, nil, nil, nil, c.pads)
		x, k := randUniform(r, dtypes.Float32, cc.xDims...), randUniform(r, dtypes.Float32, cc.kDims...)
		bias := randUniform(r, dtypes.Float32, cc.o)
		before := d.skipped
		d.checkProcs(t, fork, procs, "rows "+cc.String(), cc.tol(), convAndGrads(cc, true, true), x, k, bias)
		if d.skipped > before {
			t.Fatalf("rows %s: refused by both backends", cc)
		}
	}
	t.Logf("%d runs compared; the gradients of %d of %d shapes refused by both backends", d.ran, refused, len(cases))
}

// TestDifferentialElementwiseSplit compares, with GOMAXPROCS 1, 2 and 3,
// float32 Add, Sub, Mul and Div of same-shape and scalar operands (either
// side), Exp and Logistic at sizes around 2¹⁷ elements, where they start
// to split across goroutines (2¹⁶ a goroutine), and around the chunks'
// 64-element bounds: division by 0 and NaN, values past the vector exp's
// range, and ops writing over an intermediate operand they own, on either
// side.
func TestDifferentialElementwiseSplit(t *testing.T) {
	d := newDiffer(t)
	fork, err := New("parallelism=-1")
	if err != nil {
		t.Fatal(err)
	}
	procs := []int{1, 2, 3}
	r := rand.New(rand.NewPCG(15, 16))
	const m = minParallelElements
	for _, n := range []int{m, 2*m - 1, 2 * m, 2*m + 1, 2*m + 63, 2*m + 64, 3*m + 5} {
		x, y := randValues(r, n), randValues(r, n)
		for _, at := range []int{0, n/2 - 1, n/2 + 64, n/3 + 1, 2*n/3 - 1, n - 1} {
			x[at], y[at] = 0, 0 // 0/0, and x/0 next to it
			y[min(at+1, n-1)] = 0
		}
		specials(r, x, 5)
		specials(r, y, 5)
		for i := range x {
			if i%97 == 0 {
				x[i] *= 200 // past the vector exp's range
			}
		}
		name := fmt.Sprintf("n=%d", n)
		d.checkProcs(t, fork, procs, "arithmetic "+name, 0, func(in []*graph.Node) []*graph.Node {
			a, b := in[0], in[1]
			s := graph.Const(a.Graph(), float32(-0.625))
			zero := graph.ScalarZero(a.Graph(), dtypes.Float32)
			// Each intermediate has one use, so the op after it may write
			// over it: Add over the product, Div over the sum, Sub (a
			// scalar on the left) over the quotient, and so on.
			diff := graph.Sub(s, graph.Div(graph.Add(graph.Mul(a, b), a), b))
			return []*graph.Node{graph.Mul(graph.Sub(diff, s), s), graph.Div(graph.Add(a, s), zero), graph.Div(s, graph.Mul(b, zero))}
		}, tensorOf(dtypes.Float32, x, n), tensorOf(dtypes.Float32, y, n))
		d.checkProcs(t, fork, procs, "exp/logistic "+name, 1e-6, func(in []*graph.Node) []*graph.Node {
			a := in[0]
			return []*graph.Node{graph.Exp(a), graph.Logistic(a), graph.Exp(graph.Neg(a)), graph.Logistic(graph.Neg(a))}
		}, tensorOf(dtypes.Float32, x, n))
	}
	if d.skipped > 0 {
		t.Errorf("%d cases refused by both backends", d.skipped)
	}
}
