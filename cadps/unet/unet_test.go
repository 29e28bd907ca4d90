package unet

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/checkpoints"
	"github.com/cadps/toolkit/internal/fixtures"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// TestReference runs every unet fixture's network, loaded from each weight
// file the fixture lists (model.safetensors, model.pt), on the recorded
// input (and labels, for class-conditional models) and compares the output
// within the fixture's tolerance; and checks every checkpoint-layout
// fixture's key layouts against the presets.
func TestReference(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	fixtures.RunKinds(t, "cadps/unet", map[string]fixtures.Handler{
		"checkpoint-layout": testLayouts,
		"unet": func(t *testing.T, f *fixtures.Fixture) {
			tol := f.MustTolerance(t, "out")
			m, in := fixtureModel(t, f)
			want, wantShape := fixtures.Values(t, in.io, "out")
			keys := weightKeys(t, f)
			for _, key := range keys {
				t.Run(key, func(t *testing.T) {
					path, err := f.Path(key)
					if err != nil {
						t.Fatal(err)
					}
					ctx := context.New()
					if err := m.LoadFile(ctx, path); err != nil {
						t.Fatal(err)
					}
					out := in.run(t, b, ctx, m)
					f.Compare(t, "out ("+key+")", tol, fixtures.Float64s(tensors.MustCopyFlatData[float32](out)), want,
						out.Shape().Dimensions, wantShape)
				})
			}
		},
	})
}

