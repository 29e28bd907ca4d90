package guidance

import (
	"math"
	"strings"
	"testing"
)

// TestParseRamp checks the FROM:OVER syntax, its round trip through String
// and that bad schedules are refused by name.
func TestParseRamp(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Ramp
		err  string
	}{
		{"", Ramp{}, ""},
		{"none", Ramp{}, ""},
		{"0.1:0.5", Ramp{From: 0.1, Over: 0.5}, ""},
		{" 0 : 1 ", Ramp{From: 0, Over: 1}, ""},
		{"3:0.2", Ramp{From: 3, Over: 0.2}, ""},
		{"0.1", Ramp{}, "want FROM:OVER"},
		{"x:0.5", Ramp{}, "FROM"},
		{"0.1:y", Ramp{}, "OVER"},
		{"-1:0.5", Ramp{}, "non-negative"},
		{"NaN:0.5", Ramp{}, "finite"},
		{"0.1:1.5", Ramp{}, "[0, 1]"},
		{"0.1:0", Ramp{}, "(0, 1]"},
	} {
		got, err := ParseRamp(c.in)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("ParseRamp(%q): error %v, want one containing %q", c.in, err, c.err)
		case c.err == "" && err != nil:
			t.Errorf("ParseRamp(%q): %v", c.in, err)
		case c.err == "" && got != c.want:
			t.Errorf("ParseRamp(%q) = %+v, want %+v", c.in, got, c.want)
		case c.err == "":
			if back, err := ParseRamp(got.String()); err != nil || back != got {
				t.Errorf("ParseRamp(%q).String() = %q reads back as %+v, %v", c.in, got.String(), back, err)
			}
		}
	}
}

// TestRampWeights checks w_k at hand-computed steps and that Weights is
// indexed by the respaced index i = n − k.
func TestRampWeights(t *testing.T) {
	for _, c := range []struct {
		r    Ramp
		n    int
		want []float64 // w_1 … w_n
	}{
		{Ramp{}, 4, []float64{1, 1, 1, 1}},
		{Ramp{From: 0, Over: 1}, 4, []float64{0, 0.25, 0.5, 0.75}},
		{Ramp{From: 0.5, Over: 0.5}, 3, []float64{0.5, 0.5 + 0.5/1.5, 1}},
		{Ramp{From: 0.2, Over: 0.5}, 10, []float64{0.2, 0.36, 0.52, 0.68, 0.84, 1, 1, 1, 1, 1}},
		{Ramp{From: 2, Over: 0.5}, 4, []float64{2, 1.5, 1, 1}},
		{Ramp{From: 0.3, Over: 1}, 1, []float64{0.3}},
	} {
		byIndex := c.r.Weights(c.n)
		for k := 1; k <= c.n; k++ {
			w := c.r.Weight(k, c.n)
			if math.Abs(w-c.want[k-1]) > 1e-12 {
				t.Errorf("%v, n = %d: w_%d = %v, want %v", c.r, c.n, k, w, c.want[k-1])
			}
			if byIndex[c.n-k] != w {
				t.Errorf("%v, n = %d: Weights[%d] = %v, want w_%d = %v", c.r, c.n, c.n-k, byIndex[c.n-k], k, w)
			}
		}
	}
}
