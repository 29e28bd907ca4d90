package ops

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/graph"
)

// PhaseRetrieval is DPS's Fourier phase retrieval operator: the magnitude of
// the centred, orthonormal 2-D DFT of the zero-padded image,
//
//	A(x) = | fftshift(fft2(ifftshift(pad(x)), norm="ortho")) |
//
// per image and channel, with pad = int(oversample/8 · H) zeros on every
// side (the reference hard-codes H = 256: pad 64 for its oversampling 2.0).
// The pure-Go backend has no FFT, so the DFT is two dense products with
// cos/sin matrices (computed in float64) restricted to the unpadded pixels.
// The magnitude's gradient is taken as 0 where the spectrum vanishes, as
// PyTorch's.
type PhaseRetrieval struct {
	oversample float64
}

// MaxOversample is the largest oversampling [NewPhaseRetrieval] takes. The
// padded image's side is (1 + oversample/4)·H, so the measurement, and the
// DFT's work, grow with (1 + oversample/4)²: 2.25× the image's pixels at
// DPS's 2.0, 5.1× at CA-DPS's 5.0, 9× at 8. Beyond that a measurement is
// mostly zero padding, and a mistyped value (oversample=1000 pads a
// 256×256 image by 32000 pixels a side) would not finish.
const MaxOversample = 8.0

// NewPhaseRetrieval returns the phase retrieval operator with the given
// oversampling, in [0, MaxOversample] (2.0 in DPS's config, 5.0 in
// CA-DPS's).
func NewPhaseRetrieval(oversample float64) (*PhaseRetrieval, error) {
	if !(oversample >= 0) || math.IsInf(oversample, 0) {
		return nil, fmt.Errorf("phase_retrieval: oversample must be finite and not negative, got %g", oversample)
	}
	if oversample > MaxOversample {
		return nil, fmt.Errorf("phase_retrieval: oversample %g is above %g, the largest taken: the padded image has (1 + oversample/4)² times "+
			"the image's pixels (%.3g× here, 9× at 8); DPS uses 2 and CA-DPS 5", oversample, MaxOversample, (1+oversample/4)*(1+oversample/4))
	}
	return &PhaseRetrieval{oversample: oversample}, nil
}

// Name implements [Operator].
func (p *PhaseRetrieval) Name() string { return "phase_retrieval" }

// MeasuresImage implements [ImageMeasurer]: y holds Fourier magnitudes.
func (p *PhaseRetrieval) MeasuresImage() bool { return false }

// Oversample returns the oversampling parameter.
func (p *PhaseRetrieval) Oversample() float64 { return p.oversample }

// Pad returns the zero padding on each side of an image of height h. Like
// make, it panics, naming itself and h, when h is not positive: no image
// has such a height ([PhaseRetrieval.OutputShape] returns an error for
// one).
func (p *PhaseRetrieval) Pad(h int) int {
	if h <= 0 {
		panic(fmt.Sprintf("ops: PhaseRetrieval.Pad: height h %d is not positive", h))
	}
	return int(p.oversample / 8.0 * float64(h))
}

// String describes the operator as a spec.
func (p *PhaseRetrieval) String() string {
	return fmt.Sprintf("phase_retrieval:oversample=%g", p.oversample)
}

// OutputShape implements [Operator]: [N,C,H+2·pad,W+2·pad]. An image
// side above 2^61 is an error: its padded side, up to three times it,
// would overflow an int.
func (p *PhaseRetrieval) OutputShape(in []int) ([]int, error) {
	if err := checkImageShape(in); err != nil {
		return nil, err
	}
	if max(in[2], in[3]) > 1<<61 {
		return nil, fmt.Errorf("image shape %v has a side above 2^61, whose padded side would overflow an int", in)
	}
	pad := p.Pad(in[2])
	return []int{in[0], in[1], in[2] + 2*pad, in[3] + 2*pad}, nil
}

// Apply implements [Operator].
func (p *PhaseRetrieval) Apply(x *graph.Node) *graph.Node {
	in := mustShape(p, x)
	pad := p.Pad(in[2])
	nh, nw := in[2]+2*pad, in[3]+2*pad
	// [Fr; Fi]·X·[Fr; Fi]ᵀ holds the four real products of the complex one.
	z := separable(x, centredDFT(nh, in[2], pad), centredDFT(nw, in[3], pad))
	rr := graph.Slice(z, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(0, nh), graph.AxisRange(0, nw))
	ri := graph.Slice(z, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(0, nh), graph.AxisRange(nw, 2*nw))
	ir := graph.Slice(z, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(nh, 2*nh), graph.AxisRange(0, nw))
	ii := graph.Slice(z, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(nh, 2*nh), graph.AxisRange(nw, 2*nw))
	re := graph.Sub(rr, ii)
	im := graph.Add(ri, ir)
	return safeHypot(re, im)
}

// safeHypot returns sqrt(re² + im²) with a zero gradient where both vanish
// (instead of the NaN of sqrt's derivative at 0).
func safeHypot(re, im *graph.Node) *graph.Node {
	sq := graph.Add(graph.Square(re), graph.Square(im))
	zero := graph.ScalarZero(sq.Graph(), sq.DType())
	nonZero := graph.GreaterThan(sq, zero)
	safe := graph.Where(nonZero, sq, graph.OnesLike(sq))
	return graph.Where(nonZero, graph.Sqrt(safe), graph.ZerosLike(sq))
}

// centredDFT returns the [2n, size] real matrix [Fr; Fi] of the orthonormal
// n-point DFT conjugated by the shifts (fftshift ∘ DFT ∘ ifftshift),
// restricted to the input positions pad..pad+size-1 (the others are zero
// padding): F[k][m] = exp(-2πi (k-s)(m-s)/n)/√n with s = n/2 (floor) and m
// the padded position.
func centredDFT(n, size, pad int) [][]float64 {
	s := n / 2
	norm := 1 / math.Sqrt(float64(n))
	out := make([][]float64, 2*n)
	for k := range n {
		re := make([]float64, size)
		im := make([]float64, size)
		for j := range size {
			// Reduce (k-s)(m-s) modulo n in integers so the angle stays exact.
			t := ((k - s) * (j + pad - s)) % n
			if t < 0 {
				t += n
			}
			theta := -2 * math.Pi * float64(t) / float64(n)
			re[j] = math.Cos(theta) * norm
			im[j] = math.Sin(theta) * norm
		}
		out[k], out[n+k] = re, im
	}
	return out
}
