// Package randweights makes deterministic pseudo-random network weights
// that a short Python function reproduces bit for bit
// (scripts/fixtures/randweights.py), so that reference fixtures of large
// networks need not store their weights.
//
// Element i (0-based) of the tensor named name takes z = splitmix64's
// output for the state fnv1a64(name) XOR seed advanced i+1 times, and the
// integer q = (z >> 53) − 1024 in [−1024, 1023]. Its value is q·2^−s plus
// an offset, by the tensor's role (its name's suffix):
//
//	BatchNorm weight, running_var: 1 + q·2^−11 (uniform in [0.5, 1.5))
//	BatchNorm bias, running_mean:  q·2^−12 (standard deviation ≈ 0.14)
//	other rank-1 tensors (biases): q·2^−13 (standard deviation ≈ 0.07)
//	rank-4 weights [O,I,kH,kW]:     q·2^−s, s = floor(log2(591.2·√fanIn / gain) + 0.5), fanIn = I·kH·kW
//
// so every value has at most 12 significant bits, exact in float32 (and in
// float16 too, except BatchNorm weights and variances at or above 1), and
// convolution weights have a standard deviation within a factor √2 of
// gain/√fanIn.
package randweights

import (
	"fmt"
	"math"
	"strings"

	"github.com/cadps/toolkit/checkpoints"
)

// qStd is the standard deviation of q, 1024/√3 (rounded as the formula states).
const qStd = 591.2

// Values returns the values of the tensor named name with the given shape.
func Values(name string, shape []int, seed uint64, convGain float64) ([]float32, error) {
	n := 1
	for _, d := range shape {
		n *= d
	}
	var off float64
	var s int
	switch {
	case strings.HasSuffix(name, "bn.weight"), strings.HasSuffix(name, "running_var"):
		off, s = 1, 11
	case strings.HasSuffix(name, "bn.bias"), strings.HasSuffix(name, "running_mean"):
		s = 12
	case len(shape) == 1:
		s = 13
	case len(shape) == 4:
		fanIn := float64(shape[1] * shape[2] * shape[3])
		s = int(math.Floor(math.Log2(qStd*math.Sqrt(fanIn)/convGain) + 0.5))
	default:
		return nil, fmt.Errorf("randweights: no rule for %q of shape %v", name, shape)
	}
	state := fnv1a64(name) ^ seed
	scale := math.Ldexp(1, -s)
	out := make([]float32, n)
	for i := range out {
		state += 0x9E3779B97F4A7C15
		z := state
		z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
		z = (z ^ z>>27) * 0x94D049BB133111EB
		z ^= z >> 31
		q := int64(z>>53) - 1024
		out[i] = float32(off + float64(q)*scale)
	}
	return out, nil
}

// StateDict returns the tensors of specs, in order, as a state dict named source.
func StateDict(source string, seed uint64, convGain float64, specs []checkpoints.Spec) (*checkpoints.StateDict, error) {
	sd := checkpoints.NewStateDict(source)
	for _, sp := range specs {
		v, err := Values(sp.Name, sp.Shape, seed, convGain)
		if err != nil {
			return nil, err
		}
		if err := sd.Add(checkpoints.FromFloat32(sp.Name, sp.Shape, v)); err != nil {
			return nil, err
		}
	}
	return sd, nil
}

func fnv1a64(s string) uint64 {
	h := uint64(0xcbf29ce484222325)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 0x100000001b3
	}
	return h
}
