package checkpoints_test

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/cadps/toolkit/checkpoints"
)

// TestFromFloat64 checks that an F64 tensor gives back its values bit for
// bit, those that float32 cannot hold included.
func TestFromFloat64(t *testing.T) {
	want := []float64{0.1, -1.0 / 3, math.SmallestNonzeroFloat64, math.MaxFloat64, math.Inf(-1)}
	tensor := checkpoints.FromFloat64("x", []int{5}, want)
	if tensor.DType != checkpoints.F64 || !slices.Equal(tensor.Shape, []int{5}) {
		t.Fatalf("tensor of %s %v, want F64 [5]", tensor.DType, tensor.Shape)
	}
	got, err := tensor.Float64()
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("Float64() = %v, %v; want %v", got, err, want)
	}
}

// TestTensorConversions converts tensors of every float type, and an
// integer one, to float32, both to a new slice (Float32) and into one the
// caller gives (DecodeFloat32), which must have the tensor's size.
func TestTensorConversions(t *testing.T) {
	tests := []struct {
		name    string
		tensor  checkpoints.Tensor
		want    []float32
		wantErr string
	}{
		{"F32", *checkpoints.FromFloat32("a", []int{3}, []float32{1.5, -2, float32(math.Inf(1))}), []float32{1.5, -2, float32(math.Inf(1))}, ""},
		{"F16 normal, negative, subnormal", checkpoints.Tensor{Name: "h", DType: checkpoints.F16, Shape: []int{3}, Data: []byte{0, 0x3c, 0, 0xc0, 1, 0}}, []float32{1, -2, 5.9604645e-08}, ""},
		{"BF16", checkpoints.Tensor{Name: "b", DType: checkpoints.BF16, Shape: []int{2}, Data: []byte{0x80, 0x3f, 0xc0, 0xbf}}, []float32{1, -1.5}, ""},
		{"F64", checkpoints.Tensor{Name: "d", DType: checkpoints.F64, Shape: []int{1}, Data: []byte{0, 0, 0, 0, 0, 0, 0xf8, 0xbf}}, []float32{-1.5}, ""},
		{"I64", checkpoints.Tensor{Name: "i", DType: checkpoints.I64, Shape: []int{}, Data: []byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}, []float32{-2}, ""},
		{"F32 with missing bytes", checkpoints.Tensor{Name: "s", DType: checkpoints.F32, Shape: []int{2}, Data: make([]byte, 4)}, nil, `tensor "s": 4 bytes for shape [2]`},
		{"F16 with missing bytes", checkpoints.Tensor{Name: "s", DType: checkpoints.F16, Shape: []int{2}, Data: make([]byte, 3)}, nil, `tensor "s": 3 bytes`},
		{"unknown dtype", checkpoints.Tensor{Name: "u", DType: "F8", Shape: []int{1}, Data: make([]byte, 1)}, nil, `unsupported dtype "F8"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.tensor.Float32()
			into := make([]float32, tc.tensor.NumElements())
			intoErr := tc.tensor.DecodeFloat32(into)
			if tc.wantErr != "" {
				for _, e := range []error{err, intoErr} {
					if e == nil || !strings.Contains(e.Error(), tc.wantErr) {
						t.Fatalf("error %v, want %q", e, tc.wantErr)
					}
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("Float32() = %v, %v; want %v", got, err, tc.want)
			}
			if intoErr != nil || !slices.Equal(into, tc.want) {
				t.Fatalf("DecodeFloat32 gave %v, %v; want %v", into, intoErr, tc.want)
			}
			if err := tc.tensor.DecodeFloat32(make([]float32, len(into)+1)); err == nil || !strings.Contains(err.Error(), "values for shape") {
				t.Errorf("DecodeFloat32 into a slice too long: error %v", err)
			}
		})
	}
}

// TestTensorNegativeShape checks that a tensor whose shape has a negative
// dimension is refused, naming it, by the conversions and by
// WriteSafetensors (two negative dimensions made a positive count of
// elements, which they read and wrote as a valid tensor; one made Float32
// panic), and that StateDict.Add refuses a nil tensor.
func TestTensorNegativeShape(t *testing.T) {
	const want = `tensor "n": shape`
	for _, tc := range []struct {
		name  string
		shape []int
		bytes int
	}{
		{"two negative dimensions", []int{-2, -2}, 16},
		{"one negative dimension", []int{-1, 4}, 16},
	} {
		tensor := &checkpoints.Tensor{Name: "n", DType: checkpoints.F32, Shape: tc.shape, Data: make([]byte, tc.bytes)}
		for _, op := range []struct {
			name string
			run  func() error
		}{
			{"Float32", func() error { _, err := tensor.Float32(); return err }},
			{"Float64", func() error { _, err := tensor.Float64(); return err }},
			{"DecodeFloat32", func() error { return tensor.DecodeFloat32(make([]float32, 4)) }},
			{"WriteSafetensors", func() error {
				sd := checkpoints.NewStateDict("n.safetensors")
				if err := sd.Add(tensor); err != nil {
					return err
				}
				var b bytes.Buffer
				return checkpoints.WriteSafetensors(&b, sd)
			}},
		} {
			t.Run(tc.name+"/"+op.name, func(t *testing.T) {
				var err error
				func() {
					defer func() {
						if p := recover(); p != nil {
							t.Fatalf("panicked: %v", p)
						}
					}()
					err = op.run()
				}()
				if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "negative dimension") {
					t.Fatalf("error %v, want one naming the negative dimension", err)
				}
			})
		}
	}
	t.Run("Add nil", func(t *testing.T) {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("panicked: %v", p)
			}
		}()
		if err := checkpoints.NewStateDict("x.pt").Add(nil); err == nil || !strings.Contains(err.Error(), "x.pt: no tensor to add (nil)") {
			t.Fatalf("error %v, want one naming the nil tensor", err)
		}
	})
}

// TestFromFloatValues checks that FromFloat32 and FromFloat64 panic, naming
// themselves, the tensor and the values, when the shape does not hold the
// values given (they built a tensor that a writer or reader refused later,
// in bytes).
func TestFromFloatValues(t *testing.T) {
	huge := []int{1 << 32, 1 << 32}
	tests := []struct {
		name  string
		shape []int
		n     int
		want  string // the panic's message; "" for none
	}{
		{"matching", []int{2, 3}, 6, ""},
		{"scalar", []int{}, 1, ""},
		{"empty", []int{0, 3}, 0, ""},
		{"too few values", []int{2, 2}, 3, `tensor "w": 3 values for shape [2 2] (want 4)`},
		{"too many values", []int{2}, 3, `tensor "w": 3 values for shape [2] (want 2)`},
		{"negative dimensions", []int{-2, -2}, 4, `tensor "w": shape [-2 -2] has a negative dimension`},
		{"negative with a zero", []int{0, -1}, 0, `tensor "w": shape [0 -1] has a negative dimension`},
		{"overflowing count", huge, 0, `tensor "w": shape [4294967296 4294967296] has more elements than an int counts`},
	}
	for _, tc := range tests {
		for _, from := range []struct {
			name string
			make func() *checkpoints.Tensor
		}{
			{"FromFloat32", func() *checkpoints.Tensor { return checkpoints.FromFloat32("w", tc.shape, make([]float32, tc.n)) }},
			{"FromFloat64", func() *checkpoints.Tensor { return checkpoints.FromFloat64("w", tc.shape, make([]float64, tc.n)) }},
		} {
			t.Run(tc.name+"/"+from.name, func(t *testing.T) {
				var got any
				var tensor *checkpoints.Tensor
				func() {
					defer func() { got = recover() }()
					tensor = from.make()
				}()
				if tc.want == "" {
					if got != nil || tensor.NumElements() != tc.n {
						t.Fatalf("panicked with %v, or made %d elements; want %d", got, tensor.NumElements(), tc.n)
					}
					return
				}
				msg, _ := got.(string)
				if !strings.HasPrefix(msg, "checkpoints."+from.name+": ") || !strings.HasSuffix(msg, tc.want) {
					t.Fatalf("panic %v, want checkpoints.%s: %s", got, from.name, tc.want)
				}
			})
		}
	}
}

// TestTensorOverflow checks that the writer and the readers refuse a
// tensor whose count of elements, or of bytes, overflows an int, naming
// it: the writer wrote a file that every reader refuses, and the readers
// returned no values, or panicked allocating 2^62 of them.
func TestTensorOverflow(t *testing.T) {
	for _, tc := range []struct {
		name  string
		shape []int
		want  string
	}{
		{"elements", []int{1 << 32, 1 << 32}, `tensor "o": shape [4294967296 4294967296] has more elements than an int counts`},
		{"bytes", []int{1 << 62}, `tensor "o": 0 bytes for shape [4611686018427387904] of F32 (want 4611686018427387904 values of 4 bytes)`},
	} {
		tensor := &checkpoints.Tensor{Name: "o", DType: checkpoints.F32, Shape: tc.shape}
		for _, op := range []struct {
			name string
			run  func() error
			want string
		}{
			{"WriteSafetensors", func() error {
				sd := checkpoints.NewStateDict("o.safetensors")
				if err := sd.Add(tensor); err != nil {
					return err
				}
				return checkpoints.WriteSafetensors(&bytes.Buffer{}, sd)
			}, "checkpoints: " + tc.want},
			{"Float32", func() error { _, err := tensor.Float32(); return err }, tc.want},
			{"Float64", func() error { _, err := tensor.Float64(); return err }, tc.want},
			{"DecodeFloat32", func() error { return tensor.DecodeFloat32(nil) }, tc.want},
		} {
			t.Run(tc.name+"/"+op.name, func(t *testing.T) {
				var err error
				func() {
					defer func() {
						if p := recover(); p != nil {
							t.Fatalf("panicked: %v", p)
						}
					}()
					err = op.run()
				}()
				if err == nil || err.Error() != op.want {
					t.Fatalf("error %v, want %q", err, op.want)
				}
			})
		}
	}
}
