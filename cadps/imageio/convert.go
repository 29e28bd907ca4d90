package imageio

import (
	"fmt"
	"image"
	"image/color"
)

// FromImage converts a decoded image to an [Image] in the given mode.
//
// Alpha is dropped, not composited: the straight (non-premultiplied) colour
// of every pixel is kept, as PIL's convert("RGB") does for the DPS loader.
// 8-bit sources give exactly v/255; 16-bit sources (Gray16, RGBA64,
// NRGBA64) keep their precision, v/65535. Gray from an 8-bit colour source
// is PIL's integer ITU-R 601 luma, (19595·R + 38470·G + 7471·B + 2¹⁵) >> 16,
// so that it matches convert("L") exactly; from a 16-bit source it is the
// float luma 0.299·R + 0.587·G + 0.114·B, which [Image.ToGray] computes
// for any image (up to half a level from the integer luma). A gray source
// loaded as RGB has its channel repeated. CMYK gives PIL's values,
// (255 − v)(255 − k)/255 rounded to the nearest integer.
//
// A JPEG's pixels are those of Go's decoder, whose chroma upsampling
// replicates each subsampled value (nearest) where libjpeg, which PIL
// uses, interpolates it: with 4:2:0 chroma the two differ by up to tens
// of levels of 255 at colour edges. PNG pixels are PIL's exactly.
func FromImage(m image.Image, mode Mode) (*Image, error) {
	c, err := mode.channels()
	if err != nil {
		return nil, fmt.Errorf("imageio: %w", err)
	}
	if m == nil {
		return nil, fmt.Errorf("imageio: FromImage of a nil image")
	}
	b := m.Bounds()
	h, w := b.Dy(), b.Dx()
	if err := checkDims(c, h, w); err != nil {
		return nil, fmt.Errorf("imageio: %w", err)
	}
	out := newUnchecked(c, h, w)

	// Gray sources: one value per pixel, whatever the mode.
	switch g := m.(type) {
	case *image.Gray:
		for y := range h {
			o := g.PixOffset(b.Min.X, b.Min.Y+y)
			row := g.Pix[o : o+w]
			for x, v := range row {
				out.Pix[y*w+x] = float32(v) / 255
			}
		}
		return out.repeatGray(), nil
	case *image.Gray16:
		for y := range h {
			o := g.PixOffset(b.Min.X, b.Min.Y+y)
			row := g.Pix[o : o+2*w]
			for x := range w {
				v := uint16(row[2*x])<<8 | uint16(row[2*x+1])
				out.Pix[y*w+x] = float32(v) / 65535
			}
		}
		return out.repeatGray(), nil
	}

	at, deep := rgbSource(m)
	n := h * w
	for y := range h {
		for x := range w {
			r, g, bl := at(b.Min.X+x, b.Min.Y+y)
			i := y*w + x
			switch {
			case c == 3 && deep:
				out.Pix[i] = float32(r) / 65535
				out.Pix[n+i] = float32(g) / 65535
				out.Pix[2*n+i] = float32(bl) / 65535
			case c == 3:
				out.Pix[i] = float32(r>>8) / 255
				out.Pix[n+i] = float32(g>>8) / 255
				out.Pix[2*n+i] = float32(bl>>8) / 255
			case deep:
				out.Pix[i] = float32((lumaR*float64(r) + lumaG*float64(g) + lumaB*float64(bl)) / 65535)
			default:
				l := (19595*uint32(r>>8) + 38470*uint32(g>>8) + 7471*uint32(bl>>8) + 1<<15) >> 16
				out.Pix[i] = float32(l) / 255
			}
		}
	}
	return out, nil
}

// repeatGray fills channels 1 and 2 of an RGB image from channel 0; a gray
// image is returned as it is.
func (im *Image) repeatGray() *Image {
	if im.C == 3 {
		copy(im.Plane(1), im.Plane(0))
		copy(im.Plane(2), im.Plane(0))
	}
	return im
}

