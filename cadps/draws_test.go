package cadps

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/internal/num"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// halfEps is a cheap stand-in network: ε = 0.5·x (and as many variance
// channels).
func halfEps(_ *context.Context, x, _ *graph.Node) *graph.Node {
	e := graph.MulScalar(x, 0.5)
	return graph.Concatenate([]*graph.Node{e, e}, 1)
}

// TestOwnDraws runs the methods that draw their own noise and build their
// own start (DDRM, DiffPIR, DAPS) through the sampler: a run from recorded
// draws equals Start followed by StepDraws at every index with the same
// draws, Step (the z/zy form) is refused, and the in-graph noise path runs
// and repeats itself for a seed.
func TestOwnDraws(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	const steps = 4
	shape := []int{1, 3, 8, 8}
	for _, method := range []string{"ddrm", "diffpir", "daps:langevin_steps=3,ode_steps=2"} {
		t.Run(method, func(t *testing.T) {
			s := newProblemSampler(t, b, context.New(), halfEps, method, steps)
			draws, err := s.DrawShapes(shape)
			if err != nil {
				t.Fatal(err)
			}
			y := randomNormal(9, 1, 3, 4, 4)
			init := randomNormal(1, shape...)
			rec := &RecordedNoise{Init: tensors.MustCopyFlatData[float32](init), Draws: map[int][]float32{}}
			x, err := s.Start(init, y)
			if err != nil {
				t.Fatal(err)
			}
			for i := steps - 1; i >= 0; i-- {
				var ds []*tensors.Tensor
				for j, d := range draws {
					z := randomNormal(uint64(100*i+j), d...)
					ds = append(ds, z)
					rec.Draws[i] = append(rec.Draws[i], tensors.MustCopyFlatData[float32](z)...)
				}
				info, err := s.StepDraws(x, i, ds, y)
				if err != nil {
					t.Fatal(err)
				}
				x = info.X
			}
			got, err := s.Run(nil, shape, y, rec, nil)
			if err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiff(tensors.MustCopyFlatData[float32](got), tensors.MustCopyFlatData[float32](x)); d != 0 {
				t.Errorf("run from recorded draws differs from the stepped run by %g", d)
			}
			if _, err := s.Step(init, 0, init, y, y); err == nil {
				t.Error("Step with z/zy: want an error naming StepDraws")
			}
			a, err := s.Run(nil, shape, y, NewGraphNoise(3), nil)
			if err != nil {
				t.Fatal(err)
			}
			c, err := s.Run(nil, shape, y, NewGraphNoise(3), nil)
			if err != nil {
				t.Fatal(err)
			}
			av, cv := tensors.MustCopyFlatData[float32](a), tensors.MustCopyFlatData[float32](c)
			if !slices.Equal(av, cv) {
				t.Error("graph noise: two runs of one seed differ")
			}
		})
	}
}

// TestDAPSNaNZeroes checks DAPS's guard: an image whose Langevin iterates
// hold a NaN (here from a NaN in the second image's measurement) gets x0y
// = 0, so the last stage (σ_{n+1} = 0) returns zeros for it, while the
// other image, and both with a finite measurement, get a finite, non-zero
// result.
func TestDAPSNaNZeroes(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	shape := []int{2, 3, 8, 8}
	s := newProblemSampler(t, b, context.New(), halfEps, "daps:langevin_steps=4,ode_steps=2", 3)
	shapes, err := s.DrawShapes(shape)
	if err != nil {
		t.Fatal(err)
	}
	var draws []*tensors.Tensor
	for j, d := range shapes {
		draws = append(draws, randomNormal(uint64(10+j), d...))
	}
	x := randomNormal(1, shape...)
	for _, c := range []struct {
		name string
		nan  bool
	}{{"finite y", false}, {"NaN in y", true}} {
		t.Run(c.name, func(t *testing.T) {
			y := randomNormal(9, 2, 3, 4, 4)
			if c.nan {
				v := tensors.MustCopyFlatData[float32](y)
				v[len(v)-1] = float32(math.NaN())
				y = tensors.FromFlatDataAndDimensions(v, 2, 3, 4, 4)
			}
			info, err := s.StepDraws(x, 0, draws, y)
			if err != nil {
				t.Fatal(err)
			}
			got := tensors.MustCopyFlatData[float32](info.X)
			half := len(got) / 2
			for k, img := range [][]float32{got[:half], got[half:]} {
				zeros := !slices.ContainsFunc(img, func(v float32) bool { return v != 0 })
				finite := !slices.ContainsFunc(img, func(v float32) bool { return math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) })
				if want := c.nan && k == 1; zeros != want || !finite {
					t.Errorf("last stage, image %d: all zeros %v, finite %v; want zeros %v, finite", k, zeros, finite, want)
				}
			}
		})
	}
}

