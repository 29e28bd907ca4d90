package ops

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cadps/toolkit/checkpoints"
	"github.com/cadps/toolkit/internal/fixtures"
)

// operatorFixture is the part of an operator fixture's fixture.json that
// the test reads.
type operatorFixture struct {
	Operator map[string]any `json:"operator"`
}

// sidecar is the data file's description (same name, .json).
type sidecar struct {
	MaskOpt map[string]any `json:"mask_opt"`
	Box     *struct {
		Top, Left, Height, Width int
	} `json:"box"`
	NumMissingPixels *int     `json:"num_missing_pixels"`
	DrawnProb        *float64 `json:"drawn_prob"`
}

// TestReference reproduces every operator fixture of the reference PyTorch
// code: y = A(x) and vjp = d<A(x),v>/dx, through autodiff and, for linear
// operators, through the explicit adjoint, each within the tolerance its
// fixture states. Random kernels and masks are taken from the fixture
// (numpy's draws cannot be reproduced); everything else is built by the
// package from the recorded parameters.
func TestReference(t *testing.T) {
	b := newBackend(t)
	fixtures.RunKinds(t, "ops", map[string]fixtures.Handler{"operator": func(t *testing.T, f *fixtures.Fixture) {
		var fx operatorFixture
		if err := f.Decode(&fx); err != nil {
			t.Fatal(err)
		}
		tolY, tolVJP := f.MustTolerance(t, "y"), f.MustTolerance(t, "vjp")
		data, err := f.Safetensors("data")
		if err != nil {
			t.Fatal(err)
		}
		imgs, err := f.Safetensors("image")
		if err != nil {
			t.Fatal(err)
		}
		x, xDims := tensorOf(t, imgs, "x")
		var side sidecar
		if err := f.Sidecar("data", &side); err != nil {
			t.Fatal(err)
		}

		op := referenceOperator(t, f, fx.Operator, side, data, xDims)
		v, _ := tensorOf(t, data, "v")
		wantY, wantYDims := tensorOf(t, data, "y")
		wantVJP, wantVJPDims := tensorOf(t, data, "vjp")

		got := evaluate(t, b, op, x, xDims, v)
		f.Compare(t, "y", tolY, fixtures.Float64s(got.y), fixtures.Float64s(wantY), got.yDims, wantYDims)
		f.Compare(t, "vjp (autodiff)", tolVJP, fixtures.Float64s(got.vjp), fixtures.Float64s(wantVJP), xDims, wantVJPDims)
		if got.adjoint != nil {
			f.Compare(t, "vjp (adjoint)", tolVJP, fixtures.Float64s(got.adjoint), fixtures.Float64s(wantVJP), xDims, wantVJPDims)
		}
		if _, ok := data.Tensors["kernel"]; ok && fx.Operator["name"] == "motion_blur" {
			// The reference's kernel read by a spec, as a user gives a
			// stored kernel (motion_blur:file=...,kernel=...).
			path, err := f.Path("data")
			if err != nil {
				t.Fatal(err)
			}
			spec := "motion_blur:file=" + path + ",kernel=kernel"
			op, err := Parse(spec, xDims, 0)
			if err != nil {
				t.Fatal(err)
			}
			fromFile := evaluate(t, b, op, x, xDims, nil)
			f.Compare(t, "y ("+spec+")", tolY, fixtures.Float64s(fromFile.y), fixtures.Float64s(wantY), fromFile.yDims, wantYDims)
		}
	}})
}