// rgbSource returns a function giving the straight 16-bit RGB of the pixel
// at (x, y) of m, and whether m holds more than 8 bits per sample. For 8-bit
// sources every value is v·0x101, so v>>8 recovers it exactly. The common
// decoder outputs have fast paths that allocate nothing per pixel.
func rgbSource(m image.Image) (at func(x, y int) (r, g, b uint16), deep bool) {
	switch s := m.(type) {
	case *image.RGBA:
		return func(x, y int) (uint16, uint16, uint16) {
			i := s.PixOffset(x, y)
			p := s.Pix[i : i+4 : i+4]
			return unpremul8(p[0], p[1], p[2], p[3])
		}, false
	case *image.NRGBA:
		return func(x, y int) (uint16, uint16, uint16) {
			i := s.PixOffset(x, y)
			p := s.Pix[i : i+3 : i+3]
			return uint16(p[0]) * 0x101, uint16(p[1]) * 0x101, uint16(p[2]) * 0x101
		}, false
	case *image.NRGBA64:
		return func(x, y int) (uint16, uint16, uint16) {
			i := s.PixOffset(x, y)
			p := s.Pix[i : i+6 : i+6]
			return uint16(p[0])<<8 | uint16(p[1]), uint16(p[2])<<8 | uint16(p[3]), uint16(p[4])<<8 | uint16(p[5])
		}, true
	case *image.RGBA64:
		return func(x, y int) (uint16, uint16, uint16) {
			c := s.RGBA64At(x, y)
			return unpremul16(uint32(c.R), uint32(c.G), uint32(c.B), uint32(c.A))
		}, true
	case *image.YCbCr:
		return func(x, y int) (uint16, uint16, uint16) {
			yi, ci := s.YOffset(x, y), s.COffset(x, y)
			r, g, b := color.YCbCrToRGB(s.Y[yi], s.Cb[ci], s.Cr[ci])
			return uint16(r) * 0x101, uint16(g) * 0x101, uint16(b) * 0x101
		}, false
	case *image.CMYK:
		return func(x, y int) (uint16, uint16, uint16) {
			i := s.PixOffset(x, y)
			p := s.Pix[i : i+4 : i+4]
			r, g, b := cmykToRGB(p[0], p[1], p[2], p[3])
			return uint16(r) * 0x101, uint16(g) * 0x101, uint16(b) * 0x101
		}, false
	case *image.Paletted:
		type rgb struct{ r, g, b uint16 }
		pal := make([]rgb, len(s.Palette))
		deep := false
		for i, c := range s.Palette {
			r, g, b, d := straightRGB(c)
			pal[i] = rgb{r, g, b}
			deep = deep || d
		}
		return func(x, y int) (uint16, uint16, uint16) {
			idx := int(s.Pix[s.PixOffset(x, y)])
			if idx >= len(pal) {
				return 0, 0, 0 // out-of-palette index: black, as decoders do
			}
			c := pal[idx]
			return c.r, c.g, c.b
		}, deep
	}
	// Any other image type: ask each pixel's colour. Unknown colour models
	// are treated as 16-bit so that no precision is lost.
	deep = true
	switch m.ColorModel() {
	case color.GrayModel, color.RGBAModel, color.NRGBAModel, color.YCbCrModel, color.CMYKModel, color.NYCbCrAModel, color.AlphaModel:
		deep = false
	}
	return func(x, y int) (uint16, uint16, uint16) {
		r, g, b, _ := straightRGB(m.At(x, y))
		return r, g, b
	}, deep
}

// straightRGB returns a colour's non-premultiplied 16-bit RGB, keeping the
// colour of fully transparent pixels where the colour type stores it, and
// whether the colour type has more than 8 bits per sample.
func straightRGB(c color.Color) (r, g, b uint16, deep bool) {
	switch c := c.(type) {
	case color.NRGBA:
		return uint16(c.R) * 0x101, uint16(c.G) * 0x101, uint16(c.B) * 0x101, false
	case color.NRGBA64:
		return c.R, c.G, c.B, true
	case color.RGBA:
		r, g, b := unpremul8(c.R, c.G, c.B, c.A)
		return r, g, b, false
	case color.NYCbCrA:
		r, g, b := color.YCbCrToRGB(c.Y, c.Cb, c.Cr)
		return uint16(r) * 0x101, uint16(g) * 0x101, uint16(b) * 0x101, false
	case color.Gray:
		return uint16(c.Y) * 0x101, uint16(c.Y) * 0x101, uint16(c.Y) * 0x101, false
	case color.Gray16:
		return c.Y, c.Y, c.Y, true
	}
	r32, g32, b32, a32 := c.RGBA()
	r, g, b = unpremul16(r32, g32, b32, a32)
	return r, g, b, true
}

