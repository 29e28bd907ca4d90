package restore

import (
	"errors"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/guidance"
)

// TestDDRMMaskHidingEveryPixel asks DDRM to restore through a random mask
// that hides every pixel (inpaint_random:fraction=1): New refuses the pair
// with an error naming the mask, and the methods that need no SVD restore
// (from the prior alone).
func TestDDRMMaskHidingEveryPixel(t *testing.T) {
	b, prior := fixedPrior(t)
	const spec = "inpaint_random:fraction=1"
	_, err := New(b, prior, Options{Task: SpecTask(spec), Method: "ddrm", Steps: 3})
	if !errors.Is(err, guidance.ErrOperator) || !strings.Contains(err.Error(), "hides every pixel") {
		t.Errorf("New(ddrm, %s) = %v, want an error saying the mask hides every pixel", spec, err)
	}
	r, err := New(b, prior, Options{Task: SpecTask(spec), Method: "diffpir", Steps: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Restore(testImage(3, 16, 0), 1, nil); err != nil {
		t.Errorf("diffpir through the same mask: %v", err)
	}
}
