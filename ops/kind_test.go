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
// motion_blur task's, drawn or read from a file, and no Gaussian blur.
func TestMotionBlur(t *testing.T) {
	type blurCase struct {
		spec string
		want bool
	}
	cases := []blurCase{
		{"motion_blur:kernel_size=9", true},
		{"gaussian_blur:kernel_size=9", false},
	}
	if path, err := kernelsPath(); err == nil {
		cases = append(cases, blurCase{"motion_blur:file=" + path + ",kernel=dps_motion61/0", true})
	} else {
		t.Logf("no stored kernel checked: %v", err)
	}
	shape := []int{1, 3, 64, 64}
	for _, c := range cases {
		op, err := Parse(c.spec, shape, 1)
		if err != nil {
			t.Fatal(err)
		}
		m, ok := op.(MotionReporter)
		if !ok {
			t.Fatalf("%s: %T is no MotionReporter", c.spec, op)
		}
		if got := m.MotionBlur(); got != c.want {
			t.Errorf("%s: MotionBlur() = %v, want %v", c.spec, got, c.want)
		}
	}
}
