package guidance

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/cadps/toolkit/ops"
)

// diagonal returns the n×n diagonal matrix with d on its diagonal.
func diagonal(d ...float64) [][]float64 {
	m := make([][]float64, len(d))
	for i, v := range d {
		m[i] = make([]float64, len(d))
		m[i][i] = v
	}
	return m
}

// ownSeparable is a separable decomposition of one's own: the singular
// values of a hidden one, and the axis values it reports.
type ownSeparable struct {
	ops.Decomposition
	h, w []float64
}

// AxisSingulars implements ops.SeparableDecomposition.
func (s ownSeparable) AxisSingulars() (h, w []float64) { return s.h, s.w }

// TestDDRMSingulars checks which singular values DDRM zeroes. A separable
// decomposition with axis values h = (1, 0.5, 0.031, 0.02) and w = (2,
// 0.062, 0.002) keeps the products of the axis values of at least
// DDRMAxisZero times their axis's largest, (1, 0.5, 0.031) × (2, 0.062) in
// each channel, whatever their size: 0.031·0.062 is below DDRMZero times
// the largest product, 0.02·2 above it. A decomposition of one's own that
// reports the same axis values gets the same; one whose axis values do not
// tile its singular values is refused. A dense decomposition keeps the
// values of at least DDRMZero times the largest.
func TestDDRMSingulars(t *testing.T) {
	in := []int{1, 2, 4, 3}
	h, w := []float64{1, 0.5, 0.031, 0.02}, []float64{2, 0.062, 0.002}
	sep, err := ops.NewSeparableSVD(diagonal(h...), diagonal(w...), in)
	if err != nil {
		t.Fatal(err)
	}
	var perAxis []float64
	for range in[1] {
		for _, h := range h[:3] {
			for _, w := range w[:2] {
				perAxis = append(perAxis, h*w)
			}
		}
	}
	dense, err := ops.NewDenseSVD(diagonal(1, 0.5, 0.0011, 0.0009), []int{1, 1, 2, 2})
	if err != nil {
		t.Fatal(err)
	}
	hidden := struct{ ops.Decomposition }{sep}
	for _, c := range []struct {
		name    string
		d       ops.Decomposition
		in, out []int
		want    []float64 // nil: an error
	}{
		{"separable", sep, in, in, perAxis},
		{"own_separable", ownSeparable{hidden, h, w}, in, in, perAxis},
		{"own_separable_bad_axes", ownSeparable{hidden, h, w[:2]}, in, in, nil},
		{"dense", dense, []int{1, 1, 2, 2}, []int{1, 4}, []float64{1, 0.5, 0.0011}},
	} {
		t.Run(c.name, func(t *testing.T) {
			op, err := ops.NewSVDOperator(c.name, c.d, c.in, c.out)
			if err != nil {
				t.Fatal(err)
			}
			if c.want == nil {
				if _, err := ddrmSingulars(op, c.d, c.in); err == nil || !strings.Contains(err.Error(), c.name) {
					t.Errorf("ddrmSingulars = %v, want an error naming %s", err, c.name)
				}
				return
			}
			checkKept(t, op, c.d, c.in, c.want)
		})
	}
}

// checkKept checks that ddrmSingulars keeps the values want of d (in any
// order) and sets the others to zero.
func checkKept(t *testing.T, op ops.Operator, d ops.Decomposition, in []int, want []float64) {
	t.Helper()
	sv, err := ddrmSingulars(op, d, in)
	if err != nil {
		t.Fatal(err)
	}
	raw := d.Singulars()
	var kept []float64
	for k, s := range sv {
		switch {
		case s == 0:
		case s != raw[k]:
			t.Errorf("%s: singular value %d changed from %g to %g", op.Name(), k, raw[k], s)
		default:
			kept = append(kept, s)
		}
	}
	slices.Sort(kept)
	want = slices.Sorted(slices.Values(want))
	if len(kept) != len(want) {
		t.Fatalf("%s: kept %v of %v, want %v", op.Name(), kept, raw, want)
	}
	for k := range want {
		if math.Abs(kept[k]-want[k]) > 1e-12 {
			t.Fatalf("%s: kept %v of %v, want %v", op.Name(), kept, raw, want)
		}
	}
}

// sharedSingulars is a decomposition of one's own whose Singulars returns
// its own slice, not a copy.
type sharedSingulars struct {
	ops.Decomposition
	sv []float64
}

// Singulars implements ops.Decomposition.
func (s sharedSingulars) Singulars() []float64 { return s.sv }

// TestDDRMSingularsLeaveDecomposition checks that zeroing the small
// singular values leaves those of the decomposition alone when its
// Singulars returns its own slice: an ops.SVDOperator applies A through
// the same decomposition, so DDRM's zeroing would otherwise change the
// operator that measures and scores the images.
func TestDDRMSingularsLeaveDecomposition(t *testing.T) {
	in := []int{1, 1, 2, 2}
	dense, err := ops.NewDenseSVD(diagonal(1, 0.5, 0.0011, 0.0009), in)
	if err != nil {
		t.Fatal(err)
	}
	d := sharedSingulars{dense, dense.Singulars()}
	op, err := ops.NewSVDOperator("shared", d, in, []int{1, 4})
	if err != nil {
		t.Fatal(err)
	}
	before := slices.Clone(d.sv)
	sv, err := ddrmSingulars(op, d, in)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(sv, 0) {
		t.Fatalf("ddrmSingulars(%v) = %v, want 0.0009 zeroed", before, sv)
	}
	if !slices.Equal(d.sv, before) {
		t.Errorf("ddrmSingulars changed the decomposition's singular values from %v to %v", before, d.sv)
	}
}
