package ops

import (
	"fmt"
	"math"
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// DecimatedConv is super-resolution as USRNet and DiffPIR model it: a
// circular convolution with a kernel k (its centre at pixel (0,0), as
// USRNet's p2o places it) followed by keeping pixel (0,0) of every s×s
// block. Both are diagonal in the Fourier domain up to aliasing, so its
// proximal step has a closed form; everything is computed in float64 with
// the discrete Fourier transform as products with cos/sin matrices.
type DecimatedConv struct {
	kernel []float64 // kh×kw, row-major
	kh, kw int
	s      int
}

// NewDecimatedConv returns the operator of the kh×kw kernel (row-major)
// and the decimation factor s.
func NewDecimatedConv(kernel []float64, kh, kw, s int) (*DecimatedConv, error) {
	if kh < 1 || kw < 1 || len(kernel) != kh*kw {
		return nil, fmt.Errorf("decimated_conv: kernel has %d values, want %dx%d", len(kernel), kh, kw)
	}
	if s < 1 {
		return nil, fmt.Errorf("decimated_conv: factor %d, want at least 1", s)
	}
	for i, v := range kernel {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("decimated_conv: kernel value %d is %v", i, v)
		}
	}
	return &DecimatedConv{kernel: slices.Clone(kernel), kh: kh, kw: kw, s: s}, nil
}

// Name implements [Operator].
func (d *DecimatedConv) Name() string { return "decimated_conv" }

// OutputShape implements [Operator]: [N,C,H/s,W/s]; s must divide H and W
// and the kernel fit in the image.
func (d *DecimatedConv) OutputShape(in []int) ([]int, error) {
	if err := checkImageShape(in); err != nil {
		return nil, err
	}
	if in[2]%d.s != 0 || in[3]%d.s != 0 {
		return nil, fmt.Errorf("decimated_conv: factor %d does not divide the image %dx%d", d.s, in[2], in[3])
	}
	if d.kh > in[2] || d.kw > in[3] {
		return nil, fmt.Errorf("decimated_conv: kernel %dx%d larger than the image %dx%d", d.kh, d.kw, in[2], in[3])
	}
	return []int{in[0], in[1], in[2] / d.s, in[3] / d.s}, nil
}

// dft holds the cos and sin matrices of one axis of length n:
// cos(2π u m/n), sin(2π u m/n), both n×n and symmetric.
type dft struct {
	cos, sin []float64
	n        int
}

func newDFT(n int) dft {
	d := dft{cos: make([]float64, n*n), sin: make([]float64, n*n), n: n}
	for u := range n {
		for m := range n {
			a := 2 * math.Pi * float64((u*m)%n) / float64(n)
			d.cos[u*n+m], d.sin[u*n+m] = math.Cos(a), math.Sin(a)
		}
	}
	return d
}

// spectrum is a complex [N,C,H,W] array as its real and imaginary parts.
type spectrum struct{ re, im *graph.Node }

// along multiplies every image of x by the n×n matrix m along axis 2
// (rows) or 3 (columns).
func along(x *graph.Node, m []float64, n, axis int) *graph.Node {
	c := graph.Const(x.Graph(), m)
	c = graph.Reshape(c, n, n)
	if axis == 2 {
		return graph.Einsum("hm,ncmw->nchw", c, x)
	}
	return graph.Einsum("ncmw,vw->ncmv", x, c)
}

// forward returns the 2-D DFT Σ x e^{−2πi(uh/H + vw/W)} of the real x.
func forward(x *graph.Node, fh, fw dft) spectrum {
	ch, sh := along(x, fh.cos, fh.n, 2), along(x, fh.sin, fh.n, 2)
	re := graph.Sub(along(ch, fw.cos, fw.n, 3), along(sh, fw.sin, fw.n, 3))
	im := graph.Neg(graph.Add(along(sh, fw.cos, fw.n, 3), along(ch, fw.sin, fw.n, 3)))
	return spectrum{re, im}
}

// inverse returns the real part of the inverse 2-D DFT of z.
func inverse(z spectrum, fh, fw dft) *graph.Node {
	// Re[(C + iS) Z (C + iS)] = C Zr C − S Zr S − C Zi S − S Zi C.
	a := graph.Sub(along(along(z.re, fh.cos, fh.n, 2), fw.cos, fw.n, 3), along(along(z.re, fh.sin, fh.n, 2), fw.sin, fw.n, 3))
	b := graph.Add(along(along(z.im, fh.cos, fh.n, 2), fw.sin, fw.n, 3), along(along(z.im, fh.sin, fh.n, 2), fw.cos, fw.n, 3))
	return graph.DivScalar(graph.Sub(a, b), float64(fh.n*fw.n))
}

func mulSpectra(a, b spectrum) spectrum {
	return spectrum{
		graph.Sub(graph.Mul(a.re, b.re), graph.Mul(a.im, b.im)),
		graph.Add(graph.Mul(a.re, b.im), graph.Mul(a.im, b.re)),
	}
}

