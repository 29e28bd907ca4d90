package ops

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/cadps/toolkit/internal/num"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestSVDReconstructs checks U Σ Vᵀ = A on random vectors for every
// decomposition, that V and U are orthogonal (Vᵀ then V, Uᵀ then U give the
// input back), and that the SVD proximal step solves its normal equations
// Aᵀ(A x − y) + τ (x − x_in) = 0.
func TestSVDReconstructs(t *testing.T) {
	in := []int{2, 3, 8, 12}
	sr, _ := NewSuperResolution(2, "")
	box, _ := NewSuperResolution(4, "box")
	gauss, err := NewGaussianBlur(5, 1.5)
	if err != nil {
		t.Fatal(err)
	}
	mask := make([]float32, 8*12)
	for p := range mask {
		if p%5 != 1 && p%7 != 3 {
			mask[p] = 1
		}
	}
	inp, _ := NewInpainting(mask, 8, 12)
	block, err := BlockAverageSVD(2, in)
	if err != nil {
		t.Fatal(err)
	}
	dense := make([][]float64, 20)
	r := randomVector(7, 20*3*8*12)
	for i := range dense {
		dense[i] = make([]float64, 3*8*12)
		for j := range dense[i] {
			dense[i][j] = float64(r[i*3*8*12+j])
		}
	}
	denseSVD, err := NewDenseSVD(dense, in)
	if err != nil {
		t.Fatal(err)
	}
	blockAvg, _ := NewSuperResolution(2, "box")
	// Odd, non-square, one channel; a separable kernel whose axis
	// matrices are singular on odd sides (taps ½, 0, ½ under reflection:
	// zero singular values, U completed to an orthogonal basis).
	sr3, _ := NewSuperResolution(3, "lanczos3")
	gauss9, err := NewGaussianBlur(9, 3)
	if err != nil {
		t.Fatal(err)
	}
	singular, err := NewBlur("blur", outer([]float32{0.5, 0, 0.5}, []float32{0.5, 0, 0.5}), 3)
	if err != nil {
		t.Fatal(err)
	}
	oddMask := make([]float32, 9*7)
	for p := range oddMask {
		if p%4 != 2 {
			oddMask[p] = 1
		}
	}
	inpOdd, _ := NewInpainting(oddMask, 9, 7)
	cases := []struct {
		name string
		op   Operator // nil: compare with the dense product or the block average
		d    Decomposition
		in   []int // nil: in
		// zero: some singular values are 0 (to rounding)
		zero bool
	}{
		{"super_resolution bicubic x2", sr, nil, nil, false},
		{"super_resolution box x4", box, nil, nil, false},
		{"gaussian_blur", gauss, nil, nil, false},
		{"inpainting", inp, nil, nil, false},
		{"block average x2", blockAvg, block, nil, false},
		{"dense 20x288", nil, denseSVD, nil, false},
		{"super_resolution lanczos3 x3 odd", sr3, nil, []int{2, 1, 9, 15}, false},
		{"gaussian_blur odd, largest padding", gauss9, nil, []int{3, 1, 5, 7}, false},
		{"blur with zero singular values", singular, nil, []int{2, 3, 7, 9}, true},
		{"inpainting odd", inpOdd, nil, []int{2, 1, 9, 7}, false},
	}
	b := newBackend(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := in
			if c.in != nil {
				in = c.in
			}
			x := randomVector(1, num.Prod(in))
			xin := randomVector(2, num.Prod(in))
			d := c.d
			if d == nil {
				var err error
				if d, err = c.op.(Decomposer).SVD(in); err != nil {
					t.Fatal(err)
				}
			}
			sv := d.Singulars()
			if hasZero := slices.Min(sv) < 1e-9*slices.Max(sv); hasZero != c.zero {
				t.Fatalf("smallest singular value %.3g of largest %.3g: zero %v, want %v", slices.Min(sv), slices.Max(sv), hasZero, c.zero)
			}
			var yDims []int
			if c.op != nil {
				yDims, _ = c.op.OutputShape(in)
			} else {
				yDims = []int{2, 20}
			}
			y := randomVector(3, num.Prod(yDims))
			if m, ok := c.op.(*Inpainting); ok { // measurements are masked images
				for k := range y {
					y[k] *= m.mask[k%(in[2]*in[3])]
				}
			}
			exec := graph.MustNewExec(b, func(x, xin, y *graph.Node) []*graph.Node {
				ax := ApplySVD(d, x)
				var want *graph.Node
				if c.op != nil {
					want = c.op.Apply(x)
				} else {
					want = graph.Reshape(d.(*DenseSVD).applyDense(x, dense), yDims...)
				}
				tau := graph.Scalar(x.Graph(), x.DType(), 0.01)
				p := ProxSVD(d, xin, y, tau)
				normal := graph.Add(AdjointSVD(d, graph.Sub(ApplySVD(d, p), y), num.Prod(in[1:])), graph.Mul(tau, graph.Sub(p, xin)))
				// The residual's float32 rounding grows with its largest term, Aᵀ A p.
				gram := AdjointSVD(d, ApplySVD(d, p), num.Prod(in[1:]))
				return []*graph.Node{ax, want, d.V(d.Vt(x)), d.U(d.Ut(y)), normal, gram}
			})
			outs, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, in...), tensors.FromFlatDataAndDimensions(xin, in...), tensors.FromFlatDataAndDimensions(y, yDims...))
			if err != nil {
				t.Fatal(err)
			}
			got := tensors.MustCopyFlatData[float32](outs[0])
			want := tensors.MustCopyFlatData[float32](outs[1])
			if e := maxAbsDiff(got, want) / (1 + maxAbs(want)); e > 2e-5 {
				t.Errorf("U Σ Vᵀ x vs A x: relative deviation %.3g", e)
			}
			if e := maxAbsDiff(tensors.MustCopyFlatData[float32](outs[2]), x); e > 2e-5 {
				t.Errorf("V Vᵀ x vs x: %.3g", e)
			}
			if e := maxAbsDiff(tensors.MustCopyFlatData[float32](outs[3]), y); e > 2e-5 {
				t.Errorf("U Uᵀ y vs y: %.3g", e)
			}
			scale := 1 + maxAbs(tensors.MustCopyFlatData[float32](outs[5]))
			if e := maxAbs(tensors.MustCopyFlatData[float32](outs[4])) / scale; e > 2e-5 {
				t.Errorf("prox normal equations residual %.3g relative to 1 + max|Aᵀ A p| = %.3g", e, scale)
			}
		})
	}
}

