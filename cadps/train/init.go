package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/cadps/toolkit/cadps/unet"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// isZeroModule reports whether a parameter belongs to one of the layers that
// guided-diffusion wraps in zero_module: the last conv of every ResBlock
// (out_layers.3), the attention output projection (proj_out) and the
// network's output conv (out.2).
func isZeroModule(key string) bool {
	prefix := key[:strings.LastIndex(key, ".")]
	return strings.HasSuffix(prefix, ".out_layers.3") || strings.HasSuffix(prefix, ".proj_out") || prefix == "out.2"
}

// InitialWeights returns freshly initialised weights for m, keyed by
// checkpoint key, as PyTorch initialises guided-diffusion's modules:
// convolution and linear weights and biases ~ U(−1/√fan_in, 1/√fan_in)
// (kaiming_uniform with a = √5), GroupNorm weights 1 and biases 0, the label
// embedding ~ N(0, 1), and the zero_module layers (see isZeroModule) all
// zero. The same seed gives the same weights.
func InitialWeights(m *unet.Model, seed uint64) map[string]*tensors.Tensor {
	r := rand.New(rand.NewPCG(seed, 0x1417))
	out := make(map[string]*tensors.Tensor, len(m.Params()))
	fanIn := map[string]int{} // layer prefix → fan_in of its weight
	for _, p := range m.Params() {
		if strings.HasSuffix(p.Name, ".weight") && len(p.Shape) >= 2 {
			n := 1
			for _, d := range p.Shape[1:] {
				n *= d
			}
			fanIn[strings.TrimSuffix(p.Name, ".weight")] = n
		}
	}
	for _, p := range m.Params() {
		n := 1
		for _, d := range p.Shape {
			n *= d
		}
		v := make([]float32, n)
		prefix := p.Name[:strings.LastIndex(p.Name, ".")]
		switch {
		case isZeroModule(p.Name):
			// zeros
		case unet.IsNormParam(p.Name):
			if strings.HasSuffix(p.Name, ".weight") {
				for i := range v {
					v[i] = 1
				}
			}
		case p.Name == "label_emb.weight":
			for i := range v {
				v[i] = float32(r.NormFloat64())
			}
		default:
			fi, ok := fanIn[prefix]
			if !ok {
				panic(fmt.Errorf("train: internal error: no fan-in for %q", p.Name))
			}
			bound := 1 / math.Sqrt(float64(fi))
			for i := range v {
				v[i] = float32(bound * (2*r.Float64() - 1))
			}
		}
		out[p.Name] = tensors.FromFlatDataAndDimensions(v, p.Shape...)
	}
	return out
}
