// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
)

// newTestBackend returns this package's backend in its default configuration.
func newTestBackend(t testing.TB) backends.Backend {
	t.Helper()
	b, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newConfigured returns the backend named by config, "<name>[:<options>]":
// this package's ("cadps") or upstream's pure-Go backend ("go"), for
// comparisons.
func newConfigured(config string) (backends.Backend, error) {
	name, options, _ := strings.Cut(config, ":")
	if name == "go" {
		return simplego.New(options)
	}
	return New(options)
}
func randSlice(r *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = r.NormFloat64()
	}
	return v
}

func assertClose(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > tol*math.Max(1, math.Abs(want[i])) {
			t.Fatalf("%s: element %d = %g, want %g", what, i, got[i], want[i])
		}
	}
}
