// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// testKernels are the micro-kernels to check: the portable one always, and
// every vector kernel this CPU runs.
func testKernels() []*microKernel {
	return append([]*microKernel{&genericKernel}, vectorKernels()...)
}

// layout places a rows×cols matrix in a slice: transposed (column-major) or
// not, with extra elements after each row (or column) and an offset.
type layout struct {
	transposed  bool
	pad, offset int
}

func (l layout) view(r *rand.Rand, rows, cols int) (matView, [][]float64) {
	ld := cols + l.pad
	if l.transposed {
		ld = rows + l.pad
	}
	outer := rows
	if l.transposed {
		outer = cols
	}
	data := make([]float32, l.offset+outer*ld)
	for i := range data {
		data[i] = float32(r.NormFloat64())
	}
	v := matView{data: data, off: l.offset, rs: ld, cs: 1}
	if l.transposed {
		v.rs, v.cs = 1, ld
	}
	dense := make([][]float64, rows)
	for i := range dense {
		dense[i] = make([]float64, cols)
		for j := range dense[i] {
			dense[i][j] = float64(v.at(i, j))
		}
	}
	return v, dense
}

func TestSGEMM(t *testing.T) {
	shapes := [][3]int{
		{0, 5, 3}, {5, 0, 3}, {4, 4, 0}, {1, 1, 1}, {1, 7, 1}, {7, 1, 9},
		{6, 16, 8}, {6, 32, 8}, {5, 15, 7}, {7, 17, 33}, {13, 31, 300},
		{37, 70, 257}, {150, 45, 20}, {3, 2100, 5}, {64, 1024, 288}, {600, 40, 200},
	}
	layouts := []struct{ a, b layout }{
		{layout{}, layout{}},
		{layout{transposed: true}, layout{}},
		{layout{}, layout{transposed: true}},
		{layout{transposed: true, pad: 3, offset: 5}, layout{transposed: true, pad: 2, offset: 1}},
		{layout{pad: 1, offset: 2}, layout{pad: 4, offset: 7}},
	}
	for _, kern := range testKernels() {
		for _, s := range shapes {
			for li, l := range layouts {
				for _, workers := range []int{1, 3} {
					m, n, k := s[0], s[1], s[2]
					name := fmt.Sprintf("%s/%dx%dx%d/layout%d/workers%d", kern.name, m, n, k, li, workers)
					t.Run(name, func(t *testing.T) {
						r := rand.New(rand.NewPCG(uint64(m*1000+n), uint64(k+li)))
						a, ad := l.a.view(r, m, k)
						b, bd := l.b.view(r, k, n)
						c := make([]float32, m*n+3)
						for i := range c {
							c[i] = float32(math.NaN()) // Must be overwritten (or, past m·n, kept).
						}
						sgemm(kern, m, n, k, a, b, c[:m*n], workers)
						checkProduct(t, m, n, k, ad, bd, c)
						for _, v := range c[m*n:] {
							if !math.IsNaN(float64(v)) {
								t.Fatalf("wrote past the end of C")
							}
						}
					})
				}
			}
		}
	}
}

// checkProduct compares c with the float64 product of ad and bd, allowing
// float32 rounding of a k-term sum.
func checkProduct(t *testing.T, m, n, k int, ad, bd [][]float64, c []float32) {
	t.Helper()
	for i := range m {
		for j := range n {
			var want, mag float64
			for p := range k {
				want += ad[i][p] * bd[p][j]
				mag += math.Abs(ad[i][p] * bd[p][j])
			}
			got := float64(c[i*n+j])
			if math.IsNaN(got) || math.Abs(got-want) > 1e-6*float64(k+1)*(mag+1) {
				t.Fatalf("C[%d,%d] = %g, want %g", i, j, got, want)
			}
		}
	}
}

