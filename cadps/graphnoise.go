package cadps

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// GraphNoiseSource is a NoiseSource whose per-step draws a Sampler makes
// inside its step graph, from a random number generator state that the
// graph takes as an input and returns advanced, instead of asking Normal for
// them on the host at every step. [Sampler.Run] recognises it and runs its
// in-graph step variant; Normal is then asked only for x_T (NoiseInit), and
// only when Run is not given x_T.
type GraphNoiseSource interface {
	NoiseSource
	// RNGState returns the state of the graph's generator that a run starts
	// from, shaped graph.RNGStateShape.
	RNGState() (*tensors.Tensor, error)
}

// ErrGraphNoise is wrapped by the error a graph noise source returns when
// asked on the host for a draw that a Sampler makes inside its step graph.
var ErrGraphNoise = errors.New("the draw is made inside the step graph")

// GraphNoise is the noise source of fast runs: the ancestral sample's z and
// the measurement draw zy of every step are drawn inside the step graph by
// GoMLX's random bit generator, seeded explicitly, so that the state x_t, the
// generator's state, the step index and y stay on the device for the whole
// run.
//
// What a run with graph noise transfers at each step: nothing from the host
// to the device (x_t, the generator state and the step index are the
// previous step's outputs, y and the weights were uploaded once); from the
// device to the host only the step's NaN/Inf detector (one float32), and,
// when a callback is given, the residual norms (one float32 per image) and
// whatever the callback reads itself (StepInfo.X, PredXStart and Extra are
// device tensors, copied only when read). x_0 is returned as a device
// tensor. The host noise path (SeededNoise, RecordedNoise) uploads z and zy,
// shaped like x and y, at every step and draws them on the host first.
//
// The same seed gives the same draws on the same backend: GraphNoise holds
// no state between runs, so every run with it repeats the first (use another
// seed for another sample). The runs themselves are bit for bit the same on
// the pure-Go backend; on a GPU, XLA's kernels may sum in another order from
// run to run unless XLA_FLAGS has --xla_gpu_deterministic_ops=true (without
// it, two runs on an H200 ended 3e-3 to 5e-3 apart after four guided steps). The stream depends on the backend's generator
// (PCG on the pure-Go backend, XLA's on XLA), so a seed's samples differ
// between backends, and from SeededNoise's with that seed. x_T, when Run
// draws it, comes from the host (a PCG stream of the seed, see Normal): one
// upload per run.
type GraphNoise struct {
	seed uint64
}

// NewGraphNoise returns the in-graph noise source of the given seed.
func NewGraphNoise(seed uint64) *GraphNoise { return &GraphNoise{seed: seed} }

// Seed returns the seed.
func (g *GraphNoise) Seed() uint64 { return g.seed }

// RNGState implements GraphNoiseSource: the generator state derived from the
// seed by GoMLX's graph.RNGStateFromSeed, which seeds math/rand's source and
// so keeps only the seed modulo 2³¹−1 (0 and 89482311 give the same state):
// seeds equal in that sense share every per-step draw, while x_T (Normal)
// still differs.
func (g *GraphNoise) RNGState() (*tensors.Tensor, error) {
	s, err := graph.RNGStateFromSeed(int64(g.seed))
	if err != nil {
		return nil, fmt.Errorf("cadps: graph noise state of seed %d: %w", g.seed, err)
	}
	return s, nil
}

// Normal implements NoiseSource for the one draw a run makes on the host,
// x_T (NoiseInit): n standard normal values from a PCG generator seeded with
// the seed, the same values at every call. For the per-step kinds it returns
// an error wrapping ErrGraphNoise: those draws exist only inside the step
// graph (see Normals to inspect them). A negative n is an error.
func (g *GraphNoise) Normal(kind NoiseKind, i, n int) ([]float32, error) {
	if kind != NoiseInit {
		return nil, fmt.Errorf("cadps: graph noise of kind %v at index %d: %w", kind, i, ErrGraphNoise)
	}
	if err := checkDrawCount(kind, i, n); err != nil {
		return nil, fmt.Errorf("cadps: graph noise: %w", err)
	}
	r := rand.New(rand.NewPCG(g.seed, 0x9a4f_cad5))
	v := make([]float32, n)
	for k := range v {
		v[k] = float32(r.NormFloat64())
	}
	return v, nil
}

// Normals runs the in-graph draw on backend b and returns the first count
// draws of shape dims made from the seed's state, in order: the values a
// Sampler's steps draw when every step draws that one shape (z of an
// unconditional run: a run with a measurement draws z and then zy at each
// step). It is how the draws can be inspected and replayed (as a
// RecordedNoise); a run never calls it. A nil b, a negative count and a
// dimension that is not positive are errors.
func (g *GraphNoise) Normals(b backends.Backend, count int, dims ...int) ([][]float32, error) {
	switch {
	case b == nil:
		return nil, errors.New("cadps: graph noise draws: no backend (nil)")
	case count < 0:
		return nil, fmt.Errorf("cadps: graph noise draws: count %d, want at least 0", count)
	case slices.ContainsFunc(dims, func(d int) bool { return d <= 0 }):
		return nil, fmt.Errorf("cadps: graph noise draws of shape %v: every dimension must be positive", dims)
	}
	state, err := g.RNGState()
	if err != nil {
		return nil, err
	}
	shape := shapes.Make(dtypes.Float32, dims...)
	exec, err := graph.NewExec(b, func(state *graph.Node) (*graph.Node, *graph.Node) {
		return graphNormal(state, shape)
	})
	if err != nil {
		return nil, fmt.Errorf("cadps: graph noise draw: %w", err)
	}
	defer exec.Finalize()
	out := make([][]float32, count)
	for k := range out {
		next, z, err := exec.Exec2(state)
		if err != nil {
			return nil, fmt.Errorf("cadps: graph noise draw %d of %s: %w", k, shape, err)
		}
		if out[k], err = tensors.CopyFlatData[float32](z); err != nil {
			return nil, fmt.Errorf("cadps: graph noise draw %d: %w", k, err)
		}
		finalize(z, state)
		state = next
	}
	finalize(state)
	return out, nil
}

// graphNormal draws standard normal values of the given (float) shape from
// the generator state and returns the advanced state, by the Box–Muller
// transform of two uniform draws: z = √(−2 ln u₁) cos(2π u₂).
//
// GoMLX's graph.RandomNormal is the same transform, but it maps a uniform
// draw of exactly 0 (probability 2⁻³² per value) to the smallest denormal,
// which makes a 14σ value; a 1000-step run at batch 16 of 256² RGB images
// draws 3·10⁹ values and would meet one about once. Here u₁ is shifted by
// half the uniform's resolution (2⁻³³) instead, which keeps it in (0, 1]
// and caps |z| at √(2·33 ln 2) ≈ 6.8, a tail of probability 10⁻¹¹.
func graphNormal(state *graph.Node, shape shapes.Shape) (next, z *graph.Node) {
	next, u1 := graph.RandomUniform(state, shape)
	next, u2 := graph.RandomUniform(next, shape)
	u1 = graph.AddScalar(u1, 0x1p-33)
	r := graph.Sqrt(graph.MulScalar(graph.Log(u1), -2))
	z = graph.Mul(r, graph.Cos(graph.MulScalar(u2, 2*math.Pi)))
	return next, graph.StopGradient(z)
}

// finalize frees the tensors' storage now (on an accelerator, device memory
// that the Go garbage collector, blind to it, would free late). Tensors
// already freed are skipped.
func finalize(ts ...*tensors.Tensor) {
	for _, t := range ts {
		if t != nil {
			_ = t.FinalizeAll()
		}
	}
}
