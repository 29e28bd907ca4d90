package cadps_test

import (
	"fmt"
	"log"
	"math/rand/v2"
	"slices"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/metrics"
	"github.com/cadps/toolkit/cadps/prior/small"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// One image restored with DPS and with CA-DPS through a Sampler, the layer
// below package restore: the shipped prior, ×2 super-resolution with
// Gaussian noise, the x̂0 estimate of every step kept from the callback (the
// trajectory a notebook plots) and PSNR against the clean image. Ten steps
// keep it fast; the methods' published settings sample over all 1000.
func Example() {
	b, err := backend.New()
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.New()
	model, err := small.Load(ctx) // a 32×32 gray UNet; its weights go into ctx
	if err != nil {
		log.Fatal(err)
	}
	cfg := small.Diffusion()
	cfg.Respacing, cfg.ClipDenoised = "10", true
	process, err := diffusion.New(cfg)
	if err != nil {
		log.Fatal(err)
	}

	truth, err := imageio.Load("prior/small/testimages/0-tshirt.png", imageio.WithMode(imageio.Gray))
	if err != nil {
		log.Fatal(err)
	}
	x, dims, err := imageio.ToNCHW(truth) // [1,1,32,32] on the [−1, 1] scale
	if err != nil {
		log.Fatal(err)
	}
	shape := dims[:]
	op, err := ops.Parse("super_resolution:factor=2", shape, 0)
	if err != nil {
		log.Fatal(err)
	}
	// The measurement y = A(x) + n, n ~ N(0, 0.05²).
	ax, err := graph.NewExec(b, op.Apply)
	if err != nil {
		log.Fatal(err)
	}
	out, err := ax.Exec(tensors.FromFlatDataAndDimensions(x, shape...))
	if err != nil {
		log.Fatal(err)
	}
	noise, err := ops.NewGaussianNoise(0.05)
	if err != nil {
		log.Fatal(err)
	}
	y := tensors.FromFlatDataAndDimensions(noise.Apply(tensors.MustCopyFlatData[float32](out[0]), rand.New(rand.NewPCG(1, 0))),
		out[0].Shape().Dimensions...)

	recons := map[string][]float32{} // each method's reconstruction, in 8 bits
	for _, name := range []string{"dps", "cadps"} {
		method, err := guidance.New(name, guidance.Options{})
		if err != nil {
			log.Fatal(err)
		}
		s, err := cadps.NewSampler(cadps.Problem{Backend: b, Ctx: ctx, Net: cadps.UNetNetwork(model), Process: process,
			Op: op, Method: method, Scale: guidance.DefaultScale(method, ops.KindOf(op)), SigmaY: noise.Sigma()})
		if err != nil {
			log.Fatal(err)
		}
		var trajectory []*imageio.Image
		x0, err := s.Run(nil, shape, y, cadps.NewSeededNoise(1), func(st cadps.StepInfo) error {
			est, err := imageio.FromNCHW(tensors.MustCopyFlatData[float32](st.PredXStart), shape...)
			if err != nil {
				return err
			}
			trajectory = append(trajectory, est[0].Clamp())
			return nil
		})
		if err != nil {
			log.Fatal(err)
		}
		recon, err := imageio.FromNCHW(tensors.MustCopyFlatData[float32](x0), shape...)
		if err != nil {
			log.Fatal(err)
		}
		recons[name] = recon[0].Quantize8().Pix
		psnr, err := metrics.PSNR(truth, recon[0].Quantize8(), 1)
		if err != nil {
			log.Fatal(err)
		}
		strip, err := imageio.Strip(trajectory, 1) // imageio.Save(path, strip) writes the figure
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: ζ %g, %d x̂0 estimates side by side in a %d×%d strip, PSNR %.1f dB\n",
			name, guidance.DefaultScale(method, ops.KindOf(op)), len(trajectory), strip.W, strip.H, psnr)
	}
	// Ten steps leave the two PSNRs within 0.01 dB, but
	// CA-DPS's multiplier makes another image.
	fmt.Println("CA-DPS's reconstruction differs from DPS's:", !slices.Equal(recons["dps"], recons["cadps"]))
	// Output:
	// dps: ζ 0.3, 10 x̂0 estimates side by side in a 331×34 strip, PSNR 12.5 dB
	// cadps: ζ 0.3, 10 x̂0 estimates side by side in a 331×34 strip, PSNR 12.5 dB
	// CA-DPS's reconstruction differs from DPS's: true
}

// A table over random masks compiles its step once: every image gets its
// own 12×12 box, drawn from its seed, and the sampler of each later image
// is derived from the first with WithOperator, sharing its compiled graphs
// because the mask enters them as an input (ops.Parametrized).
func ExampleSampler_WithOperator() {
	b, err := backend.New()
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.New()
	model, err := small.Load(ctx)
	if err != nil {
		log.Fatal(err)
	}
	cfg := small.Diffusion()
	cfg.Respacing, cfg.ClipDenoised = "5", true
	process, err := diffusion.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	shape := []int{1, 1, 32, 32}
	var first *cadps.Sampler
	for seed := range uint64(3) {
		op, err := ops.Parse("inpaint_box:size=12", shape, seed)
		if err != nil {
			log.Fatal(err)
		}
		var s *cadps.Sampler
		if first == nil {
			first, err = cadps.NewSampler(cadps.Problem{Backend: b, Ctx: ctx, Net: cadps.UNetNetwork(model), Process: process,
				Op: op, Method: guidance.DPS{}, Scale: 0.5, SigmaY: 0.05})
			s = first
		} else {
			s, err = first.WithOperator(op)
		}
		if err != nil {
			log.Fatal(err)
		}
		y := tensors.FromFlatDataAndDimensions(make([]float32, 32*32), shape...) // the measurement of an all-gray image
		if _, err := s.Run(nil, shape, y, cadps.NewSeededNoise(seed), nil); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: mask as a graph input %v, the first image's graphs %v\n", op, s.OperatorInputs(), s.SharesGraphs(first))
	}
	// Output:
	// inpainting:mask_type=box,size=12,margin=2,seed=0: mask as a graph input true, the first image's graphs true
	// inpainting:mask_type=box,size=12,margin=2,seed=1: mask as a graph input true, the first image's graphs true
	// inpainting:mask_type=box,size=12,margin=2,seed=2: mask as a graph input true, the first image's graphs true
}
