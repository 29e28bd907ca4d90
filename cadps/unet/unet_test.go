package unet

import (
	"encoding/json"
	"math"
	"slices"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/checkpoints"
	"github.com/cadps/toolkit/internal/fixtures"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

func TestReference(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	fixtures.Run(t, []string{"unet", "checkpoint-layout"}, func(t *testing.T, f *fixtures.Fixture) {
		if f.Kind == "checkpoint-layout" {
			testLayouts(t, f)
			return
		}
		m, io := fixtureModel(t, f)
		x, ts, want := tensorOf(t, io, "x"), tensorOf(t, io, "t"), io.Tensors["out"]
		wantV, _ := want.Float32()
		for _, key := range []string{"model_safetensors", "model_pt"} {
			t.Run(key, func(t *testing.T) {
				path, err := f.Path(key)
				if err != nil {
					t.Fatal(err)
				}
				ctx := context.New()
				if err := m.LoadFile(ctx, path); err != nil {
					t.Fatal(err)
				}
				exec := context.MustNewExec(b, ctx, func(ctx *context.Context, x, t *graph.Node) *graph.Node {
					return m.Apply(ctx, x, graph.ConvertDType(t, x.DType()), nil)
				})
				out := exec.MustExec(x, ts)[0]
				got := tensors.MustCopyFlatData[float32](out)
				d, err := fixtures.MaxRelDiff(got, wantV)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("max|Δ|/max(1,max|ref|) = %.3g", d)
				if d > 1e-4 || math.IsNaN(d) {
					t.Errorf("output differs from the reference: %.3g > 1e-4", d)
				}
			})
		}
	})
}

// fixtureModel builds the network of a "unet" fixture from its
// create_model_kwargs and reads its input/output file.
func fixtureModel(t *testing.T, f *fixtures.Fixture) (*Model, *checkpoints.StateDict) {
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
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	io, err := f.Safetensors("io")
	if err != nil {
		t.Fatal(err)
	}
	return m, io
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
