package fid

import (
	"fmt"
	"math"

	"github.com/cadps/toolkit/cadps/metrics/internal/cnn"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// foldBatchNorm returns the weights of the BasicConv2ds of blocks 0..last
// with each eval-mode BatchNorm folded into its convolution, so that the
// graph computes ReLU(conv(x, W′) + b′) instead of a convolution and four
// element-wise passes:
//
//	s = γ / √(σ² + eps),  W′[o] = s[o]·W[o],  b′[o] = β[o] − s[o]·μ[o],
//
// in float64, rounded once to float32 (a rounding difference from
// PyTorch's unfolded float32 arithmetic, far inside the fixtures'
// tolerances). The result holds key+".conv.weight" [O,C,KH,KW] and
// key+".conv.bias" [O] per convolution; w's Ignored list is kept.
func foldBatchNorm(w *cnn.Weights, last int) (*cnn.Weights, error) {
	byName := make(map[string]*tensors.Tensor, len(w.Names))
	for i, n := range w.Names {
		byName[n] = w.Tensors[i]
	}
	get := func(name string, size int) ([]float32, error) {
		t, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("fid: internal error: no tensor %q to fold", name)
		}
		v := tensors.MustCopyFlatData[float32](t)
		if len(v) != size {
			return nil, fmt.Errorf("fid: internal error: %q has %d values, want %d", name, len(v), size)
		}
		return v, nil
	}
	out := &cnn.Weights{Ignored: w.Ignored}
	for _, c := range inceptionConvs() {
		if c.block > last {
			break
		}
		per := c.in * c.kh * c.kw
		kernel, err := get(c.key+".conv.weight", c.out*per)
		if err != nil {
			return nil, err
		}
		var bn [4][]float32 // weight, bias, running_mean, running_var
		for i, s := range []string{"weight", "bias", "running_mean", "running_var"} {
			if bn[i], err = get(c.key+".bn."+s, c.out); err != nil {
				return nil, err
			}
		}
		folded, bias := make([]float32, len(kernel)), make([]float32, c.out)
		for o := range c.out {
			s := float64(bn[0][o]) / math.Sqrt(float64(bn[3][o])+bnEps)
			for i, v := range kernel[o*per : (o+1)*per] {
				folded[o*per+i] = float32(s * float64(v))
			}
			bias[o] = float32(float64(bn[1][o]) - s*float64(bn[2][o]))
		}
		out.Names = append(out.Names, c.key+".conv.weight", c.key+".conv.bias")
		out.Tensors = append(out.Tensors,
			tensors.FromFlatDataAndDimensions(folded, c.out, c.in, c.kh, c.kw),
			tensors.FromFlatDataAndDimensions(bias, c.out))
	}
	return out, nil
}
