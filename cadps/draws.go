package cadps

import (
	"errors"
	"fmt"
	"slices"

	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/internal/num"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// drawShapes returns the shapes of one step's draws for images shaped x
// and measurements shaped y (y is [1] without a measurement).
func (s *Sampler) drawShapes(x, y []int) [][]int {
	return guidance.DrawShapes(s.p.Method, x, y)
}

// DrawShapes returns the shapes of the standard normal draws one step of
// the sampler's method consumes, in order, for images shaped x: an
// image-shaped z and a measurement-shaped zy, unless the method declares
// its own (guidance.Drawer). An x that is not the shape of a batch of
// images, [N,C,...] with every dimension positive, is an error naming it.
func (s *Sampler) DrawShapes(x []int) ([][]int, error) {
	if err := checkImageShape(x); err != nil {
		return nil, fmt.Errorf("cadps: draw shapes: %w", err)
	}
	y, err := s.measurementShape(x)
	if err != nil {
		return nil, fmt.Errorf("cadps: %w", err)
	}
	return s.drawShapes(x, y), nil
}

// measurementShape returns the shape of the measurement y for images
// shaped x: the operator's output shape or, without an operator, [1] (the
// placeholder the step graph takes instead).
func (s *Sampler) measurementShape(x []int) ([]int, error) {
	if s.p.Op == nil {
		return []int{1}, nil
	}
	y, err := s.p.Op.OutputShape(x)
	if err != nil {
		return nil, fmt.Errorf("operator %s: %w", s.p.Op.Name(), err)
	}
	return y, nil
}

// checkMeasurementShape returns an error naming both shapes unless y is
// shaped as the operator maps images shaped x (nil without an operator).
func (s *Sampler) checkMeasurementShape(x []int, y *tensors.Tensor) error {
	if s.p.Op == nil {
		return nil
	}
	want, err := s.measurementShape(x)
	if err != nil {
		return err
	}
	if got := y.Shape().Dimensions; !slices.Equal(got, want) {
		return fmt.Errorf("measurement shape %v, but %s maps images %v to %v", got, s.p.Op.Name(), x, want)
	}
	return nil
}

// checkImageShape returns an error unless dims is the shape of a batch of
// images, [N,C,...] with every dimension positive.
func checkImageShape(dims []int) error {
	if len(dims) < 2 {
		return fmt.Errorf("image shape %v, want [N,C,...]", dims)
	}
	for k, d := range dims {
		if d <= 0 {
			return fmt.Errorf("image shape %v has dimension %d = %d, want it positive", dims, k, d)
		}
	}
	return nil
}

// normal asks noise for a standard normal draw of the given kind at index
// i shaped dims; a source that returns another number of values than asked
// for is an error naming both.
func normal(noise NoiseSource, kind NoiseKind, i int, dims []int) ([]float32, error) {
	n := num.Prod(dims)
	v, err := noise.Normal(kind, i, n)
	if err != nil {
		return nil, err
	}
	if len(v) != n {
		return nil, fmt.Errorf("noise source %T gave %d values of kind %v at index %d, want %d for shape %v", noise, len(v), kind, i, n, dims)
	}
	return v, nil
}

// hostDraws asks noise for one step's draws at index i: z (NoiseSample)
// and zy (NoiseMeasurement), or, for methods with their own draws, all of
// them as one NoiseDraws vector split in order.
func (s *Sampler) hostDraws(noise NoiseSource, i int, shape, yShape []int) ([]*tensors.Tensor, error) {
	if _, ok := s.p.Method.(guidance.Drawer); !ok {
		z, err := normal(noise, NoiseSample, i, shape)
		if err != nil {
			return nil, fmt.Errorf("cadps: noise at index %d: %w", i, err)
		}
		zy, err := normal(noise, NoiseMeasurement, i, yShape)
		if err != nil {
			return nil, fmt.Errorf("cadps: noise at index %d: %w", i, err)
		}
		return []*tensors.Tensor{tensors.FromFlatDataAndDimensions(z, shape...), tensors.FromFlatDataAndDimensions(zy, yShape...)}, nil
	}
	dims := s.drawShapes(shape, yShape)
	total := 0
	for _, d := range dims {
		total += num.Prod(d)
	}
	v, err := normal(noise, NoiseDraws, i, []int{total})
	if err != nil {
		return nil, fmt.Errorf("cadps: noise at index %d: %w", i, err)
	}
	out := make([]*tensors.Tensor, len(dims))
	for j, d := range dims {
		n := num.Prod(d)
		out[j] = tensors.FromFlatDataAndDimensions(slices.Clone(v[:n]), d...)
		v = v[n:]
	}
	return out, nil
}

// start is the graph of the method's initial state (guidance.Starter) from
// the initial draw, y and the operator's data when they are inputs (see
// opInputs).
func (s *Sampler) start(ctx *context.Context, in []*graph.Node) *graph.Node {
	noise, y := in[0], in[1]
	st := s.stepOf(ctx, noise, graph.Const(noise.Graph(), int32(s.p.Process.NumSteps()-1)), y, in[2:])
	return s.p.Method.(guidance.Starter).Start(st)
}

// Start returns the initial state x_T of a run whose initial standard
// normal draw is noise (shaped like the image) and whose measurement is y:
// the draw itself, unless the method builds its own start
// (guidance.Starter: DDRM's spectral initialisation, DiffPIR's noised
// upsampled measurement, DAPS's σ_max·z). Run calls it when it draws x_T.
// Both are float32; another dtype is an error naming it, and for a method
// that builds its own start so is a y of another shape than the operator
// gives for noise's.
func (s *Sampler) Start(noise, y *tensors.Tensor) (*tensors.Tensor, error) {
	if noise == nil {
		return nil, errors.New("cadps: Start without the initial draw: give a standard normal draw shaped like the image")
	}
	if err := checkFloat32("the initial draw", noise); err != nil {
		return nil, fmt.Errorf("cadps: %w", err)
	}
	if s.startExec == nil {
		return noise, nil
	}
	if s.p.Op == nil || y == nil {
		return nil, fmt.Errorf("cadps: method %q starts from the measurement, which is missing", s.p.Method.Name())
	}
	if err := checkFloat32("the measurement y", y); err != nil {
		return nil, fmt.Errorf("cadps: %s start: %w", s.p.Method.Name(), err)
	}
	if err := checkImageShape(noise.Shape().Dimensions); err != nil {
		return nil, fmt.Errorf("cadps: %s start: %w", s.p.Method.Name(), err)
	}
	if err := s.checkMeasurementShape(noise.Shape().Dimensions, y); err != nil {
		return nil, fmt.Errorf("cadps: %s start: %w", s.p.Method.Name(), err)
	}
	out, err := s.startExec.Exec(append([]any{noise, y}, s.opInputs()...)...)
	if err != nil {
		return nil, fmt.Errorf("cadps: %s start: %w", s.p.Method.Name(), err)
	}
	return out[0], nil
}
