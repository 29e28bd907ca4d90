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
	return guidance.StepDraws(s.p.Method, x, y)
}

// DrawShapes returns the shapes of the standard normal draws one step of
// the sampler's method consumes, in order, for images shaped x: an
// image-shaped z and a measurement-shaped zy, unless the method declares
// its own (guidance.Drawer).
func (s *Sampler) DrawShapes(x []int) ([][]int, error) {
	y := []int{1}
	if s.p.Op != nil {
		var err error
		if y, err = s.p.Op.OutputShape(x); err != nil {
			return nil, fmt.Errorf("cadps: operator %s: %w", s.p.Op.Name(), err)
		}
	}
	return s.drawShapes(x, y), nil
}

// hostDraws asks noise for one step's draws at index i: z (NoiseSample)
// and zy (NoiseMeasurement), or, for methods with their own draws, all of
// them as one NoiseDraws vector split in order.
func (s *Sampler) hostDraws(noise NoiseSource, i int, shape, yShape []int) ([]*tensors.Tensor, error) {
	if _, ok := s.p.Method.(guidance.Drawer); !ok {
		z, err := noise.Normal(NoiseSample, i, num.Prod(shape))
		if err != nil {
			return nil, fmt.Errorf("cadps: noise at index %d: %w", i, err)
		}
		zy, err := noise.Normal(NoiseMeasurement, i, num.Prod(yShape))
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
	v, err := noise.Normal(NoiseDraws, i, total)
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
// the initial draw and y.
func (s *Sampler) start(ctx *context.Context, noise, y *graph.Node) *graph.Node {
	st := s.stepOf(ctx, noise, graph.Const(noise.Graph(), int32(s.p.Process.NumSteps()-1)), y)
	return s.p.Method.(guidance.Starter).Start(st)
}

// Start returns the initial state x_T of a run whose initial standard
// normal draw is noise (shaped like the image) and whose measurement is y:
// the draw itself, unless the method builds its own start
// (guidance.Starter: DDRM's spectral initialisation, DiffPIR's noised
// upsampled measurement, DAPS's σ_max·z). Run calls it when it draws x_T.
// Both are float32; another dtype is an error naming it.
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
	out, err := s.startExec.Exec(noise, y)
	if err != nil {
		return nil, fmt.Errorf("cadps: %s start: %w", s.p.Method.Name(), err)
	}
	return out[0], nil
}