// TestMicroKernels checks each kernel alone on one full tile, overwriting
// and accumulating, with a row stride wider than the tile.
func TestMicroKernels(t *testing.T) {
	for _, kern := range testKernels() {
		for _, kc := range []int{1, 2, 3, 17} {
			for _, acc := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/kc%d/acc=%v", kern.name, kc, acc), func(t *testing.T) {
					r := rand.New(rand.NewPCG(uint64(kc), 9))
					mr, nr, ldc := kern.mr, kern.nr, kern.nr+5
					a, b := make([]float32, kc*mr), make([]float32, kc*nr)
					for i := range a {
						a[i] = float32(r.IntN(7) - 3)
					}
					for i := range b {
						b[i] = float32(r.IntN(7) - 3)
					}
					c := make([]float32, mr*ldc)
					for i := range c {
						c[i] = float32(i % 11)
					}
					kern.fn(kc, a, b, c, ldc, acc)
					for i := range mr {
						for j := range ldc {
							want := float32(0)
							if acc || j >= nr {
								want = float32((i*ldc + j) % 11)
							}
							if j < nr {
								for p := range kc {
									want += a[p*mr+i] * b[p*nr+j]
								}
							}
							if got := c[i*ldc+j]; got != want {
								t.Fatalf("C[%d,%d] = %g, want %g", i, j, got, want)
							}
						}
					}
				})
			}
		}
	}
}

func TestSelfCheck(t *testing.T) {
	for _, kern := range testKernels() {
		if !selfCheck(kern) {
			t.Errorf("kernel %s fails its self-check", kern.name)
		}
	}
	broken := microKernel{name: "broken", mr: 4, nr: 4, fn: func(kc int, a, b, c []float32, ldc int, acc bool) {
		genericKernel.fn(kc, a, b, c, ldc, acc)
		c[ldc+1] += 1
	}}
	if selfCheck(&broken) {
		t.Error("self-check accepts a kernel that gets one element wrong")
	}
}

func TestSGEMMWorkers(t *testing.T) {
	cores := runtime.GOMAXPROCS(0)
	for _, c := range []struct{ parallelism, want int }{
		{-1, cores}, {0, 1}, {1, 1}, {cores + 5, cores},
	} {
		if got := sgemmWorkers(c.parallelism); got != c.want {
			t.Errorf("sgemmWorkers(%d) = %d, want %d", c.parallelism, got, c.want)
		}
	}
}

// BenchmarkSGEMM times each kernel this CPU runs (and the portable one) on
// one core at a UNet convolution's size, [128,1152]×[1152,1024].
func BenchmarkSGEMM(b *testing.B) {
	const m, n, k = 128, 1024, 1152
	r := rand.New(rand.NewPCG(1, 2))
	a, _ := layout{}.view(r, m, k)
	bv, _ := layout{}.view(r, k, n)
	c := make([]float32, m*n)
	for _, kern := range testKernels() {
		b.Run(kern.name, func(b *testing.B) {
			for b.Loop() {
				sgemm(kern, m, n, k, a, bv, c, 1)
			}
			b.ReportMetric(2*m*n*k*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// TestProductParts checks how many goroutines share products of the sizes
// that set minParallelFlops and operandWork: the small prior's
// convolutions, compute-bound and too short for a second core to pay
// below 32×32 maps, and the thin products bound by reading their weights
// (the FFHQ-256 UNet's 1×1 maps, a linear layer at batch 1), which split
// at few multiply-adds.
func TestProductParts(t *testing.T) {
	for _, tc := range []struct {
		name             string
		m, n, k, workers int
		want             int
	}{
		{"small prior, 32×32 maps, 32 channels", 32, 1024, 288, 2, 2},
		{"small prior, 16×16 maps, 32 channels", 32, 256, 288, 2, 1},
		{"small prior, 8×8 maps, 64 channels", 64, 64, 576, 2, 1},
		{"1×1 map, 512 channels, centre tap", 512, 1, 512, 2, 2},
		{"linear layer at batch 1", 1, 2048, 512, 2, 2},
		{"linear layer at batch 1, one core", 1, 2048, 512, 1, 1},
		{"a 64×64 map, 128 channels", 128, 4096, 1152, 16, 16},
	} {
		if got := productParts(tc.m, tc.n, tc.k, tc.workers); got != tc.want {
			t.Errorf("%s: %d×%d×%d on %d workers: %d parts, want %d", tc.name, tc.m, tc.n, tc.k, tc.workers, got, tc.want)
		}
	}
}
