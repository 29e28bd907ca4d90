package unet

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/internal/benchutil"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

func TestForwardFLOPs(t *testing.T) {
	m, err := New(FFHQ256())
	if err != nil {
		t.Fatal(err)
	}
	// The PyTorch reference's count gives 388 GFLOP per FFHQ-256 forward.
	if g := float64(m.ForwardFLOPs(256)) / 1e9; g < 380 || g > 396 {
		t.Errorf("FFHQ-256 forward = %.1f GFLOP, want ≈ 388", g)
	} else {
		t.Logf("FFHQ-256 forward = %.2f GFLOP", g)
	}
}

// TestForwardFLOPsSizes checks that ForwardFLOPs panics, naming itself and
// the size, on a size the network does not take or whose count overflows
// (it returned a count for 0, for a negative size and for one the
// downsampling rounds), and that CheckImageSize refuses the same sizes
// with an error.
func TestForwardFLOPsSizes(t *testing.T) {
	m, err := New(FFHQ256())
	if err != nil {
		t.Fatal(err)
	}
	const notDivisible = "is not divisible by 32, the network's downsampling (channel_mult has 6 levels)"
	for _, tc := range []struct {
		size int
		want string // the clause after the size; "" for a count
	}{
		{256, ""},
		{32, ""},
		{0, "is not positive"},
		{-256, "is not positive"},
		{250, notDivisible},
		{1 << 40, "gives more operations than an int64 counts"},
	} {
		t.Run(strconv.Itoa(tc.size), func(t *testing.T) {
			var got any
			var n int64
			func() {
				defer func() { got = recover() }()
				n = m.ForwardFLOPs(tc.size)
			}()
			if tc.want == "" {
				if got != nil || n <= 0 {
					t.Fatalf("ForwardFLOPs = %d, panic %v; want a positive count", n, got)
				}
			} else if want := fmt.Sprintf("unet: Model.ForwardFLOPs: imageSize %d %s", tc.size, tc.want); got != want {
				t.Fatalf("ForwardFLOPs panicked with %v, want %q", got, want)
			}
			err := m.CheckImageSize(tc.size)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("CheckImageSize: %v", err)
				}
			} else if want := fmt.Sprintf("unet: image size %d %s", tc.size, tc.want); err == nil || err.Error() != want {
				t.Fatalf("CheckImageSize: %v, want %q", err, want)
			}
		})
	}
}

// benchModels are the benchmark models and input sizes: the fixture
// configs and the FFHQ preset (random weights in the real layout) run on
// 32×32, 64×64 and 256×256 inputs.
func benchModels() []struct {
	name string
	cfg  Config
	size int
} {
	return []struct {
		name string
		cfg  Config
		size int
	}{
		{"unet-a-32", Config{ImageSize: 32, NumChannels: 32, NumResBlocks: 1, ChannelMult: "1,2,2", LearnSigma: true,
			AttentionResolutions: "16,8", NumHeads: 4, NumHeadChannels: 16, NumHeadsUpsample: -1, UseScaleShiftNorm: true, ResblockUpdown: true}, 32},
		{"unet-b-16", Config{ImageSize: 16, NumChannels: 32, NumResBlocks: 2, ChannelMult: "1,2",
			AttentionResolutions: "8", NumHeads: 2, NumHeadChannels: -1, NumHeadsUpsample: -1}, 16},
		{"ffhq-32", FFHQ256(), 32},
		{"ffhq-64", FFHQ256(), 64},
		{"ffhq-256", FFHQ256(), 256},
	}
}

// BenchmarkForward reports GFLOP/s of one forward pass (batch 1).
func BenchmarkForward(b *testing.B) { benchUNet(b, false) }

// BenchmarkForwardInputGrad reports GFLOP/s of a forward pass and the
// gradient of a scalar of the output with respect to the input (the DPS
// step's network cost), counted as 3× the forward FLOPs.
func BenchmarkForwardInputGrad(b *testing.B) { benchUNet(b, true) }

func benchUNet(b *testing.B, grad bool) {
	be, err := backend.New()
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range benchModels() {
		b.Run(c.name, func(b *testing.B) {
			m, err := New(c.cfg)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.New()
			if err := m.InitRandom(ctx, 1); err != nil {
				b.Fatal(err)
			}
			s := c.size
			r := rand.New(rand.NewPCG(1, 1))
			x := make([]float32, m.InChannels()*s*s)
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
			exec := context.MustNewExec(be, ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
				out := m.Apply(ctx, x, graph.Const(x.Graph(), []float32{500}), nil)
				if !grad {
					return out
				}
				return graph.Gradient(graph.ReduceAllSum(graph.Square(out)), x)[0]
			})
			xt := tensors.FromFlatDataAndDimensions(x, 1, m.InChannels(), s, s)
			if _, err := benchutil.PeakRSS(true); err != nil {
				b.Logf("peak memory not measured: %v", err)
			}
			exec.MustExec(xt) // compile
			flops := float64(m.ForwardFLOPs(s))
			if grad {
				flops *= 3
			}
			b.ResetTimer()
			for range b.N {
				exec.MustExec(xt)[0].FinalizeAll()
			}
			sec := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(flops/sec/1e9, "GFLOP/s")
			b.ReportMetric(sec*1e3, "ms/op")
			if peak, err := benchutil.PeakRSS(false); err == nil {
				b.ReportMetric(peak, "peak-MiB")
			}
		})
	}
}
