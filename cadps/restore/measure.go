package restore

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"

	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// seedIndependent builds the task's operator for seed 1 and returns it as
// op, and also as fixed when the operator does not depend on the seed, so
// that one compiled sampler serves every image. An operator of one's own
// (Task.Build) is fixed when its task says so (Task.Fixed); a spec's or
// config's when it gives the same A(x) on a probe image for the seeds 1, 2
// and 3 (its random parts, masks and kernels, are drawn from wide ranges:
// three seeds that agree mean none is drawn). fixed is nil for an operator
// with random parts. Errors are the task's.
func seedIndependent(b backends.Backend, task Task, shape []int) (op, fixed ops.Operator, err error) {
	a, err := task.Operator(shape, 1)
	if err != nil {
		return nil, nil, err
	}
	ya, err := signature(b, a, shape)
	switch {
	case err != nil:
		return nil, nil, err
	case task.Build != nil && task.Fixed:
		return a, a, nil
	case task.Build != nil:
		return a, nil, nil
	}
	for _, seed := range []uint64{2, 3} {
		c, err := task.Operator(shape, seed)
		if err != nil {
			return nil, nil, err
		}
		yc, err := signature(b, c, shape)
		if err != nil {
			return nil, nil, err
		}
		if !slices.Equal(ya, yc) {
			return a, nil, nil
		}
	}
	return a, a, nil
}

// signature returns A(probe) for a fixed random probe batch of the NCHW
// shape (see seedIndependent). Building it also checks that the operator
// applies to the shape.
func signature(b backends.Backend, op ops.Operator, shape []int) ([]float32, error) {
	probe := make([]float32, shape[0]*shape[1]*shape[2]*shape[3])
	rng := rand.New(rand.NewPCG(1, 2))
	for k := range probe {
		probe[k] = float32(2*rng.Float64() - 1)
	}
	y, _, err := applyOperator(b, op, probe, shape)
	return y, err
}

// describeOperator returns an operator's spec-like description.
func describeOperator(op ops.Operator) string {
	if s, ok := op.(fmt.Stringer); ok {
		return s.String()
	}
	return op.Name()
}

// applyOperator computes A(x) on the backend, through a graph compiled for
// this call.
func applyOperator(b backends.Backend, op ops.Operator, x []float32, shape []int) ([]float32, []int, error) {
	exec, err := graph.NewExec(b, func(x *graph.Node) *graph.Node { return op.Apply(x) })
	if err != nil {
		return nil, nil, fmt.Errorf("restore: operator %s: %w", op.Name(), err)
	}
	defer exec.Finalize()
	return runOperator(exec, op, x, shape)
}

