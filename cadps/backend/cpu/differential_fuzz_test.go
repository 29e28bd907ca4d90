// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// FuzzDifferential draws one random case from a seed and compares it on
// this package's backend and on upstream's, as the TestDifferential* tests
// do, over wider ranges than they run in a few seconds: convolutions with
// rows past the micro-kernels' 16- and 32-column panels and long kernels
// (the banded path), products of any size up to a few hundred, chains of
// element-wise ops over broadcast shapes up to the parallel thresholds,
// reductions, pools and their gradients (SelectAndScatter), data
// movement, gathers and scatters, and integer ops, with NaN, ±Inf and −0
// inputs, and the fork run with GOMAXPROCS 1, 2 or 3, its ops in sequence
// or in parallel. Exact results must match bit for bit, the sign of zero
// included, integers and booleans exactly; float32 sums within 1e-5 times
// the square root of their length. go test runs the seed corpus (ten
// cases of each of the nine kinds); for more,
//
//	go test ./cadps/backend/cpu -run '^$' -fuzz FuzzDifferential -fuzztime 10m
//
// with GODEBUG=cpu.avx512f=off for the AVX2 micro-kernels on a CPU with
// AVX-512, and -tags purego for the portable ones.
func FuzzDifferential(f *testing.F) {
	for seed := range uint64(90) {
		f.Add(seed, uint8(seed))
	}
	f.Fuzz(fuzzDifferentialCase)
}

// fuzzDifferentialCase is one case of FuzzDifferential: kind picks the
// ops, seed their shapes and values.
func fuzzDifferentialCase(t *testing.T, seed uint64, kind uint8) {
	d := newDiffer(t)
	r := rand.New(rand.NewPCG(seed, uint64(kind)))
	config := "parallelism=-1"
	if r.IntN(4) == 0 {
		config += ",ops_parallel"
	}
	fork, err := New(config)
	if err != nil {
		t.Fatal(err)
	}
	procs := []int{1 + r.IntN(3)}
	switch kind % 9 {
	case 0:
		fuzzConv(t, d, fork, procs, r)
	case 1:
		fuzzDot(t, d, fork, procs, r)
	case 2:
		fuzzElementwise(t, d, fork, procs, r)
	case 3:
		fuzzReduce(t, d, fork, procs, r)
	case 4:
		fuzzPool(t, d, fork, procs, r)
	case 5:
		fuzzDataMovement(t, d, fork, procs, r)
	case 6:
		fuzzGather(t, d, fork, procs, r)
	case 7:
		fuzzSelectAndScatter(t, d, fork, procs, r)
	case 8:
		fuzzInteger(t, d, fork, procs, r)
	}
	if d.ran == 0 {
		t.Errorf("refused by both backends")
	}
}

// checkStrict is checkProcs where an exact result (tol 0) is compared bit
// for bit: the sign of a zero must match too.
func (d *differ) checkStrict(t *testing.T, fork backends.Backend, procs []int, name string, tol float64, fn func([]*graph.Node) []*graph.Node, inputs ...*tensors.Tensor) {
	t.Helper()
	d.checkEach(t, fork, procs, name, tol, tol == 0, fn, inputs...)
}

// sameZeroSigns fails t where an output of got holds a zero of another
// sign than want's at that element.
func sameZeroSigns(t *testing.T, name string, got, want []*tensors.Tensor) {
	t.Helper()
	for i := range want {
		g, w := flat64(t, got[i]), flat64(t, want[i])
		for j := range w {
			if g[j] == 0 && w[j] == 0 && math.Signbit(g[j]) != math.Signbit(w[j]) {
				t.Fatalf("%s: output %d %s, element %d = %g, upstream %g", name, i, want[i].Shape(), j, g[j], w[j])
			}
		}
	}
}

// withSpecials returns v with about one value in rate replaced by NaN,
// ±Inf, −0 or +0 (rate 0: none).
func withSpecials(r *rand.Rand, v []float32, rate int) []float32 {
	if rate == 0 {
		return v
	}
	s := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.Copysign(0, -1)), 0}
	for i := range v {
		if r.IntN(rate) == 0 {
			v[i] = s[r.IntN(len(s))]
		}
	}
	return v
}

