// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"slices"
	"sync"
	"sync/atomic"
)

// convDirectRun computes out [N, O, OH·OW] = dc applied to x [N, C, H·W]
// and w [O, C·KH·KW] (plus bias [O] and the ReLU where dc says so) with at
// most workers goroutines: C = A·B for A = w (O × C·KH·KW) and B the im2col
// matrix (C·KH·KW × N·OH·OW), whose column n·OH·OW + q is output position q
// of image n. B's panels are packed from x by each goroutine for the
// columns it computes, except those that kern reads in place from a padded
// copy of x (see paddedInput). A is packed by each goroutine for
// the rows it computes where no two blocks share rows, else once, by all
// goroutines, before the product. Tiles of C go straight into the output, except those
// that straddle two images or the edges, which go through a scratch tile.
func convDirectRun(kern *microKernel, dc *directConv, x, w, bias, out []float32, workers int) {
	m, k, p := dc.o, dc.c*dc.kh*dc.kw, dc.oh*dc.ow
	n := dc.n * p
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		clear(out[:dc.n*m*p])
		for img := range dc.n {
			for o := range m {
				dc.epilogue(out[(img*m+o)*p:(img*m+o+1)*p], bias, o)
			}
		}
		return
	}
	r := convRun{dc: dc, kern: kern, w: w, x: x, bias: bias, out: out}
	if dc.kernel != nil {
		r.cols = kernelColumns(dc)
	}
	if readsRowsInPlace(kern, dc) {
		buf := paddedPool.Get().(*[]float32)
		defer paddedPool.Put(buf)
		r.pad = padInput(dc, kern.nr, x, buf, workers)
	}
	items := convWorkItems(kern, m, n, k, workers)
	if slices.ContainsFunc(items, func(it convItem) bool { return it.j0 > 0 || it.j1 < n }) {
		aBuf := convAPool.Get().(*[]float32)
		defer convAPool.Put(aBuf)
		r.a = r.packWhole(aBuf, workers)
	}
	work := func(next *atomic.Int64) {
		bufs := packPool.Get().(*packBuffers)
		defer packPool.Put(bufs)
		var scratch packScratch
		for {
			i := int(next.Add(1)) - 1
			if i >= len(items) {
				return
			}
			r.gemmItem(items[i], bufs, &scratch)
		}
	}
	var next atomic.Int64
	if len(items) == 1 || workers <= 1 {
		work(&next)
		return
	}
	var wg sync.WaitGroup
	for range min(workers, len(items)) {
		wg.Go(func() { work(&next) })
	}
	wg.Wait()
}

// convRun is one execution of a direct convolution: its kernel w, the
// kernel's column offsets cols where it is read through a view (see
// kernelColumns), A packed whole (nil where each block packs its own rows),
// input x, its padded copy pad (nil where B's panels are all packed), bias
// (nil without) and output.
type convRun struct {
	dc                 *directConv
	kern               *microKernel
	w, a, x, bias, out []float32
	cols               []int
	pad                *paddedInput
}

// convAPool holds the packed kernels of convDirectRun.
var convAPool = sync.Pool{New: func() any { return new([]float32) }}

// minParallelPack is the fewest kernel elements each goroutine packs where
// packing is split, so that a kernel is packed by more than one goroutine
// from twice as many on.
const minParallelPack = 1 << 16

// packWhole packs all of A (m×k) once, its row panels split across at most
// workers goroutines: the panels of its kcBlock-wide column block starting
// at pc lie at roundUp(m, mr)·pc, in packA's layout, so that rows from ic
// on start ic·kc further. Packing is memory-bound and, for the deep layers
// of a large network, costs as much as their products.
func (r *convRun) packWhole(buf *[]float32, workers int) []float32 {
	m, k, mr := r.dc.o, r.dc.c*r.dc.kh*r.dc.kw, r.kern.mr
	mp := roundUp(m, mr)
	if cap(*buf) < mp*k {
		*buf = make([]float32, mp*k)
	}
	a := (*buf)[:mp*k]
	pack := func(i0, i1 int) {
		for pc := 0; pc < k; pc += kcBlock {
			kc := min(kcBlock, k-pc)
			r.packKernelBlock(a[mp*pc+i0*kc:], i0, i1-i0, pc, kc)
		}
	}
	splitRange(m, min(workers, max(1, m*k/minParallelPack), (m+mr-1)/mr), mr, pack)
	return a
}