// applyDense returns a·x for each image of x, [N,m].
func (s *DenseSVD) applyDense(x *graph.Node, a [][]float64) *graph.Node {
	flat := make([]float64, 0, len(a)*s.d)
	for _, row := range a {
		flat = append(flat, row...)
	}
	return graph.Einsum("nd,md->nm", graph.Reshape(x, x.Shape().Dim(0), s.d), constFloats(x, flat, len(a), s.d))
}

func maxAbs(v []float32) float64 {
	var m float64
	for _, x := range v {
		m = max(m, math.Abs(float64(x)))
	}
	return m
}

func maxAbsDiff(a, b []float32) float64 {
	var m float64
	for i := range a {
		m = max(m, math.Abs(float64(a[i])-float64(b[i])))
	}
	return m
}

// TestDecimatedConv checks the USRNet-model operator: A against a direct
// circular convolution and decimation on the host, the adjoint against A,
// and the proximal step's normal equations at a small and a large τ.
func TestDecimatedConv(t *testing.T) {
	const kh, kw, s = 3, 5, 2
	in := []int{1, 2, 8, 6}
	kr := randomVector(11, kh*kw)
	k := make([]float64, len(kr))
	for i, v := range kr {
		k[i] = float64(v)
	}
	op, err := NewDecimatedConv(k, kh, kw, s)
	if err != nil {
		t.Fatal(err)
	}
	yDims, err := op.OutputShape(in)
	if err != nil {
		t.Fatal(err)
	}
	x, xin, y := randomVector(12, num.Prod(in)), randomVector(13, num.Prod(in)), randomVector(14, num.Prod(yDims))
	// Host A: (k ⊛ x)[i,j] = Σ k[a,b] x[(i − a + kh/2) mod H, (j − b + kw/2) mod W], then every s-th pixel.
	h, w := in[2], in[3]
	want := make([]float32, num.Prod(yDims))
	for c := range in[1] {
		for i := 0; i < h; i += s {
			for j := 0; j < w; j += s {
				var v float64
				for a := range kh {
					for b := range kw {
						p, q := ((i-a+kh/2)%h+h)%h, ((j-b+kw/2)%w+w)%w
						v += k[a*kw+b] * float64(x[c*h*w+p*w+q])
					}
				}
				want[c*(h/s)*(w/s)+(i/s)*(w/s)+j/s] = float32(v)
			}
		}
	}
	b := newBackend(t)
	for _, tau := range []float64{1e-6, 0.5} {
		exec := graph.MustNewExec(b, func(x, xin, y *graph.Node) []*graph.Node {
			tn := graph.Scalar(x.Graph(), x.DType(), tau)
			p := op.Prox(xin, y, tn)
			normal := graph.Add(op.Adjoint(graph.Sub(op.Apply(p), y)), graph.Mul(tn, graph.Sub(p, xin)))
			return []*graph.Node{op.Apply(x), op.Adjoint(y), normal}
		})
		outs, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, in...), tensors.FromFlatDataAndDimensions(xin, in...), tensors.FromFlatDataAndDimensions(y, yDims...))
		if err != nil {
			t.Fatal(err)
		}
		ax := tensors.MustCopyFlatData[float32](outs[0])
		if e := maxAbsDiff(ax, want); e > 1e-5 {
			t.Errorf("A x vs the host convolution: %.3g", e)
		}
		aty := tensors.MustCopyFlatData[float32](outs[1])
		if l, r := dot(ax, y), dot(x, aty); math.Abs(l-r) > 1e-4*(1+math.Abs(l)) {
			t.Errorf("<Ax, y> = %v, <x, Aᵀy> = %v", l, r)
		}
		if e := maxAbs(tensors.MustCopyFlatData[float32](outs[2])); e > 1e-4 {
			t.Errorf("τ = %g: prox normal equations residual %.3g", tau, e)
		}
	}
}

