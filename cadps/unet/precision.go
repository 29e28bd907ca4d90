package unet

import (
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// BFloat16 returns a copy of m that computes the network's torso in
// bfloat16: the input, middle and output blocks run with bfloat16
// activations and bfloat16 weights, cast from the float32 weights in the
// context inside the graph (so one set of float32 weights serves both
// models, and checkpoints load unchanged). It is this toolkit's counterpart
// of guided-diffusion's use_fp16, with bfloat16's range instead of float16's
// (no loss scaling needed). It keeps float32 where that code does, with one
// exception: guided-diffusion converts only convolutions and attention to
// float16, so each residual block's projection of the timestep embedding
// (emb_layers) stays float32 there, while here it runs in bfloat16 with the
// rest of the block. In detail:
//
//   - the input x, the timestep embedding and its two linear layers, and the
//     output layers (out.0 GroupNorm, SiLU, out.2 convolution) are float32,
//     so Apply takes and returns float32 tensors;
//   - every GroupNorm normalises in float32 with float32 affine parameters
//     and hands a bfloat16 result back;
//   - the attention softmax runs in float32.
//
// Everything a sampler builds around the network (its state, the guidance
// arithmetic, the likelihood and its gradient up to the network's input) stays
// float32; only the gradient's path through the torso is bfloat16.
//
// bfloat16 keeps 8 significant bits (≈ 2.4 decimal digits): on the
// reference fixtures (random weights) the output deviates from the float32
// model's by ≈ 4·10⁻² of its scale and the input gradient by up to 9·10⁻²
// (see TestBFloat16Reference); whether that matters for a trained prior's
// samples is for its user to measure. The casts of the weights are recomputed at every
// call: one read of the float32 weights and one write of half their size,
// small beside a forward pass at any useful batch.
func (m *Model) BFloat16() *Model {
	c := *m
	c.dtype = dtypes.BFloat16
	return &c
}

// DType returns the dtype the network's torso computes in: float32 unless
// the model came from [Model.BFloat16].
func (m *Model) DType() dtypes.DType {
	if m.dtype == dtypes.InvalidDType {
		return dtypes.Float32
	}
	return m.dtype
}

// withDType returns weights that hand parameters out in dtype dt (GroupNorm
// parameters always float32).
func (w *weights) withDType(dt dtypes.DType) *weights {
	c := *w
	c.dtype = dt
	return &c
}

// cast converts a float32 parameter to the dtype the weights hand out, except
// a GroupNorm's parameters, which stay float32 (see groupNormalize).
func (w *weights) cast(key string, v *node) *node {
	if w.dtype == dtypes.InvalidDType || w.dtype == v.DType() || IsNormParam(key) {
		return v
	}
	return graph.ConvertDType(v, w.dtype)
}

// convertTo converts x to dtype dt when it has another.
func convertTo(x *node, dt dtypes.DType) *node {
	if x.DType() == dt {
		return x
	}
	return graph.ConvertDType(x, dt)
}

// inFloat32 converts x to float32 for a computation that needs its range
// and precision, and returns the function that converts a result back to
// x's dtype.
func inFloat32(x *node) (*node, func(*node) *node) {
	dt := x.DType()
	return convertTo(x, dtypes.Float32), func(y *node) *node { return convertTo(y, dt) }
}
