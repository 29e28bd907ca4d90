package fid_test

import (
	"math/rand/v2"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/metrics/fid"
	"github.com/cadps/toolkit/internal/randweights"
)

// BenchmarkFIDFeatures times the pool3 features of a batch of 16 images of
// 256×256 (resized to 299 inside); scripts/bench/metrics.sh compares it
// with PyTorch.
func BenchmarkFIDFeatures(b *testing.B) {
	const n, h, w = 16, 256, 256
	be, err := backend.New()
	if err != nil {
		b.Fatal(err)
	}
	sd, err := randweights.StateDict("inception", 1, 1.3, fid.Params(3))
	if err != nil {
		b.Fatal(err)
	}
	m, err := fid.New(be, sd, 3)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, n*3*h*w)
	for i := range x {
		x[i] = r.Float32()
	}
	if _, err := m.Features(x, n, h, w); err != nil { // compile outside the timing
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := m.Features(x, n, h, w); err != nil {
			b.Fatal(err)
		}
	}
}
