package guidance

// Unconditional samples the prior alone, ignoring the measurement:
//
//	x_{t-1} = x'_{t-1}
//
// (the ancestral or DDIM sample). It still reports ‖y − A(x̂0)‖ when a
// measurement is given, for comparison.
//
// Cost per step: one network forward, no gradient.
type Unconditional struct{}

// Name implements Method.
func (Unconditional) Name() string { return "unconditional" }

// UsesMeasurement implements MeasurementUser: the prior alone steers.
func (Unconditional) UsesMeasurement() bool { return false }

// Step implements Method.
func (Unconditional) Step(s *Step) Result {
	mv := s.Denoise(s.X, s.I)
	r := Result{Next: s.Prior(mv), PredXStart: mv.PredXStart}
	if s.Op != nil && s.Y != nil {
		r.Residual = s.ResidualNorm(mv.PredXStart)
	}
	return r
}
