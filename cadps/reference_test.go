package cadps

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/checkpoints"
	"github.com/cadps/toolkit/internal/fixtures"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// TestReference replays every step and trajectory fixture, for any task the
// operators support (the image shape from the recorded tensors, the
// operator from its configuration plus the recorded mask or kernel), and
// compares every recorded tensor within the fixture's tolerance. CA-DPS
// fixtures are also replayed with the two network calls batched
// (cadps:batched=true).
func TestReference(t *testing.T) {
	fixtures.RunKinds(t, "cadps", map[string]fixtures.Handler{"step": testStep, "trajectory": testTrajectory})
}

// TestReferenceMalformed replays a copy of a step fixture whose y_clean
// is misspelt, in the data and its sidecar, through TestReference in a
// subprocess: its subtest must fail, naming what is missing, rather than
// skip the measurement's check.
func TestReferenceMalformed(t *testing.T) {
	f := fixtures.OfKind(t, "step", nil)[0]
	root := t.TempDir()
	// The network's folder, copied first, also holds the config.json
	// Model reads.
	model, err := f.Path("model")
	if err != nil {
		t.Fatal(err)
	}
	modelDir := filepath.Join(root, filepath.Base(f.Dir), filepath.Dir(f.Files["model"]))
	if err := os.CopyFS(modelDir, os.DirFS(filepath.Dir(model))); err != nil {
		t.Fatal(err)
	}
	dir := f.Copy(t, root)
	data := filepath.Join(dir, f.Files["data"])
	sd, err := checkpoints.LoadSafetensors(data)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(sd.Names, "y_clean") {
		t.Fatalf("%s records no y_clean to misspell", f.Name)
	}
	sd.Tensors["y_clen"] = sd.Tensors["y_clean"]
	sd.Tensors["y_clen"].Name = "y_clen"
	delete(sd.Tensors, "y_clean")
	sd.Names[slices.Index(sd.Names, "y_clean")] = "y_clen"
	if err := checkpoints.SaveSafetensors(data, sd); err != nil {
		t.Fatal(err)
	}
	fixtures.EditJSON(t, strings.TrimSuffix(data, ".safetensors")+".json", func(side map[string]any) {
		tensors := side["tensors"].(map[string]any)
		tensors["y_clen"] = tensors["y_clean"]
		delete(tensors, "y_clean")
	})
	name := filepath.Base(dir)
	fixtures.ReplayMalformed(t, root, map[string]string{name: name + ": the fixture records x0 but no y_clean"})
}

// variant is a sampler a fixture is replayed with, and its method spec.
type variant struct {
	spec string
	s    *Sampler
}

// variants returns the samplers a fixture is replayed with: the method as
// released and, for CA-DPS, its batched variant.
func (r *replay) variants(t *testing.T) []variant {
	t.Helper()
	out := []variant{{r.fx.Method, r.sampler(t, false)}}
	if r.fx.Method == "cadps" {
		out = append(out, variant{"cadps:batched=true", r.sampler(t, true)})
	}
	return out
}

// testStep replays one recorded reverse step: the measurement, the
// network output(s), the prior's mean, variance and sample, the residual
// norm and its gradient (from the recorded x_t and draws), and the method's
// x_{t-1}, x̂0, norm and (CA-DPS) second-derivative term from every sampler
// variant.
func testStep(t *testing.T, f *fixtures.Fixture) {
	tol := f.MustTolerance(t, "all")
	r := setup(t, f, "x_t")
	r.checkMeasurement(t, tol)
	idx := r.ints(t, "t_index")
	if len(idx) != 1 {
		t.Fatalf("%s: t_index holds %d indices, want 1", f.Name, len(idx))
	}
	i := idx[0]
	x, z, zy, y := r.tensor(t, "x_t"), r.tensor(t, "z"), r.tensor(t, "z_qsample"), r.tensor(t, "y")
	r.checkTimesteps(t, i, "model_timestep", "model_timestep_prev")
	mid := r.intermediates(t, true, x, i, z, y)
	for _, name := range []string{"model_output", "model_output_prev", "pred_xstart", "model_mean", "model_log_variance", "x_prime", "norm", "norm_grad"} {
		if !r.has(name) {
			continue
		}
		if mid[name] == nil {
			t.Errorf("%s: %s is recorded, but a %s step computes none", f.Name, name, r.fx.Method)
			continue
		}
		tolName := tol
		if name == "pred_xstart" {
			tolName = r.predXStartTolerance(tol, i)
		}
		r.check(t, name+" (from x_t)", tolName, mid[name], r.tensor(t, name))
	}
	for _, v := range r.variants(t) {
		name := v.spec
		info, err := v.s.Step(x, i, z, zy, y)
		if err != nil {
			t.Fatal(err)
		}
		r.check(t, name+": x_next", tol, info.X, r.tensor(t, "x_next"))
		r.check(t, name+": pred_xstart", r.predXStartTolerance(tol, i), info.PredXStart, r.tensor(t, "pred_xstart"))
		r.check(t, name+": norm", tol, tensors.FromFlatDataAndDimensions(info.Residual, len(info.Residual)), r.tensor(t, "norm"))
		if r.has("sec_der") {
			r.check(t, name+": sec_der", tol, minusOne(t, info), r.tensor(t, "sec_der"))
		}
	}
	r.checkAllRead(t)
}

