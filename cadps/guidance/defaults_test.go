package guidance_test

import (
	"math"
	"testing"

	"github.com/cadps/toolkit/cadps/guidance"
)

// TestDocumentedDefaults runs each Gaussian-likelihood method as
// guidance.New builds it and with the defaults docs/methods.md gives it
// spelled out as spec options, which must sample exactly the same, and
// with one of them changed, which must not (so that the comparison can see
// it): cg = 20 for pigdm and cadps-gauss, 5 GCR iterations for mmps, tmpd
// in measurement space, the row-sum diagonal, negative entries by
// magnitude, the clamped x̂0 and cadps-gauss's fd_step = 0.01. The world's
// operator is an 8×16 matrix: conjugate gradients solves its 8×8 systems
// in 8 iterations, so a cg below 8 changes the samples visibly and one
// above it in the rounding only (which the exact comparison still sees).
// Its prior's ε is linear and unclamped, so neither x0 nor fd_step changes
// a sample beyond rounding: they are spelled out, not told apart.
func TestDocumentedDefaults(t *testing.T) {
	cases := []struct {
		name    string
		same    string // the documented defaults, spelled out
		changed string // one of them changed
	}{
		{"mmps", "mmps:cg=5,solver=gcr,x0=clamped", "mmps:cg=4"},
		{"mmps", "mmps:cg=5,solver=gcr,x0=clamped", "mmps:solver=cg"},
		{"pigdm", "pigdm:cg=20,x0=clamped", "pigdm:cg=4"},
		{"tmpd", "tmpd:space=measurements,diagonal=rowsum,negative=abs,x0=clamped", "tmpd:space=pixels"},
		{"cadps-gauss", "cadps-gauss:cg=20,fd_step=0.01,diagonal=rowsum,negative=abs,x0=clamped", "cadps-gauss:cg=4"},
	}
	w := newWorld(t, "full", "matrix", measureNoise, 1)
	for _, c := range cases {
		t.Run(c.changed, func(t *testing.T) {
			def, err := guidance.New(c.name, guidance.Options{})
			if err != nil {
				t.Fatal(err)
			}
			sample := func(m guidance.Method) [][]float64 {
				return w.sample(t, run{method: m, scale: 1, n: 4, seed: 5})
			}
			spec := func(s string) guidance.Method {
				m, err := guidance.ParseSpec(s, guidance.Options{})
				if err != nil {
					t.Fatal(err)
				}
				return m
			}
			got := sample(def)
			all := make([]int, len(got[0]))
			for k := range all {
				all[k] = k
			}
			if d := maxDiff(got, sample(spec(c.same)), all); d != 0 || math.IsNaN(d) {
				t.Errorf("%s samples differ from %s by up to %.3g: the defaults are not the documented ones", c.name, c.same, d)
			}
			if d := maxDiff(got, sample(spec(c.changed)), all); d < 1e-3 {
				t.Errorf("%s samples differ from %s by up to %.3g only: this world cannot tell the option's default", c.name, c.changed, d)
			} else {
				t.Logf("%s samples differ from %s by up to %.3g", c.name, c.changed, d)
			}
		})
	}
}
