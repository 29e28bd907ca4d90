package imageio

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/gif"
	"image/png"
	"io"
	"math"
	"path/filepath"
	"strings"
	"time"

	"github.com/cadps/toolkit/internal/atomicfile"
)

// Save writes im as an 8-bit PNG (gray or RGB), each value clamped to
// [0,1], scaled by 255 and rounded half up, exactly. (torchvision's
// save_image computes x·255 + 0.5 in float32, which rounds 128 of the
// float32 values in [0,1], those less than 3e-8 below a point half-way
// between two levels, one level higher.) The file is written atomically:
// to a temporary file in the same folder, then renamed over path, so that
// a failure never leaves a partial file. path must end in ".png"; an image
// holding NaN is an error.
func Save(path string, im *Image) error {
	if ext := strings.ToLower(filepath.Ext(path)); ext != ".png" {
		return fmt.Errorf("imageio: saving %s: only PNG is written (want a .png name)", path)
	}
	m, err := im.toImage()
	if err != nil {
		return fmt.Errorf("imageio: saving %s: %w", path, err)
	}
	return write(path, func(w io.Writer) error {
		enc := png.Encoder{CompressionLevel: png.DefaultCompression}
		return enc.Encode(w, m)
	})
}

// write writes path atomically (package atomicfile), wrapping a failure as
// the package's other errors are.
func write(path string, encode func(io.Writer) error) error {
	if err := atomicfile.Write(path, encode); err != nil {
		return fmt.Errorf("imageio: %w", err)
	}
	return nil
}

// SaveGIF writes frames as an animated GIF that loops forever, showing each
// frame for delay (rounded to GIF's hundredths of a second). All frames
// must have the same height and width. When every frame is gray the GIF
// uses a 256-level gray palette, which is exact; otherwise frames are
// converted to RGB and quantised to a fixed palette (6×7×6 colour levels
// plus four grays) with Floyd–Steinberg dithering. Values are converted to
// 8 bits as [Save] does. The file is written atomically; path must end in
// ".gif".
func SaveGIF(path string, frames []*Image, delay time.Duration) error {
	if ext := strings.ToLower(filepath.Ext(path)); ext != ".gif" {
		return fmt.Errorf("imageio: saving %s: SaveGIF writes GIF (want a .gif name)", path)
	}
	if len(frames) == 0 {
		return fmt.Errorf("imageio: saving %s: no frames", path)
	}
	cs := int(math.Round(delay.Seconds() * 100))
	if delay < 0 || cs > math.MaxUint16 {
		return fmt.Errorf("imageio: saving %s: frame delay %v out of range [0, %v]", path, delay, time.Duration(math.MaxUint16)*10*time.Millisecond)
	}
	allGray := true
	for i, f := range frames {
		if err := f.check(); err != nil {
			return fmt.Errorf("imageio: saving %s: frame %d: %w", path, i, err)
		}
		if f.H != frames[0].H || f.W != frames[0].W {
			return fmt.Errorf("imageio: saving %s: frame %d is %s, frame 0 is %s (all frames need the same size)", path, i, f.Size(), frames[0].Size())
		}
		allGray = allGray && f.C == 1
	}
	pal := colorPalette()
	if allGray {
		pal = grayPalette()
	}
	anim := &gif.GIF{LoopCount: 0}
	for i, f := range frames {
		if !allGray && f.C == 1 {
			f, _ = f.ToRGB() // f was validated above
		}
		m, err := f.toImage()
		if err != nil {
			return fmt.Errorf("imageio: saving %s: frame %d: %w", path, i, err)
		}
		p := image.NewPaletted(m.Bounds(), pal)
		if g, ok := m.(*image.Gray); ok {
			copy(p.Pix, g.Pix) // the gray palette's index is the gray level
		} else {
			draw.FloydSteinberg.Draw(p, p.Rect, m, image.Point{})
		}
		anim.Image = append(anim.Image, p)
		anim.Delay = append(anim.Delay, cs)
	}
	return write(path, func(w io.Writer) error { return gif.EncodeAll(w, anim) })
}

// grayPalette returns the 256 gray levels, index i being gray i.
func grayPalette() color.Palette {
	p := make(color.Palette, 256)
	for i := range p {
		p[i] = color.Gray{Y: uint8(i)}
	}
	return p
}

// colorPalette returns a fixed 256-colour palette: a 6×7×6 RGB cube (more
// green levels, as the eye is most sensitive to green) and four grays that
// the cube lacks.
func colorPalette() color.Palette {
	level := func(i, n int) uint8 { return uint8((i*255 + (n-1)/2) / (n - 1)) }
	p := make(color.Palette, 0, 256)
	for r := range 6 {
		for g := range 7 {
			for b := range 6 {
				p = append(p, color.RGBA{level(r, 6), level(g, 7), level(b, 6), 0xff})
			}
		}
	}
	for _, v := range []uint8{32, 96, 160, 224} {
		p = append(p, color.RGBA{v, v, v, 0xff})
	}
	return p
}