// negZeros returns v with about one value in rate replaced by −0 or +0.
func negZeros(r *rand.Rand, v []float32, rate int) []float32 {
	for i := range v {
		if r.IntN(rate) == 0 {
			v[i] = float32(math.Copysign(0, float64(r.IntN(2)*2-1)))
		}
	}
	return v
}

// fuzzSize returns a size around the kernels' tiles (4, 6, 8, 16, 32) or
// any size up to limit.
func fuzzSize(r *rand.Rand, limit int) int {
	if r.IntN(2) == 0 {
		s := []int{1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65}
		if v := s[r.IntN(len(s))]; v <= limit {
			return v
		}
	}
	return 1 + r.IntN(limit)
}

// fuzzConv compares a convolution with spatial sizes up to 48 and kernels
// up to 20 taps (long enough for the banded path), any layout, strides,
// dilations, padding, channel and batch groups; canonical ones with their
// bias and ReLU too, and through GoMLX's gradients.
func fuzzConv(t *testing.T, d *differ, fork backends.Backend, procs []int, r *rand.Rand) {
	s := 1 + r.IntN(2)
	for {
		cc := convFuzzCase{n: 1 + r.IntN(3), c: fuzzSize(r, 40), o: fuzzSize(r, 40), chGroups: 1, batchGroups: 1, outSize: 1}
		switch r.IntN(5) {
		case 0:
			ds := commonDivisors(cc.c, cc.o)
			cc.chGroups = ds[r.IntN(len(ds))]
		case 1:
			ds := commonDivisors(cc.n, cc.o)
			cc.batchGroups = ds[r.IntN(len(ds))]
		}
		ok, cost := true, cc.n*cc.o*cc.c/cc.chGroups
		for range s {
			l, k := fuzzSize(r, 48), 1+r.IntN(5)
			if r.IntN(4) == 0 {
				k = 14 + r.IntN(7)
			}
			st, kd, id := 1, 1, 1
			if r.IntN(3) == 0 {
				st = 2 + r.IntN(2)
			}
			if r.IntN(4) == 0 {
				kd = 2 + r.IntN(2)
			}
			if r.IntN(6) == 0 {
				id = 2 + r.IntN(2)
			}
			e := (k-1)*kd + 1
			p := [2]int{r.IntN(e+2) - 1, r.IntN(e+2) - 1}
			out, fits := cc.addAxis(l, k, st, id, kd, p)
			if !fits {
				ok = false
				break
			}
			cost *= out * k
		}
		if !ok || cost > 1<<21 {
			continue
		}
		canonical := r.IntN(2) == 0
		if canonical {
			cc.batchGroups = 1
			cc = withCanonicalAxes(cc)
		} else {
			cc = withRandomAxes(r, cc)
		}
		xv := randValues(r, prod(cc.xDims))
		if r.IntN(3) == 0 {
			withSpecials(r, xv, 50)
		}
		x, k := tensorOf(dtypes.Float32, xv, cc.xDims...), randUniform(r, dtypes.Float32, cc.kDims...)
		name := "conv " + cc.String()
		if !canonical || cc.chGroups > 1 {
			d.checkAgainst(t, name, cc.tol(), func(in []*graph.Node) []*graph.Node {
				return []*graph.Node{cc.conv(in[0], in[1])}
			}, func(in []*graph.Node) []*graph.Node {
				return []*graph.Node{cc.splitConv(in[0], in[1])}
			}, x, k)
			return
		}
		bias := randUniform(r, dtypes.Float32, cc.o)
		d.checkProcs(t, fork, procs, name, cc.tol(), convAndGrads(cc, false, true), x, k, bias)
		if cc.inputDilations() == nil && !slices.ContainsFunc(cc.kdil, func(v int) bool { return v > 1 }) {
			d.checkProcs(t, fork, procs, "gradient "+name, cc.tol(), convAndGrads(cc, true, false),
				randUniform(r, dtypes.Float32, cc.xDims...), k)
		}
		return
	}
}

// withCanonicalAxes lays cc out channels first everywhere.
func withCanonicalAxes(cc convFuzzCase) convFuzzCase {
	c := canonicalConv(cc.n, cc.c, cc.o, cc.in, cc.kern, cc.strides, cc.kdil, cc.idil, cc.pads)
	c.chGroups = cc.chGroups
	c.kDims[1] = cc.c / cc.chGroups
	return c
}

