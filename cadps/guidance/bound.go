package guidance

// BoundOperatorTaker is implemented by methods whose steps may be given,
// in Step.Op, the bound form of an ops.Parametrized operator (one whose
// data, a mask or a kernel, are inputs of the step's graph), so that one
// compiled step serves every operator of the same key. Such a method reads
// the operator only through ops.Operator and the interfaces the bound
// form implements (its adjoint, pseudo-inverse, Gram diagonal, kind,
// motion; for an inpainting also its proximal step and SVD, built in the
// graph), never through its concrete type or what is computed from its
// data on the host: CheckOperator refuses a bound form that lacks what
// the method needs. The toolkit's methods take bound operators; a method
// of one's own is given the operator itself unless it says it takes them.
type BoundOperatorTaker interface {
	// TakesBoundOperator reports whether the method's steps take a bound
	// operator.
	TakesBoundOperator() bool
}

// TakesBoundOperator reports whether m implements [BoundOperatorTaker] and
// says it takes bound operators.
func TakesBoundOperator(m Method) bool {
	b, ok := m.(BoundOperatorTaker)
	return ok && b.TakesBoundOperator()
}

// TakesBoundOperator implements [BoundOperatorTaker].
func (DPS) TakesBoundOperator() bool { return true }

// TakesBoundOperator implements [BoundOperatorTaker].
func (CADPS) TakesBoundOperator() bool { return true }

// TakesBoundOperator implements [BoundOperatorTaker].
func (CADPSGauss) TakesBoundOperator() bool { return true }

// TakesBoundOperator implements [BoundOperatorTaker].
func (PiGDM) TakesBoundOperator() bool { return true }

// TakesBoundOperator implements [BoundOperatorTaker].
func (TMPD) TakesBoundOperator() bool { return true }

// TakesBoundOperator implements [BoundOperatorTaker].
func (MMPS) TakesBoundOperator() bool { return true }

// TakesBoundOperator implements [BoundOperatorTaker].
func (MCG) TakesBoundOperator() bool { return true }

// TakesBoundOperator implements [BoundOperatorTaker].
func (Projection) TakesBoundOperator() bool { return true }

// TakesBoundOperator implements [BoundOperatorTaker].
func (DAPS) TakesBoundOperator() bool { return true }

// TakesBoundOperator implements [BoundOperatorTaker]: DDRM reads the
// operator's SVD, which a bound inpainting builds in the graph
// (ops.GraphDecomposer); a bound blur has none, so DDRM gets the blur
// itself (see CheckOperator).
func (DDRM) TakesBoundOperator() bool { return true }

// TakesBoundOperator implements [BoundOperatorTaker]: DiffPIR reads the
// operator's proximal step, which a bound inpainting gives (a bound blur
// has none, as a blur whose kernel is not separable).
func (DiffPIR) TakesBoundOperator() bool { return true }
