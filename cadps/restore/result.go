package restore

import (
	"encoding/json"
	"time"

	"github.com/cadps/toolkit/cadps/metrics"

	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// Settings describes a restorer's resolved settings, for records.
type Settings struct {
	// Model names the prior and Weights its weights file.
	Model   string `json:"model"`
	Weights string `json:"weights,omitempty"`
	// ImageShape is the NCHW shape of one image.
	ImageShape []int `json:"image_shape"`
	// Task is the task's label, TaskSpec its spec or TaskConfig its
	// reference configuration.
	Task       string `json:"task"`
	TaskSpec   string `json:"task_spec,omitempty"`
	TaskConfig any    `json:"task_config,omitempty"`
	// Method is the guidance method's spec in canonical form (see
	// guidance.CanonicalSpec) and MethodRevision its guidance.Revision.
	Method         string `json:"method"`
	MethodRevision int    `json:"method_revision,omitempty"`
	// Steps is the number of sampling steps, Respacing the respacing that
	// gave them, Sampler "ddpm" or "ddim" and Eta DDIM's η.
	Steps     int     `json:"steps"`
	Respacing string  `json:"respacing"`
	Sampler   string  `json:"sampler"`
	Eta       float64 `json:"eta,omitempty"`
	// Scale is the step size ζ and SigmaY the σ_y of the likelihood.
	Scale  float64 `json:"scale"`
	SigmaY float64 `json:"sigma_y"`
	// Ramp is the step-size schedule as guidance.ParseRamp reads it (empty
	// for the constant ζ).
	Ramp string `json:"ramp,omitempty"`
	// Noise describes the measurement noise.
	Noise string `json:"noise"`
	// Backend names the backend.
	Backend string `json:"backend"`
	// GraphNoise and BFloat16 record the options of the same names.
	GraphNoise bool `json:"graph_noise,omitempty"`
	BFloat16   bool `json:"bfloat16,omitempty"`
	// Draws is Options.Draws when above 1 (best of Draws by residual).
	Draws int `json:"draws,omitempty"`
	// Class is the class label of a class-conditional prior (Prior.Class);
	// absent for an unconditional one.
	Class *int `json:"class,omitempty"`
}

// Progress is what a progress callback sees after each step.
type Progress struct {
	// Step counts from 1 to Steps, in each draw (Options.Draws) in turn.
	Step, Steps int
	// Draw is the draw being sampled, from 0, of Draws.
	Draw, Draws int
	// Residual is ‖y − A(x̂0)‖₂ at this step (0 without a measurement).
	Residual float64
	// PredXStart is the estimate x̂0 this step used, [1,C,H,W] on the
	// images' [−1, 1] scale and not clamped to it (imageio.FromNCHW turns
	// it into an image). Result.Progress keeps x̂0 of the draw kept, as
	// clamped images, every Options.ProgressEvery steps.
	PredXStart *tensors.Tensor
	// Elapsed is the sampling time so far.
	Elapsed time.Duration
	// Extra holds the method's per-step diagnostics by name (e.g. CA-DPS's
	// "multiplier" 1+d), as the sampler reports them.
	Extra map[string]*tensors.Tensor
}

// Snapshot is the estimate x̂0 after a step.
type Snapshot struct {
	// Step is the step (1 … Steps) after which x̂0 was taken.
	Step int
	// Image is x̂0, clamped to [0,1].
	Image *imageio.Image
}

// Timings are the wall times of a restoration.
type Timings struct {
	// Measure is the time to build the operator and synthesise y (for
	// [Restorer.RestoreMeasurement], to take the given y in).
	Measure time.Duration `json:"measure_ns"`
	// FirstStep is the first step's time, which includes compiling the step.
	FirstStep time.Duration `json:"first_step_ns"`
	// Sample is the whole sampling loop (of every draw).
	Sample time.Duration `json:"sample_ns"`
	// PerStep is the mean time of the steps after the first.
	PerStep time.Duration `json:"per_step_ns"`
}

// Metrics are the reconstruction's quality against the clean image, both
// as 8-bit images (as saved), with a data range of 1.
type Metrics struct {
	// PSNR is the peak signal-to-noise ratio in dB (metrics.PSNR; +Inf
	// for an exact reconstruction).
	PSNR float64 `json:"psnr"`
	// SSIM is the structural similarity (metrics.SSIM), at most 1.
	SSIM float64 `json:"ssim"`
}

// Result is a restoration's output.
type Result struct {
	// Truth is the clean image; nil for [Restorer.RestoreMeasurement],
	// which has none.
	Truth *imageio.Image
	// Reconstruction is x_0, clamped to [0,1] and rounded to 8 bits.
	Reconstruction *imageio.Image
	// Measurement is y as an image: the low-resolution image, the blurred
	// or masked image (for [Restorer.RestoreMeasurement], the image given,
	// clamped to [0,1] and 0.5, y = 0, where an inpainting mask observes
	// nothing), or for phase retrieval a log-magnitude view; nil when y is
	// not image-shaped.
	Measurement *imageio.Image
	// MeasurementView says what Measurement shows: "image",
	// "log-magnitude" or "" (none).
	MeasurementView string
	// Operator describes the operator.
	Operator string
	// Progress holds x̂0 every ProgressEvery steps and at the last step.
	Progress []Snapshot
	// Residuals is ‖y − A(x̂0)‖₂ per step.
	Residuals []float64
	// Residual is ‖y − A(x0)‖₂ of the reconstruction x0 (before it is
	// clamped and rounded; 0 without a measurement), and Draw the draw it
	// came from (0 … Draws−1; Progress and Residuals are that draw's).
	Residual float64
	Draw     int
	// Timings are the wall times.
	Timings Timings
	// Metrics compare Reconstruction with Truth; both are NaN without a
	// clean image ([Restorer.RestoreMeasurement]).
	Metrics Metrics
	// Seed is the seed of the measurement noise, random operator parts and
	// the sampler's noise (only the sampler's for a given measurement).
	Seed uint64
}

// metricsJSON is the JSON form of Metrics.
type metricsJSON struct {
	PSNR metrics.Number `json:"psnr"`
	SSIM metrics.Number `json:"ssim"`
}

// MarshalJSON implements json.Marshaler: an infinite PSNR is "+Inf".
func (m Metrics) MarshalJSON() ([]byte, error) {
	return json.Marshal(metricsJSON{metrics.Number(m.PSNR), metrics.Number(m.SSIM)})
}

// UnmarshalJSON implements json.Unmarshaler.
func (m *Metrics) UnmarshalJSON(b []byte) error {
	var v metricsJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	m.PSNR, m.SSIM = float64(v.PSNR), float64(v.SSIM)
	return nil
}
