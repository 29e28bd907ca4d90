// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// bandedMinTaps is the smallest extent (kernel taps and output positions both
// at least this) of the last spatial axis for which a convolution is computed
// with a banded (Toeplitz) matrix along that axis instead of one slice per
// tap: e.g. the 61×61 blur kernels and their gradients.
const bandedMinTaps = 16

// convGeom is a correlation on the canonical layout with padding and input
// dilation already applied: input [N, C, L...], kernel [O, C/groups, K...],
// output [N, O, P...], where
//
//	out[n, o, p] = Σ_{c, k} in[n, g(o)·C/groups + c, p·stride + k·dil] · kernel[o, c, k].
type convGeom struct {
	dtype                 dtypes.DType
	n, c, o, groups       int
	in, kern, out         []int // L, K, P per spatial axis
	strides, dil          []int
	bandWidth, bandBlocks int // banded mode only: output block width and number of blocks
}

func (g convGeom) clone() convGeom {
	g.in, g.kern, g.out = slices.Clone(g.in), slices.Clone(g.kern), slices.Clone(g.out)
	return g
}

func prod(v []int) int {
	p := 1
	for _, x := range v {
		p *= x
	}
	return p
}

// banded reports whether the last spatial axis is computed with a banded
// matrix, and fills bandWidth and bandBlocks.
func (g *convGeom) banded() bool {
	g.bandWidth, g.bandBlocks = 0, 0
	last := len(g.out) - 1
	k, p := g.kern[last], g.out[last]
	if min(k, p) < bandedMinTaps {
		return false
	}
	// Output blocks of bw positions read windows of (bw-1)·stride+extent
	// inputs: wider blocks make larger matrices, narrower ones waste more
	// multiplications on the band's zeros.
	extent := (k-1)*g.dil[last] + 1
	bw := min(p, max(32, (extent/2+31)/32*32))
	g.bandWidth, g.bandBlocks = bw, (p+bw-1)/bw
	return true
}

// workspace is the number of elements of the gathered operands; it sets
// bandWidth and bandBlocks like banded.
func (g *convGeom) workspace() int {
	if !g.banded() {
		return g.n * g.c * prod(g.kern) * prod(g.out)
	}
	m := len(g.out) - 1
	window := (g.bandWidth-1)*g.strides[m] + (g.kern[m]-1)*g.dil[m] + 1
	others := prod(g.kern[:m]) * prod(g.out[:m])
	return g.n*g.c*others*g.bandBlocks*window + g.o*(g.c/g.groups)*prod(g.kern[:m])*window*g.bandWidth
}

// correlate computes the correlation g of x and w, splitting it into tiles
// whose gathered operands fit budget elements: tiles over output positions
// are concatenated, tiles over kernel taps are summed. Each tile's input is
// made to depend on the previous tile's result, so that the pure-Go
// backend's parallel executor neither gathers all tiles at once nor runs
// their DotGenerals concurrently: in GoMLX v0.26 each running DotGeneral
// holds a worker while waiting for another, and 2·NumCPU of them deadlock.
//
// bands caches the banded matrices built from each kernel op, shared by the
// tiles that split output positions.
func (b *Builder) correlate(x, w backends.Op, g convGeom, budget int, bands map[bandKey]backends.Op) (backends.Op, error) {
	ws := g.workspace() // Also sets bandWidth.
	if ws <= budget {
		return b.convCore(x, w, g, bands)
	}
	// Split the largest extent (output positions first on ties). When the
	// kernel side of the product is narrow (depthwise, blur), split taps
	// instead: splitting positions would leave products too small for the
	// pure-Go backend's blocked (parallel) DotGeneral.
	axis, alongK, extent := -1, false, 1
	narrow := g.o/g.groups*max(g.bandWidth, 1) < 64
	for i := range g.out {
		if g.out[i] > extent && !narrow {
			axis, alongK, extent = i, false, g.out[i]
		}
		if g.kern[i] > extent {
			axis, alongK, extent = i, true, g.kern[i]
		}
	}
	if axis < 0 {
		for i := range g.out {
			if g.out[i] > extent {
				axis, alongK, extent = i, false, g.out[i]
			}
		}
	}
	if axis < 0 {
		return b.convCore(x, w, g, bands)
	}
	chunks := min(extent, (ws+budget-1)/budget)
	size := (extent + chunks - 1) / chunks
	ax := 2 + axis
	var parts []backends.Op
	var acc, prev backends.Op
	for start := 0; start < extent; start += size {
		end := min(start+size, extent)
		sub := g.clone()
		var xt, wt backends.Op
		var err error
		if alongK {
			sub.kern[axis] = end - start
			first := start * g.dil[axis]
			last := first + (g.out[axis]-1)*g.strides[axis] + (end-1-start)*g.dil[axis]
			sub.in[axis] = last + 1 - first
			if xt, err = b.sliceAxis(x, ax, first, last+1, 1); err != nil {
				return nil, err
			}
			if wt, err = b.sliceAxis(w, ax, start, end, 1); err != nil {
				return nil, err
			}
		} else {
			sub.out[axis] = end - start
			first := start * g.strides[axis]
			last := (end-1)*g.strides[axis] + (g.kern[axis]-1)*g.dil[axis]
			sub.in[axis] = last + 1 - first
			if xt, err = b.sliceAxis(x, ax, first, last+1, 1); err != nil {
				return nil, err
			}
			wt = w
		}
		if prev != nil {
			if xt, err = b.after(xt, prev); err != nil {
				return nil, err
			}
		}
		y, err := b.correlate(xt, wt, sub, budget, bands)
		if err != nil {
			return nil, err
		}
		prev = y
		switch {
		case !alongK:
			parts = append(parts, y)
		case acc == nil:
			acc = y
		default:
			if acc, err = b.Add(acc, y); err != nil {
				return nil, err
			}
		}
	}
	if alongK {
		return acc, nil
	}
	return b.Concatenate(2+axis, parts...)
}

