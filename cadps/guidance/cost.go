package guidance

import "github.com/cadps/toolkit/internal/num"

// NetworkCoster is implemented by methods that say what one step costs in
// passes through the network for images shaped x ([N,C,H,W]) and
// measurements shaped y (the operator's output; nil without one): forward
// passes, and vector-Jacobian (or Jacobian-vector) products through the
// network, each a backward pass of about twice a forward's arithmetic.
// Operator applications are not counted. Throughput figures (gpucheck's
// TFLOP/s) are built from it; every method of this package implements it.
type NetworkCoster interface {
	// NetworkCost returns the forward passes and the products through the
	// network of one step on images shaped x with measurements shaped y.
	NetworkCost(x, y []int) (forwards, products int)
}

// NetworkCost implements [NetworkCoster]: one forward, one product.
func (DPS) NetworkCost(_, _ []int) (int, int) { return 1, 1 }

// NetworkCost implements [NetworkCoster]: two forwards (one batched
// forward of twice the images with Batched), one product.
func (CADPS) NetworkCost(_, _ []int) (int, int) { return 2, 1 }

// NetworkCost implements [NetworkCoster]: one differentiated forward and
// one finite-difference forward per product of the diagonal's estimate (in
// image space), one product.
func (m CADPSGauss) NetworkCost(x, _ []int) (int, int) { return 1 + m.Diagonal.products(x), 1 }

// NetworkCost implements [NetworkCoster]: one forward, one product.
func (PiGDM) NetworkCost(_, _ []int) (int, int) { return 1, 1 }

// NetworkCost implements [NetworkCoster]: one forward, one product for the
// gradient and those of the diagonal's estimate, in image space with
// PixelSpace, else in measurement space.
func (m TMPD) NetworkCost(x, y []int) (int, int) {
	if m.PixelSpace {
		return 1, 1 + m.Diagonal.products(x)
	}
	return 1, 1 + m.Diagonal.products(y)
}

// NetworkCost implements [NetworkCoster]: one forward, a product per
// iteration of the solve (capped at twice the measurements per image, see
// krylovIterations) and one for the gradient.
func (m MMPS) NetworkCost(_, y []int) (int, int) {
	return 1, krylovCap(y, iterations(m.CGIterations, DefaultMMPSIterations)) + 1
}

// NetworkCost implements [NetworkCoster]: one forward, one product.
func (MCG) NetworkCost(_, _ []int) (int, int) { return 1, 1 }

// NetworkCost implements [NetworkCoster]: one forward.
func (Projection) NetworkCost(_, _ []int) (int, int) { return 1, 0 }

// NetworkCost implements [NetworkCoster]: one forward.
func (Unconditional) NetworkCost(_, _ []int) (int, int) { return 1, 0 }

// NetworkCost implements [NetworkCoster]: one forward.
func (DDRM) NetworkCost(_, _ []int) (int, int) { return 1, 0 }

// NetworkCost implements [NetworkCoster]: one forward.
func (DiffPIR) NetworkCost(_, _ []int) (int, int) { return 1, 0 }

// NetworkCost implements [NetworkCoster]: the ODE's M forwards; the
// Langevin steps differentiate through A only.
func (m DAPS) NetworkCost(_, _ []int) (int, int) { return m.ODESteps, 0 }

// products returns the Jacobian products of one estimate of the diagonal
// of a matrix on vectors shaped v ([N,…]): one for the row sums, one per
// probe for Hutchinson, one per element of a batch item for the exact
// diagonal.
func (d Diagonal) products(v []int) int {
	switch d.name() {
	case Hutchinson:
		return d.probes()
	case ExactDiagonal:
		return num.Prod(v[1:])
	default:
		return 1
	}
}
