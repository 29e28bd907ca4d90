package guidance

// NetworkCoster is implemented by methods that say what one step costs in
// passes through the network for images shaped x ([N,C,H,W]): forward
// passes, and vector-Jacobian (or Jacobian-vector) products through the
// network, each a backward pass of about twice a forward's arithmetic.
// Operator applications and solves are not counted. Throughput figures
// (gpucheck's TFLOP/s) are built from it; every method of this package
// implements it.
type NetworkCoster interface {
	// NetworkCost returns the forward passes and the products through the
	// network of one step on images shaped x.
	NetworkCost(x []int) (forwards, products int)
}

// NetworkCost implements [NetworkCoster]: one forward, one product.
func (DPS) NetworkCost([]int) (int, int) { return 1, 1 }

// NetworkCost implements [NetworkCoster]: two forwards (one batched
// forward of twice the images with Batched), one product.
func (CADPS) NetworkCost([]int) (int, int) { return 2, 1 }

// NetworkCost implements [NetworkCoster]: one differentiated forward and
// one finite-difference forward per product of the diagonal's estimate,
// one product.
func (m CADPSGauss) NetworkCost(x []int) (int, int) { return 1 + m.Diagonal.products(x), 1 }

// NetworkCost implements [NetworkCoster]: one forward, one product.
func (PiGDM) NetworkCost([]int) (int, int) { return 1, 1 }

// NetworkCost implements [NetworkCoster]: one forward, one product for the
// gradient and those of the diagonal's estimate.
func (m TMPD) NetworkCost(x []int) (int, int) { return 1, 1 + m.Diagonal.products(x) }

// NetworkCost implements [NetworkCoster]: one forward, a product per
// iteration of the solve and one for the gradient.
func (m MMPS) NetworkCost([]int) (int, int) {
	return 1, iterations(m.CGIterations, DefaultMMPSIterations) + 1
}

// NetworkCost implements [NetworkCoster]: one forward, one product.
func (MCG) NetworkCost([]int) (int, int) { return 1, 1 }

// NetworkCost implements [NetworkCoster]: one forward.
func (Projection) NetworkCost([]int) (int, int) { return 1, 0 }

// NetworkCost implements [NetworkCoster]: one forward.
func (Unconditional) NetworkCost([]int) (int, int) { return 1, 0 }

// NetworkCost implements [NetworkCoster]: one forward.
func (DDRM) NetworkCost([]int) (int, int) { return 1, 0 }

// NetworkCost implements [NetworkCoster]: one forward.
func (DiffPIR) NetworkCost([]int) (int, int) { return 1, 0 }

// NetworkCost implements [NetworkCoster]: the ODE's M forwards; the
// Langevin steps differentiate through A only.
func (m DAPS) NetworkCost([]int) (int, int) { return m.ODESteps, 0 }

// products returns the Jacobian products of one estimate of the diagonal
// for images shaped x: one for the row sums, one per probe for Hutchinson,
// one per element of an image for the exact diagonal.
func (d Diagonal) products(x []int) int {
	switch d.name() {
	case Hutchinson:
		return d.probes()
	case ExactDiagonal:
		n := 1
		for _, v := range x[1:] {
			n *= v
		}
		return n
	default:
		return 1
	}
}
