package cadps

import (
	"maps"
	"slices"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/unet"
	"github.com/cadps/toolkit/checkpoints"
	"github.com/cadps/toolkit/internal/fixtures"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// conditioned is the part of a step/trajectory fixture.json the tests read.
type conditioned struct {
	Method          string         `json:"method"`
	DiffusionConfig map[string]any `json:"diffusion_config"`
	Conditioning    struct {
		Method string  `json:"method"`
		Scale  float64 `json:"scale"`
	} `json:"conditioning"`
	Operator map[string]any `json:"operator"`
	Noise    struct {
		Name  string  `json:"name"`
		Sigma float64 `json:"sigma"`
	} `json:"noise"`
}

// replay is a step or trajectory fixture set up for replaying: its
// problem (every part but the method), its data and its image shape.
type replay struct {
	f      *fixtures.Fixture
	fx     conditioned
	data   *checkpoints.StateDict
	p      Problem
	shape  []int
	unused map[string]bool   // recorded tensors no comparison has read yet
	mid    map[bool]*midExec // intermediates' graphs, with and without the gradient
}

// setup builds the problem a step or trajectory fixture describes: the
// network from its model file (whose folder holds the create_model
// config.json), the diffusion process, and the operator from its
// configuration plus the recorded mask or kernel, for images shaped like
// the recorded tensor image (x_t or x_T).
func setup(t *testing.T, f *fixtures.Fixture, image string) *replay {
	t.Helper()
	r := &replay{f: f}
	if err := f.Decode(&r.fx); err != nil {
		t.Fatal(err)
	}
	if m := r.fx.Conditioning.Method; m != "ps" {
		t.Fatalf("%s: conditioning method %q: only 'ps' (posterior sampling) is replayed", f.Name, m)
	}
	var err error
	if r.data, err = f.Safetensors("data"); err != nil {
		t.Fatal(err)
	}
	r.unused = map[string]bool{}
	for _, n := range r.data.Names {
		r.unused[n] = true
	}
	r.shape = r.tensor(t, image).Shape().Dimensions
	if r.p.Backend, err = backend.New(); err != nil {
		t.Fatal(err)
	}
	r.p.Ctx, r.p.Net = loadNetwork(t, f)
	if r.p.Process, err = diffusion.FromConfig(r.fx.DiffusionConfig); err != nil {
		t.Fatal(err)
	}
	r.p.Op = r.operator(t)
	r.p.Scale, r.p.SigmaY = r.fx.Conditioning.Scale, r.fx.Noise.Sigma
	return r
}

// loadNetwork loads the fixture's model with the create_model config
// beside it.
func loadNetwork(t *testing.T, f *fixtures.Fixture) (*context.Context, guidance.Network) {
	t.Helper()
	modelPath, kwargs, err := f.Model("model")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := unet.ParseConfig(kwargs)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ClassCond {
		t.Fatalf("%s: the model is class-conditional; step and trajectory replays take unconditional models", f.Name)
	}
	m, err := unet.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.New()
	if err := m.LoadFile(ctx, modelPath); err != nil {
		t.Fatal(err)
	}
	return ctx, UNetNetwork(m)
}

// operator builds the fixture's operator with ops.FromRecorded from its
// configuration (less "A", a description the fixtures add) and the
// recorded mask or kernel.
func (r *replay) operator(t *testing.T) ops.Operator {
	t.Helper()
	cfg := maps.Clone(r.fx.Operator)
	delete(cfg, "A")
	var rec ops.Recorded
	if _, ok := r.data.Tensors["mask"]; ok {
		rec.Mask, rec.MaskShape = r.floats(t, "mask")
	}
	if _, ok := r.data.Tensors["kernel"]; ok {
		rec.Kernel, rec.KernelShape = r.floats(t, "kernel")
	}
	op, err := ops.FromRecorded(cfg, r.shape, rec)
	if err != nil {
		t.Fatalf("%s: %v", r.f.Name, err)
	}
	return op
}

// sampler returns the sampler of the fixture's method (CA-DPS with its two
// network calls batched when batched is set).
func (r *replay) sampler(t *testing.T, batched bool) *Sampler {
	t.Helper()
	m, err := guidance.New(r.fx.Method, guidance.Options{Batched: batched})
	if err != nil {
		t.Fatal(err)
	}
	p := r.p
	p.Method = m
	s, err := NewSampler(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// floats returns a recorded tensor's values as float32, marking it read.
func (r *replay) floats(t *testing.T, name string) ([]float32, []int) {
	t.Helper()
	st, err := r.data.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	v, err := st.Float32()
	if err != nil {
		t.Fatal(err)
	}
	delete(r.unused, name)
	return v, st.Shape
}

// ints returns a recorded integer tensor's values, marking it read.
func (r *replay) ints(t *testing.T, name string) []int {
	t.Helper()
	st, err := r.data.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	v, err := st.Int64()
	if err != nil {
		t.Fatal(err)
	}
	delete(r.unused, name)
	out := make([]int, len(v))
	for k, x := range v {
		out[k] = int(x)
	}
	return out
}

// has reports whether the fixture records the named tensor.
func (r *replay) has(name string) bool {
	_, ok := r.data.Tensors[name]
	return ok
}

// slab returns element k of a stacked recorded tensor (k < 0: the whole
// tensor) as a GoMLX tensor of the remaining dimensions.
func (r *replay) slab(t *testing.T, name string, k int) *tensors.Tensor {
	t.Helper()
	v, shape := r.floats(t, name)
	if k < 0 {
		return tensors.FromFlatDataAndDimensions(v, shape...)
	}
	if len(shape) == 0 || k >= shape[0] {
		t.Fatalf("%s: tensor %s of shape %v has no element %d", r.f.Name, name, shape, k)
	}
	n := len(v) / shape[0]
	dims := shape[1:]
	if len(dims) == 0 {
		dims = []int{1}
	}
	return tensors.FromFlatDataAndDimensions(v[k*n:(k+1)*n], dims...)
}

// tensor is slab(name, -1).
func (r *replay) tensor(t *testing.T, name string) *tensors.Tensor {
	t.Helper()
	return r.slab(t, name, -1)
}

// check compares a result with a recorded tensor within tol.
func (r *replay) check(t *testing.T, what string, tol fixtures.Tolerance, got, want *tensors.Tensor) {
	t.Helper()
	r.f.Compare(t, what, tol, fixtures.Float64s(tensors.MustCopyFlatData[float32](got)), fixtures.Float64s(tensors.MustCopyFlatData[float32](want)),
		got.Shape().Dimensions, want.Shape().Dimensions)
}

// checkMeasurement replays the measurement the fixture recorded: y_clean =
// A(x0) through the replayed operator, and y = y_clean + σ·y_noise with
// the recorded draw of the Gaussian noiser. A fixture recording only one
// of x0 and y_clean fails (the other is misspelt or lost); one recording
// neither, or no y_noise, says in the log what is not replayed.
func (r *replay) checkMeasurement(t *testing.T, tol fixtures.Tolerance) {
	t.Helper()
	switch x0, clean := r.has("x0"), r.has("y_clean"); {
	case x0 != clean:
		have, lack := "x0", "y_clean"
		if clean {
			have, lack = lack, have
		}
		t.Fatalf("%s: the fixture records %s but no %s: y_clean = A(x0) needs both", r.f.Name, have, lack)
	case !x0:
		t.Logf("%s: the fixture records neither x0 nor y_clean: the measurement is not replayed", r.f.Name)
		return
	}
	exec, err := graph.NewExec(r.p.Backend, func(x *graph.Node) *graph.Node { return r.p.Op.Apply(x) })
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Exec(r.tensor(t, "x0"))
	if err != nil {
		t.Fatal(err)
	}
	r.check(t, "y_clean = A(x0)", tol, out[0], r.tensor(t, "y_clean"))
	if !r.has("y_noise") {
		t.Logf("%s: the fixture records no y_noise: y = y_clean + sigma*y_noise is not replayed", r.f.Name)
		return
	}
	if r.fx.Noise.Name != "gaussian" {
		t.Fatalf("%s: noise %q: only the Gaussian noiser's draw y_noise is replayed", r.f.Name, r.fx.Noise.Name)
	}
	clean, shape := r.floats(t, "y_clean")
	draw, _ := r.floats(t, "y_noise")
	y := make([]float32, len(clean))
	for k := range y {
		y[k] = clean[k] + draw[k]*float32(r.fx.Noise.Sigma)
	}
	r.check(t, "y = y_clean + sigma*y_noise", tol, tensors.FromFlatDataAndDimensions(y, shape...), r.tensor(t, "y"))
}

// checkAllRead fails for every recorded tensor that no comparison read: a
// fixture recording something the replay does not check must not pass.
func (r *replay) checkAllRead(t *testing.T) {
	t.Helper()
	for _, n := range slices.Sorted(maps.Keys(r.unused)) {
		t.Errorf("%s: recorded tensor %q is checked by no comparison", r.f.Name, n)
	}
}
