package unet

import (
	"bytes"
	"encoding/binary"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cadps/toolkit/checkpoints"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// TestLoadFreesBytes loads a model's weights from a state dict held in
// memory (Load leaves it whole, for the caller) and from a file (LoadFile
// drops each tensor's bytes once its weight is set, so that memory stays
// near the weights' size): both give the same weights, in float32, from
// half-precision files too.
func TestLoadFreesBytes(t *testing.T) {
	m, err := New(Config{ImageSize: 32, NumChannels: 32, NumResBlocks: 1, ChannelMult: "1,2", AttentionResolutions: "16",
		NumHeads: 1, NumHeadChannels: -1, NumHeadsUpsample: -1})
	if err != nil {
		t.Fatal(err)
	}
	src := context.New()
	if err := m.InitRandom(src, 3); err != nil {
		t.Fatal(err)
	}
	want, err := m.StateDict(src)
	if err != nil {
		t.Fatal(err)
	}
	// half returns a state dict of sd's names and shapes with F16 values
	// 1 + (i mod 64)/1024, and the same values in F32.
	half := func(sd *checkpoints.StateDict) (*checkpoints.StateDict, *checkpoints.StateDict) {
		h, r := checkpoints.NewStateDict("half"), checkpoints.NewStateDict("float")
		for _, n := range sd.Names {
			x := sd.Tensors[n]
			v := make([]float32, x.NumElements())
			hb := make([]byte, 2*len(v))
			for i := range v {
				v[i] = 1 + float32(i%64)/1024
				binary.LittleEndian.PutUint16(hb[2*i:], 0x3c00+uint16(i%64))
			}
			h.Add(&checkpoints.Tensor{Name: n, DType: checkpoints.F16, Shape: x.Shape, Data: hb})
			r.Add(checkpoints.FromFloat32(n, x.Shape, v))
		}
		return h, r
	}
	halfSD, halfWant := half(want)
	dir := t.TempDir()
	tests := []struct {
		name string
		sd   *checkpoints.StateDict
		want *checkpoints.StateDict
		file bool
	}{
		{name: "Load, F32", sd: want, want: want},
		{name: "Load, F16", sd: halfSD, want: halfWant},
		{name: "LoadFile, F32", sd: want, want: want, file: true},
		{name: "LoadFile, F16", sd: halfSD, want: halfWant, file: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := make(map[string][]byte, len(tc.sd.Names))
			for _, n := range tc.sd.Names {
				before[n] = bytes.Clone(tc.sd.Tensors[n].Data)
			}
			ctx := context.New()
			if tc.file {
				path := filepath.Join(dir, "w.safetensors")
				if err := checkpoints.SaveSafetensors(path, tc.sd); err != nil {
					t.Fatal(err)
				}
				sd, err := checkpoints.Load(path)
				if err != nil {
					t.Fatal(err)
				}
				if err := m.load(ctx, sd, true); err != nil {
					t.Fatal(err)
				}
				for _, n := range sd.Names {
					if sd.Tensors[n].Data != nil {
						t.Fatalf("%s: bytes kept after loading", n)
					}
				}
			} else if err := m.Load(ctx, tc.sd); err != nil {
				t.Fatal(err)
			}
			for _, n := range tc.sd.Names {
				if !bytes.Equal(tc.sd.Tensors[n].Data, before[n]) {
					t.Fatalf("%s: the caller's state dict changed", n)
				}
			}
			got, err := m.StateDict(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range tc.want.Names {
				if !bytes.Equal(got.Tensors[n].Data, tc.want.Tensors[n].Data) {
					t.Fatalf("%s: weights differ from the file's", n)
				}
			}
		})
	}
}

// TestLoadNilArguments checks that a nil state dict or context given to
// the methods that load, save and initialise weights is an error naming
// it, where each panicked, and so are SetVariable's relative or empty
// scope and empty name.
func TestLoadNilArguments(t *testing.T) {
	m, err := New(Config{ImageSize: 8, NumChannels: 32, NumResBlocks: 1, ChannelMult: "1,2",
		NumHeads: 1, NumHeadChannels: -1, NumHeadsUpsample: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.New()
	if err := m.InitRandom(ctx, 1); err != nil {
		t.Fatal(err)
	}
	sd, err := m.StateDict(ctx)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "w.safetensors")
	if err := checkpoints.SaveSafetensors(path, sd); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		call func() error
		want string
	}{
		{"Load, no state dict", func() error { return m.Load(context.New(), nil) }, "unet: no state dict to load (nil)"},
		{"Load, no context", func() error { return m.Load(nil, sd) }, "unet: loading unet: no context to hold the weights (nil)"},
		{"LoadFile, no context", func() error { return m.LoadFile(nil, path) }, "unet: loading " + path + ": no context"},
		{"Match, no state dict", func() error { return m.Match(nil) }, "no state dict to match against config"},
		{"StateDict, no context", func() error { _, err := m.StateDict(nil); return err }, "unet: no context to read the weights from (nil)"},
		{"InitRandom, no context", func() error { return m.InitRandom(nil, 1) }, "unet: random weights: no context"},
		{"StateDict, weight of another shape", func() error { return stateDictWith(m, tensors.FromValue([]float32{1, 2})) },
			`unet: weight "time_embed.0.weight" in the context is (Float32)[2], want (Float32)[128 32]`},
		{"StateDict, weight of another dtype", func() error { return stateDictWith(m, tensors.FromScalarAndDimensions(float64(0), 128, 32)) },
			`unet: weight "time_embed.0.weight" in the context is (Float64)[128 32], want (Float32)[128 32]`},
		{"SetVariable, no context", func() error { return SetVariable(nil, "/a", "b", tensors.FromScalar(float32(1)), true) }, "unet: setting /a/b: no context"},
		{"SetVariable, no value", func() error { return SetVariable(context.New(), "/a", "b", nil, true) }, "unet: setting /a/b: no value (nil)"},
		{"SetVariable, relative scope", func() error { return SetVariable(context.New(), "a/b", "w", tensors.FromScalar(float32(1)), true) },
			`unet: setting variable "w" of scope "a/b": the scope must be absolute, starting with "/"`},
		{"SetVariable, no scope", func() error { return SetVariable(context.New(), "", "w", tensors.FromScalar(float32(1)), true) },
			`of scope "": the scope must be absolute`},
		{"SetVariable, no name", func() error { return SetVariable(context.New(), "/a", "", tensors.FromScalar(float32(1)), true) },
			"unet: setting a variable of scope /a: no name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("panicked: %v", p)
					}
				}()
				err = tc.call()
			}()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// stateDictWith returns the error of m.StateDict for a context holding
// value as the model's first weight.
func stateDictWith(m *Model, value *tensors.Tensor) error {
	ctx := context.New()
	scope, name := KeyScope(m.Params()[0].Name)
	if err := SetVariable(ctx, scope, name, value, true); err != nil {
		return err
	}
	_, err := m.StateDict(ctx)
	return err
}

// TestKeyScope checks the scope and name KeyScope gives a checkpoint key,
// a key without a prefix included (a variable of the root scope, which
// SetVariable then sets there), which panicked.
func TestKeyScope(t *testing.T) {
	for _, tc := range []struct {
		key, scope, name string
	}{
		{"input_blocks.1.0.in_layers.2.weight", "/input_blocks/1/0/in_layers/2", "weight"},
		{"out.bias", "/out", "bias"},
		{"weight", "/", "weight"},
		{"", "/", ""},
	} {
		t.Run(tc.key, func(t *testing.T) {
			var scope, name string
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("panicked: %v", p)
					}
				}()
				scope, name = KeyScope(tc.key)
			}()
			if scope != tc.scope || name != tc.name {
				t.Errorf("KeyScope(%q) = %q, %q; want %q, %q", tc.key, scope, name, tc.scope, tc.name)
			}
		})
	}
	ctx := context.New()
	scope, name := KeyScope("weight")
	if err := SetVariable(ctx, scope, name, tensors.FromScalar(float32(2)), false); err != nil {
		t.Fatal(err)
	}
	if v := ctx.GetVariableByScopeAndName("/", "weight"); v == nil {
		t.Error(`a key without a prefix is not set in the root scope ("/")`)
	}
}

