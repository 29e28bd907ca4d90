package restore

import (
	"fmt"

	"github.com/cadps/toolkit/cadps/imageio"
)

// Fit says how an image of another size than the model's is made to fit.
type Fit int

const (
	// FitNone refuses an image of the wrong size.
	FitNone Fit = iota
	// FitResize resizes the shorter side to the model's size (bicubic,
	// antialiased) and crops the centre square.
	FitResize
	// FitCrop crops the centre square; the image must be at least as large
	// as the model's size.
	FitCrop
)

// String returns "none", "resize" or "crop".
func (f Fit) String() string {
	switch f {
	case FitNone:
		return "none"
	case FitResize:
		return "resize"
	case FitCrop:
		return "crop"
	}
	return fmt.Sprintf("Fit(%d)", int(f))
}

// SizeError reports an image whose size is not the model's. Its message
// states the sizes only; Fits says which fits would take the image.
type SizeError struct {
	// Path is the image file.
	Path string
	// Width and Height are the image's size.
	Width, Height int
	// Size is the model's image size (square).
	Size int
	// Fit is how the image was to be fitted (FitNone, or FitCrop for an
	// image with a side too short to crop).
	Fit Fit
}

// Error implements error.
func (e *SizeError) Error() string {
	if e.Fit == FitCrop && (e.Width < e.Size || e.Height < e.Size) {
		return fmt.Sprintf("image %s is %d×%d, too small to crop to the %d×%d images the model takes",
			e.Path, e.Width, e.Height, e.Size, e.Size)
	}
	return fmt.Sprintf("image %s is %d×%d, but the model takes %d×%d images",
		e.Path, e.Width, e.Height, e.Size, e.Size)
}

// Fits returns the fits that take the image: FitResize, and FitCrop
// unless a side is shorter than Size.
func (e *SizeError) Fits() []Fit {
	if e.Width < e.Size || e.Height < e.Size {
		return []Fit{FitResize}
	}
	return []Fit{FitResize, FitCrop}
}

// imageMode returns the mode in which images for a prior of NCHW image
// shape are read: gray for one channel, RGB for three.
func imageMode(shape []int) (imageio.Mode, error) {
	if len(shape) != 4 || (shape[1] != 1 && shape[1] != 3) || shape[2] <= 0 || shape[2] != shape[3] {
		return 0, fmt.Errorf("restore: image shape %v, want the NCHW shape [N, C, S, S] of a prior's square images with C 1 or 3 and S > 0", shape)
	}
	if shape[1] == 1 {
		return imageio.Gray, nil
	}
	return imageio.RGB, nil
}

// LoadMeasurement reads a measurement one has (for
// [Restorer.RestoreMeasurement]) from an image file, as gray or RGB as a
// prior of NCHW image shape takes its images and at the file's own size,
// which RestoreMeasurement checks against the operator's output.
func LoadMeasurement(path string, shape []int) (*imageio.Image, error) {
	mode, err := imageMode(shape)
	if err != nil {
		return nil, err
	}
	y, err := imageio.Load(path, imageio.WithMode(mode))
	if err != nil {
		return nil, fmt.Errorf("restore: measurement: %w", err)
	}
	return y, nil
}

// LoadImage reads a PNG or JPEG image for a prior of the given NCHW image
// shape (Prior.ImageShape: [1, C, S, S], C 1 or 3, S > 0): gray or RGB as
// the prior's channels, fitted as fit says. Another shape is an error
// naming it.
func LoadImage(path string, shape []int, fit Fit) (*imageio.Image, error) {
	mode, err := imageMode(shape)
	if err != nil {
		return nil, err
	}
	size := shape[2]
	opts := []imageio.LoadOption{imageio.WithMode(mode)}
	switch fit {
	case FitNone:
	case FitResize:
		opts = append(opts, imageio.WithResize(size, imageio.Bicubic), imageio.WithCenterCrop(size))
	case FitCrop:
		opts = append(opts, imageio.WithCenterCrop(size))
	default:
		return nil, fmt.Errorf("restore: unknown fit %v", fit)
	}
	if err := CheckImage(path, size, fit); err != nil {
		return nil, err
	}
	im, err := imageio.Load(path, opts...)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if im.H != shape[2] || im.W != shape[3] {
		return nil, fmt.Errorf("restore: %w", &SizeError{Path: path, Width: im.W, Height: im.H, Size: size, Fit: fit})
	}
	return im, nil
}

// CheckImage reads only an image's header and reports a missing or
// unreadable file, a format other than PNG and JPEG (as LoadImage does,
// by imageio.ReadHeader), or a size that does not fit the model's size×size (smaller than size
// when cropping; any size is resized). size must be positive.
func CheckImage(path string, size int, fit Fit) error {
	if size <= 0 {
		return fmt.Errorf("restore: the model's image size %d is not positive", size)
	}
	cfg, err := imageio.ReadHeader(path)
	if err != nil {
		return fmt.Errorf("restore: cannot read image: %w", err)
	}
	switch {
	case fit == FitNone && (cfg.Width != size || cfg.Height != size),
		fit == FitCrop && (cfg.Width < size || cfg.Height < size):
		return fmt.Errorf("restore: %w", &SizeError{Path: path, Width: cfg.Width, Height: cfg.Height, Size: size, Fit: fit})
	}
	return nil
}
