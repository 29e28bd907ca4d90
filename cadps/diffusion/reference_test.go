package diffusion

import (
	"fmt"
	"math"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/checkpoints"
	"github.com/cadps/toolkit/internal/fixtures"
)

func newTestBackend(t testing.TB) backends.Backend {
	t.Helper()
	b, err := backend.NewWithConfig("")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixtureArrayName maps the schedule fixture's tensor names to
// [Schedule.Array] names.
func fixtureArrayName(name string) string {
	switch name {
	case "learned_range_min_log":
		return "posterior_log_variance_clipped"
	case "learned_range_max_log":
		return "log_betas"
	}
	return name
}

// maxElemRelDiff returns max_k |got_k − want_k| / |want_k| (the absolute
// difference where want_k = 0).
func maxElemRelDiff(got, want []float64) (float64, int) {
	worst, at := 0.0, -1
	for k := range want {
		d := math.Abs(got[k] - want[k])
		if want[k] != 0 {
			d /= math.Abs(want[k])
		}
		if d > worst || math.IsNaN(got[k]) {
			worst, at = d, k
			if math.IsNaN(got[k]) {
				worst = math.Inf(1)
			}
		}
	}
	return worst, at
}

func TestReference(t *testing.T) {
	b := newTestBackend(t)
	fixtures.Run(t, []string{"schedule", "p_mean_variance", "step"}, func(t *testing.T, f *fixtures.Fixture) {
		switch f.Kind {
		case "schedule":
			testScheduleFixture(t, b, f)
		case "p_mean_variance":
			testPMeanVarianceFixture(t, b, f)
		case "step":
			testStepFixture(t, b, f)
		}
	})
}

// testScheduleFixture checks every array of every respacing: the float64
// schedule against the F64 file (relative 1e-12) and the in-graph float32
// lookups at every index against the F32 file (relative 1e-6).
func testScheduleFixture(t *testing.T, b backends.Backend, f *fixtures.Fixture) {
	var meta struct {
		Respacings []string `json:"respacings"`
	}
	if err := f.Decode(&meta); err != nil {
		t.Fatal(err)
	}
	if len(meta.Respacings) == 0 {
		t.Fatal("fixture lists no respacings")
	}
	f32, err := f.Safetensors("schedule")
	if err != nil {
		t.Fatal(err)
	}
	f64, err := f.Safetensors("schedule_f64")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range meta.Respacings {
		t.Run("r"+r, func(t *testing.T) {
			p, err := New(Config{Steps: 1000, NoiseSchedule: ScheduleLinear, Respacing: r,
				MeanType: MeanEpsilon, VarType: VarLearnedRange, ClipDenoised: true})
			if err != nil {
				t.Fatal(err)
			}
			prefix := "r" + r + "."
			names := []string{
				"betas", "alphas_cumprod", "alphas_cumprod_prev", "posterior_variance",
				"posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2",
				"sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod",
				"learned_range_min_log", "learned_range_max_log",
			}

			// timestep_map, exactly.
			tm, err := mustGet(t, f64, prefix+"timestep_map").Int64()
			if err != nil {
				t.Fatal(err)
			}
			got := p.TimestepMap()
			if len(got) != len(tm) {
				t.Fatalf("timestep_map has %d entries, want %d", len(got), len(tm))
			}
			for k := range tm {
				if int64(got[k]) != tm[k] {
					t.Fatalf("timestep_map[%d] = %d, want %d", k, got[k], tm[k])
				}
			}

			// Float64 arrays.
			worst64, worst32 := 0.0, 0.0
			sched := p.Schedule()
			for _, name := range names {
				want, err := mustGet(t, f64, prefix+name).Float64()
				if err != nil {
					t.Fatal(err)
				}
				arr, ok := sched.Array(fixtureArrayName(name))
				if !ok || len(arr) != len(want) {
					t.Fatalf("%s: got %d values, want %d", name, len(arr), len(want))
				}
				d, at := maxElemRelDiff(arr, want)
				worst64 = max(worst64, d)
				if d > 1e-12 {
					t.Errorf("%s (f64): relative difference %.3g at %d (got %v, want %v)", name, d, at, arr[at], want[at])
				}
			}

			// Float32 values gathered in-graph at every index.
			n := p.NumSteps()
			idx := make([]int32, n)
			for k := range idx {
				idx[k] = int32(k)
			}
			exec, err := graph.NewExec(b, func(i *graph.Node) []*graph.Node {
				outs := make([]*graph.Node, 0, len(names)+1)
				for _, name := range names {
					outs = append(outs, p.Lookup(fixtureArrayName(name), i))
				}
				return append(outs, p.ModelTimestep(i))
			})
			if err != nil {
				t.Fatal(err)
			}
			res, err := exec.Exec(tensors.FromFlatDataAndDimensions(idx, n))
			if err != nil {
				t.Fatal(err)
			}
			for k, name := range names {
				want, err := mustGet(t, f32, prefix+name).Float32()
				if err != nil {
					t.Fatal(err)
				}
				gotF := tensors.MustCopyFlatData[float32](res[k])
				d, at := maxElemRelDiff(widen(gotF), widen(want))
				worst32 = max(worst32, d)
				if d > 1e-6 {
					t.Errorf("%s (f32): relative difference %.3g at %d (got %v, want %v)", name, d, at, gotF[at], want[at])
				}
			}
			t.Logf("worst relative difference: %.3g (f64), %.3g (f32, in-graph)", worst64, worst32)
			mt := tensors.MustCopyFlatData[float32](res[len(names)])
			for k := range tm {
				if float64(mt[k]) != float64(tm[k]) {
					t.Fatalf("model timestep[%d] = %v, want %d", k, mt[k], tm[k])
				}
			}
		})
	}
}

// testPMeanVarianceFixture reproduces p_mean_variance from the recorded x_t
// and raw network output, at every recorded index, with ONE compiled graph.
func testPMeanVarianceFixture(t *testing.T, b backends.Backend, f *fixtures.Fixture) {
	var meta struct {
		DiffusionConfig map[string]any `json:"diffusion_config"`
	}
	if err := f.Decode(&meta); err != nil {
		t.Fatal(err)
	}
	p, err := FromConfig(meta.DiffusionConfig)
	if err != nil {
		t.Fatal(err)
	}
	data, err := f.Safetensors("data")
	if err != nil {
		t.Fatal(err)
	}
	xt := mustGet(t, data, "x_t")
	xtVals, err := xt.Float32()
	if err != nil {
		t.Fatal(err)
	}
	builds := 0
	exec, err := graph.NewExec(b, func(x, i, out *graph.Node) []*graph.Node {
		builds++
		mv := p.PMeanVariance(x, i, out)
		return []*graph.Node{mv.PredXStartUnclipped, mv.PredXStart, mv.Mean, mv.Variance, mv.LogVariance, p.ModelTimestep(i)}
	})
	if err != nil {
		t.Fatal(err)
	}
	outputs := []string{"pred_xstart_unclipped", "pred_xstart", "model_mean", "model_variance", "model_log_variance"}
	var firstGraph *graph.Graph
	for _, at := range []string{"i30", "i0"} {
		t.Run(at, func(t *testing.T) {
			idx, err := mustGet(t, data, at+".t_index").Int64()
			if err != nil {
				t.Fatal(err)
			}
			mo := mustGet(t, data, at+".model_output")
			moVals, err := mo.Float32()
			if err != nil {
				t.Fatal(err)
			}
			i32 := make([]int32, len(idx))
			for k, v := range idx {
				i32[k] = int32(v)
			}
			res, g, err := exec.ExecWithGraph(
				tensors.FromFlatDataAndDimensions(xtVals, xt.Shape...),
				tensors.FromFlatDataAndDimensions(i32, len(i32)),
				tensors.FromFlatDataAndDimensions(moVals, mo.Shape...))
			if err != nil {
				t.Fatal(err)
			}
			if firstGraph == nil {
				firstGraph = g
			} else if g != firstGraph {
				t.Error("the second index ran a different graph")
			}
			for k, name := range outputs {
				want, err := mustGet(t, data, at+"."+name).Float32()
				if err != nil {
					t.Fatal(err)
				}
				got := tensors.MustCopyFlatData[float32](res[k])
				d, err := fixtures.MaxRelDiff(got, want)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if d > 1e-4 {
					t.Errorf("%s: max|Δ|/max(1,max|ref|) = %.3g > 1e-4", name, d)
				} else {
					t.Logf("%s: max|Δ|/max(1,max|ref|) = %.3g", name, d)
				}
			}
			wantT, err := mustGet(t, data, at+".model_timestep").Int64()
			if err != nil {
				t.Fatal(err)
			}
			gotT := tensors.MustCopyFlatData[float32](res[len(outputs)])
			for k := range wantT {
				if float64(gotT[k]) != float64(wantT[k]) {
					t.Errorf("model timestep = %v, want %d", gotT[k], wantT[k])
				}
			}
		})
	}
	if builds != 1 {
		t.Errorf("the graph was built %d times, want 1", builds)
	}
}

// testStepFixture checks the unconditioned half of a recorded reverse step
// (p_sample from the recorded network output and noise z): pred_xstart,
// model_mean, model_log_variance and x_prime. The conditioning that follows
// is the samplers' business.
func testStepFixture(t *testing.T, b backends.Backend, f *fixtures.Fixture) {
	var meta struct {
		DiffusionConfig map[string]any `json:"diffusion_config"`
	}
	if err := f.Decode(&meta); err != nil {
		t.Fatal(err)
	}
	p, err := FromConfig(meta.DiffusionConfig)
	if err != nil {
		t.Fatal(err)
	}
	data, err := f.Safetensors("data")
	if err != nil {
		t.Fatal(err)
	}
	args := make([]any, 0, 4)
	for _, name := range []string{"x_t", "t_index", "model_output", "z"} {
		x := mustGet(t, data, name)
		if name == "t_index" {
			v, err := x.Int64()
			if err != nil {
				t.Fatal(err)
			}
			i32 := make([]int32, len(v))
			for k := range v {
				i32[k] = int32(v[k])
			}
			args = append(args, tensors.FromFlatDataAndDimensions(i32, x.Shape...))
			continue
		}
		v, err := x.Float32()
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, tensors.FromFlatDataAndDimensions(v, x.Shape...))
	}
	exec, err := graph.NewExec(b, func(x, i, out, z *graph.Node) []*graph.Node {
		mv := p.PMeanVariance(x, i, out)
		return []*graph.Node{mv.PredXStart, mv.Mean, mv.LogVariance, p.PSample(mv, i, z), p.ModelTimestep(i)}
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := exec.Exec(args...)
	if err != nil {
		t.Fatal(err)
	}
	for k, name := range []string{"pred_xstart", "model_mean", "model_log_variance", "x_prime"} {
		want, err := mustGet(t, data, name).Float32()
		if err != nil {
			t.Fatal(err)
		}
		d, err := fixtures.MaxRelDiff(tensors.MustCopyFlatData[float32](res[k]), want)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d > 1e-4 {
			t.Errorf("%s: max|Δ|/max(1,max|ref|) = %.3g > 1e-4", name, d)
		} else {
			t.Logf("%s: max|Δ|/max(1,max|ref|) = %.3g", name, d)
		}
	}
	wantT, err := mustGet(t, data, "model_timestep").Int64()
	if err != nil {
		t.Fatal(err)
	}
	if got := tensors.MustCopyFlatData[float32](res[4]); float64(got[0]) != float64(wantT[0]) {
		t.Errorf("model timestep = %v, want %d", got[0], wantT[0])
	}
}

func mustGet(t *testing.T, sd *checkpoints.StateDict, name string) *checkpoints.Tensor {
	t.Helper()
	x, err := sd.Get(name)
	if err != nil {
		t.Fatal(fmt.Errorf("fixture tensor: %w", err))
	}
	return x
}

func widen(v []float32) []float64 {
	out := make([]float64, len(v))
	for k, x := range v {
		out[k] = float64(x)
	}
	return out
}
