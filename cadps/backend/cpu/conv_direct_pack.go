// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

// The im2col matrix B of a directConv has one row per (channel c, tap ky,
// kx), in the kernel's order c·KH·KW + ky·KW + kx, and one column per
// output position (n, oy, ox), in the output's order; its element is input
// x[n, c, oy·sh + ky·dh − ph, ox·sw + kx·dw − pw], zero in the padding.

// packScratch is what packB reuses between panels: the source offset of
// every (tap, column) of the current panel, −1 in the padding, and each
// tap's row and column offsets from its window's corner.
type packScratch struct {
	offsets, dy, dx []int
}

// packB copies the kc×nc block of B starting at row pc, column jc into
// panels of nr columns, like packB does for a stored matrix: panel q holds
// B(pc+r, jc+q·nr+j) at q·nr·kc + r·nr + j, zero past nc. A panel whose
// columns are 16 consecutive pixels of one output row (stride 1) is copied
// a row at a time, 64 bytes where the row lies inside the input; the
// others are gathered through a table of source offsets per tap. The
// panels that the micro-kernel reads in place from pad (nil for none) are
// left unpacked.
func (dc *directConv) packB(dst, x []float32, pc, kc, jc, nc, nr int, s *packScratch, pad *paddedInput) {
	taps := dc.kh * dc.kw
	plane := dc.h * dc.w
	if cap(s.offsets) < taps*nr {
		s.offsets = make([]int, taps*nr)
	}
	offsets := s.offsets[:taps*nr]
	s.dy, s.dx = s.dy[:0], s.dx[:0]
	for t := range taps {
		s.dy, s.dx = append(s.dy, t/dc.kw*dc.dh), append(s.dx, t%dc.kw*dc.dw)
	}
	for j0 := 0; j0 < nc; j0 += nr {
		panel := dst[j0*kc : (j0+nr)*kc]
		cols := min(nr, nc-j0)
		if pad.panelAt(dc, jc+j0, cols) >= 0 {
			continue
		}
		if cols < nr {
			clear(panel)
		}
		c, t := pc/taps, pc%taps
		if nr == 16 && cols == nr {
			if img, oy, ox, ok := dc.rowPanel(jc+j0, nr); ok {
				dc.packRowPanel(panel, x, img*dc.c*plane, oy*dc.sh-dc.ph, ox-dc.pw, c, t, kc, s)
				continue
			}
		}
		dc.panelOffsets(offsets, jc+j0, cols, nr)
		for r := range kc {
			row := panel[r*nr : r*nr+cols]
			xc := x[c*plane:]
			for j, o := range offsets[t*nr : t*nr+cols] {
				if o >= 0 {
					row[j] = xc[o]
				} else {
					row[j] = 0
				}
			}
			if t++; t == taps {
				t, c = 0, c+1
			}
		}
	}
}

// rowPanel reports whether the cols columns from j are consecutive pixels
// of one output row read with stride 1, and returns the image and the
// output row and column of the first.
func (dc *directConv) rowPanel(j, cols int) (img, oy, ox int, ok bool) {
	p := dc.oh * dc.ow
	img, q := j/p, j%p
	oy, ox = q/dc.ow, q%dc.ow
	if dc.sw != 1 || ox+cols > dc.ow {
		return 0, 0, 0, false
	}
	return img, oy, ox, true
}

// packRowPanel fills the kc rows of a 16-column panel from row pc = c·taps
// + t on, for columns reading input row iy + dy, columns ix + dx … ix +
// dx + 15 of image img for each tap (dy, dx).
func (dc *directConv) packRowPanel(panel, x []float32, img, iy, ix, c, t, kc int, s *packScratch) {
	taps := len(s.dy)
	plane := dc.h * dc.w
	for r := range kc {
		row := (*[16]float32)(panel[r*16:])
		y, x0 := iy+s.dy[t], ix+s.dx[t]
		switch {
		case y < 0 || y >= dc.h:
			*row = [16]float32{}
		case x0 >= 0 && x0+16 <= dc.w:
			// Through a local copy, so that the compiler knows the two do
			// not overlap and moves 64 bytes inline.
			v := *(*[16]float32)(x[img+c*plane+y*dc.w+x0:])
			*row = v
		default:
			lo, hi := max(0, -x0), min(16, dc.w-x0)
			*row = [16]float32{}
			if lo < hi {
				base := img + c*plane + y*dc.w + x0
				copy(row[lo:hi], x[base+lo:base+hi])
			}
		}
		if t++; t == taps {
			t, c = 0, c+1
		}
	}
}

// panelOffsets fills offsets[t·nr + i], for tap t and the cols columns
// from j, with the offset in x of the pixel the tap reads for channel 0,
// or −1 where it reads the padding.
func (dc *directConv) panelOffsets(offsets []int, j, cols, nr int) {
	p := dc.oh * dc.ow
	img, q := j/p, j%p
	oy, ox := q/dc.ow, q%dc.ow
	for i := range cols {
		iy0, ix0 := oy*dc.sh-dc.ph, ox*dc.sw-dc.pw
		base := img * dc.c * dc.h * dc.w
		for ky := range dc.kh {
			iy := iy0 + ky*dc.dh
			for kx := range dc.kw {
				ix := ix0 + kx*dc.dw
				o := -1
				if iy >= 0 && iy < dc.h && ix >= 0 && ix < dc.w {
					o = base + iy*dc.w + ix
				}
				offsets[(ky*dc.kw+kx)*nr+i] = o
			}
		}
		if ox++; ox == dc.ow {
			if ox, oy = 0, oy+1; oy == dc.oh {
				oy, img = 0, img+1
			}
		}
	}
}
