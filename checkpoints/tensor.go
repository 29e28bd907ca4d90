// Package checkpoints reads and writes model weights: PyTorch state_dicts
// as torch.save writes them (zip .pt/.pth, and the legacy format before
// torch 1.6) and safetensors files, without
// executing any code from the file and with memory bounded by the file size.
// It also holds the small weights the toolkit ships.
//
// To start: [Load] reads a file of either format (by its content) into a
// [StateDict] of named [Tensor] values, [Match] compares it with what a
// model expects, and [SaveSafetensors] writes one.
package checkpoints

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
)

// DType names an element type as safetensors spells it ("F32", "I64", ...).
type DType string

// Element types the readers understand.
const (
	F64  DType = "F64"
	F32  DType = "F32"
	F16  DType = "F16"
	BF16 DType = "BF16"
	I64  DType = "I64"
	I32  DType = "I32"
	I16  DType = "I16"
	I8   DType = "I8"
	U8   DType = "U8"
	Bool DType = "BOOL"
)

// Size returns the size in bytes of one element, or 0 for an unknown type.
func (d DType) Size() int {
	switch d {
	case F64, I64:
		return 8
	case F32, I32:
		return 4
	case F16, BF16, I16:
		return 2
	case I8, U8, Bool:
		return 1
	}
	return 0
}

// Tensor is one named array of a state dict: its element type, its shape
// and its little-endian bytes, row-major.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
}

// NumElements returns the product of the dimensions (1 for a scalar).
func (t *Tensor) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// checkData returns the number of values of t, or an error naming t when
// its shape has a negative dimension (NumElements of a shape with two is
// positive) or more elements than an int counts, its dtype is
// unsupported, or its data does not hold that many values.
func (t *Tensor) checkData() (int, error) {
	n, err := countElements(t.Shape)
	if err != nil {
		return 0, fmt.Errorf("tensor %s: %w", quoteName(t.Name), err)
	}
	es := t.DType.Size()
	if es == 0 {
		return 0, fmt.Errorf("tensor %s: unsupported dtype %s", quoteName(t.Name), quoteName(string(t.DType)))
	}
	if n > math.MaxInt/es || len(t.Data) != n*es {
		return 0, fmt.Errorf("tensor %s: %d bytes for shape %v of %s (want %d values of %d bytes)", quoteName(t.Name), len(t.Data), t.Shape, t.DType, n, es)
	}
	return n, nil
}

// Float32 returns the values converted to float32 (from any float or
// integer type).
func (t *Tensor) Float32() ([]float32, error) {
	n, err := t.checkData()
	if err != nil {
		return nil, err
	}
	out := make([]float32, n)
	if err := t.DecodeFloat32(out); err != nil {
		return nil, err
	}
	return out, nil
}

// DecodeFloat32 converts the values to float32 (from any float or integer
// type) into dst, which must hold exactly NumElements values: a caller
// that owns the destination, such as a framework tensor's buffer, saves a
// copy.
func (t *Tensor) DecodeFloat32(dst []float32) error {
	n, err := t.checkData()
	if err != nil {
		return err
	}
	if len(dst) != n {
		return fmt.Errorf("tensor %s: %d values for shape %v (want %d)", quoteName(t.Name), len(dst), t.Shape, n)
	}
	d, le := t.Data, binary.LittleEndian
	switch t.DType {
	case F32: // direct, without the float64 detour
		for i := range dst {
			dst[i] = math.Float32frombits(le.Uint32(d[4*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = halfToFloat32(le.Uint16(d[2*i:]))
		}
	case BF16:
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(le.Uint16(d[2*i:])) << 16)
		}
	case F64:
		for i := range dst {
			dst[i] = float32(math.Float64frombits(le.Uint64(d[8*i:])))
		}
	default:
		v, err := t.Float64()
		if err != nil {
			return err
		}
		for i, x := range v {
			dst[i] = float32(x)
		}
	}
	return nil
}

// Float64 returns the values converted to float64.
func (t *Tensor) Float64() ([]float64, error) {
	n, err := t.checkData()
	if err != nil {
		return nil, err
	}
	out := make([]float64, n)
	d := t.Data
	le := binary.LittleEndian
	for i := range out {
		switch t.DType {
		case F64:
			out[i] = math.Float64frombits(le.Uint64(d[8*i:]))
		case F32:
			out[i] = float64(math.Float32frombits(le.Uint32(d[4*i:])))
		case F16:
			out[i] = float64(halfToFloat32(le.Uint16(d[2*i:])))
		case BF16:
			out[i] = float64(math.Float32frombits(uint32(le.Uint16(d[2*i:])) << 16))
		case I64:
			out[i] = float64(int64(le.Uint64(d[8*i:])))
		case I32:
			out[i] = float64(int32(le.Uint32(d[4*i:])))
		case I16:
			out[i] = float64(int16(le.Uint16(d[2*i:])))
		case I8:
			out[i] = float64(int8(d[i]))
		case U8, Bool:
			out[i] = float64(d[i])
		}
	}
	return out, nil
}

// Int64 returns integer values (I64, I32, I16, I8, U8); float types are refused.
func (t *Tensor) Int64() ([]int64, error) {
	switch t.DType {
	case I64, I32, I16, I8, U8, Bool:
	default:
		return nil, fmt.Errorf("tensor %s: dtype %s is not an integer type", quoteName(t.Name), t.DType)
	}
	f, err := t.Float64()
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(f))
	if t.DType == I64 {
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint64(t.Data[8*i:]))
		}
		return out, nil
	}
	for i, x := range f {
		out[i] = int64(x)
	}
	return out, nil
}