// TestParamsAreACopy checks that changing what Params returns (sorting it,
// editing a name or a shape) leaves the model's own layout as it was: the
// slice was the model's, so a caller's edit changed what Match and Load
// expect.
func TestParamsAreACopy(t *testing.T) {
	m, err := New(Config{ImageSize: 8, NumChannels: 32, NumResBlocks: 1, ChannelMult: "1,2",
		NumHeads: 1, NumHeadChannels: -1, NumHeadsUpsample: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(p []Param)
	}{
		{"shape", func(p []Param) { p[0].Shape[0] = 999 }},
		{"name", func(p []Param) { p[1].Name = "renamed" }},
		{"order", func(p []Param) { p[0], p[len(p)-1] = p[len(p)-1], p[0] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before []Param // a copy made here, whatever Params returns
			for _, p := range m.Params() {
				before = append(before, Param{Name: p.Name, Shape: slices.Clone(p.Shape)})
			}
			n := m.NumParams()
			tc.edit(m.Params())
			got := m.Params()
			for k := range before {
				if got[k].Name != before[k].Name || !slices.Equal(got[k].Shape, before[k].Shape) {
					t.Fatalf("parameter %d is %s %v after editing a copy, was %s %v", k, got[k].Name, got[k].Shape, before[k].Name, before[k].Shape)
				}
			}
			if m.NumParams() != n {
				t.Errorf("%d parameters after editing a copy, was %d", m.NumParams(), n)
			}
		})
	}
}
