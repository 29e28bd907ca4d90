package guidance

import "github.com/cadps/toolkit/ops"

// StepDefaulter is implemented by methods whose released configurations
// sample over a number of steps of their own rather than over the prior's
// whole schedule.
type StepDefaulter interface {
	// DefaultSteps returns the method's number of sampling steps for an
	// operator of kind k.
	DefaultSteps(k ops.Kind) int
}

// DefaultSteps returns the number of sampling steps method m runs on an
// operator of kind k ([ops.KindOf] of the operator, or [ops.TaskKind] of a
// task name) when the user sets none: m's own count when it implements
// [StepDefaulter] (DDRM 20, DiffPIR 100 or 20 for inpainting, DAPS 200
// annealing stages), else 0, which keeps the prior's own schedule (all 1000
// steps for the shipped priors, as the DPS configurations run).
func DefaultSteps(m Method, k ops.Kind) int {
	if s, ok := m.(StepDefaulter); ok {
		return s.DefaultSteps(k)
	}
	return 0
}

// DefaultSteps implements StepDefaulter: the reference's recommended run,
// `--timesteps 20`.
func (DDRM) DefaultSteps(ops.Kind) int { return 20 }

// DefaultSteps implements StepDefaulter: iter_num of the released configs,
// 20 for inpainting (inpaint.yaml), 100 for super-resolution and deblurring
// (sisr.yaml, deblur.yaml) and any other operator.
func (DiffPIR) DefaultSteps(k ops.Kind) int {
	if k == ops.KindInpainting {
		return 20
	}
	return 100
}

// DefaultSteps implements StepDefaulter: the 200 annealing stages of
// configs/sampler/edm_daps.yaml.
func (DAPS) DefaultSteps(ops.Kind) int { return 200 }