// TestSeparableAxisSingulars checks that the separable decompositions
// report axis singular values whose products, in the documented layout
// (channel, then row-major kh×kw), are their singular values.
func TestSeparableAxisSingulars(t *testing.T) {
	sr, _ := NewSuperResolution(2, "")
	sr3, _ := NewSuperResolution(3, "lanczos3")
	gauss, err := NewGaussianBlur(5, 1.5)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		op   Decomposer
		in   []int
	}{
		{"super_resolution bicubic x2", sr, []int{1, 3, 8, 12}},
		{"super_resolution lanczos3 x3", sr3, []int{1, 1, 9, 6}},
		{"gaussian_blur", gauss, []int{1, 2, 7, 5}},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, err := c.op.SVD(c.in)
			if err != nil {
				t.Fatal(err)
			}
			sep, ok := d.(SeparableDecomposition)
			if !ok {
				t.Fatalf("%T is no SeparableDecomposition", d)
			}
			h, w := sep.AxisSingulars()
			sv := d.Singulars()
			if len(sv) != c.in[1]*len(h)*len(w) {
				t.Fatalf("%d singular values, want %d channels of %d×%d", len(sv), c.in[1], len(h), len(w))
			}
			for k, s := range sv {
				i, j := (k%(len(h)*len(w)))/len(w), k%len(w)
				if s != h[i]*w[j] {
					t.Fatalf("singular value %d = %v, want h[%d]·w[%d] = %v", k, s, i, j, h[i]*w[j])
				}
			}
		})
	}
}

