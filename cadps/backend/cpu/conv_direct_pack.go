// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

// The im2col matrix B of a directConv has one row per (channel c, tap ky,
// kx), in the kernel's order c·KH·KW + ky·KW + kx, and one column per
// output position (n, oy, ox), in the output's order; its element is input
// x[n, c, oy·sh + ky·dh − ph, ox·sw + kx·dw − pw], zero in the padding.

// packScratch is what packB reuses between panels: the source offset of
// every (tap, column) of the current panel, −1 in the padding, and the
// offset of each tap from its window's corner.
type packScratch struct {
	offsets, taps []int
}

// packB copies the kc×nc block of B starting at row pc, column jc into
// panels of nr columns, like packB does for a stored matrix: panel q holds
// B(pc+r, jc+q·nr+j) at q·nr·kc + r·nr + j, zero past nc. A panel whose
// columns are nr consecutive input pixels of one row for every tap (stride
// 1, away from the padding) is copied a row at a time; the others are
// gathered through a table of source offsets per tap.
func (dc *directConv) packB(dst, x []float32, pc, kc, jc, nc, nr int, s *packScratch) {
	taps := dc.kh * dc.kw
	plane := dc.h * dc.w
	if cap(s.offsets) < taps*nr {
		s.offsets = make([]int, taps*nr)
	}
	offsets := s.offsets[:taps*nr]
	tapOffsets := s.taps[:0]
	for t := range taps {
		tapOffsets = append(tapOffsets, t/dc.kw*dc.dh*dc.w+t%dc.kw*dc.dw)
	}
	s.taps = tapOffsets
	for j0 := 0; j0 < nc; j0 += nr {
		panel := dst[j0*kc : (j0+nr)*kc]
		cols := min(nr, nc-j0)
		if cols < nr {
			clear(panel)
		}
		c, t := pc/taps, pc%taps
		if nr == 16 && cols == nr {
			if base, ok := dc.contiguousPanel(jc+j0, nr); ok {
				for r := range kc {
					// Through a local copy, so that the compiler knows the
					// two do not overlap and moves 64 bytes inline.
					v := *(*[16]float32)(x[base+c*plane+tapOffsets[t]:])
					*(*[16]float32)(panel[r*16:]) = v
					if t++; t == taps {
						t, c = 0, c+1
					}
				}
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

// contiguousPanel reports whether the cols columns from j read, for every
// tap, cols consecutive pixels inside one input row, and returns the
// offset in x of the first one's window corner (tap 0, channel 0).
func (dc *directConv) contiguousPanel(j, cols int) (int, bool) {
	p := dc.oh * dc.ow
	img, q := j/p, j%p
	oy, ox := q/dc.ow, q%dc.ow
	if dc.sw != 1 || ox+cols > dc.ow {
		return 0, false
	}
	iy, ix := oy*dc.sh-dc.ph, ox-dc.pw
	if iy < 0 || iy+(dc.kh-1)*dc.dh >= dc.h || ix < 0 || ix+(dc.kw-1)*dc.dw+cols > dc.w {
		return 0, false
	}
	return img*dc.c*dc.h*dc.w + iy*dc.w + ix, true
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