// withRandomAxes lays out cc's input, kernel and output in random orders.
func withRandomAxes(r *rand.Rand, cc convFuzzCase) convFuzzCase {
	s := len(cc.in)
	layout := func() []int {
		p := make([]int, s+2)
		for i := range p {
			p[i] = i
		}
		r.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
		return p
	}
	xp, kp, yp := layout(), layout(), layout()
	cx := append([]int{cc.n, cc.c}, cc.in...)
	ck := append([]int{cc.o, cc.c / cc.chGroups}, cc.kern...)
	cc.xDims, cc.kDims = nil, nil
	for _, a := range xp {
		cc.xDims = append(cc.xDims, cx[a])
	}
	for _, a := range kp {
		cc.kDims = append(cc.kDims, ck[a])
	}
	ax := backends.ConvolveAxesConfig{}
	ax.InputBatch, ax.InputChannels = slices.Index(xp, 0), slices.Index(xp, 1)
	ax.KernelOutputChannels, ax.KernelInputChannels = slices.Index(kp, 0), slices.Index(kp, 1)
	ax.OutputBatch, ax.OutputChannels = slices.Index(yp, 0), slices.Index(yp, 1)
	for i := range s {
		ax.InputSpatial = append(ax.InputSpatial, slices.Index(xp, 2+i))
		ax.KernelSpatial = append(ax.KernelSpatial, slices.Index(kp, 2+i))
		ax.OutputSpatial = append(ax.OutputSpatial, slices.Index(yp, 2+i))
	}
	cc.axes = ax
	return cc
}

// fuzzDot compares a DotGeneral with batch, contracting and free axes in
// any order, sizes up to 300, in float32, float64 and bfloat16, NaN, ±Inf
// and −0 in the operands.
func fuzzDot(t *testing.T, d *differ, fork backends.Backend, procs []int, r *rand.Rand) {
	var m, n, k int
	for {
		m, n, k = fuzzSize(r, 300), fuzzSize(r, 300), fuzzSize(r, 300)
		if m*n*k <= 1<<21 {
			break
		}
	}
	var batch []int
	for range r.IntN(3) {
		batch = append(batch, 1+r.IntN(3))
	}
	ks := []int{k}
	if k%3 == 0 && r.IntN(2) == 0 {
		ks = []int{3, k / 3}
	}
	build := func(free int) ([]int, []int, []int) {
		var frees []int
		if free > 1 || r.IntN(2) == 0 {
			frees = []int{free}
		}
		return dotAxes(r, batch, ks, frees)
	}
	lDims, lc, lb := build(m)
	rDims, rc, rb := build(n)
	dtype, tol := dtypes.Float32, 1e-5*math.Sqrt(float64(k))
	switch r.IntN(8) {
	case 0:
		dtype, tol = dtypes.Float64, 1e-12*math.Sqrt(float64(k))
	case 1:
		dtype, tol = dtypes.BFloat16, 1e-2
	}
	lv, rv := randValues(r, prod(lDims)), randValues(r, prod(rDims))
	if r.IntN(3) == 0 {
		withSpecials(r, lv, 200)
		withSpecials(r, rv, 200)
	}
	name := fmt.Sprintf("dot %s lhs%v c%v b%v rhs%v c%v b%v", dtype, lDims, lc, lb, rDims, rc, rb)
	d.checkProcs(t, fork, procs, name, tol, func(in []*graph.Node) []*graph.Node {
		return []*graph.Node{graph.DotGeneral(in[0], lc, lb, in[1], rc, rb)}
	}, tensorOf(dtype, lv, lDims...), tensorOf(dtype, rv, rDims...))
}

// fuzzShape returns dims of rank 0 to 4 whose size stays under limit.
func fuzzShape(r *rand.Rand, limit int) []int {
	for {
		dims := make([]int, r.IntN(5))
		for a := range dims {
			dims[a] = fuzzSize(r, 70)
		}
		if prod(dims) <= limit {
			return dims
		}
	}
}

// broadcastFrom returns dims with some axes set to 1.
func broadcastFrom(r *rand.Rand, dims []int) []int {
	b := slices.Clone(dims)
	for a := range b {
		if r.IntN(3) == 0 {
			b[a] = 1
		}
	}
	return b
}

