package guidance

import "github.com/cadps/toolkit/cadps/diffusion"

// DDRMGrid exposes DDRM's time grid to the reference tests: per respaced
// index, the original timestep and the float32 ᾱ there and at the next
// grid point.
func DDRMGrid(p *diffusion.Process) (t, a, aNext []float32, err error) {
	g, err := newDDRMGrid(p)
	return g.t, g.a, g.aNext, err
}