// cmykToRGB converts 8-bit CMYK to RGB as PIL's convert("RGB") does:
// each channel is (255 − k) − round(v·(255 − k)/255), that is
// (255 − v)(255 − k)/255 rounded to the nearest integer.
// color.CMYKToRGB computes the same product but rounds it down, one level
// lower for about 30% of the (v, k) pairs.
func cmykToRGB(c, m, y, k uint8) (uint8, uint8, uint8) {
	nk := 255 - uint32(k)
	f := func(v uint8) uint8 {
		// v·nk/255 is never a half, as 255 is odd: round half up is exact.
		return uint8(nk - (2*uint32(v)*nk+255)/510)
	}
	return f(c), f(m), f(y)
}

// unpremul8 undoes alpha premultiplication of 8-bit samples (rounding to
// the nearest 8-bit value), returning v·0x101.
func unpremul8(r, g, b, a uint8) (uint16, uint16, uint16) {
	switch a {
	case 0xff:
		return uint16(r) * 0x101, uint16(g) * 0x101, uint16(b) * 0x101
	case 0:
		return 0, 0, 0
	}
	f := func(v uint8) uint16 {
		u := (uint32(v)*255 + uint32(a)/2) / uint32(a)
		return uint16(min(u, 255)) * 0x101
	}
	return f(r), f(g), f(b)
}

// unpremul16 undoes alpha premultiplication of 16-bit samples.
func unpremul16(r, g, b, a uint32) (uint16, uint16, uint16) {
	switch a {
	case 0xffff:
		return uint16(r), uint16(g), uint16(b)
	case 0:
		return 0, 0, 0
	}
	f := func(v uint32) uint16 {
		return uint16(min((v*0xffff+a/2)/a, 0xffff))
	}
	return f(r), f(g), f(b)
}

// ToImage converts im to an 8-bit *image.Gray or *image.RGBA, each value
// clamped to [0,1], scaled by 255 and rounded half up, exactly, as [Save]
// writes it (torchvision's save_image rounds 128 float32 values one level
// higher). A NaN value is an error naming its position.
func (im *Image) ToImage() (image.Image, error) {
	m, err := im.toImage()
	if err != nil {
		return nil, fmt.Errorf("imageio: %w", err)
	}
	return m, nil
}

// toImage is [Image.ToImage] with errors that carry no "imageio:" prefix,
// which the callers add with their context.
func (im *Image) toImage() (image.Image, error) {
	if err := im.check(); err != nil {
		return nil, err
	}
	if c, y, x, ok := im.firstNaN(); ok {
		return nil, fmt.Errorf("%s image has NaN at channel %d, row %d, column %d", im.Size(), c, y, x)
	}
	r := image.Rect(0, 0, im.W, im.H)
	if im.C == 1 {
		g := image.NewGray(r)
		for y := range im.H {
			row := g.Pix[y*g.Stride : y*g.Stride+im.W]
			for x := range row {
				row[x] = to8(im.Pix[y*im.W+x])
			}
		}
		return g, nil
	}
	rgba := image.NewRGBA(r)
	n := im.H * im.W
	for y := range im.H {
		row := rgba.Pix[y*rgba.Stride : y*rgba.Stride+4*im.W]
		for x := range im.W {
			i := y*im.W + x
			row[4*x] = to8(im.Pix[i])
			row[4*x+1] = to8(im.Pix[n+i])
			row[4*x+2] = to8(im.Pix[2*n+i])
			row[4*x+3] = 0xff
		}
	}
	return rgba, nil
}
