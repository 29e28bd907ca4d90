package fid_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/metrics/fid"
)

// naiveKID is the unbiased MMD² of whole sets with the cubic kernel,
// written as loops.
func naiveKID(a, b [][]float32) float64 {
	d := float64(len(a[0]))
	k := func(x, y []float32) float64 {
		var s float64
		for i := range x {
			s += float64(x[i]) * float64(y[i])
		}
		return math.Pow(s/d+1, 3)
	}
	m := float64(len(a))
	var xx, yy, xy float64
	for i := range a {
		for j := range a {
			if i != j {
				xx += k(a[i], a[j])
				yy += k(b[i], b[j])
			}
			xy += k(a[i], b[j])
		}
	}
	return (xx+yy)/(m*(m-1)) - 2*xy/(m*m)
}

func randomSet(r *rand.Rand, n, d int, shift float32) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		out[i] = make([]float32, d)
		for j := range out[i] {
			out[i][j] = float32(r.NormFloat64()) + shift
		}
	}
	return out
}

func TestKID(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	a, b := randomSet(r, 30, 8, 0), randomSet(r, 30, 8, 0.5)
	got, err := fid.KID(a, b, fid.KIDOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := naiveKID(a, b); math.Abs(got.KID-want) > 1e-12*math.Abs(want) || got.Std != 0 {
		t.Errorf("KID of whole sets = %.15g ± %g, want %.15g ± 0", got.KID, got.Std, want)
	}
	// Subsets: the mean of subset estimates; the shifted set stays far.
	same, err := fid.KID(randomSet(r, 60, 8, 0), randomSet(r, 50, 8, 0), fid.KIDOptions{Subsets: 20, SubsetSize: 20, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	far, err := fid.KID(randomSet(r, 60, 8, 0), randomSet(r, 50, 8, 1), fid.KIDOptions{Subsets: 20, SubsetSize: 20, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !(far.KID > 10*math.Abs(same.KID)) || far.Std <= 0 {
		t.Errorf("KID of equal distributions %g, of shifted ones %g ± %g", same.KID, far.KID, far.Std)
	}
	if _, err := fid.KID(a[:1], b, fid.KIDOptions{}); err == nil || !strings.Contains(err.Error(), "at least 2") {
		t.Errorf("one vector: error %v", err)
	}
	bad := randomSet(r, 30, 8, 0)
	bad[4][2] = float32(math.NaN())
	if _, err := fid.KID(a, bad, fid.KIDOptions{}); err == nil || !strings.Contains(err.Error(), "feature vector 34 has NaN at 2") {
		t.Errorf("a NaN feature: error %v, want one naming it", err)
	}
}

// TestKIDSubsetSize checks the subset size and count KID reports: the
// requested size, or the smaller set's size when a set is smaller, and one
// subset when that size is both sets' size.
func TestKIDSubsetSize(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	tests := []struct {
		name          string
		n1, n2        int
		opts          fid.KIDOptions
		size, subsets int
	}{
		{"both sets larger", 40, 50, fid.KIDOptions{Subsets: 5, SubsetSize: 20}, 20, 5},
		{"second set smaller", 40, 12, fid.KIDOptions{Subsets: 5, SubsetSize: 20}, 12, 5},
		{"default size, small sets", 30, 25, fid.KIDOptions{}, 25, 100},
		{"sets of the subset size", 20, 20, fid.KIDOptions{Subsets: 5, SubsetSize: 20}, 20, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := fid.KID(randomSet(r, tc.n1, 4, 0), randomSet(r, tc.n2, 4, 0), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if k.SubsetSize != tc.size || k.Subsets != tc.subsets {
				t.Errorf("%d subsets of %d vectors, want %d of %d", k.Subsets, k.SubsetSize, tc.subsets, tc.size)
			}
		})
	}
}

// TestBadFeatureSets checks that KID and Statistics refuse what they
// cannot compute with an error naming it, rather than panicking or
// returning NaN: vectors without values, and KID subsets of one vector
// (the unbiased estimator divides by m(m−1)).
func TestBadFeatureSets(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	empty := [][]float32{{}, {}, {}}
	tests := []struct {
		name string
		a, b [][]float32
		opts fid.KIDOptions
		want string
	}{
		{"empty vectors", empty, empty, fid.KIDOptions{}, "feature vectors have no values"},
		{"subsets of one vector", randomSet(r, 5, 4, 0), randomSet(r, 5, 4, 0), fid.KIDOptions{SubsetSize: 1}, "subsets of at least 2 vectors"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var k *fid.KIDValue
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						err = fmt.Errorf("panic: %v", p)
					}
				}()
				k, err = fid.KID(tc.a, tc.b, tc.opts)
			}()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("KID = %+v, error %v; want an error containing %q", k, err, tc.want)
			}
		})
	}
	for _, f := range []func() error{
		func() error { _, err := fid.Statistics(empty); return err },
		func() error { _, err := fid.Statistics64(nil, 3, 0); return err },
	} {
		var err error
		func() {
			defer func() {
				if p := recover(); p != nil {
					err = fmt.Errorf("panic: %v", p)
				}
			}()
			err = f()
		}()
		if err == nil || !strings.Contains(err.Error(), "feature vectors have no values") {
			t.Errorf("statistics of empty vectors: error %v", err)
		}
	}
}
