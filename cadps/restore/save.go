package restore

import (
	"fmt"

	"github.com/cadps/toolkit/cadps/imageio"
)

// OutputFiles names the image files [Result.Save] writes; an empty name
// skips that image.
type OutputFiles struct {
	// Measurement receives the measurement as an image (not written when
	// the result has none).
	Measurement string
	// Reconstruction receives the reconstruction.
	Reconstruction string
	// Progress receives the strip of x̂0 along the sampling (see
	// [Result.ProgressStrip]; not written without snapshots).
	Progress string
	// Truth receives the clean image as the model saw it (not written
	// when the result has none: a restored measurement).
	Truth string
}

// Save writes the result's images to the files named, each atomically.
func (res *Result) Save(files OutputFiles) error {
	if files.Measurement != "" && res.Measurement != nil {
		if err := imageio.Save(files.Measurement, res.Measurement); err != nil {
			return err
		}
	}
	if files.Reconstruction != "" {
		if err := imageio.Save(files.Reconstruction, res.Reconstruction); err != nil {
			return err
		}
	}
	if files.Progress != "" && len(res.Progress) > 0 {
		strip, err := res.ProgressStrip()
		if err != nil {
			return err
		}
		if err := imageio.Save(files.Progress, strip); err != nil {
			return err
		}
	}
	if files.Truth != "" && res.Truth != nil {
		if err := imageio.Save(files.Truth, res.Truth); err != nil {
			return err
		}
	}
	return nil
}

// ProgressStrip lays the x̂0 snapshots side by side: the "reconstruction
// process" figure.
func (res *Result) ProgressStrip() (*imageio.Image, error) {
	frames := make([]*imageio.Image, len(res.Progress))
	for k, s := range res.Progress {
		frames[k] = s.Image
	}
	strip, err := imageio.Strip(frames, 2)
	if err != nil {
		return nil, fmt.Errorf("restore: progress strip: %w", err)
	}
	return strip, nil
}
