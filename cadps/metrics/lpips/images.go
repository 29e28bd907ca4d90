package lpips

import (
	"fmt"
	"math"

	"github.com/cadps/toolkit/cadps/imageio"
)

// ImageDistances returns the LPIPS distance of each image to its reference
// (images in [0,1], 1 or 3 channels, each pair of one size), running
// consecutive pairs of the same size as batches of at most batch pairs.
// Values are mapped to [-1,1] as lpips.im2tensor maps 8-bit images:
// k/127.5 − 1 for a value that is exactly k/255. A NaN or infinite
// distance is an error naming the pair's index.
func (m *Model) ImageDistances(refs, imgs []*imageio.Image, batch int) ([]float64, error) {
	if len(refs) != len(imgs) {
		return nil, fmt.Errorf("lpips: %d references for %d images", len(refs), len(imgs))
	}
	batch = max(batch, 1)
	out := make([]float64, 0, len(refs))
	for start := 0; start < len(refs); {
		h, w := refs[start].H, refs[start].W
		end := start
		var x0, x1 []float32
		for end < len(refs) && end-start < batch && refs[end].H == h && refs[end].W == w {
			a, err := plusMinusOne(refs[end])
			if err != nil {
				return nil, fmt.Errorf("lpips: pair %d: the reference: %w", end, err)
			}
			b, err := plusMinusOne(imgs[end])
			if err != nil {
				return nil, fmt.Errorf("lpips: pair %d: the image: %w", end, err)
			}
			if imgs[end].H != h || imgs[end].W != w {
				return nil, fmt.Errorf("lpips: pair %d: reference %s, image %s", end, refs[end].Size(), imgs[end].Size())
			}
			x0, x1 = append(x0, a...), append(x1, b...)
			end++
		}
		d, err := m.distance(x0, x1, end-start, h, w)
		if err != nil {
			return nil, err
		}
		if err := m.checkDistances(d.Dist, start); err != nil {
			return nil, err
		}
		for _, v := range d.Dist {
			out = append(out, float64(v))
		}
		start = end
	}
	return out, nil
}

// PlusMinusOne returns an image in [0,1] as RGB CHW values in [-1,1].
func PlusMinusOne(im *imageio.Image) ([]float32, error) {
	x, err := plusMinusOne(im)
	if err != nil {
		return nil, fmt.Errorf("lpips: %w", err)
	}
	return x, nil
}

// plusMinusOne is PlusMinusOne, its errors left for the caller to place.
func plusMinusOne(im *imageio.Image) ([]float32, error) {
	rgb, err := im.ToRGB()
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(rgb.Pix))
	for i, v := range rgb.Pix {
		k := math.Round(float64(v) * 255)
		if float32(k/255) == v {
			out[i] = float32(k/127.5 - 1)
		} else {
			out[i] = 2*v - 1
		}
	}
	return out, nil
}
