package guidance

import "github.com/cadps/toolkit/ops"

// Scaler is implemented by methods whose default step size ζ for a kind of
// task is not DPS's. A DefaultScale of 0 means that the method has no
// default for that kind: restore.New then asks the caller for ζ
// (Options.Scale) instead of running with ζ = 0.
type Scaler interface {
	// DefaultScale returns the method's ζ for tasks of kind k, or 0 when it
	// has no default for k (the caller must choose ζ).
	DefaultScale(k ops.Kind) float64
}

// DefaultScale returns the step size ζ that method m uses for an operator
// of kind k ([ops.KindOf] of the operator, or [ops.TaskKind] of a task
// name): m's own value when it implements [Scaler], else DPS's: the step
// sizes of the DPS reference configurations, 0.3 for super-resolution and
// the blurs, 0.5 for inpainting, 1.0 for phase retrieval (0 for any other
// kind, for which a caller must choose ζ). A result of 0, from DPS's
// values or a [Scaler], means "no default for this kind": restore.New then
// refuses to run without the caller's ζ (Options.Scale). The methods that
// move x̂0 by the exact Gaussian-likelihood gradient (cadps-gauss, pigdm,
// tmpd, mmps) take ζ = 1, their natural strength; DDRM, DiffPIR and DAPS
// have no step size of DPS's kind and take 1 (see docs/methods.md).
func DefaultScale(m Method, k ops.Kind) float64 {
	if s, ok := m.(Scaler); ok {
		return s.DefaultScale(k)
	}
	return dpsScale(k)
}

// dpsScale returns the step size ζ of the DPS reference configurations for
// tasks of kind k, or 0 for a kind they do not cover.
func dpsScale(k ops.Kind) float64 {
	switch k {
	case ops.KindSuperResolution, ops.KindBlur:
		return 0.3
	case ops.KindInpainting:
		return 0.5
	case ops.KindPhaseRetrieval:
		return 1.0
	}
	return 0
}
