package guidance_test

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/prior/small"
	"github.com/cadps/toolkit/cadps/unet"
	"github.com/cadps/toolkit/internal/fixtures"
	"github.com/cadps/toolkit/internal/num"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// loadStepUNet loads, into a new context, the largest unet fixture
// network a DDPM step with learned variances can use (unconditional,
// learn_sigma; the shared unet-a, 32×32), and returns its image size; it
// skips the benchmark when there is none.
func loadStepUNet(b *testing.B) (*context.Context, guidance.Network, int) {
	b.Helper()
	var best *unet.Model
	var bestCfg unet.Config
	var bestFixture *fixtures.Fixture
	for _, f := range fixtures.OfKind(b, "unet", nil) {
		var fx struct {
			Kwargs json.RawMessage `json:"create_model_kwargs"`
		}
		if err := f.Decode(&fx); err != nil {
			b.Fatal(err)
		}
		cfg, err := unet.ParseConfig(fx.Kwargs)
		if err != nil {
			b.Fatal(err)
		}
		if _, ok := f.Files["model_safetensors"]; !ok || !cfg.LearnSigma || cfg.ClassCond || cfg.ImageSize%2 != 0 {
			continue
		}
		if best == nil || cfg.ImageSize > bestCfg.ImageSize {
			if best, err = unet.New(cfg); err != nil {
				b.Fatal(err)
			}
			bestCfg, bestFixture = cfg, f
		}
	}
	if best == nil {
		b.Skip("no unconditional unet fixture with learned variances")
	}
	path, err := bestFixture.Path("model_safetensors")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.New()
	if err := best.LoadFile(ctx, path); err != nil {
		b.Fatal(err)
	}
	b.Logf("network of fixture %s (%dx%d)", bestFixture.Name, bestCfg.ImageSize, bestCfg.ImageSize)
	return ctx, cadps.UNetNetwork(best), bestCfg.ImageSize
}

// BenchmarkMethodStep times one step of every method on a fixture network
// (see loadStepUNet; one 3×32×32 image with the shared fixtures, the reference's DPS diffusion
// configuration respaced to 50 steps) with the ×2 super-resolution
// operator, on the pure-Go backend, and reports the network forwards the
// step's graph holds (net-calls/step). A step is one reverse step for DPS
// and its relatives, DDRM and DiffPIR, and one annealing stage for DAPS
// (its default 5 ODE forwards and 100 Langevin steps). The step graph is
// compiled before the timer starts. Run it with
//
//	go test ./cadps/guidance/ -run '^$' -bench MethodStep -benchtime 3x
func BenchmarkMethodStep(b *testing.B) {
	ctx, net, size := loadStepUNet(b)
	proc, err := diffusion.New(diffusion.Config{Steps: 1000, NoiseSchedule: "linear", Respacing: "50",
		MeanType: diffusion.MeanEpsilon, VarType: diffusion.VarLearnedRange, ClipDenoised: true})
	if err != nil {
		b.Fatal(err)
	}
	op, err := ops.NewSuperResolution(2, "")
	if err != nil {
		b.Fatal(err)
	}
	// DPS runs first: every other method also reports its time per step
	// relative to DPS's in the same run (x-dps).
	names := append([]string{"dps"}, slices.DeleteFunc(guidance.Names(), func(n string) bool { return n == "dps" })...)
	benchmarkSteps(b, stepBench{ctx: ctx, net: net, proc: proc, op: op, shape: []int{1, 3, size, size}}, names)
}

// BenchmarkSmallPriorStep times a DPS and a CA-DPS step of the shipped
// small prior (fmnist32, one 1×32×32 image) on the task of make demo (a
// 12×12 box inpainted), its diffusion respaced to 100 steps, as make demo
// samples. Run it with
//
//	go test ./cadps/guidance/ -run '^$' -bench SmallPriorStep -benchtime 20x
func BenchmarkSmallPriorStep(b *testing.B) {
	ctx := context.New()
	m, err := small.Load(ctx)
	if err != nil {
		b.Fatal(err)
	}
	cfg := small.Diffusion()
	cfg.Respacing = "100"
	proc, err := diffusion.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	shape := []int{1, small.Config().InChannels, small.Config().ImageSize, small.Config().ImageSize}
	op, err := ops.Parse("inpaint_box:size=12", shape, 1)
	if err != nil {
		b.Fatal(err)
	}
	benchmarkSteps(b, stepBench{ctx: ctx, net: cadps.UNetNetwork(m), proc: proc, op: op, shape: shape}, []string{"dps", "cadps"})
}

// stepBench is a network, a diffusion process, an operator and the image
// shape whose sampling steps benchmarkSteps times.
type stepBench struct {
	ctx   *context.Context
	net   guidance.Network
	proc  *diffusion.Process
	op    ops.Operator
	shape []int
}

// benchmarkSteps runs one sub-benchmark per method of names, timing a step
// at t = 25 on random x, y and draws after compiling it; a method other
// than the first also reports its time per step relative to the first's
// (x-dps when the first is DPS).
func benchmarkSteps(b *testing.B, sb stepBench, names []string) {
	be, err := backend.New()
	if err != nil {
		b.Fatal(err)
	}
	yShape, err := sb.op.OutputShape(sb.shape)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	x, z := randomTensor(r, sb.shape), randomTensor(r, sb.shape)
	y, zy := randomTensor(r, yShape), randomTensor(r, yShape)
	kind := ops.KindOf(sb.op)
	scales := map[string]float64{"dps": guidance.DefaultScale(guidance.DPS{}, kind), "cadps": guidance.DefaultScale(guidance.CADPS{}, kind),
		"mcg": guidance.DefaultScale(guidance.MCG{}, kind)}
	var firstTime float64
	for i, name := range names {
		b.Run(name, func(b *testing.B) {
			m, err := guidance.New(name, guidance.Options{})
			if err != nil {
				b.Fatal(err)
			}
			scale, ok := scales[name]
			if !ok {
				scale = 1
			}
			calls := 0
			counting := func(ctx *context.Context, x, t *graph.Node) *graph.Node {
				calls++
				return sb.net(ctx, x, t)
			}
			s, err := cadps.NewSampler(cadps.Problem{Backend: be, Ctx: sb.ctx, Net: counting, Process: sb.proc, Op: sb.op,
				Method: m, Scale: scale, SigmaY: 0.05})
			if err != nil {
				b.Fatal(err)
			}
			shapes, err := s.DrawShapes(sb.shape)
			if err != nil {
				b.Fatal(err)
			}
			draws := []*tensors.Tensor{z, zy}
			if _, ok := m.(guidance.Drawer); ok {
				draws = draws[:0]
				for _, d := range shapes {
					draws = append(draws, randomTensor(r, d))
				}
			}
			if _, err := s.StepDraws(x, 25, draws, y); err != nil { // compile
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := s.StepDraws(x, 25, draws, y); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(calls), "net-calls/step")
			perStep := float64(b.Elapsed()) / float64(b.N)
			if i == 0 {
				firstTime = perStep
			} else if firstTime > 0 {
				b.ReportMetric(perStep/firstTime, "x-"+names[0])
			}
		})
	}
}

func randomTensor(r *rand.Rand, dims []int) *tensors.Tensor {
	v := make([]float32, num.Prod(dims))
	for k := range v {
		v[k] = float32(r.NormFloat64())
	}
	return tensors.FromFlatDataAndDimensions(v, dims...)
}
