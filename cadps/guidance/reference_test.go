package guidance_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/internal/fixtures"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestReference replays the method fixtures made with the released code of
// DDRM, DiffPIR and DAPS: every step from the recorded state with the
// recorded draws, then a free run from the initial draw.
func TestReference(t *testing.T) {
	fixtures.RunKinds(t, "cadps/guidance", map[string]fixtures.Handler{
		"ddrm-trajectory":    replayDDRM,
		"diffpir-trajectory": replayDiffPIR,
		"daps-trajectory":    replayDAPS,
	})
}

// ddrmFixture is the part of a DDRM fixture.json the replay reads.
type ddrmFixture struct {
	Diffusion struct {
		BetaSchedule string `json:"beta_schedule"`
		Steps        int    `json:"num_diffusion_timesteps"`
		Timesteps    int    `json:"timesteps"`
	} `json:"diffusion_config"`
	DDRM struct {
		EtaA   float64 `json:"etaA"`
		EtaC   float64 `json:"etaC"`
		EtaB   float64 `json:"etaB"`
		Sigma0 float64 `json:"sigma_0"`
	} `json:"ddrm_config"`
	Operator struct {
		Deg   string `json:"deg"`
		Ratio int    `json:"ratio"`
	} `json:"operator"`
}

// ddrmOperator builds the fixture's operator through its recorded SVD and
// returns it with the measurement shaped as the operator's output.
func ddrmOperator(r *replay, fx ddrmFixture, in []int) (ops.Operator, *tensors.Tensor) {
	t := r.t
	y, _ := r.slab("y_0", -1)
	switch {
	case strings.HasPrefix(fx.Operator.Deg, "sr"):
		f := fx.Operator.Ratio
		v, _ := r.tensor("V_small")
		u, _ := r.tensor("U_small")
		s, _ := r.tensor("singulars_small")
		d, err := ops.NewBlockSVD(f, in, v, u[0], s[0])
		if err != nil {
			t.Fatal(err)
		}
		out := []int{in[0], in[1], in[2] / f, in[3] / f}
		op, err := ops.NewSVDOperator("ddrm-"+fx.Operator.Deg, d, in, out)
		if err != nil {
			t.Fatal(err)
		}
		return op, tensors.FromFlatDataAndDimensions(y, out...)
	case strings.HasPrefix(fx.Operator.Deg, "inp"):
		kept, missing := r.ints("kept_indices"), r.ints("missing_indices")
		d, err := ops.NewPermutationSVD(append(kept, missing...), len(kept), in)
		if err != nil {
			t.Fatal(err)
		}
		op, err := ops.NewSVDOperator("ddrm-"+fx.Operator.Deg, d, in, in)
		if err != nil {
			t.Fatal(err)
		}
		// y holds the observed entries (pixel-major indices kept); the
		// operator's measurement is the masked image.
		c, h, w := in[1], in[2], in[3]
		img := make([]float32, c*h*w)
		for k, idx := range kept {
			p, ch := idx/c, idx%c
			img[ch*h*w+p] = y[k]
		}
		return op, tensors.FromFlatDataAndDimensions(img, in...)
	}
	t.Fatalf("ddrm operator %q: no replay", fx.Operator.Deg)
	return nil, nil
}

