// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"fmt"
	"reflect"
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// convWorkspace is the largest number of elements one im2col (or banded)
// operand of a convolution may hold; larger convolutions are tiled. The
// slices and their concatenation coexist, and the pure-Go DotGeneral copies
// each operand once more into blocks, so the peak working memory of one tile
// is about three times this (float32: ~25 MB). Measured on 2 cores, tiles of
// 2M elements run as fast as tiles of 8M.
const convWorkspace = 2 << 20

// ConvGeneral implements backends.Builder. Convolutions of floating-point
// values without batch grouping are rewritten into transposes, slices,
// concatenations, pads and one DotGeneral per tile (see correlate), which
// runs at the pure-Go backend's matrix-multiply speed; batch-grouped and
// integer convolutions are forwarded to the inner backend, after filling in
// the defaults it mishandles (nil strides, dilations ≤ 0).
func (b *Builder) ConvGeneral(input, kernel backends.Op, axes backends.ConvolveAxesConfig,
	strides []int, paddings [][2]int, inputDilations, kernelDilations []int,
	channelGroupCount, batchGroupCount int) (backends.Op, error) {
	return b.convGeneral(input, kernel, axes, strides, paddings, inputDilations, kernelDilations,
		channelGroupCount, batchGroupCount, convWorkspace)
}

// convSpec is a convolution on the canonical layout: input [N, C, L...],
// kernel [O, C/groups, K...], output [N, O, P...].
type convSpec struct {
	strides, inDil, kDil []int
	pads                 [][2]int
	groups               int
	budget               int // see convWorkspace
	// banded, where not nil, is set when a banded matrix computes any
	// part of the convolution (see nonFiniteGuard).
	banded *bool
}

func (s convSpec) clone() convSpec {
	s.strides, s.inDil, s.kDil = slices.Clone(s.strides), slices.Clone(s.inDil), slices.Clone(s.kDil)
	s.pads = slices.Clone(s.pads)
	return s
}

// convGeneral is ConvGeneral with an explicit workspace budget (in elements),
// so that tests can force tiling on small shapes.
func (b *Builder) convGeneral(input, kernel backends.Op, axes backends.ConvolveAxesConfig,
	strides []int, paddings [][2]int, inputDilations, kernelDilations []int,
	channelGroupCount, batchGroupCount, budget int) (backends.Op, error) {
	n := len(axes.InputSpatial)
	strides = ones(strides, n)
	inputDilations = ones(inputDilations, n)
	kernelDilations = ones(kernelDilations, n)
	if paddings == nil {
		paddings = make([][2]int, n)
	}
	channelGroupCount, batchGroupCount = max(channelGroupCount, 1), max(batchGroupCount, 1)
	forward := func() (backends.Op, error) {
		return b.convGeneralDirect(input, kernel, axes, strides, paddings, inputDilations, kernelDilations,
			channelGroupCount, batchGroupCount)
	}
	xs, err := b.OpShape(input)
	if err != nil {
		return nil, fmt.Errorf("ConvGeneral: %w", err)
	}
	ks, err := b.OpShape(kernel)
	if err != nil {
		return nil, fmt.Errorf("ConvGeneral: %w", err)
	}
	// Empty tensors (a batch, or input or output channels, of 0) take the
	// general path, whose loops simply do nothing: the lowered one's views
	// need positive sizes.
	if batchGroupCount > 1 || !xs.DType.IsFloat() || n == 0 || len(paddings) != n || xs.Size() == 0 || ks.Size() == 0 {
		return forward()
	}
	if err := checkConvAxes(xs, ks, axes, channelGroupCount); err != nil {
		return nil, fmt.Errorf("ConvGeneral: %w", err)
	}
	x, err := b.permute(input, append([]int{axes.InputBatch, axes.InputChannels}, axes.InputSpatial...))
	if err != nil {
		return nil, fmt.Errorf("ConvGeneral: %w", err)
	}
	w, err := b.kernelView(kernel, append([]int{axes.KernelOutputChannels, axes.KernelInputChannels}, axes.KernelSpatial...))
	if err != nil {
		return nil, fmt.Errorf("ConvGeneral: %w", err)
	}
	banded := false
	spec := convSpec{strides: strides, inDil: inputDilations, kDil: kernelDilations,
		pads: paddings, groups: channelGroupCount, budget: budget, banded: &banded}
	y, err := b.convCanonical(x, w, spec.clone())
	if err != nil {
		return nil, fmt.Errorf("ConvGeneral(input %s, kernel %s): %w", xs, ks, err)
	}
	perm := make([]int, n+2)
	perm[axes.OutputBatch], perm[axes.OutputChannels] = 0, 1
	for i, a := range axes.OutputSpatial {
		perm[a] = 2 + i
	}
	if y, err = b.permute(y, perm); err != nil || !banded {
		return y, err
	}
	y, err = b.guardNonFinite(y, input, kernel, axes, strides, paddings, inputDilations, kernelDilations, channelGroupCount)
	if err != nil {
		return nil, fmt.Errorf("ConvGeneral(input %s, kernel %s): %w", xs, ks, err)
	}
	return y, nil
}

