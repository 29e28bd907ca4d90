package diffusion

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
	fixtures.RunKinds(t, "cadps/diffusion", map[string]fixtures.Handler{
		"schedule":        func(t *testing.T, f *fixtures.Fixture) { testScheduleFixture(t, b, f) },
		"p_mean_variance": func(t *testing.T, f *fixtures.Fixture) { testPMeanVarianceFixture(t, b, f) },
	})
}

// testScheduleFixture checks every array of every respacing of the
// diffusion configuration the schedule's sidecar records: the float64
// schedule against the F64 file and the in-graph float32 lookups at every
// index against the F32 file, each within the fixture's bound for that file
// ("relative 1e-6 (F32 file) / 1e-12 (F64 file)"), both in the harness's
// measure and elementwise (|got−ref| ≤ bound·|ref| for every value).
func testScheduleFixture(t *testing.T, b backends.Backend, f *fixtures.Fixture) {
	tol32, err := f.ToleranceOf("all", "F32 file")
	if err != nil {
		t.Fatal(err)
	}
	tol64, err := f.ToleranceOf("all", "F64 file")
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Respacings []string `json:"respacings"`
	}
	if err := f.Decode(&meta); err != nil {
		t.Fatal(err)
	}
	if len(meta.Respacings) == 0 {
		t.Fatal("fixture lists no respacings")
	}
	var side struct {
		DiffusionConfig map[string]any `json:"diffusion_config"`
	}
	if err := f.Sidecar("schedule", &side); err != nil {
		t.Fatal(err)
	}
	if side.DiffusionConfig == nil {
		t.Fatalf("%s: the schedule's sidecar records no diffusion_config", f.Name)
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
			cfg := maps.Clone(side.DiffusionConfig)
			cfg["timestep_respacing"] = r
			p, err := FromConfig(cfg)
			if err != nil {
				t.Fatal(err)
			}
			prefix := "r" + r + "."
			// Every array the file records for this respacing.
			var names []string
			for _, n := range f64.Names {
				if a, ok := strings.CutPrefix(n, prefix); ok && a != "timestep_map" {
					names = append(names, a)
				}
			}
			if len(names) == 0 {
				t.Fatalf("the schedule file records no array for respacing %s", r)
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
				f.Compare(t, name+" (f64)", tol64, arr, want, []int{len(arr)}, []int{len(want)})
				d, at := maxElemRelDiff(arr, want)
				worst64 = max(worst64, d)
				if d > tol64.Bound {
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
				f.Compare(t, name+" (f32)", tol32, widen(gotF), widen(want), res[k].Shape().Dimensions, []int{len(want)})
				d, at := maxElemRelDiff(widen(gotF), widen(want))
				worst32 = max(worst32, d)
				if d > tol32.Bound {
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
	tol := f.MustTolerance(t, "all")
	if _, ok := f.Files["model"]; ok {
		f.IgnoreFile(t, "model", "p_mean_variance is replayed from the recorded model_output; the unet fixture checks the network")
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
	// Every recorded index: the prefixes of the "<at>.t_index" tensors.
	var indices []string
	for _, n := range data.Names {
		if at, ok := strings.CutSuffix(n, ".t_index"); ok {
			indices = append(indices, at)
		}
	}
	if len(indices) == 0 {
		t.Fatal("the fixture records no index (no <prefix>.t_index tensor)")
	}
	for _, at := range indices {
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
				want, wantShape := fixtures.Values(t, data, at+"."+name)
				f.Compare(t, at+"."+name, tol, widen(tensors.MustCopyFlatData[float32](res[k])), want, res[k].Shape().Dimensions, wantShape)
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

// TestScheduleFixtureConfig replays a schedule fixture of another
// diffusion configuration than the shared set's (a 200-step cosine
// schedule, written here from this package's own arrays): the replay must
// build the process its sidecar records, not the 1000-step linear one.
func TestScheduleFixtureConfig(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "schedule-cosine")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	config := map[string]any{"steps": 200, "noise_schedule": "cosine", "model_mean_type": "epsilon",
		"model_var_type": "learned_range", "clip_denoised": true}
	respacings := []string{"200", "25"}
	f32, f64 := checkpoints.NewStateDict("schedule.safetensors"), checkpoints.NewStateDict("schedule_f64.safetensors")
	for _, r := range respacings {
		cfg := maps.Clone(config)
		cfg["timestep_respacing"] = r
		p, err := FromConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		tm := make([]int64, len(p.TimestepMap()))
		for k, v := range p.TimestepMap() {
			tm[k] = int64(v)
		}
		for _, sd := range []*checkpoints.StateDict{f32, f64} {
			addTensor(t, sd, &checkpoints.Tensor{Name: "r" + r + ".timestep_map", DType: checkpoints.I64, Shape: []int{len(tm)}, Data: littleEndian(tm)})
		}
		named := p.Schedule().named()
		for _, name := range slices.Sorted(maps.Keys(named)) {
			a := named[name]
			addTensor(t, f64, &checkpoints.Tensor{Name: "r" + r + "." + name, DType: checkpoints.F64, Shape: []int{len(a)}, Data: littleEndian(a)})
			a32 := make([]float32, len(a))
			for k, v := range a {
				a32[k] = float32(v)
			}
			addTensor(t, f32, checkpoints.FromFloat32("r"+r+"."+name, []int{len(a)}, a32))
		}
	}
	writeJSON(t, filepath.Join(dir, "fixture.json"), map[string]any{"kind": "schedule", "respacings": respacings,
		"tolerance": map[string]string{"all": "relative 1e-6 (F32 file) / 1e-12 (F64 file)"},
		"files":     map[string]string{"schedule": "schedule.safetensors", "schedule_f64": "schedule_f64.safetensors"}})
	for name, sd := range map[string]*checkpoints.StateDict{"schedule": f32, "schedule_f64": f64} {
		writeJSON(t, filepath.Join(dir, name+".json"), map[string]any{"diffusion_config": config})
		var buf bytes.Buffer
		if err := checkpoints.WriteSafetensors(&buf, sd); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".safetensors"), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	all, err := fixtures.Discover(root)
	if err != nil {
		t.Fatal(err)
	}
	b := newTestBackend(t)
	testScheduleFixture(t, b, all[0])
}

// addTensor adds x to sd, failing the test on a duplicate name.
func addTensor(t *testing.T, sd *checkpoints.StateDict, x *checkpoints.Tensor) {
	t.Helper()
	if err := sd.Add(x); err != nil {
		t.Fatal(err)
	}
}

// littleEndian returns the little-endian bytes of v.
func littleEndian[T int64 | float64](v []T) []byte {
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, v); err != nil {
		panic(err) // writing fixed-size values to a buffer cannot fail
	}
	return buf.Bytes()
}

// writeJSON writes v as JSON to path.
func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}
