package unet

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/cadps/toolkit/checkpoints"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Load checks that sd is exactly this model's state_dict (every key present,
// none unexpected, every shape right: all problems listed in one error that
// names the file and the config), that every value is finite (a NaN or an
// infinite value is an error naming the tensor: checkpoints.CheckFinite),
// and stores its tensors, as float32, in ctx under the scopes Apply reads
// them from. sd is left as it was. A nil ctx or sd is an error.
func (m *Model) Load(ctx *context.Context, sd *checkpoints.StateDict) error {
	if sd == nil {
		return errors.New("unet: no state dict to load (nil)")
	}
	return m.load(ctx, sd, false)
}

// LoadFile reads a checkpoint (.pt or .safetensors) and loads it into ctx.
// Each tensor's bytes are dropped as soon as its weight is set, so that
// memory stays close to the size of the weights, not twice it.
func (m *Model) LoadFile(ctx *context.Context, path string) error {
	if ctx == nil {
		return fmt.Errorf("unet: loading %s: %s", path, noContext)
	}
	sd, err := checkpoints.Load(path)
	if err != nil {
		return err
	}
	return m.load(ctx, sd, true)
}

// load is Load; with free, it drops each tensor's bytes from sd once its
// weight is set (they may be shared between tensors of a .pt file, and are
// freed when the last one is dropped).
func (m *Model) load(ctx *context.Context, sd *checkpoints.StateDict, free bool) error {
	if ctx == nil {
		return fmt.Errorf("unet: loading %s: %s", sd.Source, noContext)
	}
	if err := m.Match(sd); err != nil {
		return err
	}
	if err := sd.CheckFinite(); err != nil {
		return err
	}
	for _, p := range m.specs {
		t := sd.Tensors[p.Name]
		// Decoded straight into the weight's own buffer: no intermediate
		// []float32.
		v := tensors.FromShape(shapes.Make(dtypes.Float32, p.Shape...))
		var derr error
		if err := tensors.MutableFlatData(v, func(flat []float32) { derr = t.DecodeFloat32(flat) }); err != nil {
			return fmt.Errorf("unet: %s: tensor %q: %w", sd.Source, p.Name, err)
		}
		if derr != nil {
			return fmt.Errorf("unet: %s: %w", sd.Source, derr)
		}
		if err := setVariable(ctx, p.Name, v); err != nil {
			return err
		}
		if free {
			t.Data = nil
		}
	}
	return nil
}

// Match compares sd with the model's expected state_dict and returns one
// error listing every missing, unexpected and mis-shaped tensor. A nil sd
// is an error.
func (m *Model) Match(sd *checkpoints.StateDict) error {
	specs := make([]checkpoints.Spec, len(m.specs))
	for i, p := range m.specs {
		specs[i] = checkpoints.Spec{Name: p.Name, Shape: p.Shape}
	}
	cfg := m.cfg
	hints := func(sd *checkpoints.StateDict, mm checkpoints.Mismatch) []string { return matchHints(sd, mm, &cfg) }
	return checkpoints.Match(sd, specs, m.cfg.String(), hints)
}

// StateDict returns the weights held in ctx as a state_dict with the
// checkpoint keys, in PyTorch's order (for saving as safetensors). A nil
// ctx is an error.
func (m *Model) StateDict(ctx *context.Context) (*checkpoints.StateDict, error) {
	if ctx == nil {
		return nil, errors.New("unet: no context to read the weights from (nil)")
	}
	sd := checkpoints.NewStateDict("unet")
	for _, p := range m.specs {
		scope, name := KeyScope(p.Name)
		v := ctx.GetVariableByScopeAndName(scope, name)
		if v == nil {
			return nil, fmt.Errorf("unet: no weight %q in the context", p.Name)
		}
		t, err := v.Value()
		if err != nil {
			return nil, fmt.Errorf("unet: weight %q: %w", p.Name, err)
		}
		if t.DType() != dtypes.Float32 || !slices.Equal(t.Shape().Dimensions, p.Shape) {
			return nil, fmt.Errorf("unet: weight %q in the context is %s, want %s", p.Name, t.Shape(), shapes.Make(dtypes.Float32, p.Shape...))
		}
		if err := sd.Add(checkpoints.FromFloat32(p.Name, p.Shape, tensors.MustCopyFlatData[float32](t))); err != nil {
			return nil, err
		}
	}
	return sd, nil
}