// checkConvAxes validates the axes configuration and channel counts.
func checkConvAxes(xs, ks shapes.Shape, axes backends.ConvolveAxesConfig, groups int) error {
	n := len(axes.InputSpatial)
	if xs.Rank() != n+2 || ks.Rank() != n+2 || len(axes.KernelSpatial) != n || len(axes.OutputSpatial) != n {
		return fmt.Errorf("input %s and kernel %s do not match %d spatial axes", xs, ks, n)
	}
	isPerm := func(p []int) bool {
		seen := make([]bool, len(p))
		for _, a := range p {
			if a < 0 || a >= len(p) || seen[a] {
				return false
			}
			seen[a] = true
		}
		return true
	}
	for _, p := range [][]int{
		append([]int{axes.InputBatch, axes.InputChannels}, axes.InputSpatial...),
		append([]int{axes.KernelOutputChannels, axes.KernelInputChannels}, axes.KernelSpatial...),
		append([]int{axes.OutputBatch, axes.OutputChannels}, axes.OutputSpatial...),
	} {
		if !isPerm(p) {
			return fmt.Errorf("axes configuration %+v is not a permutation of %d axes", axes, n+2)
		}
	}
	c, ci, o := xs.Dimensions[axes.InputChannels], ks.Dimensions[axes.KernelInputChannels], ks.Dimensions[axes.KernelOutputChannels]
	if c%groups != 0 || o%groups != 0 || c/groups != ci {
		return fmt.Errorf("%d input channels, kernel with %d input and %d output channels do not fit %d channel groups",
			c, ci, o, groups)
	}
	return nil
}

// convCanonical computes a convolution on the canonical layout. Input
// dilation is removed first: on axes with stride 1 by splitting the output
// into phases (each an ordinary convolution with a sub-sampled kernel, so no
// multiplications by inserted zeros), otherwise by inserting the zeros.
func (b *Builder) convCanonical(x, w backends.Op, spec convSpec) (backends.Op, error) {
	xs, err := b.OpShape(x)
	if err != nil {
		return nil, err
	}
	ks, err := b.OpShape(w)
	if err != nil {
		return nil, err
	}
	n := xs.Rank() - 2
	for i := range n {
		if spec.inDil[i] <= 1 {
			continue
		}
		if spec.strides[i] == 1 {
			return b.convPolyphase(x, w, spec, i)
		}
		cfg := make([]backends.PadAxis, n+2)
		cfg[2+i].Interior = spec.inDil[i] - 1
		if x, err = b.padZero(x, cfg); err != nil {
			return nil, err
		}
		spec.inDil[i] = 1
	}
	if xs, err = b.OpShape(x); err != nil {
		return nil, err
	}
	cfg := make([]backends.PadAxis, n+2)
	geom := convGeom{dtype: xs.DType, n: xs.Dimensions[0], c: xs.Dimensions[1], o: ks.Dimensions[0],
		groups: spec.groups, strides: spec.strides, dil: spec.kDil}
	for i := range n {
		l := xs.Dimensions[2+i]
		lo, hi := spec.pads[i][0], spec.pads[i][1]
		if -lo > l || -hi > l+lo {
			return nil, fmt.Errorf("negative padding %v crops more than the %d elements of spatial axis %d", spec.pads[i], l, i)
		}
		cfg[2+i] = backends.PadAxis{Start: lo, End: hi}
		k := ks.Dimensions[2+i]
		e := (k-1)*spec.kDil[i] + 1
		lp := l + lo + hi
		if lp < e {
			return nil, fmt.Errorf("spatial axis %d: padded input of %d is smaller than the dilated kernel of %d", i, lp, e)
		}
		geom.in = append(geom.in, lp)
		geom.kern = append(geom.kern, k)
		geom.out = append(geom.out, (lp-e)/spec.strides[i]+1)
	}
	if dc, ok := directConvFor(geom, spec.pads, xs.Dimensions[2:]); ok {
		return b.convDirect(x, w, dc, append([]int{geom.n, geom.o}, geom.out...))
	}
	if x, err = b.padZero(x, cfg); err != nil {
		return nil, err
	}
	bands := map[bandKey]backends.Op{}
	y, err := b.correlate(x, w, geom, spec.budget, bands)
	if len(bands) > 0 && spec.banded != nil {
		*spec.banded = true
	}
	return y, err
}