// weightKeys returns the keys of the weight files a unet fixture lists.
func weightKeys(t *testing.T, f *fixtures.Fixture) []string {
	t.Helper()
	var keys []string
	for _, k := range []string{"model_safetensors", "model_pt"} {
		if _, ok := f.Files[k]; ok {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		t.Fatalf("%s lists no weight file (model_safetensors or model_pt)", f.Name)
	}
	return keys
}

// unetInput is a unet fixture's recorded input: images x, timesteps t and,
// for a class-conditional model, labels y.
type unetInput struct {
	io      *checkpoints.StateDict
	x, t, y *tensors.Tensor
}

// run returns the network's output on the input.
func (in unetInput) run(t *testing.T, b backends.Backend, ctx *context.Context, m *Model) *tensors.Tensor {
	t.Helper()
	args := []any{in.x, in.t}
	if in.y != nil {
		args = append(args, in.y)
	}
	exec, err := context.NewExec(b, ctx, func(ctx *context.Context, inputs []*graph.Node) *graph.Node {
		var labels *graph.Node
		if len(inputs) > 2 {
			labels = inputs[2]
		}
		return m.Apply(ctx, inputs[0], graph.ConvertDType(inputs[1], inputs[0].DType()), labels)
	})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := exec.Exec(args...)
	if err != nil {
		t.Fatal(err)
	}
	return outs[0]
}

// fixtureModel builds the network of a "unet" fixture from its
// create_model_kwargs and reads its recorded input: a class-conditional
// model needs the labels y, which an unconditional one must not have.
func fixtureModel(t *testing.T, f *fixtures.Fixture) (*Model, unetInput) {
	t.Helper()
	var fx struct {
		Kwargs json.RawMessage `json:"create_model_kwargs"`
	}
	if err := f.Decode(&fx); err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig(fx.Kwargs)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Files["config"]; ok {
		sameKwargs(t, f, fx.Kwargs)
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	io, err := f.Safetensors("io")
	if err != nil {
		t.Fatal(err)
	}
	in := unetInput{io: io, x: tensorOf(t, io, "x"), t: tensorOf(t, io, "t")}
	_, hasLabels := io.Tensors["y"]
	switch {
	case cfg.ClassCond && !hasLabels:
		t.Fatalf("%s: class-conditional model, but the fixture records no labels y", f.Name)
	case !cfg.ClassCond && hasLabels:
		t.Fatalf("%s: labels y recorded for a model without class_cond", f.Name)
	case hasLabels:
		in.y = tensorOf(t, io, "y")
	}
	return m, in
}

// sameKwargs fails t unless the config file a unet fixture lists holds
// the create_model_kwargs of its fixture.json: the fixtures that run the
// network read them from there (see fixtures.Fixture.Model).
func sameKwargs(t *testing.T, f *fixtures.Fixture, kwargs json.RawMessage) {
	t.Helper()
	p, err := f.Path("config")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var config struct {
		Kwargs any `json:"create_model_kwargs"`
	}
	var want any
	if err := json.Unmarshal(raw, &config); err != nil {
		t.Fatalf("%s: %s: %v", f.Name, f.Files["config"], err)
	}
	if err := json.Unmarshal(kwargs, &want); err != nil {
		t.Fatalf("%s: create_model_kwargs: %v", f.Name, err)
	}
	if !reflect.DeepEqual(config.Kwargs, want) {
		t.Errorf("%s: the create_model_kwargs of %s are %v, fixture.json's %v", f.Name, f.Files["config"], config.Kwargs, want)
	}
}

// tensorOf converts a stored F32 or I64 tensor to a GoMLX tensor.
func tensorOf(t *testing.T, sd *checkpoints.StateDict, name string) *tensors.Tensor {
	t.Helper()
	st, err := sd.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	if st.DType == checkpoints.I64 {
		v, err := st.Int64()
		if err != nil {
			t.Fatal(err)
		}
		return tensors.FromFlatDataAndDimensions(v, st.Shape...)
	}
	v, err := st.Float32()
	if err != nil {
		t.Fatal(err)
	}
	return tensors.FromFlatDataAndDimensions(v, st.Shape...)
}

// testLayouts checks that the presets declare exactly the state_dicts of the
// real checkpoints (keys in order, shapes, totals), without any weights.
func testLayouts(t *testing.T, f *fixtures.Fixture) {
	var fx struct {
		Layouts []struct {
			Name       string               `json:"name"`
			Kwargs     json.RawMessage      `json:"create_model_kwargs"`
			NumTensors int                  `json:"num_tensors"`
			NumParams  int                  `json:"num_params"`
			Keys       [][2]json.RawMessage `json:"keys"`
		} `json:"layouts"`
	}
	if err := f.Decode(&fx); err != nil {
		t.Fatal(err)
	}
	if len(fx.Layouts) == 0 {
		t.Fatal("no layouts in the fixture")
	}
	presets := map[string]string{"ffhq_10m": "ffhq256", "imagenet256_uncond": "imagenet256"}
	for _, l := range fx.Layouts {
		t.Run(l.Name, func(t *testing.T) {
			cfg, err := ParseConfig(l.Kwargs)
			if err != nil {
				t.Fatal(err)
			}
			if p, ok := presets[l.Name]; ok {
				pc, err := Preset(p)
				if err != nil {
					t.Fatal(err)
				}
				pc.UseFP16 = cfg.UseFP16
				if pc != cfg {
					t.Errorf("preset %s = %s, the layout was made with %s", p, pc, cfg)
				}
			}
			m, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			got := m.Params()
			if len(got) != l.NumTensors || len(l.Keys) != l.NumTensors {
				t.Errorf("%d tensors declared, %d listed, want %d", len(got), len(l.Keys), l.NumTensors)
			}
			if m.NumParams() != l.NumParams {
				t.Errorf("%d parameters, want %d", m.NumParams(), l.NumParams)
			}
			for i := range min(len(got), len(l.Keys)) {
				var name string
				var shape []int
				if err := json.Unmarshal(l.Keys[i][0], &name); err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(l.Keys[i][1], &shape); err != nil {
					t.Fatal(err)
				}
				if got[i].Name != name || !slices.Equal(got[i].Shape, shape) {
					t.Fatalf("key %d: declared %s %v, checkpoint has %s %v", i, got[i].Name, got[i].Shape, name, shape)
				}
			}
		})
	}
}

// TestApplyImageSizes runs a three-level model (downsampling by 4) on
// images of other sizes than its image_size: sizes divisible by 4 work,
// others are refused with an error naming the divisor instead of a
// mismatch deep inside the graph.
func TestApplyImageSizes(t *testing.T) {
	m, err := New(Config{ImageSize: 16, NumChannels: 32, NumResBlocks: 1, ChannelMult: "1,2,2",
		AttentionResolutions: "8", NumHeads: 2, NumHeadChannels: -1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		h, w    int
		wantErr string
	}{
		{h: 16, w: 16},
		{h: 12, w: 20},
		{h: 10, w: 16, wantErr: "divisible by 4 (channel_mult has 3 levels)"},
		{h: 16, w: 9, wantErr: "divisible by 4 (channel_mult has 3 levels)"},
	}
	ctx := context.New()
	if err := m.InitRandom(ctx, 1); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%dx%d", tc.h, tc.w), func(t *testing.T) {
			x := tensors.FromFlatDataAndDimensions(make([]float32, 2*3*tc.h*tc.w), 2, 3, tc.h, tc.w)
			out, err := context.ExecOnce(b, ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
				return m.Apply(ctx, x, graph.Const(x.Graph(), []float32{3, 500}), nil)
			}, x)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := []int{2, 3, tc.h, tc.w}; !slices.Equal(out.Shape().Dimensions, want) {
				t.Errorf("output shape %s, want %v", out.Shape(), want)
			}
		})
	}
}

// TestApplyMissingWeights checks that Apply reads its weights and creates
// none: a context without them, or holding another model's, is an error
// naming the weight, not a network with random weights.
func TestApplyMissingWeights(t *testing.T) {
	cfg := Config{ImageSize: 8, NumChannels: 32, NumResBlocks: 1, ChannelMult: "1,2",
		NumHeads: 1, NumHeadChannels: -1, NumHeadsUpsample: -1}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.NumChannels = 64
	wider, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	other := context.New()
	if err := wider.InitRandom(other, 1); err != nil {
		t.Fatal(err)
	}
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ctx  *context.Context
		want string
	}{
		{"nothing loaded", context.New(), `unet: weight "time_embed.0.weight" (variable /time_embed/0/weight) is not in the context: load the model's weights first`},
		{"another model's weights", other, `unet: weight "time_embed.0.weight" (variable /time_embed/0/weight) has shape (Float32)[256 64] in the context, the model wants (Float32)[128 32]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := tensors.FromFlatDataAndDimensions(make([]float32, 3*8*8), 1, 3, 8, 8)
			_, err := context.ExecOnce(b, tc.ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
				return m.Apply(ctx, x, graph.Const(x.Graph(), []float32{3}), nil)
			}, x)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
