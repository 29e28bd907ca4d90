package ops

import (
	"slices"
	"strings"
	"testing"
)

// TestFromRecorded checks that FromRecorded puts the recorded mask or
// kernel in place of the random draw, reads nothing it then discards (a
// mask file replaced by a recorded mask is not opened), and refuses what
// does not fit, naming it.
func TestFromRecorded(t *testing.T) {
	shape := []int{1, 3, 8, 8}
	mask := make([]float32, 64)
	for i := range mask {
		mask[i] = float32(i % 2)
	}
	gauss, err := GaussianKernel(3, 1)
	if err != nil {
		t.Fatal(err)
	}
	motion := []float32{0.5, 0, 0, 0, 0.25, 0, 0, 0, 0.25}
	cases := []struct {
		name string
		cfg  map[string]any
		rec  Recorded
		want string    // error text; "" for success
		mask []float32 // the operator's mask, when inpainting
		spec string    // the operator's String, when not ""
	}{
		{"box mask recorded", map[string]any{"name": "inpainting", "mask_type": "box"},
			Recorded{Mask: mask, MaskShape: []int{1, 1, 8, 8}}, "", mask, ""},
		{"file mask replaced by the recorded one, the file not read",
			map[string]any{"name": "inpainting", "mask_type": "file", "path": "/nonexistent/mask.png"},
			Recorded{Mask: mask, MaskShape: []int{8, 8}}, "", mask, ""},
		{"half mask, nothing recorded", map[string]any{"name": "inpainting", "mask_type": "half", "side": "left"},
			Recorded{}, "", nil, ""},
		{"box mask not recorded", map[string]any{"name": "inpainting", "mask_type": "box"},
			Recorded{}, "inpainting: a box mask is drawn at random, and none is recorded", nil, ""},
		{"kernel for inpainting", map[string]any{"name": "inpainting"},
			Recorded{Kernel: motion, KernelShape: []int{3, 3}}, "a kernel is recorded, but inpainting takes none", nil, ""},
		{"mask of another size", map[string]any{"name": "inpainting"},
			Recorded{Mask: mask[:16], MaskShape: []int{4, 4}}, "recorded mask of shape [4 4] (16 values), want [...,8,8]", nil, ""},
		{"gaussian kernel recorded", map[string]any{"name": "gaussian_blur", "kernel_size": 3, "intensity": 1},
			Recorded{Kernel: gauss, KernelShape: []int{3, 3}}, "", nil, "gaussian_blur:kernel_size=3,intensity=1"},
		{"gaussian kernel differing", map[string]any{"name": "gaussian_blur", "kernel_size": 3, "intensity": 2},
			Recorded{Kernel: gauss, KernelShape: []int{3, 3}}, "gaussian_blur: recorded kernel differs from the configuration's", nil, ""},
		{"mask for a blur", map[string]any{"name": "gaussian_blur", "kernel_size": 3},
			Recorded{Mask: mask, MaskShape: []int{8, 8}}, "a mask is recorded, but gaussian_blur takes none", nil, ""},
		{"motion kernel recorded", map[string]any{"name": "motion_blur", "kernel_size": 3},
			Recorded{Kernel: motion, KernelShape: []int{3, 3}}, "", nil, ""},
		{"motion kernel of another size", map[string]any{"name": "motion_blur", "kernel_size": 5},
			Recorded{Kernel: motion, KernelShape: []int{3, 3}}, "motion_blur: recorded kernel is 3x3, the configuration's 5x5", nil, ""},
		{"motion kernel not recorded", map[string]any{"name": "motion_blur", "kernel_size": 3},
			Recorded{}, "motion_blur: the kernel is drawn at random, and none is recorded", nil, ""},
		{"kernel for super-resolution", map[string]any{"name": "super_resolution", "scale_factor": 2},
			Recorded{Kernel: motion, KernelShape: []int{3, 3}}, "a kernel is recorded, but super_resolution takes none", nil, ""},
		{"unknown parameter", map[string]any{"name": "motion_blur", "kernel_size": 3, "colour": "red"},
			Recorded{Kernel: motion, KernelShape: []int{3, 3}}, "colour", nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			op, err := FromRecorded(c.cfg, shape, c.rec)
			if c.want != "" {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("FromRecorded = %v, want an error containing %q", err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.mask != nil {
				if got := op.(*Inpainting).Mask(); !slices.Equal(got, c.mask) {
					t.Errorf("mask %v, want the recorded %v", got, c.mask)
				}
			}
			if c.spec != "" {
				if got := op.(interface{ String() string }).String(); got != c.spec {
					t.Errorf("String() = %q, want %q", got, c.spec)
				}
			}
		})
	}
}
