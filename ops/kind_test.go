package ops

import (
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
)

// TestKind checks that every task's operator reports the kind its task
// table entry states, under each of its names, and the kinds of the
// operators built outside Parse.
func TestKind(t *testing.T) {
	shape := []int{1, 3, 64, 64}
	cases := []struct {
		spec string
		want Kind
	}{
		{"super_resolution:factor=4", KindSuperResolution},
		{"sr:factor=2", KindSuperResolution},
		{"gaussian_blur:kernel_size=9", KindBlur},
		{"motion_blur:kernel_size=9", KindBlur},
		{"inpainting", KindInpainting},
		{"inpaint_box:size=16", KindInpainting},
		{"inpaint_random", KindInpainting},
		{"phase_retrieval", KindPhaseRetrieval},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		t.Run(c.spec, func(t *testing.T) {
			op, err := Parse(c.spec, shape, 1)
			if err != nil {
				t.Fatal(err)
			}
			seen[op.Name()] = true
			if got := KindOf(op); got != c.want {
				t.Errorf("KindOf = %q, want %q", got, c.want)
			}
			name, _, _ := strings.Cut(c.spec, ":")
			if got := TaskKind(name); got != c.want {
				t.Errorf("TaskKind(%q) = %q, want %q", name, got, c.want)
			}
		})
	}
	for _, task := range Tasks() {
		if !seen[task.Name] {
			t.Errorf("task %s has no case here", task.Name)
		}
		if task.Kind == "" {
			t.Errorf("task %s states no kind", task.Name)
		}
	}
	if got := TaskKind("matrix"); got != KindOther {
		t.Errorf("TaskKind(unknown) = %q, want %q", got, KindOther)
	}
	for _, c := range []struct {
		s    int
		want Kind
	}{{1, KindBlur}, {2, KindSuperResolution}} {
		op, err := NewDecimatedConv([]float64{1}, 1, 1, c.s)
		if err != nil {
			t.Fatal(err)
		}
		if got := KindOf(op); got != c.want {
			t.Errorf("decimated_conv s=%d: KindOf = %q, want %q", c.s, got, c.want)
		}
	}
	f, err := NewFunc("custom", func(in []int) ([]int, error) { return in, nil }, func(x *graph.Node) *graph.Node { return x })
	if err != nil {
		t.Fatal(err)
	}
	if got := KindOf(f); got != KindOther {
		t.Errorf("an operator made from a function: KindOf = %q, want %q", got, KindOther)
	}
}

// TestMotionBlur checks which blurs say they follow a camera's motion: the
// motion-blur constructors' (drawn, read from a file, given or recorded),
// not a Gaussian blur nor a blur that only bears the task's name.
func TestMotionBlur(t *testing.T) {
	shape := []int{1, 3, 64, 64}
	kernel := []float32{0.5, 0, 0, 0, 0.25, 0, 0, 0, 0.25}
	cases := []struct {
		name  string
		build func() (Operator, error)
		want  bool
	}{
		{"motion_blur spec", func() (Operator, error) { return Parse("motion_blur:kernel_size=9", shape, 1) }, true},
		{"gaussian_blur spec", func() (Operator, error) { return Parse("gaussian_blur:kernel_size=9", shape, 1) }, false},
		{"NewMotionBlurKernel", func() (Operator, error) { return NewMotionBlurKernel(kernel, 3) }, true},
		{"NewBlur named motion_blur", func() (Operator, error) { return NewBlur("motion_blur", kernel, 3) }, false},
		{"recorded motion kernel", func() (Operator, error) {
			return FromRecorded(map[string]any{"name": "motion_blur", "kernel_size": 3}, shape,
				Recorded{Kernel: kernel, KernelShape: []int{3, 3}})
		}, true},
	}
	if path, err := kernelsPath(); err == nil {
		cases = append(cases, struct {
			name  string
			build func() (Operator, error)
			want  bool
		}{"stored kernel", func() (Operator, error) {
			return Parse("motion_blur:file="+path+",kernel=dps_motion61/0", shape, 1)
		}, true})
	} else {
		t.Logf("no stored kernel checked: %v", err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			op, err := c.build()
			if err != nil {
				t.Fatal(err)
			}
			m, ok := op.(MotionReporter)
			if !ok {
				t.Fatalf("%T is no MotionReporter", op)
			}
			if got := m.MotionBlur(); got != c.want {
				t.Errorf("MotionBlur() = %v, want %v", got, c.want)
			}
		})
	}
}