// fuzzElementwise compares a chain of binary ops over broadcast operands
// (scalars too) and unary ops, with NaN, ±Inf and ±0, exactly (Exp and
// Logistic within 1e-6); shapes up to 3·2¹⁷ elements, past the split
// into goroutines.
func fuzzElementwise(t *testing.T, d *differ, fork backends.Backend, procs []int, r *rand.Rand) {
	limit := 1 << 12
	if r.IntN(4) == 0 {
		limit = 3 << 17
	}
	dims := fuzzShape(r, limit)
	dtype := dtypes.Float32
	if r.IntN(5) == 0 {
		dtype = dtypes.Float64
	}
	nIn := 2 + r.IntN(3)
	inputs := make([]*tensors.Tensor, nIn)
	names := make([]string, nIn)
	for i := range inputs {
		s := broadcastFrom(r, dims)
		if i == 0 {
			s = dims
		}
		if r.IntN(6) == 0 {
			s = nil
		}
		inputs[i] = tensorOf(dtype, withSpecials(r, randValues(r, prod(s)), 1+r.IntN(20)), s...)
		names[i] = fmt.Sprint(s)
	}
	// Exp and Logistic (ops 10 and 11) are within an ulp or two of
	// upstream's: no later step takes their results, which it could
	// amplify past the tolerance.
	type step struct{ op, a, b int }
	steps := make([]step, 1+r.IntN(6))
	exact := make([]int, nIn) // the values later steps may take
	for i := range exact {
		exact[i] = i
	}
	tol := 0.0
	for i := range steps {
		steps[i] = step{r.IntN(12), exact[r.IntN(len(exact))], exact[r.IntN(len(exact))]}
		if steps[i].op >= 10 {
			tol = 1e-6
		} else {
			exact = append(exact, nIn+i)
		}
	}
	name := fmt.Sprintf("elementwise %s %v %v", dtype, names, steps)
	d.checkStrict(t, fork, procs, name, tol, func(in []*graph.Node) []*graph.Node {
		vals := slices.Clone(in)
		for _, s := range steps {
			a, b := vals[s.a], vals[s.b]
			var v *graph.Node
			switch s.op {
			case 0:
				v = graph.Add(a, b)
			case 1:
				v = graph.Sub(a, b)
			case 2:
				v = graph.Mul(a, b)
			case 3:
				v = graph.Div(a, b)
			case 4:
				v = graph.Max(a, b)
			case 5:
				v = graph.Min(a, b)
			case 6:
				v = graph.Neg(a)
			case 7:
				v = graph.Abs(a)
			case 8:
				v = graph.Max(a, graph.ScalarZero(a.Graph(), a.DType()))
			case 9:
				v = graph.Mul(a, graph.Scalar(a.Graph(), a.DType(), -0.5))
			case 10:
				v = graph.Exp(a)
			default:
				v = graph.Logistic(a)
			}
			vals = append(vals, v)
		}
		return vals[len(in):]
	}, inputs...)
}

// fuzzReduce compares sums, products, maxima and minima over random axes
// of tensors of rank 1 to 4 up to 2¹⁸ elements, with NaN, ±Inf and ±0.
func fuzzReduce(t *testing.T, d *differ, fork backends.Backend, procs []int, r *rand.Rand) {
	var dims []int
	for len(dims) == 0 {
		dims = fuzzShape(r, 1<<18)
	}
	var axes []int
	for a := range dims {
		if r.IntN(2) == 0 {
			axes = append(axes, a)
		}
	}
	if len(axes) == 0 {
		axes = []int{r.IntN(len(dims))}
	}
	count := 1
	for _, a := range axes {
		count *= dims[a]
	}
	v := randValues(r, prod(dims))
	rate := []int{0, 3, 100, 5000}[r.IntN(4)]
	withSpecials(r, v, rate)
	if rate == 0 && r.IntN(2) == 0 {
		negZeros(r, v, 2)
	}
	dtype, tol := dtypes.Float32, 1e-5
	if r.IntN(5) == 0 {
		dtype, tol = dtypes.Float64, 1e-12
	}
	name := fmt.Sprintf("reduce %s %v over %v", dtype, dims, axes)
	x := tensorOf(dtype, v, dims...)
	d.checkStrict(t, fork, procs, "max/min "+name, 0, func(in []*graph.Node) []*graph.Node {
		return []*graph.Node{graph.ReduceMax(in[0], axes...), graph.ReduceMin(in[0], axes...)}
	}, x)
	d.checkProcs(t, fork, procs, "sum "+name, tol*math.Sqrt(float64(count)), func(in []*graph.Node) []*graph.Node {
		return []*graph.Node{graph.ReduceSum(in[0], axes...)}
	}, x)
	if count <= 64 {
		d.checkProcs(t, fork, procs, "product "+name, tol*float64(count), func(in []*graph.Node) []*graph.Node {
			return []*graph.Node{graph.ReduceMultiply(in[0], axes...)}
		}, x)
	}
}