// after returns x plus a zero computed from dep, so that x is only produced
// once dep is: x < x is false for every x, NaN included, hence exactly 0.
func (b *Builder) after(x, dep backends.Op) (backends.Op, error) {
	ds, err := b.OpShape(dep)
	if err != nil {
		return nil, err
	}
	xs, err := b.OpShape(x)
	if err != nil {
		return nil, err
	}
	one := make([]int, ds.Rank())
	for i := range one {
		one[i] = 1
	}
	s, err := b.slice(dep, make([]int, ds.Rank()), one)
	if err != nil {
		return nil, err
	}
	if s, err = b.Reshape(s); err != nil {
		return nil, err
	}
	f, err := b.LessThan(s, s)
	if err != nil {
		return nil, err
	}
	z, err := b.ConvertDType(f, xs.DType)
	if err != nil {
		return nil, err
	}
	return b.Add(x, z)
}

// convCore computes one tile with a single DotGeneral.
func (b *Builder) convCore(x, w backends.Op, g convGeom, bands map[bandKey]backends.Op) (backends.Op, error) {
	if g.banded() {
		return b.convBanded(x, w, g, bands)
	}
	return b.convIm2col(x, w, g)
}

// axisLabel names the axes of the gathered operands: "k<i>" for taps and
// "p<i>" for output positions of spatial axis i.
func axisLabel(kind string, i int) string { return kind + strconv.Itoa(i) }

// gatherPlan lists, for the spatial axes of g up to m, the strided slices
// that gather in[n, c, p·stride + k·dil]: each axis iterates over the shorter
// of its taps and output positions (one slice each) and slices the longer.
type gatherPlan struct {
	iterLabels, sliceLabels []string
	iterDims, sliceDims     []int
}

func newGatherPlan(g convGeom, m int) gatherPlan {
	var gp gatherPlan
	for i := range m {
		if g.kern[i] <= g.out[i] {
			gp.iterLabels = append(gp.iterLabels, axisLabel("k", i))
			gp.sliceLabels = append(gp.sliceLabels, axisLabel("p", i))
			gp.iterDims = append(gp.iterDims, g.kern[i])
			gp.sliceDims = append(gp.sliceDims, g.out[i])
		} else {
			gp.iterLabels = append(gp.iterLabels, axisLabel("p", i))
			gp.sliceLabels = append(gp.sliceLabels, axisLabel("k", i))
			gp.iterDims = append(gp.iterDims, g.out[i])
			gp.sliceDims = append(gp.sliceDims, g.kern[i])
		}
	}
	return gp
}

// bounds returns the slice of spatial axis i for iteration index t.
func (gp gatherPlan) bounds(g convGeom, i, t int) (start, limit, stride int) {
	count := gp.sliceDims[i]
	if gp.iterLabels[i][0] == 'k' {
		start, stride = t*g.dil[i], g.strides[i]
	} else {
		start, stride = t*g.strides[i], g.dil[i]
	}
	return start, start + (count-1)*stride + 1, stride
}

// gather builds the operand [N, C, iter..., extra, sliced..., last] where
// iter are the iteration indices of the plan, sliced the sliced extents, and
// extra and last the blocks and window of lastFn (both absent when lastFn is
// nil): in[n, c, t·A + s·B] per spatial axis, gathered by one strided view.
// lastFn, if not nil, gives the window of the last spatial axis for block j
// of extra; its starts must be evenly spaced.
func (b *Builder) gather(x backends.Op, g convGeom, gp gatherPlan, extra int,
	lastFn func(j int) (start, limit, stride int)) (backends.Op, error) {
	dims, strides, err := b.gatherAxes(x, g, gp, extra, lastFn)
	if err != nil {
		return nil, err
	}
	return b.stridedView(x, 0, dims, strides)
}

