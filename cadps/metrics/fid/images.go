package fid

import (
	"fmt"

	"github.com/cadps/toolkit/cadps/imageio"
)

// ImageFeatures returns the features of the model's blocks for images in
// [0,1] (1 or 3 channels, any sizes), as [blocks][len(imgs)][dims], running
// consecutive images of the same size as batches of at most batch images.
// progress, when not nil, is called after each batch with the number of
// images done.
func (m *Model) ImageFeatures(imgs []*imageio.Image, batch int, progress func(done int)) ([][][]float32, error) {
	batch = max(batch, 1)
	out := make([][][]float32, len(m.blocks))
	for start := 0; start < len(imgs); {
		h, w := imgs[start].H, imgs[start].W
		end := start
		var x []float32
		for end < len(imgs) && end-start < batch && imgs[end].H == h && imgs[end].W == w {
			rgb, err := imgs[end].ToRGB()
			if err != nil {
				return nil, fmt.Errorf("fid: image %d: %w", end, err)
			}
			x = append(x, rgb.Pix...)
			end++
		}
		f, err := m.Features(x, end-start, h, w)
		if err != nil {
			return nil, err
		}
		for b := range f {
			out[b] = append(out[b], f[b]...)
		}
		start = end
		if progress != nil {
			progress(end)
		}
	}
	return out, nil
}
