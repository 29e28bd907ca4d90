// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/dtypes/bfloat16"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

func init() {
	setNodeExecutor(backends.OpTypeScatterSum, priorityTyped, execScatterSum)
}

// execScatterSum runs a bfloat16 scatter-add in float32, rounding each sum
// once (as execReduceSumBFloat16 does), and any other one as upstream.
func execScatterSum(backend *Backend, node *Node, inputs []*Buffer, owned []bool) (*Buffer, error) {
	if node.shape.DType != dtypes.BFloat16 {
		return execScatter(backend, node, inputs, owned)
	}
	return inFloat32(backend, node, inputs, []int{0, 2}, execScatter) // operand and updates
}

// inFloat32 runs exec on the node made float32, given float32 copies of the
// bfloat16 inputs at the positions wide (the others as they are), and
// returns its output rounded to bfloat16. The inputs are left as they were,
// so the caller frees them as for any executor.
func inFloat32(backend *Backend, node *Node, inputs []*Buffer, wide []int, exec nodeExecutor) (*Buffer, error) {
	in := slices.Clone(inputs)
	owned := make([]bool, len(in))
	for _, i := range wide {
		src := inputs[i].flat.([]bfloat16.BFloat16)
		w := backend.getBufferForShape(shapes.Make(dtypes.Float32, inputs[i].shape.Dimensions...))
		dst := w.flat.([]float32)
		for j, v := range src {
			dst[j] = v.Float32()
		}
		in[i], owned[i] = w, true
	}
	wideNode := *node
	wideNode.shape = shapes.Make(dtypes.Float32, node.shape.Dimensions...)
	out, err := exec(backend, &wideNode, in, owned)
	for _, i := range wide {
		if in[i] != nil && in[i] != out { // an executor may take an owned input as its output
			backend.putBuffer(in[i])
		}
	}
	if err != nil {
		return nil, err
	}
	res := backend.getBufferForShape(node.shape)
	dst := res.flat.([]bfloat16.BFloat16)
	for j, v := range out.flat.([]float32) {
		dst[j] = bfloat16.FromFloat32(v)
	}
	backend.putBuffer(out)
	return res, nil
}