// TestRunRejectsNonFiniteMeasurement checks that a run refuses a measurement
// holding NaN or Inf, naming the value, for a method with its own draws and
// one without.
func TestRunRejectsNonFiniteMeasurement(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{"dps", "daps:langevin_steps=2,ode_steps=1"} {
		for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(-1))} {
			s := newProblemSampler(t, b, context.New(), halfEps, method, 2)
			v := tensors.MustCopyFlatData[float32](randomNormal(9, 1, 3, 4, 4))
			v[5] = bad
			y := tensors.FromFlatDataAndDimensions(v, 1, 3, 4, 4)
			_, err := s.Run(nil, []int{1, 3, 8, 8}, y, NewSeededNoise(1), nil)
			if err == nil || !strings.Contains(err.Error(), "measurement value 5 of 48") {
				t.Errorf("%s, y holding %v: error %v, want one naming measurement value 5", method, bad, err)
			}
		}
	}
}

// TestRunRejectsNonFiniteInputs checks that a NaN or Inf in x_T or in a
// recorded noise draw stops a run with an error naming the value, its
// kind and index, and not as a divergence of the method (ErrDiverged),
// which is what the first step that met it used to report.
func TestRunRejectsNonFiniteInputs(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	shape := []int{1, 3, 8, 8}
	y := tensors.FromFlatDataAndDimensions(make([]float32, 48), 1, 3, 4, 4)
	const steps = 3
	// recorded returns finite draws of every kind for a run of steps steps,
	// with per-step draws of n values.
	recorded := func(n int) *RecordedNoise {
		r := &RecordedNoise{Init: make([]float32, 192), Sample: map[int][]float32{}, Draws: map[int][]float32{}}
		for i := range steps {
			r.Sample[i], r.Draws[i] = make([]float32, 192), make([]float32, n)
		}
		return r
	}
	daps := "daps:langevin_steps=2,ode_steps=1"
	dapsDraws := 0
	shapes, err := newProblemSampler(t, b, context.New(), halfEps, daps, steps).DrawShapes(shape)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range shapes {
		dapsDraws += num.Prod(d)
	}
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, tc := range []struct {
		name, method string
		xT           []float32 // nil: drawn from the noise
		noise        func() NoiseSource
		want         string
	}{
		{"NaN in x_T", "dps", slices.Concat(make([]float32, 7), []float32{nan}, make([]float32, 184)),
			func() NoiseSource { return NewSeededNoise(1) }, "x_T value 7 of 192 is NaN"},
		{"NaN in the recorded x_T", "dps", nil,
			func() NoiseSource { r := recorded(0); r.Init[5] = nan; return r }, "recorded noise of kind NoiseInit at index -1: value 5 of 192 is NaN"},
		{"Inf in the recorded z at index 1", "dps", nil,
			func() NoiseSource { r := recorded(0); r.Sample[1][3] = inf; return r }, "recorded noise of kind NoiseSample at index 1: value 3 of 192 is +Inf"},
		{"NaN in a method's own draws at index 1", daps, nil,
			func() NoiseSource { r := recorded(dapsDraws); r.Draws[1][2] = nan; return r }, "recorded noise of kind NoiseDraws at index 1: value 2 of " + strconv.Itoa(dapsDraws) + " is NaN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newProblemSampler(t, b, context.New(), halfEps, tc.method, steps)
			var xT *tensors.Tensor
			if tc.xT != nil {
				xT = tensors.FromFlatDataAndDimensions(tc.xT, shape...)
			}
			_, err := s.Run(xT, shape, y, tc.noise(), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, ErrDiverged) {
				t.Errorf("error %v, want one containing %q that does not wrap ErrDiverged", err, tc.want)
			}
		})
	}
}

// TestDrawShapesRefusesBadShapes checks that DrawShapes refuses a shape
// that is not a batch of images, naming it, with an operator and without
// one (which returned draws of the negative or empty shape asked for).
func TestDrawShapesRefusesBadShapes(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{"dps", "unconditional", "ddrm"} {
		s := newProblemSampler(t, b, context.New(), halfEps, method, 2)
		for _, tc := range []struct {
			name string
			x    []int
			want string
		}{
			{"negative batch", []int{-1, 3, 8, 8}, "image shape [-1 3 8 8] has dimension 0 = -1, want it positive"},
			{"no channels", []int{1, 0, 8, 8}, "has dimension 1 = 0"},
			{"one dimension", []int{8}, "image shape [8], want [N,C,...]"},
			{"nil", nil, "image shape [], want [N,C,...]"},
		} {
			t.Run(method+"/"+tc.name, func(t *testing.T) {
				if d, err := s.DrawShapes(tc.x); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("DrawShapes(%v) = %v, %v; want an error containing %q", tc.x, d, err, tc.want)
				}
			})
		}
	}
}
