package cadps

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/unet"
	"github.com/cadps/toolkit/internal/num"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// tinyUNet is a UNet small enough for whole runs in tests: 8×8 images, one
// resolution with attention, learned variance.
func tinyUNet(t testing.TB) (*unet.Model, *context.Context) {
	t.Helper()
	m, err := unet.New(unet.Config{ImageSize: 8, NumChannels: 32, NumResBlocks: 1, ChannelMult: "1,2",
		LearnSigma: true, AttentionResolutions: "4", NumHeads: 2, NumHeadChannels: -1, NumHeadsUpsample: -1,
		UseScaleShiftNorm: true, ResblockUpdown: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.New()
	if err := m.InitRandom(ctx, 5); err != nil {
		t.Fatal(err)
	}
	return m, ctx
}

// newProblemSampler builds a sampler for method on network net over a
// 1000-step linear process respaced to steps, with ×2 super-resolution
// (none for the unconditional method).
func newProblemSampler(t testing.TB, b backends.Backend, ctx *context.Context, net guidance.Network, method string, steps int) *Sampler {
	t.Helper()
	proc, err := diffusion.New(diffusion.Config{Steps: 1000, NoiseSchedule: "linear", Respacing: strconv.Itoa(steps),
		MeanType: diffusion.MeanEpsilon, VarType: diffusion.VarLearnedRange, ClipDenoised: true})
	if err != nil {
		t.Fatal(err)
	}
	meth, err := guidance.ParseSpec(method, guidance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := Problem{Backend: b, Ctx: ctx, Net: net, Process: proc, Method: meth, Scale: 0.3, SigmaY: 0.05}
	if method != "unconditional" {
		if p.Op, err = ops.NewSuperResolution(2, ""); err != nil {
			t.Fatal(err)
		}
	}
	s, err := NewSampler(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func randomNormal(seed uint64, dims ...int) *tensors.Tensor {
	r := rand.New(rand.NewPCG(seed, seed+1))
	v := make([]float32, num.Prod(dims))
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return tensors.FromFlatDataAndDimensions(v, dims...)
}

func maxAbsDiff(a, b []float32) float64 {
	var d float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

// TestGraphNoiseStatistics checks the in-graph draws: standard normal
// moments and tail fractions, independent successive draws, the same draws
// for the same seed and different ones for another seed.
func TestGraphNoiseStatistics(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	const n = 1 << 16
	draws, err := NewGraphNoise(1).Normals(b, 2, 16, 4096)
	if err != nil {
		t.Fatal(err)
	}
	z := draws[0]
	if len(z) != n {
		t.Fatalf("%d values, want %d", len(z), n)
	}
	var sum, sum2, sum4, within1, within2, maxAbs float64
	for _, v := range z {
		x := float64(v)
		if math.IsNaN(x) || math.IsInf(x, 0) {
			t.Fatalf("draw %v", x)
		}
		sum += x
		sum2 += x * x
		sum4 += x * x * x * x
		if math.Abs(x) < 1 {
			within1++
		}
		if math.Abs(x) < 2 {
			within2++
		}
		maxAbs = max(maxAbs, math.Abs(x))
	}
	mean, variance := sum/n, sum2/n-(sum/n)*(sum/n)
	kurtosis := sum4 / n / (variance * variance)
	var cross float64
	for i := range z {
		cross += float64(z[i]) * float64(draws[1][i])
	}
	corr := cross / n
	t.Logf("n = %d: mean %.4f, variance %.4f, kurtosis %.3f, P(|z|<1) %.4f, P(|z|<2) %.4f, max|z| %.2f, corr(draw 1, draw 2) %.4f",
		n, mean, variance, kurtosis, within1/n, within2/n, maxAbs, corr)
	// Each bound is ≥ 5 standard errors of its estimate at n = 65536.
	for _, c := range []struct {
		what      string
		got, want float64
		tol       float64
		se        float64
	}{
		{"mean", mean, 0, 0.02, 1 / math.Sqrt(n)},
		{"variance", variance, 1, 0.03, math.Sqrt(2.0 / n)},
		{"kurtosis", kurtosis, 3, 0.1, math.Sqrt(24.0 / n)},
		{"P(|z|<1)", within1 / n, 0.682689, 0.01, math.Sqrt(0.68 * 0.32 / n)},
		{"P(|z|<2)", within2 / n, 0.954500, 0.005, math.Sqrt(0.95 * 0.05 / n)},
		{"correlation of successive draws", corr, 0, 0.02, 1 / math.Sqrt(n)},
	} {
		if c.tol < 5*c.se {
			t.Fatalf("%s: tolerance %.3g below 5 standard errors %.3g", c.what, c.tol, 5*c.se)
		}
		if math.Abs(c.got-c.want) > c.tol {
			t.Errorf("%s = %.4f, want %.4f ± %.3g", c.what, c.got, c.want, c.tol)
		}
	}
	if maxAbs > 6.8 {
		t.Errorf("max|z| = %.2f beyond the 6.8 the draw can make", maxAbs)
	}

	again, err := NewGraphNoise(1).Normals(b, 1, 16, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(again[0], z) {
		t.Error("seed 1 drew different values twice")
	}
	other, err := NewGraphNoise(2).Normals(b, 1, 16, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if maxAbsDiff(other[0], z) == 0 {
		t.Error("seeds 1 and 2 drew the same values")
	}
}

// TestGraphNoiseHostDraws checks what GraphNoise answers on the host: x_T,
// the same at every call, and an ErrGraphNoise for the per-step kinds.
func TestGraphNoiseHostDraws(t *testing.T) {
	g := NewGraphNoise(3)
	a, err := g.Normal(NoiseInit, -1, 100)
	if err != nil {
		t.Fatal(err)
	}
	b, err := g.Normal(NoiseInit, -1, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a, b) {
		t.Error("x_T differs between calls")
	}
	for _, kind := range []NoiseKind{NoiseSample, NoiseMeasurement} {
		if _, err := g.Normal(kind, 4, 10); !errors.Is(err, ErrGraphNoise) {
			t.Errorf("kind %d: error %v, want ErrGraphNoise", kind, err)
		}
	}
}

// TestGraphNoiseNormalsChecks checks that Normals refuses a negative count
// and a dimension that is not positive with an error naming it, instead of
// panicking.
func TestGraphNoiseNormalsChecks(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	g := NewGraphNoise(1)
	for _, tc := range []struct {
		name  string
		count int
		dims  []int
		want  string
	}{
		{"negative count", -1, []int{2}, "count -1, want at least 0"},
		{"negative dimension", 1, []int{2, -3}, "shape [2 -3]: every dimension must be positive"},
		{"zero dimension", 1, []int{0}, "shape [0]: every dimension must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("panicked: %v", p)
					}
				}()
				_, err = g.Normals(b, tc.count, tc.dims...)
			}()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestGraphNoiseSeedModulus pins what RNGState's comment and docs/cli.md
// (-graph-noise) say: the in-graph generator sees the seed only modulo
// 2³¹−1, with 0 taken as 89482311, so such seeds share their per-step draws
// while their x_T differs; seeds apart by less share nothing.
func TestGraphNoiseSeedModulus(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	const mod = 1<<31 - 1
	for _, c := range []struct {
		a, b uint64
		same bool
	}{
		{0, 89482311, true},
		{5, 5 + mod, true},
		{7, 7 + 5*mod, true},
		{5, 6, false},
		{5, 5 + 1<<31, false},
	} {
		da, err := NewGraphNoise(c.a).Normals(b, 2, 3, 4)
		if err != nil {
			t.Fatal(err)
		}
		db, err := NewGraphNoise(c.b).Normals(b, 2, 3, 4)
		if err != nil {
			t.Fatal(err)
		}
		same := slices.Equal(da[0], db[0]) && slices.Equal(da[1], db[1])
		if same != c.same {
			t.Errorf("seeds %d and %d: per-step draws equal %v, want %v", c.a, c.b, same, c.same)
		}
		xa, _ := NewGraphNoise(c.a).Normal(NoiseInit, -1, 12)
		xb, _ := NewGraphNoise(c.b).Normal(NoiseInit, -1, 12)
		if slices.Equal(xa, xb) {
			t.Errorf("seeds %d and %d: x_T equal", c.a, c.b)
		}
	}
}

// TestGraphNoiseRun runs DPS and CA-DPS with graph noise on a tiny random
// UNet: the runs finish with finite values, the same seed gives the same
// run (with and without a callback, which changes what the run reads back
// and frees), another seed another run.
func TestGraphNoiseRun(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	m, ctx := tinyUNet(t)
	shape := []int{2, 3, 8, 8}
	y := randomNormal(9, 2, 3, 4, 4)
	for _, method := range []string{"dps", "cadps"} {
		t.Run(method, func(t *testing.T) {
			s := newProblemSampler(t, b, ctx, UNetNetwork(m), method, 4)
			run := func(seed uint64, cb Callback) []float32 {
				t.Helper()
				x, err := s.Run(nil, shape, y, NewGraphNoise(seed), cb)
				if err != nil {
					t.Fatal(err)
				}
				v := tensors.MustCopyFlatData[float32](x)
				for _, f := range v {
					if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
						t.Fatalf("seed %d: x_0 has %v", seed, f)
					}
				}
				return v
			}
			var steps []int
			var residuals int
			a := run(1, func(info StepInfo) error {
				steps = append(steps, info.Step)
				if len(info.Residual) == 2 {
					residuals++
				}
				if _, err := tensors.CopyFlatData[float32](info.X); err != nil {
					return err
				}
				return nil
			})
			if !slices.Equal(steps, []int{1, 2, 3, 4}) || residuals != 4 {
				t.Errorf("callback saw steps %v and %d residuals, want 1…4 and 4", steps, residuals)
			}
			// The same graph twice: bit for bit on the pure-Go backend; XLA's
			// GPU kernels may reduce in another order from run to run (4.6e-3
			// apart after these four guided steps on an H200).
			plain := run(1, nil)
			d := maxAbsDiff(run(1, nil), plain)
			t.Logf("seed 1 twice without a callback: max|Δ| = %g", d)
			if tol := crossGraphTolerance(b); d > tol {
				t.Errorf("seed 1 twice without a callback: max|Δ| = %g > %g", d, tol)
			}
			// A callback makes the step graph return the residual norms: on
			// the pure-Go backend the run is bit for bit the same; XLA
			// compiles the two graphs apart, and their rounding differs
			// (3e-3 and 4e-3 after these four guided steps on an H200).
			d = maxAbsDiff(plain, a)
			t.Logf("seed 1 with and without a callback: max|Δ| = %g", d)
			if tol := crossGraphTolerance(b); d > tol {
				t.Errorf("seed 1 with and without a callback: max|Δ| = %g > %g", d, tol)
			}
			if d := maxAbsDiff(run(2, nil), a); d == 0 {
				t.Error("seeds 1 and 2 gave the same run")
			}
		})
	}
}

// crossGraphTolerance is how far two runs that should be the same may drift
// apart, whether one graph ran twice or two compilations of it: 0 on the
// pure-Go backend, which executes every graph op by op in the same order; on
// XLA the graphs fuse and pick kernels apart, and GPU kernels need not reduce
// in the same order twice.
func crossGraphTolerance(b backends.Backend) float64 {
	if b.Name() == backend.Name {
		return 0
	}
	return 2e-2
}

// TestGraphNoiseReplay replays a graph-noise run on the host path: an
// unconditional run draws one x-shaped z per step, which Normals exposes, so
// a RecordedNoise of those draws must give the same x_0. This checks that
// the step graph draws exactly Normals' values, in order, and that the
// in-graph and host step variants compute the same step.
func TestGraphNoiseReplay(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	m, ctx := tinyUNet(t)
	const steps = 3
	shape := []int{1, 3, 8, 8}
	s := newProblemSampler(t, b, ctx, UNetNetwork(m), "unconditional", steps)
	g := NewGraphNoise(11)
	graphX, err := s.Run(nil, shape, nil, g, nil)
	if err != nil {
		t.Fatal(err)
	}
	draws, err := g.Normals(b, steps, shape...)
	if err != nil {
		t.Fatal(err)
	}
	init, err := g.Normal(NoiseInit, -1, num.Prod(shape))
	if err != nil {
		t.Fatal(err)
	}
	rec := &RecordedNoise{Init: init, Sample: map[int][]float32{}}
	for k, z := range draws {
		rec.Sample[steps-1-k] = z
	}
	hostX, err := s.Run(nil, shape, nil, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := maxAbsDiff(tensors.MustCopyFlatData[float32](graphX), tensors.MustCopyFlatData[float32](hostX))
	t.Logf("graph noise run vs its host replay: max|Δ| = %g", d)
	// 0 on the pure-Go backend; XLA compiles the two variants separately and
	// may fuse or pick convolution algorithms differently: rounding, ≪ 1e-4.
	if d > 1e-4 {
		t.Errorf("graph noise run and its host replay differ by %g", d)
	}
}

// BenchmarkNoise compares a DPS step with host noise (SeededNoise: z and zy
// drawn in Go and uploaded every step) and with graph noise (drawn in the
// step graph; nothing uploaded per step) on the unet-a fixture
// configuration (random weights, 3×32×32, ×2 super-resolution), as whole
// runs of 8 steps after a compiling run, reported per step:
//
//	go test ./cadps -run '^$' -bench Noise -benchtime 2x
func BenchmarkNoise(b *testing.B) {
	be, err := backend.New()
	if err != nil {
		b.Fatal(err)
	}
	m, err := unet.New(unet.Config{ImageSize: 32, NumChannels: 32, NumResBlocks: 1, ChannelMult: "1,2,2", LearnSigma: true,
		AttentionResolutions: "16,8", NumHeads: 4, NumHeadChannels: 16, NumHeadsUpsample: -1, UseScaleShiftNorm: true, ResblockUpdown: true})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.New()
	if err := m.InitRandom(ctx, 1); err != nil {
		b.Fatal(err)
	}
	const steps = 8
	for _, batch := range []int{1, 4} {
		shape := []int{batch, 3, 32, 32}
		y := randomNormal(2, batch, 3, 16, 16)
		for _, noise := range []string{"host", "graph"} {
			b.Run("dps/batch="+strconv.Itoa(batch)+"/noise="+noise, func(b *testing.B) {
				s := newProblemSampler(b, be, ctx, UNetNetwork(m), "dps", steps)
				source := func(seed uint64) NoiseSource {
					if noise == "graph" {
						return NewGraphNoise(seed)
					}
					return NewSeededNoise(seed)
				}
				if _, err := s.Run(nil, shape, y, source(0), nil); err != nil { // compile
					b.Fatal(err)
				}
				var seed uint64
				start := time.Now()
				for b.Loop() {
					seed++
					if _, err := s.Run(nil, shape, y, source(seed), nil); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N*steps), "ms/step")
			})
		}
	}
}
