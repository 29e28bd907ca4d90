package checkpoints_test

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cadps/toolkit/checkpoints"
)

// TestCheckFinite checks that a checkpoint holding a NaN or an infinite
// value, in any float type, is read (data files may hold such values) and
// refused by CheckFinite, with an error naming the file, the tensor and
// the index; integer tensors and large finite values (float64 beyond
// float32's range) pass.
func TestCheckFinite(t *testing.T) {
	bias := []float32{0.5, -1, 2, 3}
	nanBias := []float32{0.5, -1, float32(math.NaN()), 3}
	tests := []struct {
		name   string
		tensor *checkpoints.Tensor
		want   string // "" = read
	}{
		{"finite F32", checkpoints.FromFloat32("input_blocks.0.0.bias", []int{4}, bias), ""},
		{"F32 NaN", checkpoints.FromFloat32("input_blocks.0.0.bias", []int{4}, nanBias), `tensor "input_blocks.0.0.bias" holds a non-finite value, NaN, at element 2 of 4`},
		{"F32 +Inf", checkpoints.FromFloat32("w", []int{2}, []float32{float32(math.Inf(1)), 0}), `tensor "w" holds a non-finite value, +Inf, at element 0 of 2`},
		{"F64 beyond float32", checkpoints.FromFloat64("d", []int{2}, []float64{1e300, -1e300}), ""},
		{"F64 -Inf", checkpoints.FromFloat64("d", []int{2}, []float64{1, math.Inf(-1)}), `tensor "d" holds a non-finite value, -Inf, at element 1 of 2`},
		{"F16 +Inf", &checkpoints.Tensor{Name: "h", DType: checkpoints.F16, Shape: []int{2}, Data: []byte{0, 0x3c, 0, 0x7c}}, `tensor "h" holds a non-finite value, +Inf, at element 1 of 2`},
		{"F16 NaN", &checkpoints.Tensor{Name: "h", DType: checkpoints.F16, Shape: []int{1}, Data: []byte{1, 0x7c}}, `tensor "h" holds a non-finite value, NaN`},
		{"BF16 -Inf", &checkpoints.Tensor{Name: "b", DType: checkpoints.BF16, Shape: []int{1}, Data: []byte{0x80, 0xff}}, `tensor "b" holds a non-finite value, -Inf`},
		{"I32 of all ones", &checkpoints.Tensor{Name: "i", DType: checkpoints.I32, Shape: []int{1}, Data: []byte{0xff, 0xff, 0xff, 0xff}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sd := checkpoints.NewStateDict("test")
			if err := sd.Add(tc.tensor); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "w.safetensors")
			if err := checkpoints.SaveSafetensors(path, sd); err != nil {
				t.Fatal(err)
			}
			for _, load := range []func(string) (*checkpoints.StateDict, error){checkpoints.Load, checkpoints.LoadSafetensors} {
				sd, err := load(path)
				if err != nil {
					t.Fatalf("reading: %v", err)
				}
				err = sd.CheckFinite()
				switch {
				case tc.want == "" && err != nil:
					t.Fatalf("finite values refused: %v", err)
				case tc.want != "" && (err == nil || !strings.Contains(err.Error(), path+": "+tc.want)):
					t.Fatalf("error %v, want one naming %s and containing %q", err, path, tc.want)
				}
			}
		})
	}
}

// TestCheckFiniteTorch: a PyTorch checkpoint with a NaN weight is refused
// too, naming the tensor.
func TestCheckFiniteTorch(t *testing.T) {
	p := new(pk).proto().stateDict(view{name: "conv.bias", key: "0", numel: 3, size: []int64{3}}).stop().b
	for _, tc := range []struct {
		name string
		v    []float32
		want string
	}{
		{"finite", []float32{1, 2, 3}, ""},
		{"NaN", []float32{1, float32(math.NaN()), 3}, `tensor "conv.bias" holds a non-finite value, NaN, at element 1 of 3`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sd, err := checkpoints.Load(writeTemp(t, "w.pt", torchZip(t, p, map[string][]byte{"0": f32bytes(tc.v...)}, nil)))
			if err != nil {
				t.Fatalf("reading: %v", err)
			}
			err = sd.CheckFinite()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}
