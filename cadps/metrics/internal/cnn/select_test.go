package cnn

import (
	"math"
	"strings"
	"testing"

	"github.com/cadps/toolkit/checkpoints"
)

// TestSelect takes the tensors a network needs from a state dict: a
// missing tensor, a wrong shape, an unknown tensor and a NaN or infinite
// value are errors naming the file and the tensor.
func TestSelect(t *testing.T) {
	params := []checkpoints.Spec{{Name: "conv.weight", Shape: []int{2, 1, 1, 1}}, {Name: "conv.bias", Shape: []int{2}}}
	ignore := func(name string) bool { return strings.HasPrefix(name, "fc.") }
	for _, tc := range []struct {
		name    string
		weight  []float32
		extra   string
		wantErr string
	}{
		{"finite", []float32{1, -2}, "fc.weight", ""},
		{"NaN", []float32{1, float32(math.NaN())}, "", `the net: w.pth: tensor "conv.weight" holds NaN at index 1`},
		{"infinite", []float32{float32(math.Inf(-1)), 0}, "", `the net: w.pth: tensor "conv.weight" holds -Inf at index 0`},
		{"unknown tensor", []float32{1, 2}, "head.weight", "holds tensors the network does not have: head.weight"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sd := checkpoints.NewStateDict("w.pth")
			tensors := []*checkpoints.Tensor{checkpoints.FromFloat32("conv.weight", []int{2, 1, 1, 1}, tc.weight), checkpoints.FromFloat32("conv.bias", []int{2}, []float32{0, 0})}
			if tc.extra != "" {
				tensors = append(tensors, checkpoints.FromFloat32(tc.extra, []int{1}, []float32{3}))
			}
			for _, x := range tensors {
				if err := sd.Add(x); err != nil {
					t.Fatal(err)
				}
			}
			w, err := Select(sd, params, ignore, "the net")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(w.Tensors) != 2 || len(w.Ignored) != 1 {
				t.Errorf("%d tensors, ignored %v", len(w.Tensors), w.Ignored)
			}
		})
	}
}
