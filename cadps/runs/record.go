package runs

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cadps/toolkit/cadps/metrics"
	"github.com/cadps/toolkit/cadps/restore"
)

// Record is an item's record, written after its outputs: an item is
// finished when its record exists.
type Record struct {
	// Task is the task's label.
	Task string `json:"task"`
	// Method is the guidance method.
	Method string `json:"method"`
	// Index is the image's index in the sorted image list.
	Index int `json:"index"`
	// Image is the image's path as the run saw it, ImageBase its file name.
	Image     string `json:"image"`
	ImageBase string `json:"image_name"`
	// Status is StatusOK or StatusFailed; Error says why an item failed.
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	// Seed is the item's seed (see ItemSeed).
	Seed uint64 `json:"seed"`
	// PSNR and SSIM compare the reconstruction with the clean image.
	PSNR metrics.Number `json:"psnr"`
	SSIM metrics.Number `json:"ssim"`
	// LPIPS is the reconstruction's LPIPS distance to the clean image, when
	// the reproduction computes it (Reproduction.LPIPS); absent otherwise.
	LPIPS *metrics.Number `json:"lpips,omitempty"`
	// Seconds is the item's wall time (loading, sampling and writing).
	Seconds float64 `json:"seconds"`
	// Steps, Scale and SigmaY are the sampling settings.
	Steps  int     `json:"steps"`
	Scale  float64 `json:"scale"`
	SigmaY float64 `json:"sigma_y"`
	// Operator describes the operator.
	Operator string `json:"operator,omitempty"`
	// Residual is ‖y − A(x̂0)‖₂ at the last step (of the draw kept), and
	// Draw the draw kept (restore.Options.Draws).
	Residual metrics.Number `json:"final_residual"`
	Draw     int            `json:"draw,omitempty"`
	// Backend names the backend, Shard the shard that ran the item, and
	// Finished the time it finished (RFC 3339, UTC).
	Backend  string `json:"backend"`
	Shard    string `json:"shard"`
	Finished string `json:"finished"`
	// BackendConfig is the backend's configuration
	// (Reproduction.BackendConfig: GOMLX_BACKEND for the cadps command;
	// XLA's options, such as tf32, change the numbers), and Toolkit the
	// build that ran (Reproduction.Toolkit). Either is absent when it was
	// not recorded: the backend's defaults, or a build that records none;
	// records written before they existed lack both.
	BackendConfig string `json:"backend_config,omitempty"`
	Toolkit       string `json:"toolkit,omitempty"`
	// HasInput reports whether the measurement was saved as an image, and
	// Measured what it shows (see restore.Result.MeasurementView).
	HasInput bool   `json:"has_input"`
	Measured string `json:"measurement_view,omitempty"`
	// Timings are the restoration's wall times.
	Timings restore.Timings `json:"timings"`

	// root is the output folder the record was found in.
	root string
}

// Record statuses.
const (
	StatusOK     = "ok"
	StatusFailed = "failed"
)

// ReadRecord reads an item's record.
func ReadRecord(path string) (*Record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rec Record
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("runs: record %s: %w", path, err)
	}
	if rec.Status != StatusOK && rec.Status != StatusFailed {
		return nil, fmt.Errorf("runs: record %s has status %q", path, rec.Status)
	}
	return &rec, nil
}

// checkPlace refuses a record whose task, method or index disagree with
// the place it was read from, <task>/<method>/record/NNNNN.json: a merge
// builds the paths of the item's images and of its grid from them, and
// counts the record as that item.
func (rec *Record) checkPlace(path string) error {
	methodDir := filepath.Dir(filepath.Dir(path))
	task, method := filepath.Base(filepath.Dir(methodDir)), filepath.Base(methodDir)
	name := Item{Index: rec.Index}.Name() + ".json"
	if rec.Task != task || rec.Method != method || rec.Index < 0 || filepath.Base(path) != name {
		return fmt.Errorf("runs: record %s names task %q, method %q and index %d, not the item of its folder and file name (%s/%s/%s)",
			path, rec.Task, rec.Method, rec.Index, task, method, filepath.Base(path))
	}
	return nil
}
