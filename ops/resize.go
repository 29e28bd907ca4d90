package ops

import (
	"fmt"
	"math"
	"strings"

	"github.com/cadps/toolkit/internal/linalg"
)

// ResizeKernel is an interpolation kernel of the MATLAB-style resizer: its
// function of the distance from a pixel centre and its support width.
type ResizeKernel struct {
	// Name is the kernel's name as specs spell it ("cubic", "lanczos3", ...).
	Name string
	// Width is the support of the kernel in input pixels at scale 1.
	Width float64
	// Eval is the kernel's value at distance x.
	Eval func(x float64) float64
}

// float32Eps is numpy's float32 machine epsilon, which the reference's
// Lanczos kernels add to numerator and denominator.
const float32Eps = 1.0 / (1 << 23)

// resizeKernels returns the kernels of DPS's util/resizer.py.
func resizeKernels() []ResizeKernel {
	return []ResizeKernel{
		{Name: "cubic", Width: 4, Eval: cubicKernel},
		{Name: "lanczos2", Width: 4, Eval: func(x float64) float64 { return lanczosKernel(x, 2) }},
		{Name: "lanczos3", Width: 6, Eval: func(x float64) float64 { return lanczosKernel(x, 3) }},
		{Name: "box", Width: 1, Eval: boxKernel},
		{Name: "linear", Width: 2, Eval: linearKernel},
	}
}

// LookupResizeKernel returns the resize kernel named name: cubic (the
// default, also for "", alias bicubic), lanczos2, lanczos3, box, or linear
// (alias bilinear).
func LookupResizeKernel(name string) (ResizeKernel, error) {
	switch name {
	case "":
		name = "cubic"
	case "bilinear":
		name = "linear"
	case "bicubic":
		name = "cubic"
	}
	kernels := resizeKernels()
	for _, k := range kernels {
		if k.Name == name {
			return k, nil
		}
	}
	names := make([]string, len(kernels))
	for i, k := range kernels {
		names[i] = k.Name
	}
	return ResizeKernel{}, fmt.Errorf("unknown resize kernel %q (known: %s, and the aliases bicubic and bilinear)", name, strings.Join(names, ", "))
}

// cubicKernel is Keys' cubic convolution kernel with a = -0.5, as MATLAB's
// imresize uses it.
func cubicKernel(x float64) float64 {
	ax := math.Abs(x)
	ax2, ax3 := ax*ax, ax*ax*ax
	switch {
	case ax <= 1:
		return 1.5*ax3 - 2.5*ax2 + 1
	case ax <= 2:
		return -0.5*ax3 + 2.5*ax2 - 4*ax + 2
	}
	return 0
}

// lanczosKernel is the Lanczos kernel of order a, with the reference's small
// epsilon that makes its value at 0 equal to 1.
func lanczosKernel(x, a float64) float64 {
	if math.Abs(x) >= a {
		return 0
	}
	num := math.Sin(math.Pi*x)*math.Sin(math.Pi*x/a) + float32Eps
	den := math.Pi*math.Pi*x*x/a + float32Eps
	return num / den
}

func boxKernel(x float64) float64 {
	if -0.5 <= x && x < 0.5 {
		return 1
	}
	return 0
}

func linearKernel(x float64) float64 {
	switch {
	case -1 <= x && x < 0:
		return x + 1
	case 0 <= x && x <= 1:
		return 1 - x
	}
	return 0
}

// ResizeMatrix returns the dense [outLen][inLen] matrix that resizes one
// image axis of length inLen to outLen by the scale factor scale, as DPS's
// util/resizer.py does (after MATLAB's imresize): output pixel o (1-based)
// sits at input coordinate o/scale + (1-1/scale)/2; the kernel is stretched
// by 1/scale when antialias is set and scale < 1; each output's weights are
// normalised to sum 1; taps outside the axis are mirrored back into it
// (…, 1, 0 | 0, 1, …), and taps landing on the same input pixel add up.
func ResizeMatrix(inLen, outLen int, scale float64, kernel ResizeKernel, antialias bool) ([][]float64, error) {
	switch {
	case inLen <= 0 || outLen <= 0:
		return nil, fmt.Errorf("resize: lengths must be positive, got %d -> %d", inLen, outLen)
	case !(scale > 0) || math.IsInf(scale, 0):
		return nil, fmt.Errorf("resize: scale factor must be positive and finite, got %g", scale)
	case kernel.Eval == nil || !(kernel.Width > 0):
		return nil, fmt.Errorf("resize: kernel %q has no function or no positive width", kernel.Name)
	}
	antialias = antialias && scale < 1
	eval, width := kernel.Eval, kernel.Width
	if antialias {
		eval = func(x float64) float64 { return scale * kernel.Eval(scale*x) }
		width *= 1.0 / scale
	}
	taps := int(math.Ceil(width)) + 2
	shift := (float64(outLen) - float64(inLen)*scale) / 2
	period := 2 * inLen
	out := make([][]float64, outLen)
	weights := make([]float64, taps)
	for o := range out {
		row := make([]float64, inLen)
		match := (float64(o+1)-shift)/scale + 0.5*(1-1/scale)
		left := math.Floor(match - width/2)
		var sum float64
		for j := range weights {
			pos := left + float64(j) - 1
			weights[j] = eval(match - pos - 1)
			sum += weights[j]
		}
		if sum == 0 {
			sum = 1
		}
		for j, w := range weights {
			if w == 0 {
				continue
			}
			m := (int(left) + j - 1) % period
			if m < 0 {
				m += period
			}
			if m >= inLen {
				m = period - 1 - m
			}
			row[m] += w / sum
		}
		out[o] = row
	}
	return out, nil
}

// flatten returns m row-major.
func flatten(m [][]float64) []float64 {
	var out []float64
	for _, row := range m {
		out = append(out, row...)
	}
	return out
}

// transpose returns mᵀ.
func transpose(m [][]float64) [][]float64 {
	if len(m) == 0 {
		return nil
	}
	out := make([][]float64, len(m[0]))
	for j := range out {
		out[j] = make([]float64, len(m))
		for i := range m {
			out[j][i] = m[i][j]
		}
	}
	return out
}

// pseudoInverse returns the Moore–Penrose pseudo-inverse Aᵀ(AAᵀ)⁻¹ of a
// wide matrix A of full row rank, by a Cholesky factorisation of AAᵀ.
func pseudoInverse(a [][]float64) ([][]float64, error) {
	r := len(a)
	gram := make([]float64, r*r)
	for i := range r {
		for j := 0; j <= i; j++ {
			var s float64
			for k := range a[i] {
				s += a[i][k] * a[j][k]
			}
			gram[i*r+j], gram[j*r+i] = s, s
		}
	}
	l, err := linalg.Cholesky(gram, r)
	if err != nil {
		return nil, err
	}
	// Solve (LLᵀ) Z = A for Z = (AAᵀ)⁻¹A, column by column of A; then A⁺ = Zᵀ.
	cols := len(a[0])
	z := make([][]float64, r)
	for i := range z {
		z[i] = make([]float64, cols)
	}
	col := make([]float64, r)
	for c := range cols {
		for i := range r {
			col[i] = a[i][c]
		}
		linalg.CholSolve(l, r, col)
		for i := range r {
			z[i][c] = col[i]
		}
	}
	return transpose(z), nil
}