// referenceOperator builds the operator of fixture f with FromRecorded:
// from its configuration cfg, with the recorded kernel or mask, after
// checking that the package's own construction agrees with what the
// reference recorded.
func referenceOperator(t *testing.T, f *fixtures.Fixture, cfg map[string]any, side sidecar, data *checkpoints.StateDict, xDims []int) Operator {
	t.Helper()
	opCfg := cfg // the operator's own values, before mask_opt wraps them
	var rec Recorded
	if _, ok := data.Tensors["mask"]; ok {
		rec.Mask, rec.MaskShape = tensorOf(t, data, "mask")
	}
	if _, ok := data.Tensors["kernel"]; ok {
		rec.Kernel, rec.KernelShape = tensorOf(t, data, "kernel")
	}
	if side.MaskOpt != nil {
		cfg = map[string]any{"operator": cfg, "mask_opt": side.MaskOpt}
	}
	op, err := FromRecorded(cfg, xDims, rec)
	if err != nil {
		t.Fatal(err)
	}
	switch op := op.(type) {
	case *SuperResolution:
		checkResizerPasses(t, f, op, data, xDims)
	case *PhaseRetrieval:
		if _, ok := opCfg["pad"]; ok {
			want, err := f.IntAt(opCfg, "operator", "pad")
			if err != nil {
				t.Fatal(err)
			}
			if op.Pad(xDims[2]) != want {
				t.Errorf("pad %d, the reference's %v", op.Pad(xDims[2]), want)
			}
		}
	case *Blur:
		if op.Name() == "gaussian_blur" {
			size, err := f.IntAt(opCfg, "operator", "kernel_size")
			if err != nil {
				t.Fatal(err)
			}
			sigma, err := f.FloatAt(opCfg, "operator", "intensity")
			if err != nil {
				t.Fatal(err)
			}
			mine, err := GaussianKernel(size, sigma)
			if err != nil {
				t.Fatal(err)
			}
			// The kernel is float32(float64 scipy result): equal up to one
			// rounding step of the float64 sums.
			if d := maxRelDiff(t, mine, rec.Kernel); d > 1e-9 {
				t.Errorf("Gaussian kernel differs from scipy's by %.3g", d)
			}
		}
	case *Inpainting:
		h, w := xDims[2], xDims[3]
		// The mask type says which record the sidecar must hold to check
		// the package's own mask against the reference's.
		switch maskType, _ := side.MaskOpt["mask_type"].(string); {
		case maskType == "box" && side.Box == nil:
			t.Fatalf("%s: the sidecar's mask_opt.mask_type is box, but it records no box", f.Name)
		case maskType == "random" && (side.NumMissingPixels == nil || side.DrawnProb == nil):
			t.Fatalf("%s: the sidecar's mask_opt.mask_type is random, but it records no num_missing_pixels and drawn_prob", f.Name)
		case side.Box == nil && side.NumMissingPixels == nil:
			t.Logf("%s: the sidecar records neither a box nor a random draw (mask_opt %v): only the recorded mask is replayed", f.Name, side.MaskOpt)
		}
		if side.Box != nil {
			mine, err := BoxMask(h, w, Box{Top: side.Box.Top, Left: side.Box.Left, Height: side.Box.Height, Width: side.Box.Width})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(mine, op.Mask()) {
				t.Errorf("BoxMask at the recorded box differs from the reference's mask")
			}
		}
		if side.NumMissingPixels != nil && side.DrawnProb != nil {
			// The reference hides int(H·W·p) pixels; so does RandomMask.
			if got := int(op.MissingFraction()*float64(h*w) + 0.5); got != *side.NumMissingPixels ||
				got != int(float64(h*w)**side.DrawnProb) {
				t.Errorf("mask hides %d pixels, the reference drew p=%v and hid %d", got, *side.DrawnProb, *side.NumMissingPixels)
			}
		}
	}
	return op
}