func replayDDRM(t *testing.T, f *fixtures.Fixture) {
	r := newReplay(t, f)
	var fx ddrmFixture
	if err := f.Decode(&fx); err != nil {
		t.Fatal(err)
	}
	if fx.DDRM.EtaA != fx.DDRM.EtaC {
		t.Fatalf("eta_A %v and eta_C %v differ; DDRM here has one eta", fx.DDRM.EtaA, fx.DDRM.EtaC)
	}
	proc, err := diffusion.New(diffusion.Config{Steps: fx.Diffusion.Steps, NoiseSchedule: fx.Diffusion.BetaSchedule,
		Respacing: fmt.Sprint(fx.Diffusion.Timesteps), MeanType: diffusion.MeanEpsilon, VarType: diffusion.VarFixedSmall})
	if err != nil {
		t.Fatal(err)
	}
	_, in := r.slab("x_T", -1)
	op, y := ddrmOperator(r, fx, in)
	s := r.sampler(proc, op, guidance.DDRM{Eta: fx.DDRM.EtaA, EtaB: fx.DDRM.EtaB}, fx.DDRM.Sigma0)

	// The grid.
	gt, ga, gaNext, err := guidance.DDRMGrid(proc)
	if err != nil {
		t.Fatal(err)
	}
	steps := len(gt)
	// What the exact entry lists as equal, in the order of the steps: the
	// grid, and how many singular components each step updates before and
	// after the measurement's noise level (σ_next·s against σ_0).
	exact := map[string][]int{"t": make([]int, steps), "t_next": make([]int, steps),
		"n_before": make([]int, steps), "n_after": make([]int, steps), "noise_a_count": make([]int, steps)}
	at, atNext := make([]float64, steps), make([]float64, steps)
	for k := range steps {
		i := steps - 1 - k
		exact["t"][k], exact["t_next"][k] = int(gt[i]), -1
		if i > 0 {
			exact["t_next"][k] = int(gt[i-1])
		}
		at[k], atNext[k] = float64(ga[i]), float64(gaNext[i])
	}
	r.compareValues("at", r.tol("at, at_next"), at, "at")
	r.compareValues("at_next", r.tol("at, at_next"), atNext, "at_next")

	// The start.
	x0, err := s.Start(r.gomlx("x_T", -1), y)
	if err != nil {
		t.Fatal(err)
	}
	r.compare("x[0]", r.tol("y_0, U_t_y, init_y, x[0]"), x0, "x", 0)

	// Every step from the recorded state, its draws injected as the
	// reference drew them: z_C for all components, z_A for the "after"
	// ones in order, z_B for all singular components.
	sv, _ := r.tensor("singulars")
	noiseA, _ := r.slab("noise_a", -1)
	counts := r.ints("noise_a_count")
	stepTol := r.tol("each step from the recorded state (x[k], eps[k] and the draws of step k -> x0_pred[k], Vt_x0[k], Vt_next[k], x[k+1])")
	epsTol := r.tol("eps[k] from x[k] (UNet)")
	rec := &cadps.RecordedNoise{Init: flatOf(r.gomlx("x_T", -1)), Draws: map[int][]float32{}}
	dim := in[1] * in[2] * in[3]
	for k := range steps {
		i := steps - 1 - k
		zC, _ := r.slab("noise_c", k)
		zB := make([]float32, dim)
		b, _ := r.slab("noise_b", k)
		copy(zB, b)
		zA := make([]float32, dim)
		sn := sqrt32(1-float32(atNext[k])) / sqrt32(float32(atNext[k]))
		j := 0
		for c, s := range sv {
			switch ssn := float32(s) * sn; {
			case ssn > float32(fx.DDRM.Sigma0):
				exact["n_before"][k]++
			case ssn < float32(fx.DDRM.Sigma0):
				if j >= counts[k] {
					t.Fatalf("step %d: more 'after' components than the %d recorded draws", k, counts[k])
				}
				zA[c] = noiseA[j]
				j++
			}
		}
		if j != counts[k] { // the draws of later steps would be misaligned
			t.Fatalf("step %d: %d 'after' components, %d recorded draws", k, j, counts[k])
		}
		exact["n_after"][k], exact["noise_a_count"][k] = j, j
		noiseA = noiseA[j:]
		rec.Draws[i] = append(append(append([]float32(nil), zC...), zA...), zB...)
		draws := []*tensors.Tensor{
			tensors.FromFlatDataAndDimensions(zC, in[0], dim),
			tensors.FromFlatDataAndDimensions(zA, in[0], dim),
			tensors.FromFlatDataAndDimensions(zB, in[0], dim),
		}
		info, err := s.StepDraws(r.gomlx("x", k), i, draws, y)
		if err != nil {
			t.Fatal(err)
		}
		r.compare(fmt.Sprintf("step %d eps", k), epsTol, info.Extra["eps"], "eps", k)
		r.compare(fmt.Sprintf("step %d x0_pred", k), stepTol, info.PredXStart, "x0_pred", k)
		r.compare(fmt.Sprintf("step %d Vt_x0", k), stepTol, info.Extra["spectral_x0"], "Vt_x0", k)
		r.compare(fmt.Sprintf("step %d Vt_next", k), stepTol, info.Extra["spectral_next"], "Vt_next", k)
		r.compare(fmt.Sprintf("step %d x[k+1]", k), stepTol, info.X, "x", k+1)
	}

	final, err := s.Run(nil, in, y, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.compare("final (free running)", r.tol("final, running freely from x_T with the recorded draws"), final, "final", -1)

	skip := map[string]string{"y_noise": "the replay takes the measurement y_0 = y_clean + σ_0·y_noise as recorded"}
	if _, ok := r.data.Tensors["kept_indices"]; ok {
		for _, name := range []string{"kept_indices", "missing_indices"} {
			skip[name] = "the replay builds the operator from them"
		}
	} else {
		for _, name := range []string{"kept_indices", "missing_indices"} {
			skip[name] = "an inpainting fixture's mask; operator " + fx.Operator.Deg + " has none"
		}
	}
	r.checkExact(exact, skip)
}

func flatOf(t *tensors.Tensor) []float32 { return tensors.MustCopyFlatData[float32](t) }

func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }
