package fid

import (
	"fmt"

	"github.com/cadps/toolkit/cadps/imageio"
)

// ImageFeatures returns the features of the model's blocks for images in
// [0,1] (1 or 3 channels, any sizes, mixed), as [blocks][len(imgs)][dims],
// in the order of imgs. Each image is resized to 299×299 on its own (see
// Resize), and the network runs on batches of at most batch consecutive
// images, whatever their sizes; an image's features do not depend on the
// others of its batch. progress, when not nil, is called after each batch
// with the number of images done. An image holding a NaN or an infinite
// value is refused, naming it.
func (m *Model) ImageFeatures(imgs []*imageio.Image, batch int, progress func(done int)) ([][][]float32, error) {
	batch = max(batch, 1)
	out := make([][][]float32, len(m.blocks))
	for start := 0; start < len(imgs); start += batch {
		end := min(start+batch, len(imgs))
		x := make([]float32, 0, (end-start)*3*Size*Size)
		for i, im := range imgs[start:end] {
			rgb, err := im.ToRGB()
			if err != nil {
				return nil, fmt.Errorf("fid: image %d: %w", start+i, err)
			}
			if v, c, y, x, ok := rgb.NonFinite(); ok {
				return nil, fmt.Errorf("fid: image %d has %v at channel %d, row %d, column %d", start+i, v, c, y, x)
			}
			r, err := Resize(rgb.Pix, 1, rgb.H, rgb.W)
			if err != nil {
				return nil, fmt.Errorf("fid: image %d: %w", start+i, err)
			}
			x = append(x, r...)
		}
		f, err := m.features(x, end-start)
		if err != nil {
			return nil, err
		}
		for b := range f {
			out[b] = append(out[b], f[b]...)
		}
		if progress != nil {
			progress(end)
		}
	}
	return out, nil
}
