package restore

import (
	"slices"
	"testing"
)

func TestPriorSample(t *testing.T) {
	b, prior := shippedPrior(t)
	for _, ddim := range []bool{false, true} {
		a, err := prior.Sample(b, 2, 3, ddim, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(a) != 2 || a[0].C != 1 || a[0].H != 32 || a[0].W != 32 {
			t.Fatalf("ddim %v: %d samples of %s, want 2 of 1×32×32", ddim, len(a), a[0].Size())
		}
		if slices.Equal(a[0].Pix, a[1].Pix) {
			t.Errorf("ddim %v: the two samples are the same image", ddim)
		}
		again, err := prior.Sample(b, 2, 3, ddim, 1)
		if err != nil {
			t.Fatal(err)
		}
		other, err := prior.Sample(b, 2, 3, ddim, 2)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(a[0].Pix, again[0].Pix) || slices.Equal(a[0].Pix, other[0].Pix) {
			t.Errorf("ddim %v: a seed does not give the same samples, or two seeds give the same", ddim)
		}
	}
	if _, err := prior.Sample(b, 0, 3, false, 1); err == nil {
		t.Error("Sample accepted n = 0")
	}
	if _, err := prior.Sample(b, 1, 2000, false, 1); err == nil {
		t.Error("Sample accepted 2000 steps of a 1000-step process")
	}
}
