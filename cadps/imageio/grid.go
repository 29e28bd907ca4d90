package imageio

import (
	"errors"
	"fmt"
	"math"
)

// GridOption adjusts [Grid] and [Strip].
type GridOption func(*gridConfig)

type gridConfig struct {
	background   float32
	cellH, cellW int
}

// WithBackground sets the value of the padding and of empty cells, in
// [0,1] (0 black, 1 white, the default). In an RGB grid it is used for
// every channel.
func WithBackground(v float32) GridOption { return func(c *gridConfig) { c.background = v } }

// WithCellSize sets the cell size (height, width) every image is scaled
// to; by default it is the largest height and the largest width among the
// images.
func WithCellSize(h, w int) GridOption { return func(c *gridConfig) { c.cellH, c.cellW = h, w } }

// Grid lays images out in rows and columns with pad pixels of background
// around and between cells, for comparison figures (e.g. measurement,
// reconstructions, ground truth per row). Rows may differ in length, and a
// nil image leaves its cell empty; the grid has as many columns as the
// longest row. The grid is RGB when any image is RGB (gray images are then
// repeated over the channels), else gray. Every image is scaled by
// nearest neighbour to the cell size (see [WithCellSize]), so a 64×64
// measurement sits beside 256×256 reconstructions as blocky pixels.
func Grid(rows [][]*Image, pad int, opts ...GridOption) (*Image, error) {
	cfg := gridConfig{background: 1}
	for _, o := range opts {
		o(&cfg)
	}
	if pad < 0 {
		return nil, fmt.Errorf("imageio: grid padding %d is negative", pad)
	}
	if f := float64(cfg.background); math.IsNaN(f) || f < 0 || f > 1 {
		return nil, fmt.Errorf("imageio: grid background %v is outside [0,1]", cfg.background)
	}
	channels, cols, count := 1, 0, 0
	maxH, maxW := 0, 0
	for r, row := range rows {
		cols = max(cols, len(row))
		for c, im := range row {
			if im == nil {
				continue
			}
			if err := im.check(); err != nil {
				return nil, fmt.Errorf("imageio: grid row %d column %d: %w", r, c, err)
			}
			count++
			channels = max(channels, im.C)
			maxH, maxW = max(maxH, im.H), max(maxW, im.W)
		}
	}
	if count == 0 {
		return nil, errors.New("imageio: grid has no images")
	}
	cellH, cellW := maxH, maxW
	if cfg.cellH != 0 || cfg.cellW != 0 {
		if cfg.cellH <= 0 || cfg.cellW <= 0 {
			return nil, fmt.Errorf("imageio: invalid grid cell size %d×%d", cfg.cellH, cfg.cellW)
		}
		cellH, cellW = cfg.cellH, cfg.cellW
	}
	gh := len(rows)*cellH + (len(rows)+1)*pad
	gw := cols*cellW + (cols+1)*pad
	if cellH > maxPixels || cellW > maxPixels || len(rows) > maxPixels || cols > maxPixels || pad > maxPixels {
		return nil, fmt.Errorf("imageio: grid of %d rows × %d columns of %d×%d cells is too large", len(rows), cols, cellH, cellW)
	}
	if err := checkDims(channels, gh, gw); err != nil {
		return nil, fmt.Errorf("imageio: grid: %w", err)
	}
	out := newUnchecked(channels, gh, gw)
	for i := range out.Pix {
		out.Pix[i] = cfg.background
	}
	for r, row := range rows {
		for c, im := range row {
			if im == nil {
				continue
			}
			top, left := pad+r*(cellH+pad), pad+c*(cellW+pad)
			for ch := range channels {
				src := im.Plane(min(ch, im.C-1))
				for y := range cellH {
					sy := nearest(y, im.H, cellH)
					dst := out.Pix[(ch*gh+top+y)*gw+left:]
					for x := range cellW {
						dst[x] = src[sy*im.W+nearest(x, im.W, cellW)]
					}
				}
			}
		}
	}
	return out, nil
}

// nearest returns the source index of output index i when n source samples
// are scaled to m: the sample under the output sample's centre,
// floor((i + 0.5)·n/m).
func nearest(i, n, m int) int {
	return min((2*i+1)*n/(2*m), n-1)
}

// Strip lays images out in one row (see [Grid]).
func Strip(images []*Image, pad int, opts ...GridOption) (*Image, error) {
	return Grid([][]*Image{images}, pad, opts...)
}

// Upsample enlarges im by an integer factor, repeating each pixel in a
// factor×factor block (nearest neighbour), e.g. to show a low-resolution
// measurement at the reconstruction's size.
func Upsample(im *Image, factor int) (*Image, error) {
	if err := im.Validate(); err != nil {
		return nil, err
	}
	if factor < 1 {
		return nil, fmt.Errorf("imageio: upsampling factor %d, want ≥ 1", factor)
	}
	if im.H > maxPixels/factor || im.W > maxPixels/factor {
		return nil, fmt.Errorf("imageio: upsampling a %s image by %d is too large", im.Size(), factor)
	}
	h, w := im.H*factor, im.W*factor
	if err := checkDims(im.C, h, w); err != nil {
		return nil, fmt.Errorf("imageio: upsampling by %d: %w", factor, err)
	}
	out := newUnchecked(im.C, h, w)
	for c := range im.C {
		src, dst := im.Plane(c), out.Plane(c)
		for y := range h {
			srow := src[(y/factor)*im.W : (y/factor+1)*im.W]
			drow := dst[y*w : (y+1)*w]
			for x := range drow {
				drow[x] = srow[x/factor]
			}
		}
	}
	return out, nil
}
