// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import "sync"

// paddedInput is a direct convolution's input with its padding written
// out as zeros, over the rows and columns the convolution reads, laid out
// so that every row of some panels of the im2col matrix B is nr
// consecutive values at a fixed offset from the panel's first pixel: a
// micro-kernel with a rows form reads those panels in place instead of
// packing them (packing B took 24 % of the small prior's sampling step).
//
// Where output rows are a panel wide or wider, each map is copied once,
// padded on every side, and the panels read in place are those of nr
// outputs of one output row. Narrower maps (stride 1 on both axes) are
// copied once per kernel column kx, shifted by kx·dw and as wide as the
// output, so that consecutive outputs of one image are consecutive there
// across output rows too: the panels read in place are those of nr outputs
// of one image.
type paddedInput struct {
	x       []float32
	nr      int  // panel width
	shifted bool // one copy per kernel column
	hp, wp  int  // height and width of a stored map
	// offs[c·KH·KW + ky·KW + kx] is the offset of B's row for channel c,
	// tap (ky, kx) from a panel's first pixel; maxOff is the largest.
	offs   []int
	maxOff int
}

// paddedPool holds the padded inputs of convDirectRun.
var paddedPool = sync.Pool{New: func() any { return new([]float32) }}

// readsRowsInPlace reports whether convDirectRun reads panels of dc's B in
// place from a padded copy of the input: kern has a rows form, the
// convolution has stride 1 along its rows, its output rows (or, with
// stride 1 on both axes, its images) are a panel wide or wider, and the
// copy holds at most kern.maxPadded values.
func readsRowsInPlace(kern *microKernel, dc *directConv) bool {
	if kern.rows == nil || dc.sw != 1 || dc.ow < kern.nr && (dc.sh != 1 || dc.oh*dc.ow < kern.nr) {
		return false
	}
	p := newPaddedInput(dc, kern.nr)
	return p.maps(dc)*p.hp*p.wp <= kern.maxPadded
}

// newPaddedInput returns the layout of dc's padded input for panels nr
// wide, without its values.
func newPaddedInput(dc *directConv, nr int) *paddedInput {
	p := &paddedInput{nr: nr, shifted: dc.ow < nr, hp: (dc.oh-1)*dc.sh + (dc.kh-1)*dc.dh + 1, wp: dc.ow + (dc.kw-1)*dc.dw}
	if p.shifted {
		p.wp = dc.ow
	}
	return p
}

// padInput copies x into buf, grown as needed, as dc's padded input for
// panels nr wide (see paddedInput), by up to workers goroutines for large
// inputs, a range of maps each.
func padInput(dc *directConv, nr int, x []float32, buf *[]float32, workers int) *paddedInput {
	p := newPaddedInput(dc, nr)
	maps := p.maps(dc)
	size := maps * p.hp * p.wp
	if cap(*buf) < size {
		*buf = make([]float32, size)
	}
	p.x = (*buf)[:size]
	splitRange(maps, min(workers, maps, max(1, size/minParallelElements)), 1, func(lo, hi int) { p.padMaps(dc, x, lo, hi) })
	taps := dc.kh * dc.kw
	p.offs = make([]int, dc.c*taps)
	for c := range dc.c {
		for t := range taps {
			ky, kx := t/dc.kw, t%dc.kw
			off := c*p.hp*p.wp + ky*dc.dh*p.wp + kx*dc.dw
			if p.shifted {
				off = ((kx*dc.c+c)*p.hp + ky*dc.dh) * p.wp
			}
			p.offs[c*taps+t] = off
			p.maxOff = max(p.maxOff, off)
		}
	}
	return p
}

// copies is the number of copies of each input map: one per kernel column
// where shifted.
func (p *paddedInput) copies(dc *directConv) int {
	if p.shifted {
		return dc.kw
	}
	return 1
}

// maps is the number of maps p stores: every channel of every image, once
// per copy.
func (p *paddedInput) maps(dc *directConv) int {
	return dc.n * p.copies(dc) * dc.c
}

// padMaps writes the stored maps [lo, hi): map (image·copies + kx)·C + c
// holds row yp, column xp at input row yp − ph, column xp + kx·dw − pw
// (kx = 0 unless shifted), zero outside the input.
func (p *paddedInput) padMaps(dc *directConv, x []float32, lo, hi int) {
	hp, wp, copies := p.hp, p.wp, p.copies(dc)
	for m := lo; m < hi; m++ {
		img, kx, c := m/(copies*dc.c), m/dc.c%copies, m%dc.c
		src, dst := x[(img*dc.c+c)*dc.h*dc.w:(img*dc.c+c+1)*dc.h*dc.w], p.x[m*hp*wp:(m+1)*hp*wp]
		shift := kx*dc.dw - dc.pw // input column of stored column 0
		c0, c1 := max(0, -shift), min(wp, dc.w-shift)
		for yp := range hp {
			row := dst[yp*wp : (yp+1)*wp]
			y := yp - dc.ph
			if y < 0 || y >= dc.h || c0 >= c1 {
				clear(row)
				continue
			}
			clear(row[:c0])
			copy(row[c0:c1], src[y*dc.w+c0+shift:])
			clear(row[c1:])
		}
	}
}

// panelAt returns where in p.x the panel of B starting at column j (cols
// wide) has its first pixel, or −1 where the panel is not read in place:
// p is nil, the panel is narrower than nr, or its outputs are not on one
// output row (on one image where shifted).
func (p *paddedInput) panelAt(dc *directConv, j, cols int) int {
	if p == nil || cols != p.nr {
		return -1
	}
	if p.shifted {
		per := dc.oh * dc.ow
		img, q := j/per, j%per
		if q+cols > per {
			return -1
		}
		return img*dc.kw*dc.c*p.hp*p.wp + q
	}
	img, oy, ox, ok := dc.rowPanel(j, cols)
	if !ok {
		return -1
	}
	return (img*dc.c*p.hp+oy*dc.sh)*p.wp + ox
}