// convPolyphase removes the input dilation D of spatial axis i (stride 1):
// output positions q ≡ r (mod D) only meet kernel taps k with
// k·dilation ≡ padStart − r (mod D), which form an arithmetic progression, so
// phase r is an ordinary convolution of the undilated input with those taps.
// The phases are interleaved back along axis i.
func (b *Builder) convPolyphase(x, w backends.Op, spec convSpec, i int) (backends.Op, error) {
	xs, err := b.OpShape(x)
	if err != nil {
		return nil, err
	}
	ks, err := b.OpShape(w)
	if err != nil {
		return nil, err
	}
	outDims, err := canonicalOutputDims(xs, ks, spec)
	if err != nil {
		return nil, err
	}
	ax := 2 + i
	l, k := xs.Dimensions[ax], ks.Dimensions[ax]
	dd, d, lo := spec.inDil[i], spec.kDil[i], spec.pads[i][0]
	p := outDims[ax]
	phases := min(dd, p)
	p0 := (p + dd - 1) / dd
	g := gcd(d, dd)
	step := dd / g
	parts := make([]backends.Op, phases)
	var prev backends.Op
	for r := range phases {
		pr := (p - r + dd - 1) / dd
		k0 := -1
		for kk := range min(k, step) {
			if ((kk*d+r-lo)%dd+dd)%dd == 0 {
				k0 = kk
				break
			}
		}
		var yr backends.Op
		zeroDims := slices.Clone(outDims)
		zeroDims[ax] = pr
		if k0 < 0 {
			// No tap meets this phase.
			yr, err = b.zeros(xs.DType, zeroDims)
		} else {
			kr := (k-1-k0)/step + 1
			c := (r + k0*d - lo) / dd
			dr := d / g
			sub := spec.clone()
			sub.inDil[i], sub.kDil[i] = 1, dr
			sub.pads[i] = [2]int{-c, (pr - 1) + (kr-1)*dr + c - (l - 1)}
			if -sub.pads[i][0] > l {
				// Every tap of this phase falls past the input.
				yr, err = b.zeros(xs.DType, zeroDims)
			} else {
				yr, err = b.convPhase(x, w, prev, sub, ax, k0, step, kr)
				prev = yr
			}
		}
		if err != nil {
			return nil, err
		}
		if pr < p0 {
			cfg := make([]backends.PadAxis, len(outDims))
			cfg[ax].End = p0 - pr
			if yr, err = b.padZero(yr, cfg); err != nil {
				return nil, err
			}
		}
		dims := slices.Clone(outDims)
		dims[ax] = p0
		if parts[r], err = b.Reshape(yr, slices.Insert(dims, ax+1, 1)...); err != nil {
			return nil, err
		}
	}
	y, err := b.Concatenate(ax+1, parts...)
	if err != nil {
		return nil, err
	}
	dims := slices.Clone(outDims)
	dims[ax] = p0 * phases
	if y, err = b.Reshape(y, dims...); err != nil {
		return nil, err
	}
	return b.sliceAxis(y, ax, 0, p, 1)
}

// convPhase computes one phase of convPolyphase: the convolution sub of x
// with the taps k0, k0+step, … (kr of them) of w along axis ax. Its input
// waits for the previous phase's result prev (if any), like tiles do (see
// correlate).
func (b *Builder) convPhase(x, w, prev backends.Op, sub convSpec, ax, k0, step, kr int) (backends.Op, error) {
	wr, err := b.sliceAxis(w, ax, k0, k0+step*(kr-1)+1, step)
	if err != nil {
		return nil, err
	}
	if prev != nil {
		if x, err = b.after(x, prev); err != nil {
			return nil, err
		}
	}
	return b.convCanonical(x, wr, sub)
}

