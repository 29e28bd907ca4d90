// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"runtime"
	"sync"
)

// microKernel computes one mr×nr tile of C from packed panels:
//
//	C[i, j] (+)= Σ_{p<kc} a[p·mr + i] · b[p·nr + j],  i < mr, j < nr,
//
// where C[i, j] is c[i·ldc + j]; with acc false the tile is overwritten,
// otherwise added to. kc ≥ 1; a holds kc·mr values, b kc·nr, and c reaches
// (mr−1)·ldc + nr.
//
// rows, where not nil, is fn with row p of B read in place, at
// x[offs[p] : offs[p]+nr], instead of from a packed panel: a direct
// convolution's row panels are rows of its zero-padded input (see
// paddedInput). offs holds kc offsets, none past maxOff, and x reaches
// maxOff + nr. maxPadded is the most values of the padded copy of an
// input for which rows is used: past it the input's panels are packed.
type microKernel struct {
	name      string
	mr, nr    int
	fn        func(kc int, a, b, c []float32, ldc int, acc bool)
	rows      func(kc int, a, x []float32, offs []int, maxOff int, c []float32, ldc int, acc bool)
	maxPadded int
}

// Cache blocking of the product (in elements): a kcBlock×nr panel of B stays
// in L1, an mcBlock×kcBlock block of A in L2, a kcBlock×ncBlock block of B
// in L3.
const (
	kcBlock = 256
	mcBlock = 144 // a multiple of every kernel's mr (6, 4)
	ncBlock = 2048
)

// minParallelFlops is the least work each goroutine of a split product
// takes, in multiply-adds (see productParts), so that a product splits in
// two from twice as much on: below that the start-up costs more than the
// split gains.
const minParallelFlops = 1 << 21

// operandWork is the work, in multiply-adds, of reading and packing one
// value of a product's operands: a thin product (a linear layer at batch 1,
// the deepest maps of a UNet) is bound by reading its weights, not by its
// arithmetic, and gains from a second core at few multiply-adds.
const operandWork = 16

// productParts returns how many goroutines, at most workers, share the
// product of an m×k and a k×n matrix: one per minParallelFlops of its
// work, its multiply-adds and the reads of its operands' values.
func productParts(m, n, k, workers int) int {
	work := m*n*k + operandWork*(m*k+k*n)
	return min(workers, max(1, work/minParallelFlops))
}

// matView is a strided matrix: element (i, j) is data[off + i·rs + j·cs].
type matView struct {
	data        []float32
	off, rs, cs int
}

func (v matView) at(i, j int) float32 { return v.data[v.off+i*v.rs+j*v.cs] }

// shift returns the view of the sub-matrix starting at (i, j).
func (v matView) shift(i, j int) matView {
	v.off += i*v.rs + j*v.cs
	return v
}

// sgemm computes C = A·B for A m×k, B k×n and C m×n row-major (c[i·n + j]),
// overwriting C, with at most workers goroutines.
func sgemm(kern *microKernel, m, n, k int, a, b matView, c []float32, workers int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		clear(c[:m*n])
		return
	}
	parts := productParts(m, n, k, workers)
	if parts <= 1 {
		sgemmSerial(kern, m, n, k, a, b, c, n)
		return
	}
	// Split the longer side of C into parts, in whole tiles.
	var wg sync.WaitGroup
	if n >= m {
		step := roundUp((n+parts-1)/parts, kern.nr)
		for j0 := 0; j0 < n; j0 += step {
			nn := min(step, n-j0)
			wg.Go(func() { sgemmSerial(kern, m, nn, k, a, b.shift(0, j0), c[j0:], n) })
		}
	} else {
		step := roundUp((m+parts-1)/parts, kern.mr)
		for i0 := 0; i0 < m; i0 += step {
			mm := min(step, m-i0)
			wg.Go(func() { sgemmSerial(kern, mm, n, k, a.shift(i0, 0), b, c[i0*n:], n) })
		}
	}
	wg.Wait()
}

// sgemmWorkers is the number of goroutines a product may use: the cores
// available to Go, fewer when the backend's parallelism is limited
// ("parallelism=N"), one when it is disabled ("parallelism=0").
func sgemmWorkers(maxParallelism int) int {
	w := runtime.GOMAXPROCS(0)
	switch {
	case maxParallelism == 0:
		w = 1
	case maxParallelism > 0:
		w = min(w, maxParallelism)
	}
	return max(w, 1)
}

func roundUp(x, m int) int { return (x + m - 1) / m * m }

// packBuffers are the packed blocks of one goroutine.
var packPool = sync.Pool{New: func() any { return new(packBuffers) }}

type packBuffers struct{ a, b, tile []float32 }

func (p *packBuffers) grow(kern *microKernel, kc, mc, nc int) {
	if need := roundUp(mc, kern.mr) * kc; cap(p.a) < need {
		p.a = make([]float32, need)
	}
	if need := roundUp(nc, kern.nr) * kc; cap(p.b) < need {
		p.b = make([]float32, need)
	}
	if need := kern.mr * kern.nr; cap(p.tile) < need {
		p.tile = make([]float32, need)
	}
}

