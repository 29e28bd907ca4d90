package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestMethodOperatorRefusals checks that restore, evaluate and reproduce
// refuse a method on an operator it cannot run on with one and the same
// line after the command's name: which method cannot run on which
// operator, why, and the methods that do run on it; with exit status 1
// and no output folder.
func TestMethodOperatorRefusals(t *testing.T) {
	dir := t.TempDir()
	model := fixtureModel(t, "fixed") // 16×16
	image := filepath.Join(dir, "face.png")
	writeTestImage(t, image, 16, 0)
	folder := filepath.Join(dir, "images")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	writeTestImage(t, filepath.Join(folder, "a.png"), 16, 0)
	out := filepath.Join(dir, "out")

	for _, c := range []struct {
		method, task string // task: a spec that fits 16×16 images
		want         string // the line after "cadps COMMAND: "
	}{
		{"ddrm", "motion_blur:kernel_size=9", "restore: ddrm cannot run on motion_blur: it needs the operator's singular value decomposition, which motion_blur lacks; " +
			"methods that run on motion_blur: cadps, cadps-gauss, daps, dps, mmps, pigdm, tmpd (operator unsupported by the method; in Go, an ops.Decomposer, as ops.NewSVDOperator builds)"},
		{"ddrm", "phase_retrieval", "restore: ddrm cannot run on phase_retrieval: it needs the operator's singular value decomposition, which phase_retrieval lacks; " +
			"methods that run on phase_retrieval: cadps, daps, dps (operator unsupported by the method; in Go, an ops.Decomposer, as ops.NewSVDOperator builds)"},
		{"diffpir", "motion_blur:kernel_size=9", "restore: diffpir cannot run on motion_blur: its data step needs the operator's closed-form proximal step, which motion_blur lacks; " +
			"methods that run on motion_blur: cadps, cadps-gauss, daps, dps, mmps, pigdm, tmpd (operator unsupported by the method; in Go, an ops.Proximal, as ops.NewSVDOperator builds from an SVD)"},
		{"mcg", "gaussian_blur:kernel_size=9", "restore: mcg cannot run on gaussian_blur: it projects onto the measurement and needs the operator's pseudo-inverse, which gaussian_blur lacks; " +
			"methods that run on gaussian_blur: cadps, cadps-gauss, daps, ddrm, diffpir, dps, mmps, pigdm, tmpd (operator unsupported by the method; in Go, an ops.PseudoInverter, as ops.NewSVDOperator builds from an SVD)"},
		{"projection", "phase_retrieval", "restore: projection cannot run on phase_retrieval: it projects onto the measurement and needs the operator's pseudo-inverse, which phase_retrieval lacks; " +
			"methods that run on phase_retrieval: cadps, daps, dps (operator unsupported by the method; in Go, an ops.PseudoInverter, as ops.NewSVDOperator builds from an SVD)"},
		{"pigdm", "phase_retrieval", "restore: pigdm cannot run on phase_retrieval: it needs a linear operator with an adjoint, which phase_retrieval is not; " +
			"methods that run on phase_retrieval: cadps, daps, dps (operator unsupported by the method; in Go, an ops.Linear)"},
	} {
		for _, cmd := range []struct {
			name string
			args []string
		}{
			{"restore", append([]string{"restore", image, "-task", c.task, "-method", c.method, "-out", out}, model...)},
			{"evaluate", append([]string{"evaluate", "-data", folder, "-count", "1", "-batch", "1", "-tasks", c.task, "-methods", "dps," + c.method, "-out", out}, model...)},
			{"reproduce", append([]string{"reproduce", folder, "-task", c.task, "-methods", "dps," + c.method, "-out", out}, model...)},
		} {
			t.Run(c.method+"/"+c.task+"/"+cmd.name, func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				code := run(cmd.args, &stdout, &stderr)
				if want := "cadps " + cmd.name + ": " + c.want + "\n"; code != 1 || stderr.String() != want {
					t.Errorf("exit %d, stderr\n%q\nwant 1 and\n%q", code, stderr.String(), want)
				}
				if _, err := os.Stat(out); !os.IsNotExist(err) {
					t.Errorf("the refused run left %s (%v)", out, err)
				}
			})
		}
	}
}