// canonicalOutputDims returns the output dimensions [N, O, P...] of spec.
func canonicalOutputDims(xs, ks shapes.Shape, spec convSpec) ([]int, error) {
	n := xs.Rank() - 2
	dims := []int{xs.Dimensions[0], ks.Dimensions[0]}
	for i := range n {
		l := (xs.Dimensions[2+i]-1)*spec.inDil[i] + 1 + spec.pads[i][0] + spec.pads[i][1]
		e := (ks.Dimensions[2+i]-1)*spec.kDil[i] + 1
		if l < e {
			return nil, fmt.Errorf("spatial axis %d: padded input of %d is smaller than the dilated kernel of %d", i, l, e)
		}
		dims = append(dims, (l-e)/spec.strides[i]+1)
	}
	return dims, nil
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// ones returns v with missing or non-positive entries replaced by 1, as a
// fresh slice of length n.
func ones(v []int, n int) []int {
	out := slices.Repeat([]int{1}, n)
	for i := range min(n, len(v)) {
		if v[i] > 0 {
			out[i] = v[i]
		}
	}
	return out
}

// zeroScalar returns a scalar constant 0 of dtype.
func (b *Builder) zeroScalar(dtype dtypes.DType) (backends.Op, error) {
	return b.Constant(reflect.MakeSlice(reflect.SliceOf(dtype.GoType()), 1, 1).Interface())
}

// zeros returns a tensor of zeros.
func (b *Builder) zeros(dtype dtypes.DType, dims []int) (backends.Op, error) {
	z, err := b.zeroScalar(dtype)
	if err != nil {
		return nil, err
	}
	return b.BroadcastInDim(z, shapes.Make(dtype, dims...), nil)
}

// padZero pads x with zeros; it is a no-op when cfg is all zero.
func (b *Builder) padZero(x backends.Op, cfg []backends.PadAxis) (backends.Op, error) {
	if !slices.ContainsFunc(cfg, func(p backends.PadAxis) bool { return p != backends.PadAxis{} }) {
		return x, nil
	}
	s, err := b.OpShape(x)
	if err != nil {
		return nil, err
	}
	z, err := b.zeroScalar(s.DType)
	if err != nil {
		return nil, err
	}
	return b.Pad(x, z, cfg...)
}

// sliceAxis slices x along one axis; it is a no-op for the whole axis.
func (b *Builder) sliceAxis(x backends.Op, axis, start, limit, stride int) (backends.Op, error) {
	s, err := b.OpShape(x)
	if err != nil {
		return nil, err
	}
	if start == 0 && limit == s.Dimensions[axis] && (stride == 1 || limit == 1) {
		return x, nil
	}
	starts := make([]int, s.Rank())
	limits := slices.Clone(s.Dimensions)
	strides := slices.Repeat([]int{1}, s.Rank())
	starts[axis], limits[axis], strides[axis] = start, limit, stride
	return b.Slice(x, starts, limits, strides)
}

// permute transposes x so that output axis j is input axis perm[j]. It
// returns x itself for the identity and a Reshape when only axes of size 1
// move, since the pure-Go Transpose always copies.
func (b *Builder) permute(x backends.Op, perm []int) (backends.Op, error) {
	s, err := b.OpShape(x)
	if err != nil {
		return nil, err
	}
	last, moves := -1, false
	for j, a := range perm {
		if a != j {
			moves = true
		}
		if s.Dimensions[a] == 1 {
			continue
		}
		if a < last {
			return b.Transpose(x, perm...)
		}
		last = a
	}
	if !moves {
		return x, nil
	}
	dims := make([]int, len(perm))
	for j, a := range perm {
		dims[j] = s.Dimensions[a]
	}
	return b.Reshape(x, dims...)
}

// slice is Slice with unit strides.
func (b *Builder) slice(x backends.Op, starts, limits []int) (backends.Op, error) {
	return b.Slice(x, starts, limits, slices.Repeat([]int{1}, len(starts)))
}