// gatherAxes returns the dims and input strides of gather's operand.
func (b *Builder) gatherAxes(x backends.Op, g convGeom, gp gatherPlan, extra int,
	lastFn func(j int) (start, limit, stride int)) (dims, strides []int, err error) {
	xs, err := b.OpShape(x)
	if err != nil {
		return nil, nil, err
	}
	rank := xs.Rank()
	st := calculateStrides(xs.Dimensions)
	m := len(gp.iterDims)
	dims = []int{g.n, g.c}
	strides = []int{st[0], st[1]}
	var sliceStrides []int
	for i := range m {
		a0, _, sliceStride := gp.bounds(g, i, 0)
		a1, _, _ := gp.bounds(g, i, 1)
		dims = append(dims, gp.iterDims[i])
		strides = append(strides, (a1-a0)*st[2+i])
		sliceStrides = append(sliceStrides, sliceStride*st[2+i])
	}
	var lastDims, lastStrides []int
	if lastFn != nil {
		if m != rank-3 {
			return nil, nil, fmt.Errorf("internal error: gather with a window on axis %d of rank %d", m+2, rank)
		}
		s0, l0, step := lastFn(0)
		s1, _, _ := lastFn(1)
		dims = append(dims, extra)
		strides = append(strides, (s1-s0)*st[rank-1])
		lastDims = []int{(l0 - s0 + step - 1) / step}
		lastStrides = []int{step * st[rank-1]}
	} else if m != rank-2 || extra != 1 {
		return nil, nil, fmt.Errorf("internal error: gather over %d of %d spatial axes", m, rank-2)
	}
	return slices.Concat(dims, gp.sliceDims, lastDims), slices.Concat(strides, sliceStrides, lastStrides), nil
}

// labelIndices returns the positions of want in labels.
func labelIndices(labels, want []string) []int {
	out := make([]int, len(want))
	for i, w := range want {
		out[i] = slices.Index(labels, w)
	}
	return out
}

// dotLabeled contracts lhs and rhs (both labelled) over contract with batch
// axis "g", permutes the result to want and returns it.
func (b *Builder) dotLabeled(lhs backends.Op, lhsLabels []string, rhs backends.Op, rhsLabels []string,
	contract, want []string) (backends.Op, error) {
	batch := []string{"g"}
	y, err := b.DotGeneral(lhs, labelIndices(lhsLabels, contract), labelIndices(lhsLabels, batch),
		rhs, labelIndices(rhsLabels, contract), labelIndices(rhsLabels, batch))
	if err != nil {
		return nil, err
	}
	out := slices.Clone(batch)
	for _, labels := range [][]string{lhsLabels, rhsLabels} {
		for _, l := range labels {
			if !slices.Contains(contract, l) && !slices.Contains(batch, l) {
				out = append(out, l)
			}
		}
	}
	if len(out) != len(want) {
		return nil, fmt.Errorf("internal error: dot result axes %v, want %v", out, want)
	}
	return b.permute(y, labelIndices(out, want))
}

// convIm2col gathers the input at every pair of output position and kernel
// tap with one strided view, into [G, C/G, K..., N, P...] or, when the last
// axis has more taps than output positions, [G, N, P..., C/G, K...]: layouts
// the matrix product reads as they are ([batch, contract, cross] or [batch,
// cross, contract]: no transpose of the gathered operand), whose last axis,
// the longer one, is copied a row at a time. It contracts that with the
// kernel in one DotGeneral.
func (b *Builder) convIm2col(x, w backends.Op, g convGeom) (backends.Op, error) {
	n := len(g.out)
	gp := newGatherPlan(g, n)
	gDims, gStrides, err := b.gatherAxes(x, g, gp, 1, nil)
	if err != nil {
		return nil, err
	}
	cg := g.c / g.groups
	// gather's axes are [N, C, iter..., sliced...]; C splits into [G, C/G].
	axes := map[string][2]int{"n": {gDims[0], gStrides[0]}, "g": {g.groups, cg * gStrides[1]}, "cg": {cg, gStrides[1]}}
	for i, l := range slices.Concat(gp.iterLabels, gp.sliceLabels) {
		axes[l] = [2]int{gDims[2+i], gStrides[2+i]}
	}
	cross, contract := []string{"n"}, []string{"cg"}
	for i := range n {
		cross, contract = append(cross, axisLabel("p", i)), append(contract, axisLabel("k", i))
	}
	xLabels := slices.Concat([]string{"g"}, contract, cross)
	if g.kern[n-1] > g.out[n-1] {
		xLabels = slices.Concat([]string{"g"}, cross, contract)
	}
	var xDims, xStrides []int
	for _, l := range xLabels {
		xDims, xStrides = append(xDims, axes[l][0]), append(xStrides, axes[l][1])
	}
	xg, err := b.stridedView(x, 0, xDims, xStrides)
	if err != nil {
		return nil, err
	}
	wg, err := b.Reshape(w, append([]int{g.groups, g.o / g.groups, cg}, g.kern...)...)
	if err != nil {
		return nil, err
	}
	wLabels := slices.Concat([]string{"g", "og"}, contract)
	want := slices.Concat([]string{"n", "g", "og"}, cross[1:]) // [N, G, O/G, P...]
	y, err := b.dotLabeled(wg, wLabels, xg, xLabels, contract, want)
	if err != nil {
		return nil, err
	}
	return b.Reshape(y, append([]int{g.n, g.o}, g.out...)...)
}