// kernelColumns returns, for a kernel read through dc.kernel's strides,
// where column p of A's row 0 lies in the kernel input: A's row o, column
// (c·KH + kh)·KW + kw is kernel element (o, c, kh, kw).
func kernelColumns(dc *directConv) []int {
	kr := dc.kernel
	cols := make([]int, 0, dc.c*dc.kh*dc.kw)
	for c := range dc.c {
		for kh := range dc.kh {
			for kw := range dc.kw {
				cols = append(cols, kr.offset+c*kr.sc+kh*kr.skh+kw*kr.skw)
			}
		}
	}
	return cols
}

// packKernelBlock packs rows [i0, i0+mc) and columns [pc, pc+kc) of A into
// dst in packA's layout (panels of mr rows, the last one padded with
// zeros), reading the kernel row-major or through its view.
func (r *convRun) packKernelBlock(dst []float32, i0, mc, pc, kc int) {
	mr := r.kern.mr
	if r.dc.kernel == nil {
		k := r.dc.c * r.dc.kh * r.dc.kw
		packA(dst, matView{data: r.w, rs: k, cs: 1}.shift(i0, pc), mc, kc, mr)
		return
	}
	so := r.dc.kernel.so
	for ir := 0; ir < mc; ir += mr {
		panel := dst[ir*kc : (ir+mr)*kc]
		rows := min(mr, mc-ir)
		cols := r.cols[pc : pc+kc]
		if rows == 6 && mr == 6 && so > 0 {
			packViewPanel6(panel, r.w, cols, (i0+ir)*so, so)
			continue
		}
		if rows < mr {
			clear(panel)
		}
		for p, col := range cols {
			src, d := col+(i0+ir)*so, panel[p*mr:p*mr+rows]
			for i := range d {
				d[i] = r.w[src]
				src += so
			}
		}
	}
}

// packViewPanel6 is packKernelBlock's loop for a full panel of six rows
// (the AVX2 and AVX-512 kernels' mr), one column per step: row i of
// column p is w[cols[p] + off + i·so], so > 0.
func packViewPanel6(panel, w []float32, cols []int, off, so int) {
	for p, col := range cols {
		s := w[col+off : col+off+5*so+1]
		d := (*[6]float32)(panel[p*6:])
		d[0], d[1], d[2], d[3], d[4], d[5] = s[0], s[so], s[2*so], s[3*so], s[4*so], s[5*so]
	}
}

// convItem is a block of C: rows [i0, i1), columns [j0, j1).
type convItem struct{ i0, i1, j0, j1 int }

// convWorkItems splits C (m×n, k deep) into blocks handed to the goroutines
// as they become free, so that a core slowed by other work takes fewer.
// Where A (m×k) is larger than B (k×n), as in the deep layers of a large
// network, the blocks are rows only, each packing its own rows of A.
// Otherwise there are a few column blocks per goroutine (at most ncBlock
// wide), and also row blocks when there are too few columns.
func convWorkItems(kern *microKernel, m, n, k, workers int) []convItem {
	parts := productParts(m, n, k, workers)
	if parts <= 1 {
		return []convItem{{0, m, 0, n}}
	}
	var items []convItem
	if m > n {
		rowBlocks := min(2*parts, (m+kern.mr-1)/kern.mr)
		rs := roundUp((m+rowBlocks-1)/rowBlocks, kern.mr)
		for i0 := 0; i0 < m; i0 += rs {
			items = append(items, convItem{i0, min(i0+rs, m), 0, n})
		}
		return items
	}
	cs := min(ncBlock, max(kern.nr, roundUp((n+4*parts-1)/(4*parts), kern.nr)))
	colBlocks := (n + cs - 1) / cs
	rs := m
	if colBlocks < 2*parts {
		rowBlocks := min((2*parts+colBlocks-1)/colBlocks, (m+kern.mr-1)/kern.mr)
		rs = roundUp((m+rowBlocks-1)/rowBlocks, kern.mr)
	}
	for j0 := 0; j0 < n; j0 += cs {
		for i0 := 0; i0 < m; i0 += rs {
			items = append(items, convItem{i0, min(i0+rs, m), j0, min(j0+cs, n)})
		}
	}
	return items
}