// sgemmSerial is sgemm on one goroutine, with C's row stride ldc.
func sgemmSerial(kern *microKernel, m, n, k int, a, b matView, c []float32, ldc int) {
	bufs := packPool.Get().(*packBuffers)
	defer packPool.Put(bufs)
	mr, nr := kern.mr, kern.nr
	for jc := 0; jc < n; jc += ncBlock {
		nc := min(ncBlock, n-jc)
		for pc := 0; pc < k; pc += kcBlock {
			kc := min(kcBlock, k-pc)
			bufs.grow(kern, kc, mcBlock, nc)
			packB(bufs.b, b.shift(pc, jc), kc, nc, nr)
			acc := pc > 0
			for ic := 0; ic < m; ic += mcBlock {
				mc := min(mcBlock, m-ic)
				packA(bufs.a, a.shift(ic, pc), mc, kc, mr)
				for jr := 0; jr < nc; jr += nr {
					bp := bufs.b[jr*kc : (jr+nr)*kc]
					nn := min(nr, nc-jr)
					for ir := 0; ir < mc; ir += mr {
						ap := bufs.a[ir*kc : (ir+mr)*kc]
						mm := min(mr, mc-ir)
						ci := (ic+ir)*ldc + jc + jr
						if mm == mr && nn == nr {
							kern.fn(kc, ap, bp, c[ci:], ldc, acc)
							continue
						}
						// Edge tile: compute into a scratch tile, then store
						// the valid part.
						tile := bufs.tile[:mr*nr]
						kern.fn(kc, ap, bp, tile, nr, false)
						for i := range mm {
							row, src := c[ci+i*ldc:ci+i*ldc+nn], tile[i*nr:i*nr+nn]
							if acc {
								for j, v := range src {
									row[j] += v
								}
							} else {
								copy(row, src)
							}
						}
					}
				}
			}
		}
	}
}

// packA copies the mc×kc block of a into panels of mr rows: panel q holds
// a(q·mr + i, p) at q·mr·kc + p·mr + i, with rows past mc set to zero.
func packA(dst []float32, a matView, mc, kc, mr int) {
	for i0 := 0; i0 < mc; i0 += mr {
		panel := dst[i0*kc : (i0+mr)*kc]
		rows := min(mr, mc-i0)
		if rows < mr {
			clear(panel)
		}
		if a.rs == 1 {
			for p := range kc {
				base := a.off + i0 + p*a.cs
				copy(panel[p*mr:p*mr+rows], a.data[base:base+rows])
			}
			continue
		}
		if a.cs == 1 && mr == 6 && rows == 6 {
			packRowsPanel6(panel, a.data[a.off+i0*a.rs:], a.rs, kc)
			continue
		}
		for i := range rows {
			base := a.off + (i0+i)*a.rs
			if a.cs == 1 {
				src := a.data[base : base+kc]
				for p, v := range src {
					panel[p*mr+i] = v
				}
			} else {
				for p := range kc {
					panel[p*mr+i] = a.data[base+p*a.cs]
				}
			}
		}
	}
}

// packRowsPanel6 is packA's loop for a full panel of six rows (the AVX2
// and AVX-512 kernels' mr) of a row-major matrix with row stride rs: one
// column of the six rows per step, so that the panel is written in order.
func packRowsPanel6(panel, a []float32, rs, kc int) {
	r0, r1, r2 := a[:kc], a[rs:rs+kc], a[2*rs:2*rs+kc]
	r3, r4, r5 := a[3*rs:3*rs+kc], a[4*rs:4*rs+kc], a[5*rs:5*rs+kc]
	for p := range kc {
		d := (*[6]float32)(panel[p*6:])
		d[0], d[1], d[2], d[3], d[4], d[5] = r0[p], r1[p], r2[p], r3[p], r4[p], r5[p]
	}
}

// packB copies the kc×nc block of b into panels of nr columns: panel q
// holds b(p, q·nr + j) at q·nr·kc + p·nr + j, with columns past nc set to
// zero.
func packB(dst []float32, b matView, kc, nc, nr int) {
	for j0 := 0; j0 < nc; j0 += nr {
		panel := dst[j0*kc : (j0+nr)*kc]
		cols := min(nr, nc-j0)
		if cols < nr {
			clear(panel)
		}
		if b.cs == 1 {
			for p := range kc {
				base := b.off + p*b.rs + j0
				copy(panel[p*nr:p*nr+cols], b.data[base:base+cols])
			}
			continue
		}
		for j := range cols {
			base := b.off + (j0+j)*b.cs
			if b.rs == 1 {
				src := b.data[base : base+kc]
				for p, v := range src {
					panel[p*nr+j] = v
				}
			} else {
				for p := range kc {
					panel[p*nr+j] = b.data[base+p*b.rs]
				}
			}
		}
	}
}
