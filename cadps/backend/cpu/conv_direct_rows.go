// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import "sync"

// paddedInput is a direct convolution's input with its padding written
// out as zeros, over the rows and columns the convolution reads. There,
// every row of a row panel of the im2col matrix B (16 consecutive outputs
// of one output row, stride 1 along it) is 16 consecutive values at a
// fixed offset from the panel's first pixel, so a micro-kernel with a rows
// form reads B in place instead of packing it: on small maps with few
// output channels, packing B cost half as much as the products.
type paddedInput struct {
	x      []float32
	hp, wp int   // padded height and width
	offs   []int // offset of B's row c·KH·KW + ky·KW + kx from a panel's first pixel
	maxOff int   // the largest offset a panel of B reads from its first pixel
}

// paddedPool holds the padded inputs of convDirectRun.
var paddedPool = sync.Pool{New: func() any { return new([]float32) }}

// readsRowsInPlace reports whether convDirectRun reads dc's row panels
// from a padded copy of the input: kern has a rows form, the convolution
// has stride 1 along its rows and its output rows are a panel wide or
// wider.
func readsRowsInPlace(kern *microKernel, dc *directConv) bool {
	return kern.rows != nil && dc.sw == 1 && dc.ow >= kern.nr
}

// padInput copies x into buf, grown as needed, as dc's padded input: row
// oy·sh + ky·dh, column ox + kx·dw of a padded map is what output (oy, ox)
// reads through tap (ky, kx), zero in the padding. Large inputs are copied
// by up to workers goroutines, a range of maps each.
func padInput(dc *directConv, x []float32, buf *[]float32, workers int) *paddedInput {
	hp := (dc.oh-1)*dc.sh + (dc.kh-1)*dc.dh + 1
	wp := dc.ow + (dc.kw-1)*dc.dw
	size := dc.n * dc.c * hp * wp
	if cap(*buf) < size {
		*buf = make([]float32, size)
	}
	p := &paddedInput{x: (*buf)[:size], hp: hp, wp: wp}
	maps := dc.n * dc.c
	parts := min(workers, maps, max(1, size/minParallelElements))
	step := (maps + parts - 1) / parts
	var wg sync.WaitGroup
	for lo := step; lo < maps; lo += step {
		wg.Go(func() { p.padMaps(dc, x, lo, min(lo+step, maps)) })
	}
	p.padMaps(dc, x, 0, min(step, maps))
	wg.Wait()
	taps := dc.kh * dc.kw
	p.offs = make([]int, dc.c*taps)
	for c := range dc.c {
		for t := range taps {
			off := c*hp*wp + t/dc.kw*dc.dh*wp + t%dc.kw*dc.dw
			p.offs[c*taps+t] = off
			p.maxOff = max(p.maxOff, off)
		}
	}
	return p
}

// padMaps writes the padded maps [lo, hi) (image·C + channel) of x.
func (p *paddedInput) padMaps(dc *directConv, x []float32, lo, hi int) {
	hp, wp := p.hp, p.wp
	// Padded column xp reads input column xp − pw.
	c0, c1 := max(0, dc.pw), min(wp, dc.w+dc.pw)
	for m := lo; m < hi; m++ {
		src, dst := x[m*dc.h*dc.w:(m+1)*dc.h*dc.w], p.x[m*hp*wp:(m+1)*hp*wp]
		for yp := range hp {
			row := dst[yp*wp : (yp+1)*wp]
			y := yp - dc.ph
			if y < 0 || y >= dc.h || c0 >= c1 {
				clear(row)
				continue
			}
			clear(row[:c0])
			copy(row[c0:c1], src[y*dc.w+c0-dc.pw:])
			clear(row[c1:])
		}
	}
}

// rowPanelAt returns where in r.pad.x the panel of B starting at column j
// (cols wide) has its first pixel, or −1 where it is not a row panel (see
// directConv.rowPanel) or the input is not padded.
func (r *convRun) rowPanelAt(j, cols int) int {
	if r.pad == nil || cols != r.kern.nr {
		return -1
	}
	img, oy, ox, ok := r.dc.rowPanel(j, cols)
	if !ok {
		return -1
	}
	return (img*r.dc.c*r.pad.hp+oy*r.dc.sh)*r.pad.wp + ox
}
