// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/pkg/errors"
)

func init() {
	setNodeExecutor(backends.OpTypeReverse, priorityGeneric, execRemap)
	setNodeExecutor(backends.OpTypePad, priorityGeneric, execRemap)
}

// remapNode is the data of a Reverse or Pad node: for every axis of the
// output, the index of the input read at each output index, or −1 where the
// fill value is written (Pad only).
type remapNode struct {
	sources [][]int
	runs    []run // of the last axis (innerRuns), found once
}

// newRemapNode returns the data of a Reverse or Pad node with sources.
func newRemapNode(sources [][]int) *remapNode {
	r := &remapNode{sources: sources}
	if len(sources) > 0 {
		r.runs = innerRuns(sources[len(sources)-1])
	}
	return r
}

// Reverse implements backends.Builder: the output equals x with the order
// of the elements along each of axes reversed.
func (b *Builder) Reverse(x backends.Op, axes ...int) (backends.Op, error) {
	inputs, err := b.checkOps(backends.OpTypeReverse.String(), x)
	if err != nil {
		return nil, err
	}
	s := inputs[0].shape
	sources := identitySources(s.Dimensions)
	for _, axis := range axes {
		if axis < 0 || axis >= s.Rank() {
			return nil, errors.Errorf("Reverse: axis %d out of range for shape %s", axis, s)
		}
		slices.Reverse(sources[axis])
	}
	node := b.newNode(backends.OpTypeReverse, s, inputs[0])
	node.data = newRemapNode(sources)
	return node, nil
}

// Pad implements backends.Builder: along each configured axis, Interior
// copies of fill go between consecutive elements, then Start and End
// elements of fill are added before and after (negative values remove
// elements instead). fill is a scalar of x's dtype.
func (b *Builder) Pad(x, fill backends.Op, config ...backends.PadAxis) (backends.Op, error) {
	inputs, err := b.checkOps(backends.OpTypePad.String(), x, fill)
	if err != nil {
		return nil, err
	}
	s, fs := inputs[0].shape, inputs[1].shape
	if fs.Rank() != 0 || fs.DType != s.DType {
		return nil, errors.Errorf("Pad: fill value must be a scalar of dtype %s, got %s", s.DType, fs)
	}
	if len(config) > s.Rank() {
		return nil, errors.Errorf("Pad: %d axes configured for shape %s", len(config), s)
	}
	sources := identitySources(s.Dimensions)
	dims := slices.Clone(s.Dimensions)
	for axis, p := range config {
		src, err := padSources(s.Dimensions[axis], p)
		if err != nil {
			return nil, errors.WithMessagef(err, "Pad: axis %d of shape %s", axis, s)
		}
		sources[axis], dims[axis] = src, len(src)
	}
	node := b.newNode(backends.OpTypePad, shapes.Make(s.DType, dims...), inputs[0], inputs[1])
	node.data = newRemapNode(sources)
	return node, nil
}

// identitySources returns, per axis, the sources 0, 1, …, dim−1.
func identitySources(dims []int) [][]int {
	sources := make([][]int, len(dims))
	for axis, d := range dims {
		sources[axis] = make([]int, d)
		for i := range d {
			sources[axis][i] = i
		}
	}
	return sources
}

// padSources returns the source index of each output index of an axis of
// size n padded by p (−1 for fill).
func padSources(n int, p backends.PadAxis) ([]int, error) {
	if p.Interior < 0 {
		return nil, errors.Errorf("negative interior padding %d", p.Interior)
	}
	interiorLen := max(0, n+(n-1)*p.Interior)
	inner := make([]int, max(0, p.Start), max(0, p.Start)+interiorLen+max(0, p.End))
	for i := range inner {
		inner[i] = -1
	}
	for i := range n {
		if i > 0 {
			for range p.Interior {
				inner = append(inner, -1)
			}
		}
		inner = append(inner, i)
	}
	if p.Start < 0 {
		if -p.Start > len(inner) {
			return nil, errors.Errorf("negative start padding %d removes more than the %d elements", p.Start, len(inner))
		}
		inner = inner[-p.Start:]
	}
	if p.End < 0 {
		if -p.End > len(inner) {
			return nil, errors.Errorf("negative end padding %d removes more than the %d remaining elements", p.End, len(inner))
		}
		inner = inner[:len(inner)+p.End]
	} else {
		for range p.End {
			inner = append(inner, -1)
		}
	}
	return inner, nil
}

// execRemap executes Reverse and Pad: it copies the input's bytes element by
// element (runs of consecutive sources at once) following the node's
// sources, writing the fill value (Pad's second input) where a source is −1.
func execRemap(backend *Backend, node *Node, inputs []*Buffer, _ []bool) (*Buffer, error) {
	params, ok := node.data.(*remapNode)
	if !ok {
		return nil, errors.Errorf("internal error: %s node data is %T", node.opType, node.data)
	}
	output := backend.getBufferForShape(node.shape)
	if node.shape.Size() == 0 {
		return output, nil
	}
	var fill []byte
	if len(inputs) > 1 {
		fill = inputs[1].mutableBytes()
	}
	var src []byte
	if inputs[0].shape.Size() > 0 {
		src = inputs[0].mutableBytes()
	}
	r := remapper{
		dst: output.mutableBytes(), src: src, fill: fill,
		size:    node.shape.DType.Size(),
		sources: params.sources,
		strides: calculateStrides(inputs[0].shape.Dimensions),
	}
	if len(r.sources) == 0 {
		copy(r.dst, r.src)
		return output, nil
	}
	r.runs = params.runs
	r.copyAxis(0, 0, false)
	return output, nil
}

// remapper holds the state of execRemap.
type remapper struct {
	dst, src, fill []byte
	size           int // bytes per element
	sources        [][]int
	strides        []int // of the input, in elements
	runs           []run // of the last axis
	written        int   // elements of dst written so far
}

// run is a stretch of the last output axis: n elements read from
// consecutive sources from src (or fill when src is −1).
type run struct{ src, n int }

// innerRuns groups the sources of the last axis into runs.
func innerRuns(sources []int) []run {
	var runs []run
	for _, s := range sources {
		if k := len(runs) - 1; k >= 0 {
			last := &runs[k]
			if (s < 0 && last.src < 0) || (s >= 0 && last.src >= 0 && s == last.src+last.n) {
				last.n++
				continue
			}
		}
		runs = append(runs, run{src: s, n: 1})
	}
	return runs
}

// copyAxis writes the output elements of axis and below, reading the input
// at offset (elements) or writing fill when fillAll.
func (r *remapper) copyAxis(axis, offset int, fillAll bool) {
	if axis == len(r.sources)-1 {
		for _, rn := range r.runs {
			out := r.dst[r.written*r.size : (r.written+rn.n)*r.size]
			if rn.src < 0 || fillAll {
				fillElements(out, r.fill)
			} else {
				copy(out, r.src[(offset+rn.src)*r.size:])
			}
			r.written += rn.n
		}
		return
	}
	for _, s := range r.sources[axis] {
		if s < 0 {
			r.copyAxis(axis+1, offset, true)
		} else {
			r.copyAxis(axis+1, offset+s*r.strides[axis], fillAll)
		}
	}
}

// fillElements sets every element of out to value (one element's bytes):
// a clear for a zero value, else copies of the filled prefix doubling in
// length.
func fillElements(out, value []byte) {
	if len(out) == 0 {
		return
	}
	if !slices.ContainsFunc(value, func(b byte) bool { return b != 0 }) {
		clear(out)
		return
	}
	filled := copy(out, value)
	for filled < len(out) {
		filled += copy(out[filled:], out[:filled])
	}
}