// fuzzPool compares max, min and sum windows over maps up to 40×40, the
// pooling path's rows wide enough for its vector loops, with NaN, ±Inf
// and ±0.
func fuzzPool(t *testing.T, d *differ, fork backends.Backend, procs []int, r *rand.Rand) {
	rank := 2 + r.IntN(3)
	dims := make([]int, rank)
	win, strides, bdil, wdil := make([]int, rank), make([]int, rank), make([]int, rank), make([]int, rank)
	pads := make([][2]int, rank)
	for a := range rank {
		dims[a] = 1 + r.IntN(3)
		win[a], strides[a], bdil[a], wdil[a] = 1, 1, 1, 1
		if a >= rank-2 {
			dims[a] = fuzzSize(r, 40)
		}
		if a >= rank-2 || r.IntN(5) == 0 {
			win[a] = 1 + r.IntN(min(dims[a], 5))
			if r.IntN(2) == 0 {
				strides[a] = 1 + r.IntN(3)
			}
			pads[a] = [2]int{r.IntN(win[a]), r.IntN(win[a])}
			if r.IntN(8) == 0 && 2*win[a]-1 <= dims[a]+pads[a][0]+pads[a][1] {
				wdil[a] = 2
			}
		}
	}
	v := randValues(r, prod(dims))
	if r.IntN(2) == 0 {
		negZeros(r, v, 1+r.IntN(3))
	}
	withSpecials(r, v, []int{0, 30, 500}[r.IntN(3)])
	name := fmt.Sprintf("%v window %v strides %v pads %v wdil %v", dims, win, strides, pads, wdil)
	for _, op := range []struct {
		typ backends.ReduceOpType
		tol float64
	}{{backends.ReduceOpMax, 0}, {backends.ReduceOpMin, 0}, {backends.ReduceOpSum, 1e-5 * math.Sqrt(float64(prod(win)))}} {
		d.checkStrict(t, fork, procs, fmt.Sprintf("pool %s %s", op.typ, name), op.tol, func(in []*graph.Node) []*graph.Node {
			return []*graph.Node{graph.BackendReduceWindow(in[0], op.typ, win, strides, bdil, wdil, pads)}
		}, tensorOf(dtypes.Float32, v, dims...))
	}
}

// fuzzDataMovement compares, bit for bit, a transpose of rank up to 5, a
// strided slice, padding, a reversal, a broadcast and a concatenation.
func fuzzDataMovement(t *testing.T, d *differ, fork backends.Backend, procs []int, r *rand.Rand) {
	rank := 1 + r.IntN(5)
	var dims []int
	for {
		dims = make([]int, rank)
		for a := range dims {
			dims[a] = fuzzSize(r, 40)
		}
		if prod(dims) <= 1<<16 {
			break
		}
	}
	dtype := []dtypes.DType{dtypes.Float32, dtypes.Float32, dtypes.Float64, dtypes.BFloat16}[r.IntN(4)]
	x := tensorOf(dtype, withSpecials(r, randValues(r, prod(dims)), 7), dims...)
	perm := r.Perm(rank)
	specs := make([]graph.SliceAxisSpec, rank)
	pads := make([]backends.PadAxis, rank)
	var rev []int
	for a := range rank {
		lo := r.IntN(dims[a])
		specs[a] = graph.AxisRange(lo, lo+1+r.IntN(dims[a]-lo)).Stride(1 + r.IntN(3))
		pads[a] = backends.PadAxis{Start: r.IntN(4) - 1, End: r.IntN(4) - 1, Interior: r.IntN(2)}
		if dims[a] <= 2 { // cropping nothing away
			pads[a].Start, pads[a].End = max(0, pads[a].Start), max(0, pads[a].End)
		}
		if r.IntN(2) == 0 {
			rev = append(rev, a)
		}
	}
	to := []int{1 + r.IntN(3)}
	for _, dd := range dims {
		if dd == 1 {
			dd = 1 + r.IntN(9)
		}
		to = append(to, dd)
	}
	cat := r.IntN(rank)
	name := fmt.Sprintf("data %s %v perm %v slice %v pad %v reverse %v broadcast %v concat %d", dtype, dims, perm, specs, pads, rev, to, cat)
	ops := []func(x *graph.Node) *graph.Node{
		func(x *graph.Node) *graph.Node { return graph.TransposeAllAxes(x, perm...) },
		func(x *graph.Node) *graph.Node { return graph.Slice(x, specs...) },
		func(x *graph.Node) *graph.Node {
			return graph.Pad(x, graph.Scalar(x.Graph(), dtype, math.Copysign(0, -1)), pads...)
		},
		func(x *graph.Node) *graph.Node { return graph.Reverse(x, rev...) },
		func(x *graph.Node) *graph.Node { return graph.BroadcastToDims(graph.InsertAxes(x, 0), to...) },
		func(x *graph.Node) *graph.Node { return graph.Concatenate([]*graph.Node{x, graph.Neg(x)}, cat) },
	}
	for i, op := range ops {
		d.checkStrict(t, fork, procs, fmt.Sprintf("%s (op %d)", name, i), 0, func(in []*graph.Node) []*graph.Node {
			return []*graph.Node{op(in[0])}
		}, x)
	}
}