// runOperator runs exec, the graph of A(x) for op followed by the
// operator's data when they are inputs (args), on the images x shaped
// shape, and checks what it gives: the shape OutputShape says, the batch
// axis first, float32 values.
func runOperator(exec *graph.Exec, op ops.Operator, x []float32, shape []int, args ...any) ([]float32, []int, error) {
	yShape, err := op.OutputShape(shape)
	if err != nil {
		return nil, nil, fmt.Errorf("restore: operator %s: %w", op.Name(), err)
	}
	out, err := exec.Exec1(append([]any{tensors.FromFlatDataAndDimensions(x, shape...)}, args...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("restore: applying %s: %w", op.Name(), err)
	}
	switch got := out.Shape(); {
	case !slices.Equal(got.Dimensions, yShape):
		return nil, nil, fmt.Errorf("restore: operator %s gave shape %v, its OutputShape says %v", op.Name(), got.Dimensions, yShape)
	case len(yShape) == 0 || yShape[0] != shape[0]:
		return nil, nil, fmt.Errorf("restore: operator %s gives shape %v for a batch of %d images: a measurement keeps the batch axis first", op.Name(), yShape, shape[0])
	case got.DType != dtypes.Float32:
		return nil, nil, fmt.Errorf("restore: operator %s gives %s values for float32 images: a measurement is float32", op.Name(), got.DType)
	}
	return tensors.MustCopyFlatData[float32](out), yShape, nil
}

// applier computes A(x) for a restorer's operators through graphs it
// keeps: one for each type and key of operators whose data are graph
// inputs (ops.Parametrized), so that every batch's mask or kernel runs
// through one compiled graph, and one for each batch shape of a
// seed-independent task, whose operator depends on that shape alone. Any
// other operator's graph is compiled for each call.
type applier struct {
	b      backends.Backend
	bound  map[applierKey]*graph.Exec
	shaped map[string]*graph.Exec // by the batch shape (fmt.Sprint)
}

// applierKey names the operators one bound graph serves.
type applierKey struct {
	t   reflect.Type
	key string
}

// apply computes A(x) for op; shaped says that op is the restorer's
// seed-independent task's operator for images of the shape, the same for
// every batch of that shape.
func (a *applier) apply(op ops.Operator, shaped bool, x []float32, shape []int) ([]float32, []int, error) {
	if pz, ok := op.(ops.Parametrized); ok {
		if key, data, ok := pz.Parameters(); ok {
			k := applierKey{reflect.TypeOf(op), key}
			exec := a.bound[k]
			if exec == nil {
				var err error
				if exec, err = graph.NewExec(a.b, func(in []*graph.Node) *graph.Node { return pz.Bind(in[1:]).Apply(in[0]) }); err != nil {
					return nil, nil, fmt.Errorf("restore: operator %s: %w", op.Name(), err)
				}
				if a.bound == nil {
					a.bound = map[applierKey]*graph.Exec{}
				}
				a.bound[k] = exec
			}
			args := make([]any, len(data))
			for i, d := range data {
				args[i] = d
			}
			return runOperator(exec, op, x, shape, args...)
		}
	}
	if !shaped {
		return applyOperator(a.b, op, x, shape)
	}
	k := fmt.Sprint(shape)
	exec := a.shaped[k]
	if exec == nil {
		var err error
		if exec, err = graph.NewExec(a.b, func(x *graph.Node) *graph.Node { return op.Apply(x) }); err != nil {
			return nil, nil, fmt.Errorf("restore: operator %s: %w", op.Name(), err)
		}
		if a.shaped == nil {
			a.shaped = map[string]*graph.Exec{}
		}
		a.shaped[k] = exec
	}
	return runOperator(exec, op, x, shape)
}

// finalize releases the graphs a keeps.
func (a *applier) finalize() {
	for _, e := range a.shaped {
		e.Finalize()
	}
	for _, e := range a.bound {
		e.Finalize()
	}
	a.shaped, a.bound = nil, nil
}

// measurementImage renders y for viewing: image-shaped measurements as
// images, phase retrieval's magnitudes (or any measurement with other
// channels than the image) as log(1+|y|) scaled to [0,1] per channel.
func measurementImage(op ops.Operator, y []float32, shape []int, channels int) (*imageio.Image, string) {
	if len(shape) != 4 || shape[0] != 1 || (shape[1] != 1 && shape[1] != 3) {
		return nil, ""
	}
	if ops.MeasuresImage(op) && shape[1] == channels {
		ims, err := imageio.FromNCHW(y, shape...)
		if err != nil {
			return nil, ""
		}
		return ims[0].Clamp(), "image"
	}
	im, err := imageio.New(shape[1], shape[2], shape[3])
	if err != nil {
		return nil, ""
	}
	n := shape[2] * shape[3]
	for c := range shape[1] {
		plane := y[c*n : (c+1)*n]
		var hi float64
		for _, v := range plane {
			hi = max(hi, math.Log1p(math.Abs(float64(v))))
		}
		dst := im.Plane(c)
		for k, v := range plane {
			if hi > 0 {
				dst[k] = float32(math.Log1p(math.Abs(float64(v))) / hi)
			}
		}
	}
	return im, "log-magnitude"
}