// FromFloat32 makes an F32 tensor of the given shape holding v, row-major.
// Like make, it panics, naming itself, the tensor and the values, when
// shape has a negative dimension, when its product overflows an int, or
// when len(v) is not that product: a tensor that does not hold its
// shape's values would otherwise be refused far from here, by a writer or
// a reader, in bytes rather than values.
func FromFloat32(name string, shape []int, v []float32) *Tensor {
	checkValues("FromFloat32", name, shape, len(v))
	d := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(d[4*i:], math.Float32bits(x))
	}
	return &Tensor{Name: name, DType: F32, Shape: slices.Clone(shape), Data: d}
}

// FromFloat64 makes an F64 tensor, which keeps every bit of v. It panics
// on a shape that does not hold len(v) values, as [FromFloat32].
func FromFloat64(name string, shape []int, v []float64) *Tensor {
	checkValues("FromFloat64", name, shape, len(v))
	d := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(d[8*i:], math.Float64bits(x))
	}
	return &Tensor{Name: name, DType: F64, Shape: slices.Clone(shape), Data: d}
}

// checkValues panics, naming the function fn and the tensor, unless shape
// holds n values (see [countElements]).
func checkValues(fn, name string, shape []int, n int) {
	count, err := countElements(shape)
	switch {
	case err != nil:
		panic(fmt.Sprintf("checkpoints.%s: tensor %s: %v", fn, quoteName(name), err))
	case count != n:
		panic(fmt.Sprintf("checkpoints.%s: tensor %s: %d values for shape %v (want %d)", fn, quoteName(name), n, shape, count))
	}
}

// countElements returns the product of the dimensions of shape, or an
// error when one is negative or the product overflows an int. A shape
// holding a 0 has no elements, whatever its other dimensions.
func countElements(shape []int) (int, error) {
	if slices.ContainsFunc(shape, func(d int) bool { return d < 0 }) {
		return 0, fmt.Errorf("shape %v has a negative dimension", shape)
	}
	if slices.Contains(shape, 0) {
		return 0, nil
	}
	n := 1
	for _, d := range shape {
		if n > math.MaxInt/d {
			return 0, fmt.Errorf("shape %v has more elements than an int counts", shape)
		}
		n *= d
	}
	return n, nil
}

// halfToFloat32 converts an IEEE 754 binary16 value.
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0 && frac == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal
		e := uint32(127 - 15 + 1)
		for frac&0x400 == 0 {
			frac <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (frac&0x3ff)<<13)
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
}

// StateDict is an ordered set of named tensors, as a model's state_dict.
type StateDict struct {
	// Source names where it was read from (a file path), for error messages.
	Source string
	// Names lists the tensor names in file order.
	Names []string
	// Tensors maps names to tensors.
	Tensors map[string]*Tensor
	// Metadata holds safetensors' __metadata__ strings (nil for .pt files).
	Metadata map[string]string
}

