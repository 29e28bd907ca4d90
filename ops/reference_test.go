package ops

import (
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

		op := referenceOperator(t, fx.Operator, side, data, xDims)
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

// referenceOperator builds the fixture's operator with FromRecorded: from
// its configuration, with the recorded kernel or mask, after checking that
// the package's own construction agrees with what the reference recorded.
func referenceOperator(t *testing.T, cfg map[string]any, side sidecar, data *checkpoints.StateDict, xDims []int) Operator {
	t.Helper()
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
		checkResizerPasses(t, op, data, xDims)
	case *PhaseRetrieval:
		if want, ok := cfg["pad"].(float64); ok && op.Pad(xDims[2]) != int(want) {
			t.Errorf("pad %d, the reference's %v", op.Pad(xDims[2]), want)
		}
	case *Blur:
		if op.Name() == "gaussian_blur" {
			size, sigma := int(cfg["kernel_size"].(float64)), cfg["intensity"].(float64)
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
// reference Resizer's recorded weights and fields of view.
func checkResizerPasses(t *testing.T, sr *SuperResolution, data *checkpoints.StateDict, xDims []int) {
	t.Helper()
	mh, mw, err := sr.Matrices(xDims[2], xDims[3])
	if err != nil {
		t.Fatal(err)
	}
	for pass, mine := range [][][]float64{mh, mw} {
		prefix := "resizer_pass" + string(rune('0'+pass))
		wts, wDims := tensorOf(t, data, prefix+"_weights")
		fovT, ok := data.Tensors[prefix+"_field_of_view"]
		if !ok {
			t.Fatalf("no %s_field_of_view", prefix)
		}
		fov, err := fovT.Int64()
		if err != nil {
			t.Fatal(err)
		}
		taps, outs := wDims[0], wDims[1]
		if outs != len(mine) {
			t.Fatalf("%s: %d outputs, mine %d", prefix, outs, len(mine))
		}
		inLen := len(mine[0])
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
