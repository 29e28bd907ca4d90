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

// BenchmarkFrechetDistance times the Fréchet distance between two sets of
// 1000 random 2048-d vectors (the papers' set size, pool3 features), from
// the statistics of the vectors (the feature path) and from the
// covariances alone (as for .npz statistics):
//
//	go test -run '^$' -bench FrechetDistance -benchtime 1x ./cadps/metrics/fid
func BenchmarkFrechetDistance(b *testing.B) {
	const n, d = 1000, 2048
	r := rand.New(rand.NewPCG(3, 4))
	set := func() *fid.Stats {
		x := make([]float64, n*d)
		for i := range x {
			x[i] = max(r.NormFloat64()+0.2, 0) * (1 + float64(i%d)/d)
		}
		s, err := fid.Statistics64(x, n, d)
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	s1, s2 := set(), set()
	for _, bc := range []struct {
		name   string
		s1, s2 *fid.Stats
	}{
		{"features", s1, s2},
		{"covariances", &fid.Stats{Mu: s1.Mu, Sigma: s1.Sigma}, &fid.Stats{Mu: s2.Mu, Sigma: s2.Sigma}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var fd *fid.Distance
			for b.Loop() {
				var err error
				if fd, err = fid.FrechetDistance(bc.s1, bc.s2); err != nil {
					b.Fatal(err)
				}
			}
			b.Logf("FD %.12g (from the features: %v)", fd.FD, fd.Features)
		})
	}
}
