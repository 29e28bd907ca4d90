package ops

import (
	"runtime"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary operator specs to Parse for a small image: it
// may not panic, and an operator it returns fits the image. Specs naming
// files (file=, path=) are skipped: they would read whatever path the
// fuzzer writes.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"super_resolution:factor=4", "sr:factor=2,kernel=lanczos3", "sr:factor=4,kernel=box",
		"gaussian_blur:kernel_size=5,intensity=3.0", "gaussian_blur:kernel_size=7,sigma=1e18",
		"gaussian_blur:kernel_size=99999", "motion_blur:kernel_size=7,intensity=0.5",
		"inpaint_box:size=8", "inpaint_random:min_fraction=0.3,max_fraction=0.7", "inpaint_extreme",
		"inpaint_half:side=left", "phase_retrieval:oversample=2", "phase_retrieval:oversample=8",
	} {
		f.Add(s, uint64(1))
	}
	shape := []int{1, 3, 16, 16}
	f.Fuzz(func(t *testing.T, spec string, seed uint64) {
		if strings.Contains(spec, "file") || strings.Contains(spec, "path") {
			t.Skip("names a file")
		}
		op, err := Parse(spec, shape, seed)
		if err != nil {
			return
		}
		if _, err := op.OutputShape(shape); err != nil {
			t.Fatalf("Parse(%q) returned an operator that does not fit %v: %v", spec, shape, err)
		}
	})
}

// TestParseRefusesBeforeAllocating checks that blur specs whose kernel
// cannot serve the image, or whose σ would ask for an absurd number of
// taps, are refused with an error naming the problem before the kernel is
// built (a σ of 1e18 used to panic in makeslice, and kernel_size=99999 to
// ask for 40 GB).
func TestParseRefusesBeforeAllocating(t *testing.T) {
	img := []int{1, 3, 64, 64}
	for _, c := range []struct{ spec, want string }{
		{"gaussian_blur:kernel_size=7,intensity=1e18", "intensity (σ) must be at most 1000, got 1e+18"},
		{"gaussian_blur:kernel_size=7,intensity=1001", "at most 1000"},
		{"gaussian_blur:kernel_size=4001", "kernel 4001x4001 is too large for the image 64x64"},
		{"motion_blur:kernel_size=1001", "kernel 1001x1001 is too large for the image 64x64"},
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := Parse(c.spec, img, 1)
		runtime.ReadMemStats(&after)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.spec, err, c.want)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
			t.Errorf("%s: %d bytes allocated before the spec was refused", c.spec, grew)
		}
	}
	if _, err := Parse("gaussian_blur:kernel_size=7,intensity=1000", img, 1); err != nil {
		t.Errorf("σ = 1000: %v", err)
	}
}