// testTrajectory replays a recorded run: every step from the recorded
// state x[k] with the recorded draws (x[k+1], the prior sample x', x̂0, the
// residual norm and, for CA-DPS, the second-derivative term) with every
// sampler variant, then the whole run freely from x_T with the method as
// released.
func testTrajectory(t *testing.T, f *fixtures.Fixture) {
	tolStep := f.MustTolerance(t, "each step from the recorded state")
	tolFinal := f.MustTolerance(t, "final, running freely from x_T")
	r := setup(t, f, "x_T")
	r.checkMeasurement(t, tolStep)
	idx := r.ints(t, "t_index")
	steps := r.p.Process.NumSteps()
	if len(idx) != steps {
		t.Fatalf("%s: %d steps recorded, the diffusion configuration has %d", f.Name, len(idx), steps)
	}
	for k, i := range idx {
		if i != steps-1-k {
			t.Fatalf("%s: step %d ran at index %d, want %d (the reverse order)", f.Name, k, i, steps-1-k)
		}
	}
	r.checkTimesteps(t, -1, "model_timestep", "")
	y := r.tensor(t, "y")
	r.check(t, "x[0] = x_T", tolStep, r.slab(t, "x", 0), r.tensor(t, "x_T"))
	rec := &RecordedNoise{Init: tensors.MustCopyFlatData[float32](r.tensor(t, "x_T")), Sample: map[int][]float32{}, Measurement: map[int][]float32{}}
	for k, i := range idx {
		rec.Sample[i] = tensors.MustCopyFlatData[float32](r.slab(t, "noise", k))
		if r.has("noise_qsample") {
			rec.Measurement[i] = tensors.MustCopyFlatData[float32](r.slab(t, "noise_qsample", k))
		}
	}
	noise := func(m map[int][]float32, i int, like *tensors.Tensor) *tensors.Tensor {
		v, ok := m[i]
		if !ok {
			v = make([]float32, like.Shape().Size())
		}
		return tensors.FromFlatDataAndDimensions(v, like.Shape().Dimensions...)
	}
	for _, v := range r.variants(t) {
		name := v.spec
		for k, i := range idx {
			x := r.slab(t, "x", k)
			z, zy := noise(rec.Sample, i, x), noise(rec.Measurement, i, y)
			info, err := v.s.Step(x, i, z, zy, y)
			if err != nil {
				t.Fatal(err)
			}
			at := fmt.Sprintf("%s: step %d (index %d): ", name, k, i)
			r.check(t, at+"x", tolStep, info.X, r.slab(t, "x", k+1))
			r.check(t, at+"pred_xstart", r.predXStartTolerance(tolStep, i), info.PredXStart, r.slab(t, "pred_xstart", k))
			r.check(t, at+"norm", tolStep, tensors.FromFlatDataAndDimensions(info.Residual, len(info.Residual)), r.slab(t, "norm", k))
			if r.has("sec_der") {
				r.check(t, at+"sec_der", tolStep, minusOne(t, info), r.slab(t, "sec_der", k))
			}
			if name == r.fx.Method && r.has("x_prime") {
				r.check(t, at+"x_prime", tolStep, r.intermediates(t, false, x, i, z, y)["x_prime"], r.slab(t, "x_prime", k))
			}
		}
	}
	final, err := r.sampler(t, false).Run(nil, r.shape, y, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.check(t, "final (free running)", tolFinal, final, r.tensor(t, "final"))
	r.checkAllRead(t)
}

// predXStartTolerance returns the bound on x̂0 at index i: the fixture's
// bound on a step's outputs times x̂0's amplification of the network's
// error. x̂0 = (x_t − √(1−ᾱ)·ε)/√ᾱ moves by √(1/ᾱ−1)·δ when ε moves by δ,
// a factor of 157 at t = 999, where float32 network outputs that agree
// to 10⁻⁶ give x̂0s up to 2.8·10⁻⁴ apart (the bound is then 1.6·10⁻²);
// below a factor of 1 the bound is the fixture's.
func (r *replay) predXStartTolerance(tol fixtures.Tolerance, i int) fixtures.Tolerance {
	ab, ok := r.p.Process.Schedule().Array("alphas_cumprod")
	if !ok || i < 0 || i >= len(ab) {
		return tol
	}
	if amp := math.Sqrt(1/ab[i] - 1); amp > 1 {
		tol.Bound *= amp
		tol.Text = fmt.Sprintf("%s, times x̂0's amplification %.3g of the network's error at index %d", tol.Text, amp, i)
	}
	return tol
}

// checkTimesteps checks the recorded network timesteps against the
// process's timestep map: name at index i (i < 0: one per step, in reverse
// order) and, when recorded, prev at index i−1.
func (r *replay) checkTimesteps(t *testing.T, i int, name, prev string) {
	t.Helper()
	tm := r.p.Process.TimestepMap()
	if r.has(name) {
		got := r.ints(t, name)
		for k, ts := range got {
			at := i
			if i < 0 {
				at = len(tm) - 1 - k
			}
			if at < 0 || at >= len(tm) || ts != tm[at] {
				t.Errorf("%s: %s[%d] = %d, the timestep map gives %v at index %d", r.f.Name, name, k, ts, tm[max(0, min(at, len(tm)-1))], at)
			}
		}
	}
	if prev != "" && r.has(prev) {
		if got := r.ints(t, prev); i < 1 || len(got) != 1 || got[0] != tm[i-1] {
			t.Errorf("%s: %s = %v, want [%d] (the timestep of index %d)", r.f.Name, prev, got, tm[max(i-1, 0)], i-1)
		}
	}
}

// intermediates evaluates the parts of one reverse step from x_t = x at
// index i with draw z and measurement y, through the step's own building
// blocks (guidance.Step): the network output (and, for CA-DPS, the output
// at the previous index), x̂0, the posterior mean and log-variance, the
// prior sample x' and, with grad, the residual norm and its gradient.
func (r *replay) intermediates(t *testing.T, grad bool, x *tensors.Tensor, i int, z, y *tensors.Tensor) map[string]*tensors.Tensor {
	t.Helper()
	if r.mid == nil {
		r.mid = map[bool]*midExec{}
	}
	m, ok := r.mid[grad]
	if !ok {
		m = r.newIntermediates(t, grad)
		r.mid[grad] = m
	}
	res, err := m.exec.Exec(x, tensors.FromScalar(int32(i)), z, y)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*tensors.Tensor{}
	for k, n := range *m.names {
		out[n] = res[k]
	}
	return out
}

// midExec is the compiled graph of intermediates and its output names
// (set when the graph is built).
type midExec struct {
	exec  *context.Exec
	names *[]string
}

func (r *replay) newIntermediates(t *testing.T, grad bool) *midExec {
	t.Helper()
	var names []string
	exec, err := context.NewExec(r.p.Backend, r.p.Ctx, func(ctx *context.Context, x, i, z, y *graph.Node) []*graph.Node {
		st := &guidance.Step{Ctx: ctx, Net: r.p.Net, Process: r.p.Process, Op: r.p.Op, X: x, I: i, Z: z, Y: y}
		out := st.Net(ctx, x, st.Timestep(i))
		mv := r.p.Process.PMeanVariance(x, i, out)
		names = []string{"model_output", "pred_xstart", "model_mean", "model_log_variance", "x_prime"}
		outs := []*graph.Node{out, mv.PredXStart, mv.Mean, mv.LogVariance, st.Prior(mv)}
		if grad {
			g, norm := st.NormGradient(mv.PredXStart)
			names = append(names, "norm", "norm_grad")
			outs = append(outs, norm, g)
		}
		if r.fx.Method == "cadps" {
			prev := graph.Max(graph.Sub(i, graph.OnesLike(i)), graph.ZerosLike(i))
			names = append(names, "model_output_prev")
			outs = append(outs, st.Net(ctx, graph.StopGradient(x), st.Timestep(prev)))
		}
		return outs
	})
	if err != nil {
		t.Fatal(err)
	}
	return &midExec{exec: exec, names: &names}
}

// minusOne returns CA-DPS's multiplier 1+d less one, to compare with the
// recorded d (sec_der).
func minusOne(t *testing.T, info StepInfo) *tensors.Tensor {
	t.Helper()
	m, ok := info.Extra["multiplier"]
	if !ok {
		t.Fatal("the step reports no CA-DPS multiplier")
	}
	v := tensors.MustCopyFlatData[float32](m)
	for i := range v {
		v[i]--
	}
	return tensors.FromFlatDataAndDimensions(v, m.Shape().Dimensions...)
}