// intTensor returns a tensor of dims of dtype (an integer type) holding
// uniform values in [lo, hi).
func intTensor(r *rand.Rand, dtype dtypes.DType, lo, hi int64, dims ...int) *tensors.Tensor {
	n := prod(dims)
	draw := func() int64 { return lo + r.Int64N(hi-lo) }
	switch dtype {
	case dtypes.Int32:
		v := make([]int32, n)
		for i := range v {
			v[i] = int32(draw())
		}
		return tensors.FromFlatDataAndDimensions(v, dims...)
	case dtypes.Uint64:
		v := make([]uint64, n)
		for i := range v {
			v[i] = uint64(draw())
		}
		return tensors.FromFlatDataAndDimensions(v, dims...)
	}
	v := make([]int64, n)
	for i := range v {
		v[i] = draw()
	}
	return tensors.FromFlatDataAndDimensions(v, dims...)
}

// fuzzGather compares, bit for bit, a Gather from a table of rank 1 to 3
// (float32, float64, bfloat16 or int32, with NaN, ±Inf and ±0) by int32
// or int64 indices of one or two coordinates and up to two batch axes, as
// the timestep tables of the samplers, the class embeddings of the UNet
// and the spectral tables of the operators use it; and for float32 and
// float64 tables its gradient, a ScatterSum of repeated indices, and
// ScatterMax and ScatterMin into the table.
func fuzzGather(t *testing.T, d *differ, fork backends.Backend, procs []int, r *rand.Rand) {
	var dims []int
	for {
		dims = make([]int, 1+r.IntN(3))
		for a := range dims {
			dims[a] = fuzzSize(r, 40)
		}
		dims[0] = fuzzSize(r, 1000)
		if prod(dims) <= 1<<16 {
			break
		}
	}
	n := 1
	if len(dims) > 1 && r.IntN(3) == 0 {
		n = 2
	}
	// GoMLX's shape inference (both backends') takes at most as many batch
	// axes as the table has axes.
	batch := make([]int, r.IntN(min(3, len(dims)+1)))
	for a := range batch {
		batch[a] = fuzzSize(r, 20)
	}
	dtype := []dtypes.DType{dtypes.Float32, dtypes.Float32, dtypes.Float64, dtypes.BFloat16, dtypes.Int32}[r.IntN(5)]
	var table *tensors.Tensor
	if dtype == dtypes.Int32 {
		table = intTensor(r, dtype, -1<<31, 1<<31-1, dims...)
	} else {
		table = tensorOf(dtype, withSpecials(r, randValues(r, prod(dims)), []int{0, 5, 50}[r.IntN(3)]), dims...)
	}
	idxType := []dtypes.DType{dtypes.Int32, dtypes.Int64}[r.IntN(2)]
	coords := make([]*tensors.Tensor, n)
	for a := range n {
		coords[a] = intTensor(r, idxType, 0, int64(dims[a]), append(slices.Clone(batch), 1)...)
	}
	outDims := append(slices.Clone(batch), dims[n:]...)
	name := fmt.Sprintf("gather %s %v by %s %v×%d", dtype, dims, idxType, batch, n)
	indices := func(in []*graph.Node) *graph.Node {
		if n == 1 {
			return in[0]
		}
		return graph.Concatenate(in[:n], -1)
	}
	inputs := append(slices.Clone(coords), table)
	d.checkStrict(t, fork, procs, name, 0, func(in []*graph.Node) []*graph.Node {
		return []*graph.Node{graph.Gather(in[n], indices(in))}
	}, inputs...)
	if dtype != dtypes.Float32 && dtype != dtypes.Float64 {
		return
	}
	// Repeated indices add up in the order of the updates on both backends.
	v := tensorOf(dtype, randValues(r, prod(outDims)), outDims...)
	d.checkStrict(t, fork, procs, "gradient "+name, 0, func(in []*graph.Node) []*graph.Node {
		x, v := in[n], in[n+1]
		loss := graph.ReduceAllSum(graph.Mul(graph.Gather(x, indices(in)), v))
		return graph.Gradient(loss, x)
	}, append(inputs, v)...)
	d.checkStrict(t, fork, procs, "scatter max/min "+name, 0, func(in []*graph.Node) []*graph.Node {
		x, v, idx := in[n], in[n+1], indices(in)
		return []*graph.Node{graph.ScatterMax(x, idx, v, false, false), graph.ScatterMin(x, idx, v, false, false)}
	}, append(inputs, v)...)
}

