package backend

import (
	"fmt"
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Wrapped is a backend that forwards everything to an inner backend (the
// pure-Go one) and supplies, composed from the inner backend's own ops, the
// operations it lacks or gets wrong: Reverse, Pad (edge, negative and
// interior), and convolutions with default strides and dilations and their
// gradients (see conv.go).
type Wrapped struct {
	backends.Backend
}

// Wrap returns inner wrapped by the project's backend.
func Wrap(inner backends.Backend) *Wrapped { return &Wrapped{Backend: inner} }

// Name implements backends.Backend.
func (w *Wrapped) Name() string { return Name }

// String implements backends.Backend.
func (w *Wrapped) String() string { return Name }

// Description implements backends.Backend.
func (w *Wrapped) Description() string {
	return "cadps: the pure-Go backend with composed Reverse/Pad and im2col convolutions (" + w.Backend.Description() + ")"
}

// Inner returns the wrapped backend.
func (w *Wrapped) Inner() backends.Backend { return w.Backend }

// Capabilities implements backends.Backend: the inner backend's, plus the ops
// this wrapper composes.
func (w *Wrapped) Capabilities() backends.Capabilities {
	c := w.Backend.Capabilities().Clone()
	c.Operations[backends.OpTypeReverse] = true
	c.Operations[backends.OpTypePad] = true
	c.Operations[backends.OpTypeConvGeneral] = true
	return c
}

// Builder implements backends.Backend.
func (w *Wrapped) Builder(name string) backends.Builder {
	return &builder{Builder: w.Backend.Builder(name)}
}

// builder forwards to the inner builder and overrides the ops listed on
// Wrapped.
type builder struct {
	backends.Builder
}

func (b *builder) shape(op backends.Op) (shapes.Shape, error) { return b.OpShape(op) }

// Reverse implements backends.Builder by concatenating unit slices of each
// reversed axis in reverse order.
func (b *builder) Reverse(x backends.Op, axes ...int) (backends.Op, error) {
	s, err := b.shape(x)
	if err != nil {
		return nil, err
	}
	out := x
	for _, axis := range axes {
		if axis < 0 || axis >= s.Rank() {
			return nil, fmt.Errorf("Reverse: axis %d out of range for shape %s", axis, s)
		}
		n := s.Dimensions[axis]
		if n <= 1 {
			continue
		}
		parts := make([]backends.Op, n)
		for i := range n {
			starts := make([]int, s.Rank())
			limits := slices.Clone(s.Dimensions)
			starts[axis], limits[axis] = i, i+1
			parts[n-1-i], err = b.slice(out, starts, limits)
			if err != nil {
				return nil, fmt.Errorf("Reverse: %w", err)
			}
		}
		if out, err = b.Concatenate(axis, parts...); err != nil {
			return nil, fmt.Errorf("Reverse: %w", err)
		}
	}
	return out, nil
}

// Pad implements backends.Builder: interior padding by interleaving fill
// values, negative edge padding by slicing, positive edge padding by
// concatenating broadcast fill values.
func (b *builder) Pad(x, fill backends.Op, config ...backends.PadAxis) (backends.Op, error) {
	s, err := b.shape(x)
	if err != nil {
		return nil, err
	}
	if len(config) > s.Rank() {
		return nil, fmt.Errorf("Pad: %d axes configured for shape %s", len(config), s)
	}
	out := x
	for axis, p := range config {
		if p.Interior < 0 {
			return nil, fmt.Errorf("Pad: negative interior padding %d on axis %d", p.Interior, axis)
		}
		if p.Interior > 0 {
			if out, err = b.padInterior(out, fill, axis, p.Interior); err != nil {
				return nil, err
			}
		}
		if out, err = b.padEdge(out, fill, axis, p.Start, true); err != nil {
			return nil, err
		}
		if out, err = b.padEdge(out, fill, axis, p.End, false); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// fillOf returns fill broadcast to dims.
func (b *builder) fillOf(fill backends.Op, like shapes.Shape, dims []int) (backends.Op, error) {
	return b.BroadcastInDim(fill, shapes.Make(like.DType, dims...), nil)
}

func (b *builder) padEdge(x, fill backends.Op, axis, amount int, start bool) (backends.Op, error) {
	if amount == 0 {
		return x, nil
	}
	s, err := b.shape(x)
	if err != nil {
		return nil, err
	}
	n := s.Dimensions[axis]
	if amount < 0 {
		if -amount > n {
			return nil, fmt.Errorf("Pad: negative padding %d larger than axis %d of size %d", amount, axis, n)
		}
		starts := make([]int, s.Rank())
		limits := slices.Clone(s.Dimensions)
		if start {
			starts[axis] = -amount
		} else {
			limits[axis] = n + amount
		}
		return b.slice(x, starts, limits)
	}
	dims := slices.Clone(s.Dimensions)
	dims[axis] = amount
	f, err := b.fillOf(fill, s, dims)
	if err != nil {
		return nil, fmt.Errorf("Pad: %w", err)
	}
	if start {
		return b.Concatenate(axis, f, x)
	}
	return b.Concatenate(axis, x, f)
}

// padInterior inserts k fill values between consecutive elements of axis:
// [..., n, ...] -> [..., n, 1+k, ...] -> [..., n*(1+k), ...] -> drop the last k.
func (b *builder) padInterior(x, fill backends.Op, axis, k int) (backends.Op, error) {
	s, err := b.shape(x)
	if err != nil {
		return nil, err
	}
	n := s.Dimensions[axis]
	if n <= 1 {
		return x, nil
	}
	expanded := slices.Insert(slices.Clone(s.Dimensions), axis+1, 1)
	xe, err := b.Reshape(x, expanded...)
	if err != nil {
		return nil, err
	}
	fillDims := slices.Clone(expanded)
	fillDims[axis+1] = k
	f, err := b.fillOf(fill, s, fillDims)
	if err != nil {
		return nil, err
	}
	joined, err := b.Concatenate(axis+1, xe, f)
	if err != nil {
		return nil, err
	}
	flat := slices.Clone(s.Dimensions)
	flat[axis] = n * (1 + k)
	if joined, err = b.Reshape(joined, flat...); err != nil {
		return nil, err
	}
	starts := make([]int, s.Rank())
	limits := slices.Clone(flat)
	limits[axis] = n*(1+k) - k
	return b.slice(joined, starts, limits)
}

// slice is Slice with unit strides.
func (b *builder) slice(x backends.Op, starts, limits []int) (backends.Op, error) {
	return b.Slice(x, starts, limits, slices.Repeat([]int{1}, len(starts)))
}
