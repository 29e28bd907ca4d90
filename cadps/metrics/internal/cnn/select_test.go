package cnn

import (
	"math"
	"strings"
	"testing"

	"github.com/cadps/toolkit/checkpoints"
)

// TestSelect takes the tensors a network needs from a state dict: a
// missing tensor, a wrong shape, an unknown tensor, an integer tensor and
// a NaN or infinite value are one-line errors naming the file and the
// tensor (the first few of each problem, however many there are), and a
// DataParallel "module." prefix is recognised.
func TestSelect(t *testing.T) {
	params := []checkpoints.Spec{{Name: "conv.weight", Shape: []int{2, 1, 1, 1}}, {Name: "conv.bias", Shape: []int{2}}}
	ignore := func(name string) bool { return strings.HasPrefix(name, "fc.") }
	f32 := checkpoints.FromFloat32
	bias := f32("conv.bias", []int{2}, []float32{0, 0})
	weight := func(v ...float32) *checkpoints.Tensor { return f32("conv.weight", []int{2, 1, 1, 1}, v) }
	for _, tc := range []struct {
		name    string
		tensors []*checkpoints.Tensor
		wantErr []string
	}{
		{"finite", []*checkpoints.Tensor{weight(1, -2), bias, f32("fc.weight", []int{1}, []float32{3})}, nil},
		{"NaN", []*checkpoints.Tensor{weight(1, float32(math.NaN())), bias}, []string{`the net: checkpoints: w.pth: tensor "conv.weight" holds a non-finite value, NaN, at element 1 of 2: the file is damaged`}},
		{"infinite", []*checkpoints.Tensor{weight(float32(math.Inf(-1)), 0), bias}, []string{`the net: checkpoints: w.pth: tensor "conv.weight" holds a non-finite value, -Inf, at element 0 of 2: the file is damaged`}},
		{"unknown tensor", []*checkpoints.Tensor{weight(1, 2), bias, f32("head.weight", []int{1}, []float32{3})},
			[]string{"the net: checkpoints: w.pth does not match the model", "1 unexpected", "; hint: is it the weight file of another network?", "; unexpected: head.weight"}},
		{"missing tensor", []*checkpoints.Tensor{weight(1, 2)}, []string{"1 missing", "; missing: conv.bias"}},
		{"another network", []*checkpoints.Tensor{f32("a", []int{1}, []float32{0}), f32("b", []int{1}, []float32{0}),
			f32("c", []int{1}, []float32{0}), f32("d", []int{1}, []float32{0}), f32("e", []int{1}, []float32{0})},
			[]string{"2 missing, 5 unexpected", "; missing: conv.weight, conv.bias", "; unexpected: a, b, c and 2 more"}},
		{"wrong shape", []*checkpoints.Tensor{weight(1, 2), f32("conv.bias", []int{1, 2}, []float32{0, 0})},
			[]string{"1 with the wrong shape", "conv.bias (file [1 2], wanted [2])"}},
		{"integer tensor", []*checkpoints.Tensor{weight(1, 2), {Name: "conv.bias", DType: checkpoints.I64, Shape: []int{2}, Data: make([]byte, 16)}},
			[]string{"1 not floating-point", "conv.bias (I64)"}},
		{"DataParallel prefix", []*checkpoints.Tensor{
			f32("module.conv.weight", []int{2, 1, 1, 1}, []float32{1, 2}), f32("module.conv.bias", []int{2}, []float32{0, 0})},
			[]string{"keys start with 'module.'", "without it, 2 of 2 keys match"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sd := checkpoints.NewStateDict("w.pth")
			for _, x := range tc.tensors {
				if err := sd.Add(x); err != nil {
					t.Fatal(err)
				}
			}
			w, err := Select(sd, params, ignore, "the net")
			if tc.wantErr != nil {
				if err != nil && strings.Contains(err.Error(), "\n") {
					t.Errorf("error of %d lines, want one:\n%v", strings.Count(err.Error(), "\n")+1, err)
				}
				for _, want := range tc.wantErr {
					if err == nil || !strings.Contains(err.Error(), want) {
						t.Errorf("error %v, want one containing %q", err, want)
					}
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