// kernelSpectrum returns FB, the DFT of the kernel zero-padded to h×w and
// rolled so that its centre sits at (0,0), as [1,1,h,w] constants.
func (d *DecimatedConv) kernelSpectrum(g *graph.Graph, h, w int) (spectrum, []float64) {
	re, im := make([]float64, h*w), make([]float64, h*w)
	for u := range h {
		for v := range w {
			var sr, si float64
			for a := range d.kh {
				for b := range d.kw {
					p := ((a-d.kh/2)%h + h) % h
					q := ((b-d.kw/2)%w + w) % w
					ang := -2 * math.Pi * (float64(u*p%h)/float64(h) + float64(v*q%w)/float64(w))
					k := d.kernel[a*d.kw+b]
					sr += k * math.Cos(ang)
					si += k * math.Sin(ang)
				}
			}
			re[u*w+v], im[u*w+v] = sr, si
		}
	}
	abs2 := make([]float64, h*w)
	for i := range abs2 {
		abs2[i] = re[i]*re[i] + im[i]*im[i]
	}
	return spectrum{graph.Reshape(graph.Const(g, re), 1, 1, h, w), graph.Reshape(graph.Const(g, im), 1, 1, h, w)}, abs2
}

// aliasMean averages the s×s aliases of an [N,C,H,W] spectrum (blocks of
// H/s contiguous rows and W/s contiguous columns), [N,C,H/s,W/s].
func aliasMean(x *graph.Node, s int) *graph.Node {
	d := x.Shape().Dimensions
	t := graph.Reshape(x, d[0], d[1], s, d[2]/s, s, d[3]/s)
	return graph.ReduceMean(t, 2, 4)
}

// tile repeats an [N,C,h,w] spectrum s×s times, [N,C,s·h,s·w].
func tile(x *graph.Node, s int) *graph.Node {
	d := x.Shape().Dimensions
	t := graph.Reshape(x, d[0], d[1], 1, d[2], 1, d[3])
	t = graph.BroadcastToDims(t, d[0], d[1], s, d[2], s, d[3])
	return graph.Reshape(t, d[0], d[1], s*d[2], s*d[3])
}

// decimate keeps pixel (0,0) of every s×s block.
func decimate(x *graph.Node, s int) *graph.Node {
	d := x.Shape().Dimensions
	t := graph.Reshape(x, d[0], d[1], d[2]/s, s, d[3]/s, s)
	t = graph.Slice(t, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(), graph.AxisElem(0), graph.AxisRange(), graph.AxisElem(0))
	return graph.Reshape(t, d[0], d[1], d[2]/s, d[3]/s)
}

// upsampleZero places y at pixel (0,0) of every s×s block, zeros elsewhere.
func upsampleZero(y *graph.Node, s int) *graph.Node {
	d := y.Shape().Dimensions
	t := graph.Reshape(y, d[0], d[1], d[2], 1, d[3], 1)
	none := backends.PadAxis{}
	t = graph.Pad(t, graph.ScalarZero(y.Graph(), y.DType()), none, none, none, backends.PadAxis{End: s - 1}, none, backends.PadAxis{End: s - 1})
	return graph.Reshape(t, d[0], d[1], d[2]*s, d[3]*s)
}

func to64(x *graph.Node) *graph.Node { return graph.ConvertDType(x, dtypes.Float64) }

// Apply implements [Operator].
func (d *DecimatedConv) Apply(x *graph.Node) *graph.Node {
	in := mustShape(d, x)
	fh, fw := newDFT(in[2]), newDFT(in[3])
	fb, _ := d.kernelSpectrum(x.Graph(), in[2], in[3])
	bx := inverse(mulSpectra(fb, forward(to64(x), fh, fw)), fh, fw)
	return graph.ConvertDType(decimate(bx, d.s), x.DType())
}

// Adjoint implements [Linear].
func (d *DecimatedConv) Adjoint(y *graph.Node) *graph.Node {
	dy := y.Shape().Dimensions
	h, w := dy[2]*d.s, dy[3]*d.s
	fh, fw := newDFT(h), newDFT(w)
	fb, _ := d.kernelSpectrum(y.Graph(), h, w)
	fbc := spectrum{fb.re, graph.Neg(fb.im)}
	return graph.ConvertDType(inverse(mulSpectra(fbc, forward(upsampleZero(to64(y), d.s), fh, fw)), fh, fw), y.DType())
}

// Prox implements [Proximal] in the stable form x_in + Aᵀ(AAᵀ + τ)⁻¹(y −
// A x_in): AAᵀ is diagonal in the low-resolution Fourier domain with the
// alias mean of |FB|² (USRNet's invW), so nothing is divided by τ alone
// (USRNet's own form, (FR − FB̄·(FBR/(invW + τ)))/τ, loses about 6e-8/τ to
// rounding in float32). Computed in float64, returned in x_in's dtype.
func (d *DecimatedConv) Prox(xIn, y, tau *graph.Node) *graph.Node {
	in := mustShape(d, xIn)
	h, w := in[2], in[3]
	fh, fw := newDFT(h), newDFT(w)
	fb, abs2 := d.kernelSpectrum(xIn.Graph(), h, w)
	x64 := to64(xIn)
	fx := forward(x64, fh, fw)
	fy := forward(upsampleZero(to64(y), d.s), fh, fw)
	bx := mulSpectra(fb, fx)
	r := spectrum{aliasMean(graph.Sub(fy.re, bx.re), d.s), aliasMean(graph.Sub(fy.im, bx.im), d.s)}
	invW := aliasMean(graph.Reshape(graph.Const(xIn.Graph(), abs2), 1, 1, h, w), d.s)
	den := graph.Add(invW, to64(tau))
	wr := spectrum{tile(graph.Div(r.re, den), d.s), tile(graph.Div(r.im, den), d.s)}
	fbc := spectrum{fb.re, graph.Neg(fb.im)}
	return graph.ConvertDType(graph.Add(x64, inverse(mulSpectra(fbc, wr), fh, fw)), xIn.DType())
}