// maxRelDiff is fixtures.MaxRelDiff failing the test on different lengths
// or a non-finite value.
func maxRelDiff(t *testing.T, got, want []float32) float64 {
	t.Helper()
	d, err := fixtures.MaxRelDiff(got, want)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// checkResizerPasses compares the package's resize matrices with the
// reference Resizer's weights and fields of view recorded in fixture f; a
// field of view that does not match its weights, or that names an input
// outside the image, fails the test naming the fixture and the tensor.
func checkResizerPasses(t *testing.T, f *fixtures.Fixture, sr *SuperResolution, data *checkpoints.StateDict, xDims []int) {
	t.Helper()
	mh, mw, err := sr.Matrices(xDims[2], xDims[3])
	if err != nil {
		t.Fatal(err)
	}
	for pass, mine := range [][][]float64{mh, mw} {
		prefix := "resizer_pass" + string(rune('0'+pass))
		wts, wDims := tensorOf(t, data, prefix+"_weights")
		fovKey := prefix + "_field_of_view"
		fovT, ok := data.Tensors[fovKey]
		if !ok {
			t.Fatalf("%s: no %s", f.Name, fovKey)
		}
		fov, err := fovT.Int64()
		if err != nil {
			t.Fatal(err)
		}
		if len(wDims) != 2 || !slices.Equal(fovT.Shape, wDims) {
			t.Fatalf("%s: %s_weights has shape %v and %s %v, want both [taps, outputs]", f.Name, prefix, wDims, fovKey, fovT.Shape)
		}
		taps, outs := wDims[0], wDims[1]
		if outs != len(mine) {
			t.Fatalf("%s: %s: %d outputs, mine %d", f.Name, prefix, outs, len(mine))
		}
		inLen := len(mine[0])
		if k := slices.IndexFunc(fov, func(i int64) bool { return i < 0 || i >= int64(inLen) }); k >= 0 {
			t.Fatalf("%s: %s[%d] = %d names no input of the %d", f.Name, fovKey, k, fov[k], inLen)
		}
		for o := range outs {
			want := make([]float64, inLen)
			for j := range taps {
				want[fov[j*outs+o]] += float64(wts[j*outs+o])
			}
			for i := range inLen {
				// The reference rounds each tap to float32.
				if d := want[i] - mine[o][i]; d > 1e-7 || d < -1e-7 {
					t.Fatalf("%s: output %d, input %d: weight %v, reference %v", prefix, o, i, mine[o][i], want[i])
				}
			}
		}
	}
}

func tensorOf(t *testing.T, sd *checkpoints.StateDict, name string) ([]float32, []int) {
	t.Helper()
	tt, ok := sd.Tensors[name]
	if !ok {
		t.Fatalf("no tensor %q", name)
	}
	v, err := tt.Float32()
	if err != nil {
		t.Fatal(err)
	}
	return v, tt.Shape
}

// TestReferenceMalformed replays malformed copies of operator fixtures
// through TestReference in a subprocess: each fails its own subtest,
// naming the folder and what is wrong, instead of panicking and so ending
// every replay of the test binary.
func TestReferenceMalformed(t *testing.T) {
	byName := map[string]*fixtures.Fixture{}
	for _, f := range fixtures.OfKind(t, "operator", nil) {
		byName[filepath.Base(f.Dir)] = f
	}
	root := t.TempDir()
	cases := []struct {
		folder string
		spoil  func(t *testing.T, dir string)
		want   string
	}{
		{"operator-gaussian-blur", func(t *testing.T, dir string) {
			fixtures.EditJSON(t, filepath.Join(dir, "fixture.json"), func(fx map[string]any) {
				delete(fx["operator"].(map[string]any), "kernel_size")
			})
		}, "fixtures: operator-gaussian-blur: operator.kernel_size is missing"},
		{"operator-sr-x2", func(t *testing.T, dir string) {
			path := filepath.Join(dir, "sr_x2.safetensors")
			sd, err := checkpoints.LoadSafetensors(path)
			if err != nil {
				t.Fatal(err)
			}
			fov := sd.Tensors["resizer_pass0_field_of_view"]
			fov.Data = slices.Clone(fov.Data)
			binary.LittleEndian.PutUint64(fov.Data, 1<<40) // far outside the image
			var buf bytes.Buffer
			if err := checkpoints.WriteSafetensors(&buf, sd); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "operator-sr-x2: resizer_pass0_field_of_view[0] = 1099511627776 names no input"},
		{"operator-inpaint-box", func(t *testing.T, dir string) {
			fixtures.EditJSON(t, filepath.Join(dir, "inpaint_box.json"), func(side map[string]any) {
				side["bbox"] = side["box"]
				delete(side, "box")
			})
		}, "operator-inpaint-box: the sidecar's mask_opt.mask_type is box, but it records no box"},
		{"operator-inpaint-random", func(t *testing.T, dir string) {
			fixtures.EditJSON(t, filepath.Join(dir, "inpaint_random.json"), func(side map[string]any) {
				delete(side, "drawn_prob")
			})
		}, "operator-inpaint-random: the sidecar's mask_opt.mask_type is random, but it records no num_missing_pixels and drawn_prob"},
	}
	for _, c := range cases {
		f, ok := byName[c.folder]
		if !ok {
			t.Skipf("no fixture %s to copy", c.folder)
		}
		c.spoil(t, f.Copy(t, root))
	}
	want := map[string]string{}
	for _, c := range cases {
		want[c.folder] = c.want
	}
	fixtures.ReplayMalformed(t, root, want)
}
