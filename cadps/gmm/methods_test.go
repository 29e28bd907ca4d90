package gmm

import (
	"fmt"
	"math"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
)

// TestSpectralMethods runs DDRM and DiffPIR (through the matrix's SVD and
// proximal step) and DAPS on a standard problem: every sample is finite,
// and DDRM's and DiffPIR's fit the measurement far better than the prior's
// samples do.
func TestSpectralMethods(t *testing.T) {
	p, err := Standard(8, 2, 4)
	if err != nil {
		t.Fatal(err)
	}
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	residual := func(method string) float64 {
		t.Helper()
		x, err := p.SampleMethod(b, RunOptions{Method: method, Samples: 64, Steps: 20, Seed: 2, Scale: 1, Schedule: "linear", VarType: "fixed_small"})
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		var sum float64
		for _, xi := range x {
			for j, row := range p.A {
				var ax float64
				for k, a := range row {
					if math.IsNaN(xi[k]) || math.IsInf(xi[k], 0) {
						t.Fatalf("%s: sample value %v", method, xi[k])
					}
					ax += a * xi[k]
				}
				sum += (ax - p.Y[j]) * (ax - p.Y[j])
			}
		}
		return math.Sqrt(sum / float64(len(x)))
	}
	prior := residual("unconditional")
	for _, m := range []string{"ddrm", "diffpir"} {
		if r := residual(m); !(r < prior/3) {
			t.Errorf("%s: rms residual %.3g, the prior's %.3g", m, r, prior)
		} else {
			t.Logf("%s: rms residual %.3g (σ_y %.3g), the prior's %.3g", m, r, p.SigmaY, prior)
		}
	}
	residual("daps:langevin_steps=5")
}

// TestSampleMethodNoSamples: a run of no samples is refused, naming the
// count; it failed in the step graph (DotGeneral sizes must be positive).
func TestSampleMethodNoSamples(t *testing.T) {
	p, err := Standard(4, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, -3} {
		_, err := p.SampleMethod(b, RunOptions{Method: "dps", Samples: n, Steps: 5, Scale: 1, Schedule: "linear", VarType: "fixed_small"})
		if want := fmt.Sprintf("gmm: %d samples; want at least 1", n); err == nil || err.Error() != want {
			t.Errorf("%d samples: error %v, want %q", n, err, want)
		}
	}
}
