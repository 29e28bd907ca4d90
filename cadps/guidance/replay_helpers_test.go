package guidance_test

import (
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
	return &replay{t: t, f: f, data: data, ctx: ctx, net: cadps.UNetNetwork(m), b: b}
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
