// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/shapeinference"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/pkg/errors"
)

func init() {
	setNodeExecutor(backends.OpTypeSelectAndScatterMax, priorityGeneric, execSelectAndScatter)
	setNodeExecutor(backends.OpTypeSelectAndScatterMin, priorityGeneric, execSelectAndScatter)
}

// selectAndScatterNode holds the window of a SelectAndScatterMax/Min node.
type selectAndScatterNode struct {
	max                      bool
	windowDimensions, stride []int
	paddings                 [][2]int
}

// SelectAndScatterMax implements backends.Builder: the gradient of a max
// window reduction. Each window of operand (as ReduceWindow lays them out)
// adds its source value to the position of its largest element, the first
// one in row-major window order on ties; padded positions are never chosen.
// The output has operand's shape and is zero where nothing was scattered.
func (b *Builder) SelectAndScatterMax(operand, source backends.Op, windowDimensions, windowStrides []int, paddings [][2]int) (backends.Op, error) {
	return b.selectAndScatter(backends.OpTypeSelectAndScatterMax, operand, source, windowDimensions, windowStrides, paddings)
}

// SelectAndScatterMin implements backends.Builder: [Builder.SelectAndScatterMax]
// with the smallest element of each window.
func (b *Builder) SelectAndScatterMin(operand, source backends.Op, windowDimensions, windowStrides []int, paddings [][2]int) (backends.Op, error) {
	return b.selectAndScatter(backends.OpTypeSelectAndScatterMin, operand, source, windowDimensions, windowStrides, paddings)
}

func (b *Builder) selectAndScatter(opType backends.OpType, operandOp, sourceOp backends.Op, window, strides []int, paddings [][2]int) (backends.Op, error) {
	inputs, err := b.checkOps(opType.String(), operandOp, sourceOp)
	if err != nil {
		return nil, err
	}
	operand, source := inputs[0], inputs[1]
	rank := operand.shape.Rank()
	if len(window) != rank {
		return nil, errors.Errorf("%s: %d window dimensions for an operand of rank %d", opType, len(window), rank)
	}
	if strides == nil {
		strides = window
	}
	if paddings == nil {
		paddings = make([][2]int, rank)
	}
	if len(strides) != rank || len(paddings) != rank {
		return nil, errors.Errorf("%s: %d strides and %d paddings for an operand of rank %d", opType, len(strides), len(paddings), rank)
	}
	for axis, p := range paddings {
		if p[0] < 0 || p[1] < 0 {
			return nil, errors.Errorf("%s: negative padding %v on axis %d", opType, p, axis)
		}
	}
	switch operand.shape.DType {
	case dtypes.Float32, dtypes.Float64:
	default:
		return nil, errors.Errorf("%s: dtype %s not supported (float32 and float64 are)", opType, operand.shape.DType)
	}
	windows, err := shapeinference.ReduceWindowOp(operand.shape, window, strides, nil, nil, paddings)
	if err != nil {
		return nil, errors.WithMessagef(err, "%s", opType)
	}
	if !source.shape.Equal(windows) {
		return nil, errors.Errorf("%s: source shape %s, but the windows of operand %s form %s", opType, source.shape, operand.shape, windows)
	}
	node := b.newNode(opType, operand.shape.Clone(), operand, source)
	node.data = &selectAndScatterNode{
		max:              opType == backends.OpTypeSelectAndScatterMax,
		windowDimensions: slices.Clone(window),
		stride:           slices.Clone(strides),
		paddings:         slices.Clone(paddings),
	}
	return node, nil
}

func execSelectAndScatter(backend *Backend, node *Node, inputs []*Buffer, _ []bool) (*Buffer, error) {
	operand, source := inputs[0], inputs[1]
	output := backend.getBufferForShape(node.shape)
	output.Zeros()
	data := node.data.(*selectAndScatterNode)
	switch flat := operand.flat.(type) {
	case []float32:
		selectAndScatter(data, node.shape.Dimensions, source.shape.Dimensions, flat, source.flat.([]float32), output.flat.([]float32))
	case []float64:
		selectAndScatter(data, node.shape.Dimensions, source.shape.Dimensions, flat, source.flat.([]float64), output.flat.([]float64))
	default:
		return nil, errors.Errorf("%s: dtype %s not supported", node.opType, node.shape.DType)
	}
	return output, nil
}

// selectAndScatter walks the windows in row-major order of source (whose
// dimensions are windows) and scatters each source value into out.
func selectAndScatter[T float32 | float64](data *selectAndScatterNode, dims, windows []int, operand, source, out []T) {
	rank := len(dims)
	strides := make([]int, rank) // flat strides of operand
	s := 1
	for axis := rank - 1; axis >= 0; axis-- {
		strides[axis] = s
		s *= dims[axis]
	}
	pos := make([]int, rank) // window index
	off := make([]int, rank) // offset inside the window
	for i, v := range source {
		best, found := 0, false
		var bestValue T
		clear(off)
		for {
			flat, inside := 0, true
			for axis := range rank {
				x := pos[axis]*data.stride[axis] - data.paddings[axis][0] + off[axis]
				if x < 0 || x >= dims[axis] {
					inside = false
					break
				}
				flat += x * strides[axis]
			}
			if inside {
				value := operand[flat]
				better := value > bestValue
				if !data.max {
					better = value < bestValue
				}
				if !found || better {
					best, bestValue, found = flat, value, true
				}
			}
			if !nextIndex(off, data.windowDimensions) {
				break
			}
		}
		if found {
			out[best] += v
		}
		if i+1 < len(source) {
			nextIndex(pos, windows)
		}
	}
}

// nextIndex advances idx in row-major order within dims and reports whether it
// did not wrap around.
func nextIndex(idx, dims []int) bool {
	for axis := len(idx) - 1; axis >= 0; axis-- {
		idx[axis]++
		if idx[axis] < dims[axis] {
			return true
		}
		idx[axis] = 0
	}
	return false
}