// TestInpaintingKeepsNothing checks that a mask says it keeps nothing when
// it hides every pixel, and only then.
func TestInpaintingKeepsNothing(t *testing.T) {
	for _, c := range []struct {
		name string
		mask []float32
		want bool
	}{
		{"every pixel hidden", []float32{0, 0, 0, 0}, true},
		{"one pixel observed", []float32{0, 0, 1, 0}, false},
		{"every pixel observed", []float32{1, 1, 1, 1}, false},
	} {
		p, err := NewInpainting(c.mask, 2, 2)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.KeepsNothing(); got != c.want {
			t.Errorf("%s: KeepsNothing() = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestNewBlockSVDChecks checks that NewBlockSVD refuses a basis that is not
// orthogonal and factors out of range, naming the problem, and takes an
// orthogonal basis.
func TestNewBlockSVDChecks(t *testing.T) {
	in := []int{1, 1, 4, 4}
	identity := func() []float64 {
		v := make([]float64, 16)
		for i := range 4 {
			v[i*4+i] = 1
		}
		return v
	}
	sheared := identity()
	sheared[1] = 0.5 // column 1 leans on column 0
	scaled := identity()
	scaled[0] = 2
	withNaN := identity()
	withNaN[5] = math.NaN()
	cases := []struct {
		name string
		v    []float64
		u, s float64
		want string // "" to accept
	}{
		{"identity basis", identity(), 1, 0.5, ""},
		{"negated u", identity(), -1, 0.5, ""},
		{"sheared basis", sheared, 1, 0.5, "basis v is not orthogonal: (VᵀV)[0][1]"},
		{"scaled column", scaled, 1, 0.5, "basis v is not orthogonal: (VᵀV)[0][0]"},
		{"NaN in the basis", withNaN, 1, 0.5, "basis v is not orthogonal"},
		{"zero s", identity(), 1, 0, "singular value s must be positive and finite, got 0"},
		{"infinite s", identity(), 1, math.Inf(1), "singular value s must be positive and finite, got +Inf"},
		{"u not ±1", identity(), 0.5, 0.5, "left factor u must be ±1, got 0.5"},
		{"NaN u", identity(), math.NaN(), 0.5, "left factor u must be ±1, got NaN"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewBlockSVD(2, in, c.v, c.u, c.s)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("NewBlockSVD = %v, want nil", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("NewBlockSVD = %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// TestBlockAverageSVDChecks checks that BlockAverageSVD refuses a factor
// that is not positive or does not divide the image with an error naming
// it, before it builds the f²×f² basis (a factor of 0 panicked, and a large
// one allocated f⁴ values first), and that a factor of 1 gives the identity
// with singular value 1 (its Householder reflection is 0/0).
func TestBlockAverageSVDChecks(t *testing.T) {
	cases := []struct {
		name string
		f    int
		in   []int
		want string // "" to accept
	}{
		{"factor 2", 2, []int{1, 1, 4, 4}, ""},
		{"factor 1", 1, []int{1, 2, 3, 5}, ""},
		{"factor 0", 0, []int{1, 1, 4, 4}, "factor 0 does not divide the image 4x4"},
		{"negative factor", -2, []int{1, 1, 4, 4}, "factor -2 does not divide the image 4x4"},
		{"factor larger than the image", 1 << 12, []int{1, 1, 4, 4}, "factor 4096 does not divide the image 4x4"},
		{"not NCHW", 2, []int{4, 4}, "not NCHW"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b *BlockSVD
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("panicked: %v", p)
					}
				}()
				b, err = BlockAverageSVD(c.f, c.in)
			}()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("BlockAverageSVD = %v, want nil", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("BlockAverageSVD = %v, want an error containing %q", err, c.want)
			case c.want != "":
				return
			}
			want := 1 / float64(c.f)
			for i, s := range b.Singulars() {
				if s != want {
					t.Fatalf("singular value %d = %v, want %v", i, s, want)
				}
			}
		})
	}
}

// TestNewMaskSVDValues checks that NewMaskSVD takes a mask of 0s and 1s
// and refuses any other value, naming it, as NewInpainting does: a soft or
// NaN value was taken for an observed pixel, a decomposition of another
// operator than the mask's.
func TestNewMaskSVDValues(t *testing.T) {
	in := []int{1, 2, 2, 2}
	for _, c := range []struct {
		name string
		mask []float32
		kept int    // observed pixels
		want string // error substring; "" to accept
	}{
		{"binary", []float32{1, 0, 1, 1}, 3, ""},
		{"all missing", []float32{0, 0, 0, 0}, 0, ""},
		{"soft value", []float32{1, 0.5, 1, 1}, 0, "mask svd: mask value 1 is 0.5, want 0 (missing) or 1 (observed)"},
		{"NaN", []float32{1, 1, float32(math.NaN()), 1}, 0, "mask value 2 is NaN"},
		{"negative", []float32{-1, 1, 1, 1}, 0, "mask value 0 is -1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, err := NewMaskSVD(c.mask, in)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("NewMaskSVD = %v, want nil", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("NewMaskSVD = %v, want an error containing %q", err, c.want)
			case c.want != "":
				return
			}
			if got, want := len(d.Singulars()), c.kept*in[1]; got != want {
				t.Errorf("%d singular values, want %d (%d observed pixels × %d channels)", got, want, c.kept, in[1])
			}
		})
	}
}

// TestAdjointSVDDimension checks that AdjointSVD refuses an input
// dimension other than the D = C·H·W its decomposition maps from (below
// the m singular values, between m and D, above D), naming it, also for a
// decomposition that does not say its D (the package's, wrapped), whose V
// refuses a spectral vector of another width than D.
func TestAdjointSVDDimension(t *testing.T) {
	b := newBackend(t)
	in := []int{1, 1, 8, 8} // D = 64
	mask := make([]float32, 64)
	for p := range 16 {
		mask[4*p] = 1 // m = 16 observed pixels
	}
	inp, err := NewInpainting(mask, 8, 8)
	if err != nil {
		t.Fatal(err)
	}
	sr, _ := NewSuperResolution(2, "")
	block, err := BlockAverageSVD(2, in)
	if err != nil {
		t.Fatal(err)
	}
	decomposition := func(op Operator) Decomposition {
		d, err := op.(Decomposer).SVD(in)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for _, c := range []struct {
		name string
		d    Decomposition
		dim  int
		want string // substring of the error; "" runs
	}{
		{"mask, D", decomposition(inp), 64, ""},
		{"mask, m", decomposition(inp), 16, "AdjointSVD for inputs of dimension 16, but the decomposition's are of dimension D = C·H·W = 64"},
		{"mask, between", decomposition(inp), 32, "AdjointSVD for inputs of dimension 32"},
		{"mask, above D", decomposition(inp), 65, "AdjointSVD for inputs of dimension 65"},
		{"mask, below m", decomposition(inp), 15, "AdjointSVD for inputs of dimension 15"},
		{"mask, hidden, D", struct{ Decomposition }{decomposition(inp)}, 64, ""},
		{"mask, hidden, m", struct{ Decomposition }{decomposition(inp)}, 16, "MaskSVD.V takes spectral vectors [N,64], got (Float32)[1 16]"},
		{"mask, hidden, below m", struct{ Decomposition }{decomposition(inp)}, 15, "has 16 singular values"},
		{"separable, D", decomposition(sr), 64, ""},
		{"separable, m", decomposition(sr), 16, "AdjointSVD for inputs of dimension 16"},
		{"separable, above D", decomposition(sr), 80, "AdjointSVD for inputs of dimension 80"},
		{"separable, hidden, above D", struct{ Decomposition }{decomposition(sr)}, 80, "SeparableSVD.V takes spectral vectors [N,64]"},
		{"block, D", block, 64, ""},
		{"block, m", block, 16, "AdjointSVD for inputs of dimension 16"},
	} {
		t.Run(c.name, func(t *testing.T) {
			yDims := []int{1, 1, 4, 4}
			if strings.HasPrefix(c.name, "mask") {
				yDims = in
			}
			exec := graph.MustNewExec(b, func(y *graph.Node) *graph.Node { return AdjointSVD(c.d, y, c.dim) })
			_, err := exec.Exec(tensors.FromFlatDataAndDimensions(randomVector(1, num.Prod(yDims)), yDims...))
			switch {
			case c.want == "" && err != nil:
				t.Fatal(err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("AdjointSVD(d, y, %d): error %v, want %q", c.dim, err, c.want)
			}
		})
	}
}

// TestNewSVDOperatorShape checks that NewSVDOperator refuses an input
// shape of another size than its decomposition's spectral vectors.
func TestNewSVDOperatorShape(t *testing.T) {
	d, err := BlockAverageSVD(2, []int{1, 1, 8, 8})
	if err != nil {
		t.Fatal(err)
	}
	dense, err := NewDenseSVD([][]float64{{1, 0, 0, 0}, {0, 1, 0, 0}}, []int{1, 1, 2, 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		d       Decomposition
		in, out []int
		want    string
	}{
		{d, []int{1, 1, 8, 8}, []int{1, 1, 4, 4}, ""},
		{d, []int{1, 1, 4, 4}, []int{1, 1, 4, 4}, "has 16 values per image, but the decomposition's spectral vectors have 64"},
		{d, []int{1, 1, 8, 8}, []int{1, 20}, "output shape [1 20] has 20 values per image, but the decomposition's measurements have 16"},
		{dense, []int{1, 1, 2, 2}, []int{1, 2}, ""},
		{dense, []int{1, 1, 2, 2}, []int{1, 3}, "measurements have 2"},
	} {
		_, err := NewSVDOperator("svd", c.d, c.in, c.out)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("NewSVDOperator for %v → %v: error %v, want %q", c.in, c.out, err, c.want)
		}
	}
}
