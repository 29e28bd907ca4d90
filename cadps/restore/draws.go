package restore

import (
	"fmt"
	"math"
)

// drawSeed returns the sampler seed of draw d of a restoration with seed:
// the seed itself for the first draw, so that one draw is the plain run,
// and a SplitMix64 mix of seed and d for the others.
func drawSeed(seed uint64, d int) uint64 {
	if d == 0 {
		return seed
	}
	z := seed + uint64(d)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// fits returns ‖y − A(x)‖₂ of every image of the NCHW batch x (shape),
// whose measurement y is m's, flat, batch first.
func (r *Restorer) fits(m *measurement, x []float32, shape []int) ([]float64, error) {
	ax, _, err := r.applier.apply(m.op, m.shaped, x, shape)
	if err != nil {
		return nil, err
	}
	y := m.noisy
	if len(ax) != len(y) {
		return nil, fmt.Errorf("restore: A(x) has %d values, the measurement %d", len(ax), len(y))
	}
	n := shape[0]
	per := len(y) / n
	out := make([]float64, n)
	for k := range out {
		var s float64
		for j := k * per; j < (k+1)*per; j++ {
			d := float64(y[j]) - float64(ax[j])
			s += d * d
		}
		out[k] = math.Sqrt(s)
	}
	return out, nil
}