// fuzzSelectAndScatter compares the gradient of a max or min window
// reduction (SelectAndScatterMax/Min, which upstream lacks and the
// reference builds from slices: refBuilder.SelectAndScatterMax) over maps
// up to 40×40 with the windows, strides and paddings of the metrics'
// max pools and others, ties (small integers), NaN, ±Inf and ±0: bit for
// bit where the windows do not overlap; where they do, a position chosen
// by several windows sums their values in window order here and in tap
// order in the reference, within 1e-6 per window.
func fuzzSelectAndScatter(t *testing.T, d *differ, fork backends.Backend, procs []int, r *rand.Rand) {
	rank := 2 + r.IntN(3)
	dims := make([]int, rank)
	win, strides := make([]int, rank), make([]int, rank)
	pads := make([][2]int, rank)
	overlap := false
	for a := range rank {
		dims[a], win[a], strides[a] = 1+r.IntN(3), 1, 1
		if a >= rank-2 {
			dims[a] = fuzzSize(r, 40)
		}
		if a >= rank-2 || r.IntN(5) == 0 {
			win[a] = 1 + r.IntN(min(dims[a], 5))
			strides[a] = 1 + r.IntN(3)
			pads[a] = [2]int{r.IntN(win[a]), r.IntN(win[a])}
		}
		overlap = overlap || strides[a] < win[a]
	}
	dtype := dtypes.Float32
	if r.IntN(4) == 0 {
		dtype = dtypes.Float64
	}
	xv := randValues(r, prod(dims))
	if r.IntN(2) == 0 {
		for i := range xv {
			xv[i] = float32(r.IntN(4)) // ties in most windows
		}
	}
	withSpecials(r, xv, []int{0, 10, 100}[r.IntN(3)])
	x := tensorOf(dtype, xv, dims...)
	ops := []backends.ReduceOpType{backends.ReduceOpMax, backends.ReduceOpMin}
	op := ops[r.IntN(2)]
	name := fmt.Sprintf("select and scatter %s %s %v window %v strides %v pads %v", op, dtype, dims, win, strides, pads)
	pool := func(x *graph.Node) *graph.Node {
		return graph.BackendReduceWindow(x, op, win, strides, nil, nil, pads)
	}
	var windows []int
	d.checkStrict(t, fork, procs, name, 0, func(in []*graph.Node) []*graph.Node {
		y := pool(in[0])
		windows = y.Shape().Dimensions
		return []*graph.Node{y}
	}, x)
	tol := 0.0
	if overlap {
		tol = 1e-6 * float64(prod(win))
	}
	v := randUniform(r, dtype, windows...)
	d.checkEach(t, fork, procs, name, tol, !overlap, func(in []*graph.Node) []*graph.Node {
		return graph.Gradient(graph.ReduceAllSum(graph.Mul(pool(in[0]), in[1])), in[0])
	}, x, v)
}

