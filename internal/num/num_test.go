package num

import (
	"math"
	"strings"
	"testing"
)

func TestInt(t *testing.T) {
	cases := []struct {
		in   any
		want int
		err  string // substring of the error; "" for success
	}{
		{7, 7, ""},
		{int32(-3), -3, ""},
		{int64(1 << 40), 1 << 40, ""},
		{uint(5), 5, ""},
		{uint64(9), 9, ""},
		{uint64(math.MaxUint64), 0, "too large"},
		{4.0, 4, ""},
		{4.5, 0, "not an integer"},
		{1e300, 0, "not an integer"},
		{" 12 ", 12, ""},
		{"four", 0, "not an integer"},
		{true, 0, "not an integer"},
		{[]any{4}, 0, "not an integer"},
		{nil, 0, "not an integer"},
	}
	for _, c := range cases {
		got, err := Int(c.in)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("Int(%#v): %v", c.in, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("Int(%#v) = %d, %v; want an error containing %q", c.in, got, err, c.err)
		case c.err == "" && got != c.want:
			t.Errorf("Int(%#v) = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestFloat(t *testing.T) {
	cases := []struct {
		in   any
		want float64
		err  string // substring of the error; "" for success
	}{
		{0.3, 0.3, ""},
		{float32(0.5), 0.5, ""},
		{4, 4, ""},
		{int32(-3), -3, ""},
		{int64(1 << 40), 1 << 40, ""},
		{uint(5), 5, ""},
		{uint64(math.MaxUint64), math.MaxUint64, ""},
		{"4", 4, ""},
		{" 0.3 ", 0.3, ""},
		{"1e-3", 1e-3, ""},
		{"-inf", math.Inf(-1), ""}, // in range or not is the caller's question
		{"four", 0, `"four" is not a number`},
		{"", 0, `"" is not a number`},
		{"0.3,0.4", 0, `"0.3,0.4" is not a number`},
		{true, 0, "true (bool) is not a number"},
		{[]any{4}, 0, "is not a number"},
		{nil, 0, "is not a number"},
	}
	for _, c := range cases {
		got, err := Float(c.in)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("Float(%#v): %v", c.in, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("Float(%#v) = %g, %v; want an error containing %q", c.in, got, err, c.err)
		case c.err == "" && got != c.want:
			t.Errorf("Float(%#v) = %g, want %g", c.in, got, c.want)
		}
	}
}

func TestProd(t *testing.T) {
	for _, c := range []struct {
		dims []int
		want int
	}{
		{nil, 1},
		{[]int{5}, 5},
		{[]int{2, 3, 4}, 24},
		{[]int{2, 0, 4}, 0},
	} {
		if got := Prod(c.dims); got != c.want {
			t.Errorf("Prod(%v) = %d, want %d", c.dims, got, c.want)
		}
	}
}

func TestMeanStd(t *testing.T) {
	for _, tc := range []struct {
		v         []float64
		mean, std float64
	}{
		{[]float64{2, 4, 4, 4, 5, 5, 7, 9}, 5, math.Sqrt(32.0 / 7)},
		{[]float64{3}, 3, 0},
		{nil, math.NaN(), math.NaN()},
	} {
		mean, std := MeanStd(tc.v)
		same := func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) || math.Abs(a-b) < 1e-12 }
		if !same(mean, tc.mean) || !same(std, tc.std) {
			t.Errorf("MeanStd(%v) = %v, %v; want %v, %v", tc.v, mean, std, tc.mean, tc.std)
		}
	}
}