// InitRandom fills ctx with seeded random weights in the model's layout, as
// the reference fixtures do (conv/linear weights ~ N(0, 1/fan_in), biases ~
// N(0, 0.05²), norm weights ~ N(1, 0.1²), norm biases ~ N(0, 0.1²)): for
// benchmarks and tests at the real sizes without the real files. A nil
// ctx is an error.
func (m *Model) InitRandom(ctx *context.Context, seed uint64) error {
	if ctx == nil {
		return fmt.Errorf("unet: random weights: %s", noContext)
	}
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for _, p := range m.specs {
		n := 1
		for _, d := range p.Shape {
			n *= d
		}
		v := make([]float32, n)
		mean, std := 0.0, 0.05
		switch {
		case len(p.Shape) == 1 && IsNormParam(p.Name) && strings.HasSuffix(p.Name, ".weight"):
			mean, std = 1, 0.1
		case len(p.Shape) == 1 && IsNormParam(p.Name):
			std = 0.1
		case len(p.Shape) >= 2:
			fanIn := n / p.Shape[0]
			std = 1 / math.Sqrt(float64(fanIn))
		}
		for i := range v {
			v[i] = float32(mean + std*r.NormFloat64())
		}
		if err := setVariable(ctx, p.Name, tensors.FromFlatDataAndDimensions(v, p.Shape...)); err != nil {
			return err
		}
	}
	return nil
}

// IsNormParam reports whether a checkpoint key names a GroupNorm's weight
// or bias (guided-diffusion's in_layers.0, out_layers.0, norm and out.0).
func IsNormParam(key string) bool {
	prefix := key[:strings.LastIndex(key, ".")]
	for _, suffix := range []string{".in_layers.0", ".out_layers.0", ".norm"} {
		if strings.HasSuffix(prefix, suffix) {
			return true
		}
	}
	return prefix == "out.0"
}

// noContext is the error message of a nil context given for the weights.
const noContext = "no context to hold the weights (nil)"

// setVariable stores value in ctx as the parameter named by a checkpoint key.
func setVariable(ctx *context.Context, key string, value *tensors.Tensor) error {
	scope, name := KeyScope(key)
	return SetVariable(ctx, scope, name, value, true)
}

// SetVariable creates or overwrites the variable scope/name of ctx with
// value, trainable or not; an existing variable of another shape is an
// error naming it, as are a nil ctx or value, a scope that is not
// absolute (starting with "/", as KeyScope gives them) and an empty name.
func SetVariable(ctx *context.Context, scope, name string, value *tensors.Tensor, trainable bool) error {
	switch {
	case ctx == nil:
		return fmt.Errorf("unet: setting %s/%s: %s", scope, name, noContext)
	case value == nil:
		return fmt.Errorf("unet: setting %s/%s: no value (nil)", scope, name)
	case !strings.HasPrefix(scope, context.ScopeSeparator):
		return fmt.Errorf("unet: setting variable %q of scope %q: the scope must be absolute, starting with %q", name, scope, context.ScopeSeparator)
	case name == "":
		return fmt.Errorf("unet: setting a variable of scope %s: no name", scope)
	}
	if v := ctx.GetVariableByScopeAndName(scope, name); v != nil {
		if !v.Shape().Equal(value.Shape()) {
			return fmt.Errorf("unet: variable %s/%s has shape %s, %s given", scope, name, v.Shape(), value.Shape())
		}
		if err := v.SetValue(value); err != nil {
			return fmt.Errorf("unet: setting %s/%s: %w", scope, name, err)
		}
		v.SetTrainable(trainable)
		return nil
	}
	ctx.InAbsPath(scope).Checked(false).VariableWithValue(name, value).SetTrainable(trainable)
	return nil
}
