package ops

// Kind is the family of degradation an operator models. Methods whose
// released hyper-parameters differ between tasks (DiffPIR's λ, ζ and step
// count, DAPS's Langevin step size) choose them by kind, so that any
// operator of a family, however it is built, gets that family's values.
type Kind string

// The kinds of the tasks [Parse] builds, and KindOther for any other
// operator (a dense matrix, an operator made from a function).
const (
	KindInpainting      Kind = "inpainting"
	KindSuperResolution Kind = "super_resolution"
	KindBlur            Kind = "blur"
	KindPhaseRetrieval  Kind = "phase_retrieval"
	KindOther           Kind = "other"
)

// Kinder is implemented by operators that report the kind of degradation
// they model.
type Kinder interface {
	// Kind returns the operator's kind.
	Kind() Kind
}

// MotionReporter is implemented by blur operators that say whether their
// kernel follows a camera's motion rather than spreading light smoothly (a
// Gaussian). Both are of [KindBlur]; methods whose released settings differ
// between the two (DAPS's Langevin step size) ask for it.
type MotionReporter interface {
	// MotionBlur reports whether the kernel follows a camera's motion.
	MotionBlur() bool
}

// KindOf returns the kind op reports, or KindOther when it reports none.
func KindOf(op Operator) Kind {
	if k, ok := op.(Kinder); ok {
		return k.Kind()
	}
	return KindOther
}

// TaskKind returns the kind of the task that name or alias names (as
// [Parse] accepts them, e.g. "inpaint_box" or "sr"), or KindOther for a
// name it does not know.
func TaskKind(name string) Kind {
	e, _, err := lookupTask(name)
	if err != nil {
		return KindOther
	}
	return e.Kind
}

// Kind implements [Kinder].
func (p *Inpainting) Kind() Kind { return KindInpainting }

// Kind implements [Kinder].
func (s *SuperResolution) Kind() Kind { return KindSuperResolution }

// Kind implements [Kinder]: Gaussian and motion blurs alike.
func (b *Blur) Kind() Kind { return KindBlur }

// MotionBlur implements [MotionReporter]: a blur made by a motion-blur
// constructor ([NewMotionBlur], [NewMotionBlurKernel], [NewMotionBlurFile]),
// whether its kernel was drawn, recorded or read from a file.
func (b *Blur) MotionBlur() bool { return b.motion }

// Kind implements [Kinder].
func (p *PhaseRetrieval) Kind() Kind { return KindPhaseRetrieval }

// Kind implements [Kinder]: super-resolution when it decimates (s > 1), a
// circular blur when it does not (s = 1).
func (d *DecimatedConv) Kind() Kind {
	if d.s == 1 {
		return KindBlur
	}
	return KindSuperResolution
}
