package lpips_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/metrics/lpips"
	"github.com/cadps/toolkit/internal/randweights"
)

// BenchmarkLPIPS times the LPIPS distance (alex) of a batch of 16 pairs of
// 256×256 images; scripts/bench/metrics.sh compares it with PyTorch.
func BenchmarkLPIPS(b *testing.B) {
	const n, h, w = 16, 256, 256
	be, err := backend.New()
	if err != nil {
		b.Fatal(err)
	}
	bb, err := randweights.StateDict("alex", 1, math.Sqrt2, lpips.Alex.BackboneParams())
	if err != nil {
		b.Fatal(err)
	}
	lin, err := lpips.ShippedLinear(lpips.Alex)
	if err != nil {
		b.Fatal(err)
	}
	m, err := lpips.New(be, lpips.Alex, bb, lin)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	x0, x1 := make([]float32, n*3*h*w), make([]float32, n*3*h*w)
	for i := range x0 {
		x0[i], x1[i] = 2*r.Float32()-1, 2*r.Float32()-1
	}
	if _, err := m.Distance(x0, x1, n, h, w); err != nil { // compile outside the timing
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := m.Distance(x0, x1, n, h, w); err != nil {
			b.Fatal(err)
		}
	}
}
