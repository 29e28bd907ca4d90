package fid_test

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/cadps/toolkit/cadps/metrics/fid"
)

// randomStats returns the statistics of n random d-dimensional vectors.
func randomStats(t *testing.T, r *rand.Rand, n, d int, shift float64) *fid.Stats {
	t.Helper()
	x := make([]float64, n*d)
	for i := range x {
		x[i] = r.NormFloat64() + shift
	}
	s, err := fid.Statistics64(x, n, d)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestFrechetChangedSigma checks that statistics whose covariance was
// changed after Statistics computed it (in place, or in a copy of the
// struct) give the distance of their Mu and Sigma, not a mix of the new
// covariance's trace and the old vectors' cross term.
func TestFrechetChangedSigma(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(s *fid.Stats) *fid.Stats
	}{
		{"scaled in place", func(s *fid.Stats) *fid.Stats {
			for i := range s.Sigma {
				s.Sigma[i] *= 4
			}
			return s
		}},
		{"a copy with another Sigma", func(s *fid.Stats) *fid.Stats {
			c := *s
			c.Sigma = slices.Clone(s.Sigma)
			c.Sigma[0] += 1
			return &c
		}},
		{"one value changed in place", func(s *fid.Stats) *fid.Stats {
			s.Sigma[len(s.Sigma)-1] *= 1.5
			return s
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			a, b := randomStats(t, r, 20, 32, 0), randomStats(t, r, 30, 32, 0.5)
			if d, err := fid.FrechetDistance(a, b); err != nil || !d.Features {
				t.Fatalf("before the change: %+v, %v; want the distance from the features", d, err)
			}
			a = tc.change(a)
			got, err := fid.FrechetDistance(a, b)
			if err != nil {
				t.Fatal(err)
			}
			want, err := fid.FrechetDistance(covarianceOnly(a), covarianceOnly(b))
			if err != nil {
				t.Fatal(err)
			}
			if got.Features || math.Abs(got.FD-want.FD) > 1e-9*want.FD {
				t.Errorf("FD %.12g (from the features: %v), want %.12g, that of the same Mu and Sigma", got.FD, got.Features, want.FD)
			}
		})
	}
}

// TestStatisticsMemory checks that Statistics holds one float64 copy of
// the feature vectors, not two: it allocates about n·d + d² float64.
func TestStatisticsMemory(t *testing.T) {
	const n, d = 1000, 512
	r := rand.New(rand.NewPCG(3, 4))
	acts := make([][]float32, n)
	for i := range acts {
		acts[i] = make([]float32, d)
		for j := range acts[i] {
			acts[i][j] = float32(r.NormFloat64())
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s, err := fid.Statistics(acts)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	one := int64(n*d+d*d) * 8
	got := int64(after.TotalAlloc - before.TotalAlloc)
	t.Logf("Statistics of %d×%d allocated %.1f MiB (n·d + d² float64: %.1f MiB)", n, d, float64(got)/(1<<20), float64(one)/(1<<20))
	if got > one+one/8 {
		t.Errorf("Statistics allocated %d bytes, want about %d (one float64 copy of the features and the covariance)", got, one)
	}
	runtime.KeepAlive(s)
}

// TestFrechetImaginary checks that the distance between covariances of
// fewer vectors than dimensions, whose product has rounding residues for
// eigenvalues, reports the imaginary part it dropped (where pytorch-fid
// may refuse to give a value), that it is small against the trace, and
// that full-rank covariances and the features' path report none.
func TestFrechetImaginary(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, tc := range []struct {
		name        string
		n, d        int
		covariances bool
		wantDropped bool
	}{
		{"rank 5 in 64 dimensions, from the covariances", 6, 64, true, true},
		{"rank 5 in 64 dimensions, from the features", 6, 64, false, false},
		{"full rank", 200, 16, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := randomStats(t, r, tc.n, tc.d, 0), randomStats(t, r, tc.n, tc.d, 0.2)
			if tc.covariances {
				a, b = covarianceOnly(a), covarianceOnly(b)
			}
			got, err := fid.FrechetDistance(a, b)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("FD %.12g, imaginary part dropped %.3g", got.FD, got.Imaginary)
			if dropped := got.Imaginary > 0; dropped != tc.wantDropped || got.Imaginary > 1e-6*got.FD {
				t.Errorf("imaginary part dropped %g, want %s", got.Imaginary, map[bool]string{true: "a small positive value", false: "0"}[tc.wantDropped])
			}
		})
	}
}

// TestStatisticsAsNumpy checks that the covariance is computed in
// np.cov's order, the product of the centred vectors first and then its
// scaling by 1/(N−1): on vectors whose centred products are exact (small
// integers and halves), every value of Sigma must be that product times
// float64(1/(N−1)), bit for bit, as numpy gives it.
func TestStatisticsAsNumpy(t *testing.T) {
	for _, tc := range []struct {
		name string
		n, d int
		seed uint64
	}{
		{"4 vectors of 5", 4, 5, 1},
		{"10 vectors of 7", 10, 7, 2},
		{"6 vectors of 40 (n < d)", 6, 40, 3},
		{"50 vectors of 12 (n > d)", 50, 12, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(tc.seed, 9))
			x := make([]float64, tc.n*tc.d)
			for i := range x {
				x[i] = float64(r.IntN(64)) / 2
			}
			// Make every column's mean exact: the first vector takes what
			// brings each column's sum to a multiple of n.
			for j := range tc.d {
				var sum float64
				for i := 1; i < tc.n; i++ {
					sum += x[i*tc.d+j]
				}
				x[j] = math.Ceil(sum/float64(tc.n))*float64(tc.n) - sum + float64(tc.n)*4
			}
			s, err := fid.Statistics64(x, tc.n, tc.d)
			if err != nil {
				t.Fatal(err)
			}
			scale := 1 / float64(tc.n-1)
			for i := range tc.d {
				for j := range tc.d {
					var prod float64 // exact: sums of products of halves
					for k := range tc.n {
						prod += (x[k*tc.d+i] - s.Mu[i]) * (x[k*tc.d+j] - s.Mu[j])
					}
					if want, got := prod*scale, s.Sigma[i*tc.d+j]; got != want {
						t.Fatalf("sigma[%d,%d] = %.17g, want %.17g (np.cov: the product %g times 1/%d)", i, j, got, want, prod, tc.n-1)
					}
				}
			}
		})
	}
}