// gemmItem computes one block of C, in sgemmSerial's loop order.
func (r *convRun) gemmItem(it convItem, bufs *packBuffers, scratch *packScratch) {
	dc, kern := r.dc, r.kern
	mr, nr := kern.mr, kern.nr
	k := dc.c * dc.kh * dc.kw
	mp := roundUp(dc.o, mr)
	for jc := it.j0; jc < it.j1; jc += ncBlock {
		nc := min(ncBlock, it.j1-jc)
		for pc := 0; pc < k; pc += kcBlock {
			kc := min(kcBlock, k-pc)
			bufs.grow(kern, kc, mcBlock, nc)
			dc.packB(bufs.b, r.x, pc, kc, jc, nc, nr, scratch, r.pad)
			for ic := it.i0; ic < it.i1; ic += mcBlock {
				mc := min(mcBlock, it.i1-ic)
				var ak []float32 // the packed rows from ic
				if r.a != nil {
					ak = r.a[mp*pc+ic*kc:]
				} else {
					r.packKernelBlock(bufs.a, ic, mc, pc, kc)
					ak = bufs.a
				}
				for jr := 0; jr < nc; jr += nr {
					b := panelB{packed: bufs.b[jr*kc : (jr+nr)*kc], at: -1}
					nn := min(nr, nc-jr)
					if b.at = r.pad.panelAt(dc, jc+jr, nn); b.at >= 0 {
						b.offs = r.pad.offs[pc : pc+kc]
					}
					for ir := 0; ir < mc; ir += mr {
						ap := ak[ir*kc : (ir+mr)*kc]
						r.tile(kc, ap, b, bufs.tile, ic+ir, min(mr, mc-ir), jc+jr, nn, pc > 0, pc+kc == k)
					}
				}
			}
		}
	}
}

// panelB is a panel of B: packed, or, where at ≥ 0, a row panel read in
// place from r.pad.x at at + offs[p] for its row p.
type panelB struct {
	packed []float32
	at     int
	offs   []int
}

// micro runs the micro-kernel on the A panel ap and the B panel b into c.
func (r *convRun) micro(kc int, ap []float32, b panelB, c []float32, ldc int, acc bool) {
	if b.at >= 0 {
		r.kern.rows(kc, ap, r.pad.x[b.at:], b.offs, r.pad.maxOff, c, ldc, acc)
		return
	}
	r.kern.fn(kc, ap, b.packed, c, ldc, acc)
}

// tile computes the mm×nn tile of C at (row, col) from the panels ap and
// b, adding to it when acc; last says it is the final sum, which the bias
// and ReLU then apply to.
func (r *convRun) tile(kc int, ap []float32, b panelB, scratch []float32, row, mm, col, nn int, acc, last bool) {
	dc, kern, out := r.dc, r.kern, r.out
	mr, nr := kern.mr, kern.nr
	p := dc.oh * dc.ow
	img, q := col/p, col%p
	if mm == mr && nn == nr && q+nr <= p {
		base := (img*dc.o+row)*p + q
		r.micro(kc, ap, b, out[base:], p, acc)
		if last && (dc.bias || dc.relu) {
			for i := range mr {
				dc.epilogue(out[base+i*p:base+i*p+nr], r.bias, row+i)
			}
		}
		return
	}
	t := scratch[:mr*nr]
	r.micro(kc, ap, b, t, nr, false)
	for j := range nn {
		base := (img*dc.o+row)*p + q
		for i := range mm {
			v := t[i*nr+j]
			if acc {
				v += out[base+i*p]
			}
			if last && (dc.bias || dc.relu) {
				v = dc.apply(v, r.bias, row+i)
			}
			out[base+i*p] = v
		}
		if q++; q == p {
			img, q = img+1, 0
		}
	}
}

// epilogue applies the bias of output channel o and the ReLU (as dc says)
// to the final values seg.
func (dc *directConv) epilogue(seg, bias []float32, o int) {
	switch {
	case dc.bias && dc.relu:
		b := bias[o]
		for i, v := range seg {
			seg[i] = max(v+b, 0)
		}
	case dc.bias:
		b := bias[o]
		for i := range seg {
			seg[i] += b
		}
	case dc.relu:
		for i, v := range seg {
			seg[i] = max(v, 0)
		}
	}
}

// apply is epilogue for one value.
func (dc *directConv) apply(v float32, bias []float32, o int) float32 {
	if dc.bias {
		v += bias[o]
	}
	if dc.relu {
		v = max(v, 0)
	}
	return v
}
