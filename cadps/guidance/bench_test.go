package guidance_test

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/unet"
	"github.com/cadps/toolkit/internal/fixtures"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// loadUNetA loads the unet-a fixture network (32×32, learned variance) into
// a new context, skipping the benchmark when the fixtures are absent.
func loadUNetA(b *testing.B) (*context.Context, guidance.Network) {
	b.Helper()
	root, err := fixtures.Root()
	if err != nil {
		b.Skip(err)
	}
	dir := filepath.Join(root, "unet-a")
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		b.Skipf("unet-a fixture: %v", err)
	}
	var mc struct {
		Kwargs json.RawMessage `json:"create_model_kwargs"`
	}
	if err := json.Unmarshal(raw, &mc); err != nil {
		b.Fatal(err)
	}
	cfg, err := unet.ParseConfig(mc.Kwargs)
	if err != nil {
		b.Fatal(err)
	}
	m, err := unet.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.New()
	if err := m.LoadFile(ctx, filepath.Join(dir, "model.safetensors")); err != nil {
		b.Fatal(err)
	}
	return ctx, cadps.UNetNetwork(m)
}

// BenchmarkMethodStep times one reverse step of every method on the unet-a
// fixture network (one 3×32×32 image, the reference's DPS diffusion
// configuration respaced to 50 steps) with the ×2 super-resolution
// operator, on the pure-Go backend. The step graph is compiled before the
// timer starts. Run it with
//
//	go test ./cadps/guidance/ -run '^$' -bench MethodStep -benchtime 3x
func BenchmarkMethodStep(b *testing.B) {
	ctx, net := loadUNetA(b)
	be, err := backend.New()
	if err != nil {
		b.Fatal(err)
	}
	proc, err := diffusion.New(diffusion.Config{Steps: 1000, NoiseSchedule: "linear", Respacing: "50",
		MeanType: diffusion.MeanEpsilon, VarType: diffusion.VarLearnedRange, ClipDenoised: true})
	if err != nil {
		b.Fatal(err)
	}
	op, err := ops.NewSuperResolution(2, "")
	if err != nil {
		b.Fatal(err)
	}
	shape := []int{1, 3, 32, 32}
	yShape, err := op.OutputShape(shape)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	x, z := randomTensor(r, shape), randomTensor(r, shape)
	y, zy := randomTensor(r, yShape), randomTensor(r, yShape)
	scales := map[string]float64{"dps": ops.DefaultScale("super_resolution"), "cadps": ops.DefaultScale("super_resolution"),
		"mcg": ops.DefaultScale("super_resolution")}
	for _, name := range guidance.Names() {
		b.Run(name, func(b *testing.B) {
			m, err := guidance.New(name, guidance.Options{})
			if err != nil {
				b.Fatal(err)
			}
			scale, ok := scales[name]
			if !ok {
				scale = 1
			}
			s, err := cadps.NewSampler(cadps.Problem{Backend: be, Ctx: ctx, Net: net, Process: proc, Op: op,
				Method: m, Scale: scale, SigmaY: 0.05})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.Step(x, 25, z, zy, y); err != nil { // compile
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := s.Step(x, 25, z, zy, y); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func randomTensor(r *rand.Rand, dims []int) *tensors.Tensor {
	v := make([]float32, prod(dims))
	for k := range v {
		v[k] = float32(r.NormFloat64())
	}
	return tensors.FromFlatDataAndDimensions(v, dims...)
}
