package guidance

import "github.com/cadps/toolkit/ops"

// Scaler is implemented by methods whose default step size ζ for a task is
// not DPS's.
type Scaler interface {
	// DefaultScale returns the method's ζ for the task (the operator's name,
	// as [ops.Operator.Name] spells it).
	DefaultScale(task string) float64
}

// DefaultScale returns the step size ζ that method m uses for the task
// named task (an operator name or an alias that [ops.Parse] accepts): m's
// own value when it implements [Scaler], else DPS's: the step sizes of the
// DPS reference configurations, 0.3 for super-resolution and the blurs, 0.5
// for inpainting, 1.0 for phase retrieval (0 for other tasks). The
// methods that move x̂0 by the exact Gaussian-likelihood gradient
// (cadps-gauss, pigdm, tmpd, mmps) take ζ = 1, their natural strength; DDRM,
// DiffPIR and DAPS have no step size of DPS's kind and take 1 (see
// docs/methods.md).
func DefaultScale(m Method, task string) float64 {
	task = taskName(task)
	if s, ok := m.(Scaler); ok {
		return s.DefaultScale(task)
	}
	return dpsScale(task)
}

// dpsScale returns the step size ζ of the DPS reference configurations for
// the task (an operator name), or 0 for a task they do not cover.
func dpsScale(task string) float64 {
	switch task {
	case "super_resolution", "gaussian_blur", "motion_blur":
		return 0.3
	case "inpainting":
		return 0.5
	case "phase_retrieval":
		return 1.0
	}
	return 0
}

// taskName returns the operator name of a task name or alias, or name
// itself when ops knows neither.
func taskName(name string) string {
	for _, t := range ops.Tasks() {
		if t.Name == name {
			return name
		}
		for _, a := range t.Aliases {
			if a == name {
				return t.Name
			}
		}
	}
	return name
}
