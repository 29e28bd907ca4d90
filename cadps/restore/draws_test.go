package restore

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/imageio"
)

// TestRestoreBatchDraws samples a phase-retrieval batch three times and
// keeps each image's best-fitting draw: one draw is the plain run, the
// first of three draws is that same run, every kept residual is at most
// the plain run's (equal exactly when draw 0 is kept, with the same
// metrics), and the callback sees every draw's steps.
func TestRestoreBatchDraws(t *testing.T) {
	b, prior := shippedPrior(t)
	truths := twoTestImages(t, prior)
	const steps, seed = 3, 5
	results := map[int]*BatchResult{}
	calls := map[int]int{}
	for _, draws := range []int{0, 1, 3} {
		r, err := New(b, prior, Options{Task: SpecTask("phase_retrieval:oversample=2"), Method: "dps", Steps: steps, Draws: draws})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := r.Settings().Draws, map[int]int{0: 0, 1: 0, 3: 3}[draws]; got != want {
			t.Errorf("draws %d: settings record %d, want %d", draws, got, want)
		}
		res, err := r.RestoreBatch(truths, seed, func(cadps.StepInfo) error { calls[draws]++; return nil })
		if err != nil {
			t.Fatal(err)
		}
		results[draws] = res
	}
	if calls[0] != steps || calls[1] != steps || calls[3] != 3*steps {
		t.Errorf("callback calls %v, want %d, %d and %d", calls, steps, steps, 3*steps)
	}
	picked := 0
	for k := range truths {
		plain, one, three := results[0].Items[k], results[1].Items[k], results[3].Items[k]
		if one.Metrics != plain.Metrics || one.Residual != plain.Residual || one.Draw != 0 || plain.Draw != 0 {
			t.Errorf("image %d: one draw %+v/%g/%d, the plain run %+v/%g/%d", k, one.Metrics, one.Residual, one.Draw, plain.Metrics, plain.Residual, plain.Draw)
		}
		if !(plain.Residual > 0) || math.IsInf(plain.Residual, 0) {
			t.Errorf("image %d: residual %g, want positive and finite", k, plain.Residual)
		}
		switch {
		case three.Draw < 0 || three.Draw > 2:
			t.Errorf("image %d: draw %d of 3", k, three.Draw)
		case three.Draw == 0 && (three.Residual != plain.Residual || three.Metrics != plain.Metrics):
			t.Errorf("image %d keeps draw 0 with residual %g and %+v; the plain run has %g and %+v", k, three.Residual, three.Metrics, plain.Residual, plain.Metrics)
		case three.Draw > 0 && !(three.Residual < plain.Residual):
			t.Errorf("image %d keeps draw %d with residual %g, not below draw 0's %g", k, three.Draw, three.Residual, plain.Residual)
		}
		if three.Draw > 0 {
			picked++
		}
	}
	// With these seeds the later draws fit better for at least one image,
	// so the selection is exercised (a fact of the seeds, checked here so
	// that the test keeps covering it).
	if picked == 0 {
		t.Error("every image kept draw 0: the test no longer exercises the selection")
	}
}

// TestRestoreDraws is the single-image restoration with three draws: the
// kept draw fits at least as well as the plain run, its residual curve and
// x̂0 strip are that draw's, and the progress callback names each draw.
func TestRestoreDraws(t *testing.T) {
	b, prior := shippedPrior(t)
	truth := twoTestImages(t, prior)[1]
	const steps, seed = 3, 2
	plainR, err := New(b, prior, Options{Task: SpecTask("phase_retrieval:oversample=2"), Method: "dps", Steps: steps})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := plainR.Restore(truth, seed, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(b, prior, Options{Task: SpecTask("phase_retrieval:oversample=2"), Method: "dps", Steps: steps, Draws: 3})
	if err != nil {
		t.Fatal(err)
	}
	var seen []int
	res, err := r.Restore(truth, seed, func(p Progress) { seen = append(seen, p.Draw) })
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{0, 0, 0, 1, 1, 1, 2, 2, 2}; !slices.Equal(seen, want) {
		t.Errorf("callback saw draws %v, want %v", seen, want)
	}
	if res.Residual > plain.Residual || (res.Draw == 0) != (res.Residual == plain.Residual) {
		t.Errorf("kept draw %d with residual %g; the plain run %g", res.Draw, res.Residual, plain.Residual)
	}
	if len(res.Residuals) != steps || len(res.Progress) == 0 {
		t.Errorf("%d residuals and %d snapshots, want one draw's %d and some", len(res.Residuals), len(res.Progress), steps)
	}
	if res.Draw == 0 && !slices.Equal(res.Residuals, plain.Residuals) {
		t.Errorf("draw 0 kept, residual curve %v, the plain run's %v", res.Residuals, plain.Residuals)
	}
}

// TestDrawsErrors: a negative count and draws without a measurement are
// refused by name.
func TestDrawsErrors(t *testing.T) {
	b, prior := shippedPrior(t)
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Task: SpecTask("sr:factor=2"), Method: "dps", Draws: -1}, "draws -1 is negative"},
		{Options{Method: "unconditional", Draws: 2}, "unconditional sampling has none"},
	} {
		if _, err := New(b, prior, c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one containing %q", c.o, err, c.want)
		}
	}
}

// TestDrawSeed: the first draw is the seed itself, the others differ from
// it and from each other.
func TestDrawSeed(t *testing.T) {
	seen := map[uint64]int{}
	for _, seed := range []uint64{0, 1, 7} {
		if got := drawSeed(seed, 0); got != seed {
			t.Errorf("drawSeed(%d, 0) = %d", seed, got)
		}
		for d := range 4 {
			s := drawSeed(seed, d)
			if prev, ok := seen[s]; ok {
				t.Errorf("drawSeed(%d, %d) = %d repeats an earlier seed (%d)", seed, d, s, prev)
			}
			seen[s] = d
		}
	}
}

// TestBatchOfOneIsRestore: a batch of one image is Restore's restoration,
// draws, random mask and all.
func TestBatchOfOneIsRestore(t *testing.T) {
	b, prior := shippedPrior(t)
	truth := twoTestImages(t, prior)[1]
	r, err := New(b, prior, Options{Task: SpecTask("inpaint_random:fraction=0.5"), Method: "dps", Steps: 2, Draws: 2})
	if err != nil {
		t.Fatal(err)
	}
	one, err := r.Restore(truth, 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := r.RestoreBatch([]*imageio.Image{truth}, 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	it := batch.Items[0]
	if it.Metrics != one.Metrics || it.Residual != one.Residual || it.Draw != one.Draw || batch.Operator != one.Operator {
		t.Errorf("batch of one: %+v, residual %v, draw %d, %s; Restore: %+v, %v, %d, %s",
			it.Metrics, it.Residual, it.Draw, batch.Operator, one.Metrics, one.Residual, one.Draw, one.Operator)
	}
	if !slices.Equal(it.Reconstruction.Pix, one.Reconstruction.Pix) || !slices.Equal(it.Measurement.Pix, one.Measurement.Pix) {
		t.Error("the batch of one reconstructed or measured another image than Restore")
	}
}