// NewStateDict returns an empty state dict.
func NewStateDict(source string) *StateDict {
	return &StateDict{Source: source, Tensors: map[string]*Tensor{}}
}

// Add appends a tensor; a nil tensor, or a name already present, is an
// error.
func (s *StateDict) Add(t *Tensor) error {
	if t == nil {
		return fmt.Errorf("%s: no tensor to add (nil)", s.Source)
	}
	if _, ok := s.Tensors[t.Name]; ok {
		return fmt.Errorf("%s: duplicate tensor %s", s.Source, quoteName(t.Name))
	}
	s.Names = append(s.Names, t.Name)
	s.Tensors[t.Name] = t
	return nil
}

// TrimPrefix removes prefix from the name of every tensor, as a state dict
// saved from a DataParallel model needs ("module."). Every name must start
// with prefix and go on after it; otherwise nothing is renamed and the
// error names the first that does not.
func (s *StateDict) TrimPrefix(prefix string) error {
	if prefix == "" {
		return fmt.Errorf("%s: no prefix to remove", s.Source)
	}
	for _, n := range s.Names {
		if !strings.HasPrefix(n, prefix) || n == prefix {
			return fmt.Errorf("%s: tensor %s does not start with %q followed by a name", s.Source, quoteName(n), prefix)
		}
	}
	tensors := make(map[string]*Tensor, len(s.Tensors))
	for k, n := range s.Names {
		t := s.Tensors[n]
		t.Name = strings.TrimPrefix(n, prefix)
		s.Names[k] = t.Name
		tensors[t.Name] = t
	}
	s.Tensors = tensors
	return nil
}

// Get returns the named tensor or an error naming the file.
func (s *StateDict) Get(name string) (*Tensor, error) {
	t, ok := s.Tensors[name]
	if !ok {
		return nil, fmt.Errorf("%s: no tensor %s", s.Source, quoteName(name))
	}
	return t, nil
}

// NumParameters returns the total number of elements.
func (s *StateDict) NumParameters() int {
	n := 0
	for _, t := range s.Tensors {
		n += t.NumElements()
	}
	return n
}

// CheckFinite returns an error naming the source and the first tensor
// that holds a NaN or an infinite value, with its index. The loaders of
// network weights refuse such a file with it, since a network computed
// with it gives NaN wherever the value reaches, far from the file (a
// sampler that diverges, a metric that is NaN); the readers themselves
// take it, as data files may hold such values. Integer and boolean
// tensors hold none.
func (s *StateDict) CheckFinite() error {
	for _, n := range s.Names {
		t := s.Tensors[n]
		if i, v, ok := t.firstNonFinite(); ok {
			return fmt.Errorf("checkpoints: %s: tensor %s holds a non-finite value, %s, at element %d of %d: the file is damaged", s.Source, quoteName(t.Name), v, i, t.NumElements())
		}
	}
	return nil
}

// firstNonFinite returns the index of the first NaN or infinite value of
// a float tensor and the value as text ("NaN", "+Inf", "-Inf"), reading
// the exponent bits of each value, whatever its width.
func (t *Tensor) firstNonFinite() (int, string, bool) {
	var (
		size          int
		expMask, frac uint64
	)
	switch t.DType {
	case F64:
		size, expMask, frac = 8, 0x7ff0000000000000, 0x000fffffffffffff
	case F32:
		size, expMask, frac = 4, 0x7f800000, 0x007fffff
	case F16:
		size, expMask, frac = 2, 0x7c00, 0x03ff
	case BF16:
		size, expMask, frac = 2, 0x7f80, 0x007f
	default:
		return 0, "", false
	}
	d, le := t.Data, binary.LittleEndian
	for i := 0; (i+1)*size <= len(d); i++ {
		var b uint64
		switch size {
		case 8:
			b = le.Uint64(d[8*i:])
		case 4:
			b = uint64(le.Uint32(d[4*i:]))
		default:
			b = uint64(le.Uint16(d[2*i:]))
		}
		if b&expMask != expMask {
			continue
		}
		switch sign := b >> (8*size - 1); {
		case b&frac != 0:
			return i, "NaN", true
		case sign != 0:
			return i, "-Inf", true
		default:
			return i, "+Inf", true
		}
	}
	return 0, "", false
}
