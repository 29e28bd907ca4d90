// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

// arithKernelsFor returns the vector kernels of op where the CPU has them,
// else the portable loops below.
func arithKernelsFor(op arithOp) *arithKernels {
	if k := float32Arith(op); k != nil {
		return k
	}
	switch op {
	case arithAdd:
		return &arithKernels{vv: addVVGo, vs: addVSGo, sv: addSVGo}
	case arithSub:
		return &arithKernels{vv: subVVGo, vs: subVSGo, sv: subSVGo}
	case arithMul:
		return &arithKernels{vv: mulVVGo, vs: mulVSGo, sv: mulSVGo}
	case arithDiv:
		return &arithKernels{vv: divVVGo, vs: divVSGo, sv: divSVGo}
	}
	return nil
}

// The portable kernels, with the contract of the vector ones: len(a),
// len(b) ≥ len(dst); dst may alias a or b. VV: dst[i] = a[i] op b[i],
// VS: a[i] op s, SV: s op a[i].

func addVVGo(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = a[i] + b[i]
	}
}

func addVSGo(dst, a []float32, s float32) {
	a = a[:len(dst)]
	for i := range dst {
		dst[i] = a[i] + s
	}
}

func addSVGo(dst, a []float32, s float32) {
	a = a[:len(dst)]
	for i := range dst {
		dst[i] = s + a[i]
	}
}

func subVVGo(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = a[i] - b[i]
	}
}

func subVSGo(dst, a []float32, s float32) {
	a = a[:len(dst)]
	for i := range dst {
		dst[i] = a[i] - s
	}
}

func subSVGo(dst, a []float32, s float32) {
	a = a[:len(dst)]
	for i := range dst {
		dst[i] = s - a[i]
	}
}

func mulVVGo(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = a[i] * b[i]
	}
}

func mulVSGo(dst, a []float32, s float32) {
	a = a[:len(dst)]
	for i := range dst {
		dst[i] = a[i] * s
	}
}

func mulSVGo(dst, a []float32, s float32) {
	a = a[:len(dst)]
	for i := range dst {
		dst[i] = s * a[i]
	}
}

func divVVGo(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = a[i] / b[i]
	}
}

func divVSGo(dst, a []float32, s float32) {
	a = a[:len(dst)]
	for i := range dst {
		dst[i] = a[i] / s
	}
}

func divSVGo(dst, a []float32, s float32) {
	a = a[:len(dst)]
	for i := range dst {
		dst[i] = s / a[i]
	}
}