// fuzzInteger compares, exactly, chains of the integer ops the samplers,
// the operators and the probes of the guidance use, on int32, int64 and
// uint64 operands (wrapping products and sums included): arithmetic,
// maxima and minima, comparisons and Where, conversions to and from
// float32, Iota, sums and maxima over an axis, and the random numbers
// drawn from a uint64 generator state offset by them.
func fuzzInteger(t *testing.T, d *differ, fork backends.Backend, procs []int, r *rand.Rand) {
	var dims []int
	for len(dims) == 0 {
		dims = fuzzShape(r, 1<<14)
	}
	dtype := []dtypes.DType{dtypes.Int32, dtypes.Int64, dtypes.Uint64}[r.IntN(3)]
	lo, hi := int64(-1000), int64(1000)
	switch {
	case dtype == dtypes.Uint64:
		lo, hi = 0, 1<<62
	case r.IntN(3) == 0:
		lo, hi = -1<<31, 1<<31-1 // past int32's range in products and sums
	}
	nIn := 2 + r.IntN(2)
	inputs := make([]*tensors.Tensor, nIn)
	names := make([]string, nIn)
	for i := range inputs {
		s := broadcastFrom(r, dims)
		if i == 0 {
			s = dims
		}
		inputs[i] = intTensor(r, dtype, lo, hi, s...)
		names[i] = fmt.Sprint(s)
	}
	type step struct{ op, a, b int }
	steps := make([]step, 1+r.IntN(6))
	for i := range steps {
		steps[i] = step{r.IntN(9), r.IntN(nIn + i), r.IntN(nIn + i)}
	}
	axis := r.IntN(len(dims))
	signed := dtype != dtypes.Uint64
	name := fmt.Sprintf("integer %s %v %v reduce axis %d", dtype, names, steps, axis)
	d.checkStrict(t, fork, procs, name, 0, func(in []*graph.Node) []*graph.Node {
		vals := slices.Clone(in)
		for _, s := range steps {
			a, b := vals[s.a], vals[s.b]
			var v *graph.Node
			switch s.op {
			case 0:
				v = graph.Add(a, b)
			case 1:
				v = graph.Sub(a, b)
			case 2:
				v = graph.Mul(a, b)
			case 3:
				v = graph.Max(a, b)
			case 4:
				v = graph.Min(a, b)
			case 5:
				v = graph.Where(graph.LessThan(a, b), a, graph.Add(b, graph.OnesLike(b)))
			case 6:
				v = graph.ConvertDType(graph.Equal(a, b), dtype)
			case 7:
				if signed {
					v = graph.Neg(graph.Abs(a))
				} else {
					v = graph.ConvertDType(graph.GreaterThan(a, b), dtype)
				}
			default:
				fa, fb := graph.ConvertDType(a, dtypes.Float32), graph.ConvertDType(b, dtypes.Float32)
				if signed {
					v = graph.ConvertDType(graph.MulScalar(fa, 0.37), dtype)
				} else { // float32 past 2⁶⁴ has no uint64
					v = graph.ConvertDType(graph.LessThan(fa, fb), dtype)
				}
			}
			vals = append(vals, v)
		}
		last := vals[len(vals)-1]
		ramp := graph.Iota(last.Graph(), last.Shape(), axis)
		return append(vals[len(in):], ramp, graph.LessThan(last, vals[0]),
			graph.ConvertDType(last, dtypes.Float32), graph.ReduceSum(last, axis), graph.ReduceMax(last, axis))
	}, inputs...)
	state, err := graph.RNGStateFromSeed(int64(r.Uint64()))
	if err != nil {
		t.Fatal(err)
	}
	shape := []int{1 + r.IntN(200)}
	d.checkStrict(t, fork, procs, fmt.Sprintf("random %v from %s offsets", shape, dtype), 0, func(in []*graph.Node) []*graph.Node {
		offset := graph.ConvertDType(graph.Reshape(graph.Slice(graph.Reshape(in[0], -1), graph.AxisElem(0))), dtypes.Uint64)
		s := graph.Add(in[1], graph.Stack([]*graph.Node{offset, offset, graph.ScalarZero(offset.Graph(), dtypes.Uint64)}, 0))
		_, u := graph.RandomUniform(s, shapes.Make(dtypes.Float32, shape...))
		return []*graph.Node{u}
	}, inputs[0], state)
}
