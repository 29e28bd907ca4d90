// Package num holds the small numeric helpers that several packages
// share: the conversion of a decoded configuration value (from YAML, JSON
// or a command-line string) to an int, the element count of a shape, and
// the mean and sample standard deviation of the result tables.
package num

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Int converts a decoded value to an int: Go integers, a float64 that is a
// whole number of magnitude at most 2⁵³, or a string holding a decimal
// integer. Anything else is an error saying the value is not an integer
// (or is too large).
func Int(v any) (int, error) {
	switch x := v.(type) {
	case int:
		return x, nil
	case int64:
		return int(x), nil
	case int32:
		return int(x), nil
	case uint64:
		if x > math.MaxInt {
			return 0, fmt.Errorf("%d is too large", x)
		}
		return int(x), nil
	case uint:
		return Int(uint64(x))
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return 0, fmt.Errorf("%v is not an integer", x)
		}
		return int(x), nil
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(x))
		if err != nil {
			return 0, fmt.Errorf("%q is not an integer", x)
		}
		return n, nil
	}
	return 0, fmt.Errorf("%v (%T) is not an integer", v, v)
}

// Float converts a decoded value to a float64: Go integers and floats, or
// a string holding a decimal number (strconv.ParseFloat's forms, spaces
// around it ignored). Whether the value is in range (finite, positive…) is
// for the caller to say. Anything else is an error saying the value is not
// a number.
func Float(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number", x)
		}
		return f, nil
	case int:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case int32:
		return float64(x), nil
	case uint64:
		return float64(x), nil
	case uint:
		return float64(x), nil
	}
	return 0, fmt.Errorf("%v (%T) is not a number", v, v)
}

// Prod returns the product of dims: the number of elements of a tensor of
// that shape (1 for a scalar's empty shape).
func Prod(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}

// MeanStd returns the mean of v and its sample standard deviation (with
// n − 1): NaN and NaN for no value, the value and 0 for one.
func MeanStd(v []float64) (mean, std float64) {
	if len(v) == 0 {
		return math.NaN(), math.NaN()
	}
	var s float64
	for _, x := range v {
		s += x
	}
	mean = s / float64(len(v))
	if len(v) < 2 {
		return mean, 0
	}
	var ss float64
	for _, x := range v {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / float64(len(v)-1))
}
