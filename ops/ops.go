// Package ops holds the measurement operators of imaging inverse problems
// (super-resolution, blurs, inpainting, phase retrieval) and their noise
// models, as differentiable GoMLX graph functions on NCHW images in [-1,1].
//
// An operator is A, its adjoint where it is linear, and a noise model, as in
// deepinv's physics. A user's own operator is any Go function of graph nodes
// wrapped by [Func] ([NewFunc]): GoMLX differentiates it, so the guidance
// methods that need only A(x) and its gradient run with it (the DPS-type
// methods dps and cadps, and daps). The others need more of A, which an
// operator gives by implementing more of this package's interfaces: an
// adjoint ([Linear]; [NewLinearFunc] builds one) for pigdm, tmpd, mmps and
// cadps-gauss, a pseudo-inverse ([PseudoInverter]) for projection and mcg,
// an SVD ([HasSVD]) for ddrm and a closed-form data step ([HasProx]) for
// diffpir ([NewSVDOperator] builds an operator with all three).
// guidance.CheckOperator refuses an operator that a method cannot use.
//
// Each operator lives in the file named after it (super_resolution.go,
// gaussian_blur.go, motion_blur.go, inpainting.go, phase_retrieval.go) and
// reproduces the DPS reference code (github.com/DPS2022/diffusion-posterior-sampling)
// to float32 precision. [Parse] builds one from a command-line spec such as
// "super_resolution:factor=4" or "inpaint_box:size=128", [FromConfig] from
// the reference YAML configs' measurement mapping; [Tasks] lists the names
// and parameters.
package ops

import (
	"math/rand/v2"

	"github.com/gomlx/gomlx/pkg/core/graph"
)

// Operator is a measurement operator y = A(x) on NCHW images.
type Operator interface {
	// Name is the operator's task name as the command line spells it
	// (e.g. "super_resolution", "gaussian_blur").
	Name() string
	// OutputShape returns the shape of A(x) for an input shape [N,C,H,W], or
	// an error naming the problem (a factor not dividing the size, a kernel
	// larger than the image, ...).
	OutputShape(in []int) ([]int, error)
	// Apply builds A(x) in x's graph.
	Apply(x *graph.Node) *graph.Node
}

// Linear is an operator that is linear in x and gives its adjoint explicitly.
type Linear interface {
	Operator
	// Adjoint builds Aᵀ y in y's graph; its output has the shape of x.
	Adjoint(y *graph.Node) *graph.Node
}

// PseudoInverter is implemented by operators with a cheap pseudo-inverse A⁺
// (used by projection-type methods and ΠGDM).
type PseudoInverter interface {
	// PseudoInverse builds A⁺ y in y's graph; its output has the shape of x.
	PseudoInverse(y *graph.Node) *graph.Node
}

// Noise is a measurement noise model, applied on the host when a measurement
// is synthesised.
type Noise interface {
	// Name is the noise model's name ("gaussian", "poisson").
	Name() string
	// Apply returns y with noise drawn from r added, in a new slice. A nil
	// r is a programmer error: the noise models that draw panic, naming
	// themselves, as make does for a negative size.
	Apply(y []float32, r *rand.Rand) []float32
	// Sigma is the standard deviation σ_y the likelihood assumes.
	Sigma() float64
}

// DiagonalGram is implemented by linear operators for which A diag(c) Aᵀ is
// a diagonal matrix for every c: no two rows of A share an input, as
// inpainting's mask and super-resolution with a box kernel. The Gaussian
// likelihood methods then solve their measurement-space systems in closed
// form.
type DiagonalGram interface {
	// GramDiagonal builds the diagonal of A diag(c) Aᵀ for c shaped like x,
	// shaped like A(c). ok is false when for c's shape the matrix is not
	// diagonal (or c's shape is not one the operator takes).
	GramDiagonal(c *graph.Node) (d *graph.Node, ok bool)
}

// ImageMeasurer is implemented by operators that say whether their
// measurement is an image.
type ImageMeasurer interface {
	// MeasuresImage reports whether y = A(x) holds pixel values of x's kind
	// (a blurred, masked or downsampled image) rather than values of another
	// kind (Fourier magnitudes).
	MeasuresImage() bool
}

// MeasuresImage reports whether op's measurement is an image in x's value
// range, which can be viewed as one and, when its shape is the image's,
// serve as an image-space baseline: true unless op implements
// [ImageMeasurer] and says otherwise.
func MeasuresImage(op Operator) bool {
	if m, ok := op.(ImageMeasurer); ok {
		return m.MeasuresImage()
	}
	return true
}
