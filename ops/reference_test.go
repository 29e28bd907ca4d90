package ops

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/cadps/toolkit/checkpoints"
	"github.com/cadps/toolkit/internal/fixtures"
)

// operatorFixture is the part of an operator fixture's fixture.json and
// sidecar that the test reads.
type operatorFixture struct {
	Tolerance struct {
		Y   string `json:"y"`
		VJP string `json:"vjp"`
	} `json:"tolerance"`
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
// operators, through the explicit adjoint. Random kernels and masks are
// taken from the fixture (numpy's draws cannot be reproduced); everything
// else is built by the package from the recorded parameters.
func TestReference(t *testing.T) {
	b := newBackend(t)
	fixtures.Run(t, []string{"operator"}, func(t *testing.T, f *fixtures.Fixture) {
		var fx operatorFixture
		if err := f.Decode(&fx); err != nil {
			t.Fatal(err)
		}
		tolY, tolVJP := parseTolerance(t, fx.Tolerance.Y), parseTolerance(t, fx.Tolerance.VJP)
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
		dataPath, err := f.Path("data")
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(strings.TrimSuffix(dataPath, ".safetensors") + ".json")
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &side); err != nil {
			t.Fatal(err)
		}

		op := referenceOperator(t, fx.Operator, side, data, xDims)
		v, _ := tensorOf(t, data, "v")
		wantY, wantYDims := tensorOf(t, data, "y")
		wantVJP, _ := tensorOf(t, data, "vjp")

		got := evaluate(t, b, op, x, xDims, v)
		if !slices.Equal(got.yDims, wantYDims) {
			t.Fatalf("y shape %v, want %v", got.yDims, wantYDims)
		}
		check := func(what string, got, want []float32, tol float64) {
			t.Helper()
			d, err := fixtures.MaxRelDiff(got, want)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			t.Logf("%s: max rel diff %.3g (tolerance %g)", what, d, tol)
			if d > tol {
				t.Errorf("%s: max rel diff %.3g > %g", what, d, tol)
			}
		}
		check("y", got.y, wantY, tolY)
		check("vjp (autodiff)", got.vjp, wantVJP, tolVJP)
		if got.adjoint != nil {
			check("vjp (adjoint)", got.adjoint, wantVJP, tolVJP)
		}
	})
}

// referenceOperator builds the fixture's operator: from its configuration
// where it is deterministic, from the recorded kernel or mask otherwise,
// after checking that the package's own construction agrees with what the
// reference recorded.
func referenceOperator(t *testing.T, cfg map[string]any, side sidecar, data *checkpoints.StateDict, xDims []int) Operator {
	t.Helper()
	name, _ := cfg["name"].(string)
	switch name {
	case "super_resolution", "phase_retrieval":
		op, err := FromConfig(cfg, xDims, 0)
		if err != nil {
			t.Fatal(err)
		}
		if sr, ok := op.(*SuperResolution); ok {
			checkResizerPasses(t, sr, data, xDims)
		}
		if pr, ok := op.(*PhaseRetrieval); ok {
			if want, ok := cfg["pad"].(float64); ok && pr.Pad(xDims[2]) != int(want) {
				t.Errorf("pad %d, the reference's %v", pr.Pad(xDims[2]), want)
			}
		}
		return op
	case "gaussian_blur", "motion_blur":
		kernel, dims := tensorOf(t, data, "kernel")
		if name == "gaussian_blur" {
			size, sigma := int(cfg["kernel_size"].(float64)), cfg["intensity"].(float64)
			mine, err := GaussianKernel(size, sigma)
			if err != nil {
				t.Fatal(err)
			}
			// The kernel is float32(float64 scipy result): equal up to one
			// rounding step of the float64 sums.
			if d, _ := fixtures.MaxRelDiff(mine, kernel); d > 1e-9 {
				t.Errorf("Gaussian kernel differs from scipy's by %.3g", d)
			}
		}
		op, err := NewBlur(name, kernel, dims[0])
		if err != nil {
			t.Fatal(err)
		}
		return op
	case "inpainting":
		mask, dims := tensorOf(t, data, "mask")
		h, w := dims[2], dims[3]
		if side.Box != nil {
			mine, err := BoxMask(h, w, Box{Top: side.Box.Top, Left: side.Box.Left, Height: side.Box.Height, Width: side.Box.Width})
			if err != nil {
				t.Fatal(err)
			}
			if d, _ := fixtures.MaxRelDiff(mine, mask); d != 0 {
				t.Errorf("BoxMask at the recorded box differs from the reference's mask")
			}
		}
		op, err := NewInpainting(mask, h, w)
		if err != nil {
			t.Fatal(err)
		}
		if side.NumMissingPixels != nil && side.DrawnProb != nil {
			// The reference hides int(H·W·p) pixels; so does RandomMask.
			if got := int(op.MissingFraction()*float64(h*w) + 0.5); got != *side.NumMissingPixels ||
				got != int(float64(h*w)**side.DrawnProb) {
				t.Errorf("mask hides %d pixels, the reference drew p=%v and hid %d", got, *side.DrawnProb, *side.NumMissingPixels)
			}
		}
		// The recorded mask_opt must parse into the options that drew it.
		if side.MaskOpt != nil {
			if _, err := FromConfig(map[string]any{"operator": cfg, "mask_opt": side.MaskOpt}, xDims, 1); err != nil {
				t.Errorf("FromConfig with the recorded mask_opt: %v", err)
			}
		}
		return op
	}
	t.Fatalf("no reference construction for operator %q", name)
	return nil
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

// parseTolerance reads "relative 1e-5".
func parseTolerance(t *testing.T, s string) float64 {
	t.Helper()
	var tol float64
	var kind string
	if _, err := fmt.Sscan(s, &kind, &tol); err != nil || kind != "relative" {
		t.Fatalf("tolerance %q is not \"relative <number>\"", s)
	}
	return tol
}
