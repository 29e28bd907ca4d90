package guidance

import (
	"testing"

	"github.com/cadps/toolkit/ops"
)

// TestDefaultScale checks the step size ζ each kind of method takes per
// task, by operator name and by alias.
func TestDefaultScale(t *testing.T) {
	cases := []struct {
		method Method
		task   string
		want   float64
	}{
		{DPS{}, "super_resolution", 0.3},
		{DPS{}, "sr", 0.3},
		{CADPS{}, "gaussian_blur", 0.3},
		{MCG{}, "motion_blur", 0.3},
		{DPS{}, "inpainting", 0.5},
		{CADPS{}, "inpaint_box", 0.5},
		{DPS{}, "phase_retrieval", 1.0},
		{DPS{}, "nonlinear_blur", 0},
		{PiGDM{}, "super_resolution", 1},
		{TMPD{}, "inpaint_random", 1},
		{MMPS{}, "gaussian_blur", 1},
		{CADPSGauss{}, "inpainting", 1},
		{DDRM{}, "sr", 1},
		{DiffPIR{}, "motion_blur", 1},
		{DAPS{}, "phase_retrieval", 1},
		{DAPS{}, "nonlinear_blur", 1},
	}
	for _, c := range cases {
		if got := DefaultScale(c.method, ops.TaskKind(c.task)); got != c.want {
			t.Errorf("DefaultScale(%s, %q) = %v, want %v", c.method.Name(), c.task, got, c.want)
		}
	}
	for _, task := range ops.Tasks() {
		if DefaultScale(DPS{}, task.Kind) <= 0 {
			t.Errorf("task %s has no DPS step size", task.Name)
		}
	}
}

// TestUsesMeasurement checks that every method but unconditional sampling
// is steered by the measurement.
func TestUsesMeasurement(t *testing.T) {
	for _, name := range Names() {
		m, err := New(name, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := UsesMeasurement(m), name != "unconditional"; got != want {
			t.Errorf("UsesMeasurement(%s) = %v, want %v", name, got, want)
		}
	}
}
