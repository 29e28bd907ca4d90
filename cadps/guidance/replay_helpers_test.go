package guidance_test

import (
	"maps"
	"slices"
	"testing"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/unet"
	"github.com/cadps/toolkit/checkpoints"
	"github.com/cadps/toolkit/internal/fixtures"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// replay holds what every method fixture's replay needs: the fixture, its
// data and a way to build a sampler with the fixture's model.
type replay struct {
	t    *testing.T
	f    *fixtures.Fixture
	data *checkpoints.StateDict
	ctx  *context.Context
	net  guidance.Network
	b    backends.Backend
	// read records the data file's tensors the replay read (see
	// checkExact).
	read map[string]bool
}

// newReplay loads the fixture's data and model (whose folder holds the
// create_model config).
func newReplay(t *testing.T, f *fixtures.Fixture) *replay {
	t.Helper()
	modelPath, kwargs, err := f.Model("model")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := unet.ParseConfig(kwargs)
	if err != nil {
		t.Fatal(err)
	}
	m, err := unet.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.New()
	if err := m.LoadFile(ctx, modelPath); err != nil {
		t.Fatal(err)
	}
	data, err := f.Safetensors("data")
	if err != nil {
		t.Fatal(err)
	}
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	return &replay{t: t, f: f, data: data, ctx: ctx, net: cadps.UNetNetwork(m), b: b, read: map[string]bool{}}
}

// sampler builds the sampler of method m with operator op over process p.
func (r *replay) sampler(p *diffusion.Process, op ops.Operator, m guidance.Method, sigmaY float64) *cadps.Sampler {
	r.t.Helper()
	s, err := cadps.NewSampler(cadps.Problem{Backend: r.b, Ctx: r.ctx, Net: r.net, Process: p, Op: op,
		Method: m, Scale: 1, SigmaY: sigmaY})
	if err != nil {
		r.t.Fatal(err)
	}
	return s
}

// tensor returns the named tensor as float64 values and its shape.
func (r *replay) tensor(name string) ([]float64, []int) {
	r.t.Helper()
	st, err := r.data.Get(name)
	if err != nil {
		r.t.Fatal(err)
	}
	r.read[name] = true
	var v []float64
	switch st.DType {
	case "F64":
		v, err = st.Float64()
	case "I64":
		var iv []int64
		iv, err = st.Int64()
		for _, x := range iv {
			v = append(v, float64(x))
		}
	default:
		var fv []float32
		fv, err = st.Float32()
		v = fixtures.Float64s(fv)
	}
	if err != nil {
		r.t.Fatalf("%s: %v", name, err)
	}
	return v, slices.Clone(st.Shape)
}

// slab returns element k of the stacked tensor name (k < 0: all of it) as
// float32 values and their shape.
func (r *replay) slab(name string, k int) ([]float32, []int) {
	v, shape := r.tensor(name)
	if k >= 0 {
		n := len(v) / shape[0]
		v, shape = v[k*n:(k+1)*n], shape[1:]
	}
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out, shape
}

// slab2 returns element [n,k] of a tensor stacked twice, as a GoMLX tensor.
func (r *replay) slab2(name string, n, k int) *tensors.Tensor {
	v, shape := r.slab(name, n)
	m := len(v) / shape[0]
	return tensors.FromFlatDataAndDimensions(v[k*m:(k+1)*m], shape[1:]...)
}

// gomlx returns element k of the stacked tensor name as a GoMLX tensor,
// reshaped to dims when given.
func (r *replay) gomlx(name string, k int, dims ...int) *tensors.Tensor {
	v, shape := r.slab(name, k)
	if len(dims) == 0 {
		dims = shape
	}
	return tensors.FromFlatDataAndDimensions(v, dims...)
}

// ints returns an I64 tensor's values.
func (r *replay) ints(name string) []int {
	v, _ := r.tensor(name)
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

// exact returns the fixture's "exact" tolerance entry.
func (r *replay) exact() fixtures.Exact {
	r.t.Helper()
	e, err := r.f.Exact("exact")
	if err != nil {
		r.t.Fatal(err)
	}
	return e
}

// checkExact checks what the fixture's "exact" entry states, once the
// replay has run: each quantity it lists as equal equals the toolkit's
// value in got, and each draw it lists as an input was read from the data
// file (injected). A quantity or draw the replay leaves must be in skip,
// with the reason, which is logged; got or skip naming something the entry
// does not list fails too, so that neither outlives the entry.
func (r *replay) checkExact(got map[string][]int, skip map[string]string) {
	r.t.Helper()
	e := r.exact()
	listed := map[string]bool{}
	for _, name := range e.Equal {
		listed[name] = true
		if why, ok := skip[name]; ok {
			r.t.Logf("%s: %q is not compared: %s", r.f.Name, name, why)
			continue
		}
		g, ok := got[name]
		if !ok {
			r.t.Errorf("%s: the exact entry lists %q as equal, and the replay has no value of it", r.f.Name, name)
			continue
		}
		if _, err := r.data.Get(name); err != nil {
			r.t.Errorf("%s: the exact entry lists %q as equal: %v", r.f.Name, name, err)
			continue
		}
		if want := r.ints(name); !slices.Equal(g, want) {
			r.t.Errorf("%s: %s = %v, want %v exactly", r.f.Name, name, g, want)
		}
	}
	for _, name := range e.Inputs {
		listed[name] = true
		if why, ok := skip[name]; ok {
			r.t.Logf("%s: input %q is not injected: %s", r.f.Name, name, why)
		} else if !r.read[name] {
			r.t.Errorf("%s: the exact entry lists %q as an input, and the replay did not inject it", r.f.Name, name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(got)) {
		if !listed[name] {
			r.t.Errorf("%s: the replay compares %q exactly, which the exact entry does not list", r.f.Name, name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(skip)) {
		if !listed[name] {
			r.t.Errorf("%s: the replay skips %q, which the exact entry does not list", r.f.Name, name)
		}
	}
}

// tol parses the fixture's tolerance entry key.
func (r *replay) tol(key string) fixtures.Tolerance {
	r.t.Helper()
	tol, err := r.f.Tolerance(key)
	if err != nil {
		r.t.Fatal(err)
	}
	return tol
}

// compare compares a GoMLX tensor with element k of the reference tensor
// name (k < 0: all of it), in the reference's shape.
func (r *replay) compare(what string, tol fixtures.Tolerance, got *tensors.Tensor, name string, k int) {
	r.t.Helper()
	want, shape := r.slab(name, k)
	g := tensors.MustCopyFlatData[float32](got)
	gotShape := shape
	if len(g) != len(want) {
		gotShape = got.Shape().Dimensions
	}
	r.f.Compare(r.t, what, tol, fixtures.Float64s(g), fixtures.Float64s(want), gotShape, shape)
}

// compareValues compares float64 values with the reference tensor name.
func (r *replay) compareValues(what string, tol fixtures.Tolerance, got []float64, name string) {
	r.t.Helper()
	want, shape := r.tensor(name)
	gotShape := shape
	if len(got) != len(want) {
		gotShape = []int{len(got)}
	}
	r.f.Compare(r.t, what, tol, got, want, gotShape, shape)
}

// flat returns a tensor's values.
func flat(t *tensors.Tensor) []float32 { return tensors.MustCopyFlatData[float32](t) }

// compareTensor compares two GoMLX tensors of the same shape.
func (r *replay) compareTensor(what string, tol fixtures.Tolerance, got, want *tensors.Tensor) {
	r.t.Helper()
	r.f.Compare(r.t, what, tol, fixtures.Float64s(flat(got)), fixtures.Float64s(flat(want)), got.Shape().Dimensions, want.Shape().Dimensions)
}
