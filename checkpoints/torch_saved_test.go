package checkpoints_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cadps/toolkit/checkpoints"
)

// TestTorchSavedFiles reads the files torch.save wrote in testdata (see
// testdata/gen.py): legacy files of every pickle protocol and with the
// writer's byte order flag set to big-endian (the data is little-endian
// all the same), and checkpoints that keep objects no state dict holds
// (argparse.Namespace, numpy values, sets, big ints, complex tensors)
// beside their state dict, which read as the state dict alone, or inside
// it, which is an error naming the key and the object's global.
func TestTorchSavedFiles(t *testing.T) {
	tests := []struct {
		file string
		want []string // error substrings; nil: the state dict reads
	}{
		{file: "legacy_protocol2.pt"},
		{file: "legacy_protocol3.pt"},
		{file: "legacy_protocol4.pt"},
		{file: "legacy_protocol5.pt"},
		{file: "legacy_flag_big_endian.pt"},
		{file: "wrapped_objects.pt"},
		{file: "wrapped_objects_protocol4.pt"},
		{file: "wrapped_objects_legacy.pt"},
		{file: "state_dict_with_namespace.pt", want: []string{`the value of "config" is an object of argparse.Namespace, not a tensor`}},
		{file: "state_dict_with_complex.pt", want: []string{`the value of "a.phase" is a tensor of torch.ComplexFloatStorage`, "cannot be read"}},
		{file: "wrapped_state_dict_with_numpy.pt", want: []string{`in "model", the value of "scale" is an object of numpy.core.multiarray.scalar`}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", tc.file)
			sd, err := checkpoints.Load(path)
			if tc.want != nil {
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range append(tc.want, path) {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(sd.Names, []string{"a.weight", "a.bias"}) {
				t.Fatalf("names %q, want a.weight, a.bias", sd.Names)
			}
			w, err1 := sd.Tensors["a.weight"].Float32()
			b, err2 := sd.Tensors["a.bias"].Float32()
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			if !slices.Equal(w, []float32{0, 1, 2, 3, 4, 5}) || !slices.Equal(sd.Tensors["a.weight"].Shape, []int{2, 3}) || !slices.Equal(b, []float32{0.5, -1}) {
				t.Errorf("a.weight %v %v, a.bias %v; want [[0 1 2] [3 4 5]] and [0.5 -1]", sd.Tensors["a.weight"].Shape, w, b)
			}
		})
	}
}
