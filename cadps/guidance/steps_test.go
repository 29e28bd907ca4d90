package guidance

import (
	"testing"

	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// TestDefaultSteps checks the step counts of the released configurations,
// by operator name and alias, and that every other method keeps the
// prior's schedule (0).
func TestDefaultSteps(t *testing.T) {
	cases := []struct {
		method Method
		task   string
		want   int
	}{
		{DDRM{}, "super_resolution", 20},
		{DDRM{}, "inpaint_box", 20},
		{DiffPIR{}, "super_resolution", 100},
		{DiffPIR{}, "sr", 100},
		{DiffPIR{}, "gaussian_blur", 100},
		{DiffPIR{}, "motion_blur", 100},
		{DiffPIR{}, "inpainting", 20},
		{DiffPIR{}, "inpaint_random", 20},
		{DiffPIR{}, "matrix", 100},
		{DAPS{}, "phase_retrieval", 200},
		{DAPS{}, "inpaint_box", 200},
		{DPS{}, "super_resolution", 0},
		{CADPS{}, "inpainting", 0},
		{MMPS{}, "gaussian_blur", 0},
		{Unconditional{}, "", 0},
	}
	for _, c := range cases {
		if got := DefaultSteps(c.method, ops.TaskKind(c.task)); got != c.want {
			t.Errorf("DefaultSteps(%s, %q) = %d, want %d", c.method.Name(), c.task, got, c.want)
		}
	}
}

// ownBlur is a blur of one's own: of kind ops.KindBlur, saying whether it
// follows a camera's motion.
type ownBlur struct {
	ops.Operator
	motion bool
}

// Kind implements ops.Kinder.
func (ownBlur) Kind() ops.Kind { return ops.KindBlur }

// MotionBlur implements ops.MotionReporter.
func (b ownBlur) MotionBlur() bool { return b.motion }

// TestTaskDefaults checks DiffPIR's λ, ζ and DAPS's Langevin step size per
// kind of operator: the operators Parse builds, the USRNet model with and
// without decimation, an operator of no known kind, and blurs of one's own
// that say whether they follow a camera's motion (an operator's name does
// not count).
func TestTaskDefaults(t *testing.T) {
	shape := []int{1, 3, 32, 32}
	parse := func(spec string) ops.Operator {
		op, err := ops.Parse(spec, shape, 1)
		if err != nil {
			t.Fatal(err)
		}
		return op
	}
	decimated := func(s int) ops.Operator {
		op, err := ops.NewDecimatedConv([]float64{1}, 1, 1, s)
		if err != nil {
			t.Fatal(err)
		}
		return op
	}
	identity := func(name string) ops.Operator {
		op, err := ops.NewFunc(name, func(in []int) ([]int, error) { return in, nil }, func(x *graph.Node) *graph.Node { return x })
		if err != nil {
			t.Fatal(err)
		}
		return op
	}
	other := identity("matrix")
	cases := []struct {
		name               string
		op                 ops.Operator
		lambda, zeta, daps float64
	}{
		{"inpainting", parse("inpaint_box:size=8"), 1, 1, 5e-5},
		{"gaussian blur", parse("gaussian_blur:kernel_size=9"), 7, 0.3, 1e-4},
		{"motion blur", parse("motion_blur:kernel_size=9"), 7, 0.3, 5e-5},
		{"super-resolution", parse("super_resolution:factor=2"), 2, 0.25, 1e-4},
		{"phase retrieval", parse("phase_retrieval"), 2, 0.25, 5e-5},
		{"decimated s=2", decimated(2), 2, 0.25, 1e-4},
		{"decimated s=1", decimated(1), 7, 0.3, 1e-4},
		{"other", other, 2, 0.25, 1e-4},
		{"own motion blur", ownBlur{other, true}, 7, 0.3, 5e-5},
		{"own smooth blur", ownBlur{other, false}, 7, 0.3, 1e-4},
		{"named motion_blur, saying nothing", identity("motion_blur"), 2, 0.25, 1e-4},
	}
	for _, c := range cases {
		p := DiffPIR{Zeta: -1}.params(c.op)
		if p.Lambda != c.lambda || p.Zeta != c.zeta {
			t.Errorf("%s: diffpir λ, ζ = %v, %v, want %v, %v", c.name, p.Lambda, p.Zeta, c.lambda, c.zeta)
		}
		if got := DefaultDAPS().lr(c.op); got != c.daps {
			t.Errorf("%s: daps lr = %v, want %v", c.name, got, c.daps)
		}
		if p := (DiffPIR{Lambda: 3, Zeta: 0.5}).params(c.op); p.Lambda != 3 || p.Zeta != 0.5 {
			t.Errorf("%s: diffpir with λ 3, ζ 0.5 set got %v, %v", c.name, p.Lambda, p.Zeta)
		}
		if got := (DAPS{LR: 2e-4}).lr(c.op); got != 2e-4 {
			t.Errorf("%s: daps with lr 2e-4 set got %v", c.name, got)
		}
	}
}
