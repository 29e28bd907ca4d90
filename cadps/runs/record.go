package runs

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cadps/toolkit/cadps/metrics"
	"github.com/cadps/toolkit/cadps/restore"
	"github.com/cadps/toolkit/internal/filehash"
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
	// ImageSHA256 is the image file's SHA-256 ("sha256:" and 64 hex
	// digits), by which a resumed run and a merge tell another image of
	// the same name from it; absent in records written before it existed.
	ImageSHA256 string `json:"image_sha256,omitempty"`
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

// ReadRecord reads an item's record. A record that is not whole JSON, is
// JSON of another shape (a field of the wrong type, say) or has a status
// other than ok or failed is refused, saying which and to remove it:
// records are only ever renamed into place whole, so such a file was
// damaged or edited, and a run redoes its item once it is gone.
func ReadRecord(path string) (*Record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	const redo = "records are written whole, so it was damaged or edited: remove it to have the item redone"
	var rec Record
	if err := json.Unmarshal(data, &rec); err != nil {
		if syntax := (*json.SyntaxError)(nil); errors.As(err, &syntax) {
			return nil, fmt.Errorf("runs: record %s is not whole JSON (%w); %s", path, err, redo)
		}
		return nil, fmt.Errorf("runs: record %s is JSON but not an item's record (%w); %s", path, err, redo)
	}
	if rec.Status != StatusOK && rec.Status != StatusFailed {
		return nil, fmt.Errorf("runs: record %s has status %q, neither %q nor %q; %s", path, rec.Status, StatusOK, StatusFailed, redo)
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

// path returns the path the record was read from.
func (rec *Record) path() string {
	return Item{Task: rec.Task, Method: rec.Method, Index: rec.Index}.Path(rec.root, RecordDir)
}

// checkImage refuses the record at path when it was made from another
// image than the one given now, whose file's SHA-256 is digest: a resumed
// run would count it as this image's. A record without a digest (written
// before records held one) is taken as it is.
func (rec *Record) checkImage(path, image, digest string) error {
	if rec.ImageSHA256 == "" || rec.ImageSHA256 == digest {
		return nil
	}
	return fmt.Errorf("runs: %s was made from image %s (%s), but %s is another image (%s) of the same name: "+
		"the folder holds a reproduction of other images; use another output folder, or the original images",
		path, rec.Image, rec.ImageSHA256, image, digest)
}

// fileDigest returns the SHA-256 of the file at path as "sha256:" and 64
// hex digits.
func fileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("runs: hashing the image: %w", err)
	}
	defer f.Close()
	sum, err := filehash.SHA256(f)
	if err != nil {
		return "", fmt.Errorf("runs: hashing %s: %w", path, err)
	}
	return "sha256:" + sum, nil
}
