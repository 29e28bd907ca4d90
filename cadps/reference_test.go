package cadps

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/unet"
	"github.com/cadps/toolkit/checkpoints"
	"github.com/cadps/toolkit/internal/fixtures"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// conditioned is the part of a step/trajectory fixture.json the tests read.
type conditioned struct {
	Method          string         `json:"method"`
	DiffusionConfig map[string]any `json:"diffusion_config"`
	Conditioning    struct {
		Scale float64 `json:"scale"`
	} `json:"conditioning"`
	Operator map[string]any `json:"operator"`
	Noise    struct {
		Sigma float64 `json:"sigma"`
	} `json:"noise"`
}

// setup builds the sampler a step or trajectory fixture describes, from its
// model file (whose folder holds the create_model config) and settings.
func setup(t *testing.T, f *fixtures.Fixture) (*Sampler, *checkpoints.StateDict) {
	t.Helper()
	var fx conditioned
	if err := f.Decode(&fx); err != nil {
		t.Fatal(err)
	}
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	modelPath, err := f.Path("model")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(modelPath), "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var mc struct {
		Kwargs json.RawMessage `json:"create_model_kwargs"`
	}
	if err := json.Unmarshal(raw, &mc); err != nil {
		t.Fatal(err)
	}
	cfg, err := unet.ParseConfig(mc.Kwargs)
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
	proc, err := diffusion.FromConfig(fx.DiffusionConfig)
	if err != nil {
		t.Fatal(err)
	}
	delete(fx.Operator, "A") // a description the fixture adds, not a reference config key
	shape, _ := fx.Operator["in_shape"].([]any)
	op, err := ops.FromConfig(fx.Operator, toInts(shape), 0)
	if err != nil {
		t.Fatal(err)
	}
	method, err := guidance.New(fx.Method, guidance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSampler(Problem{Backend: b, Ctx: ctx, Net: UNetNetwork(m), Process: proc, Op: op,
		Method: method, Scale: fx.Conditioning.Scale, SigmaY: fx.Noise.Sigma})
	if err != nil {
		t.Fatal(err)
	}
	data, err := f.Safetensors("data")
	if err != nil {
		t.Fatal(err)
	}
	return s, data
}

func toInts(v []any) []int {
	out := make([]int, len(v))
	for i, x := range v {
		f, _ := x.(float64)
		out[i] = int(f)
	}
	return out
}

// slab returns element k of a stacked F32 tensor (k < 0: the whole tensor)
// as a GoMLX tensor of the remaining dimensions.
func slab(t *testing.T, sd *checkpoints.StateDict, name string, k int) *tensors.Tensor {
	t.Helper()
	st, err := sd.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	v, err := st.Float32()
	if err != nil {
		t.Fatal(err)
	}
	if k < 0 {
		return tensors.FromFlatDataAndDimensions(v, st.Shape...)
	}
	n := len(v) / st.Shape[0]
	return tensors.FromFlatDataAndDimensions(v[k*n:(k+1)*n], st.Shape[1:]...)
}

func index(t *testing.T, sd *checkpoints.StateDict, k int) int {
	t.Helper()
	st, err := sd.Get("t_index")
	if err != nil {
		t.Fatal(err)
	}
	v, err := st.Int64()
	if err != nil {
		t.Fatal(err)
	}
	return int(v[k])
}

// check compares a result with a recorded tensor within tol.
func check(t *testing.T, f *fixtures.Fixture, what string, tol fixtures.Tolerance, got, want *tensors.Tensor) {
	t.Helper()
	f.Compare(t, what, tol, fixtures.Float64s(tensors.MustCopyFlatData[float32](got)), fixtures.Float64s(tensors.MustCopyFlatData[float32](want)),
		got.Shape().Dimensions, want.Shape().Dimensions)
}

// minusOne returns t − 1 (to compare CA-DPS's multiplier 1+d with d).
func minusOne(t *tensors.Tensor) *tensors.Tensor {
	v := tensors.MustCopyFlatData[float32](t)
	for i := range v {
		v[i]--
	}
	return tensors.FromFlatDataAndDimensions(v, t.Shape().Dimensions...)
}

func TestReference(t *testing.T) {
	fixtures.RunKinds(t, "cadps", map[string]fixtures.Handler{"step": testStep, "trajectory": testTrajectory})
}

// testStep replays one recorded reverse step.
func testStep(t *testing.T, f *fixtures.Fixture) {
	tol := f.MustTolerance(t, "all")
	s, data := setup(t, f)
	y := slab(t, data, "y", -1)
	info, err := s.Step(slab(t, data, "x_t", -1), index(t, data, 0), slab(t, data, "z", -1), slab(t, data, "z_qsample", -1), y)
	if err != nil {
		t.Fatal(err)
	}
	check(t, f, "pred_xstart", tol, info.PredXStart, slab(t, data, "pred_xstart", -1))
	check(t, f, "norm", tol, tensors.FromFlatDataAndDimensions(info.Residual, len(info.Residual)), slab(t, data, "norm", -1))
	check(t, f, "x_next", tol, info.X, slab(t, data, "x_next", -1))
	if _, ok := data.Tensors["sec_der"]; ok {
		check(t, f, "sec_der", tol, minusOne(info.Extra["multiplier"]), slab(t, data, "sec_der", -1))
	}
}

// testTrajectory replays every step of a recorded run from the recorded
// state, then the whole run freely from x_T.
func testTrajectory(t *testing.T, f *fixtures.Fixture) {
	tolStep := f.MustTolerance(t, "each step from the recorded state")
	tolFinal := f.MustTolerance(t, "final, running freely from x_T")
	s, data := setup(t, f)
	y := slab(t, data, "y", -1)
	steps := data.Tensors["t_index"].Shape[0]
	rec := &RecordedNoise{Sample: map[int][]float32{}, Measurement: map[int][]float32{}}
	for k := range steps {
		i := index(t, data, k)
		z, zy := slab(t, data, "noise", k), slab(t, data, "noise_qsample", k)
		rec.Sample[i] = tensors.MustCopyFlatData[float32](z)
		rec.Measurement[i] = tensors.MustCopyFlatData[float32](zy)
		info, err := s.Step(slab(t, data, "x", k), i, z, zy, y)
		if err != nil {
			t.Fatal(err)
		}
		check(t, f, fmt.Sprintf("step %d x", k), tolStep, info.X, slab(t, data, "x", k+1))
		if _, ok := data.Tensors["sec_der"]; ok {
			check(t, f, fmt.Sprintf("step %d sec_der", k), tolStep, minusOne(info.Extra["multiplier"]), slab(t, data, "sec_der", k))
		}
	}
	rec.Init = tensors.MustCopyFlatData[float32](slab(t, data, "x_T", -1))
	final, err := s.Run(nil, data.Tensors["x_T"].Shape, y, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	check(t, f, "final (free running)", tolFinal, final, slab(t, data, "final", -1))
}
