package unet

import (
	"fmt"
	"math"
	"math/bits"
)

// ForwardFLOPs returns the floating-point operations of one forward pass
// for one size×size image (the network is convolutional: any size divisible
// by its total downsampling works), counting 2 per multiply-add in the
// convolutions, the attention products and the linear layers (the
// elementwise work is not counted). For the FFHQ-256 preset this is ≈ 388 G.
//
// Like make, it panics, naming itself and imageSize, on a size the network
// does not take: not positive, not divisible by its downsampling, or so
// large that the count overflows an int64 (no machine holds such an
// image's activations). [Model.CheckImageSize] returns the same as an
// error, to check a size from a user first.
func (m *Model) ForwardFLOPs(imageSize int) int64 {
	n, why := m.forwardFLOPs(imageSize)
	if why != "" {
		panic(fmt.Sprintf("unet: Model.ForwardFLOPs: imageSize %d %s", imageSize, why))
	}
	return n
}

// forwardFLOPs returns ForwardFLOPs' count for size, or why the network
// does not take size×size images, as a clause following the size ("is
// not positive").
func (m *Model) forwardFLOPs(imageSize int) (int64, string) {
	f := 1 << (m.levels - 1) // New takes at most 63 levels
	switch {
	case imageSize <= 0:
		return 0, "is not positive"
	case imageSize%f != 0:
		return 0, fmt.Sprintf("is not divisible by %d, the network's downsampling (channel_mult has %d levels)", f, m.levels)
	}
	var total int64
	size := int64(imageSize)
	m.visit(func(l layer) {
		var n int64
		n, size = l.flops(size)
		total = addFLOPs(total, n)
	})
	if total == math.MaxInt64 {
		return 0, "gives more operations than an int64 counts"
	}
	return total, ""
}

// mulFLOPs returns the product of non-negative factors, or math.MaxInt64
// when it would overflow (which ForwardFLOPs reports).
func mulFLOPs(factors ...int64) int64 {
	p := uint64(1)
	for _, f := range factors {
		hi, lo := bits.Mul64(p, uint64(f))
		if hi != 0 || lo > math.MaxInt64 {
			return math.MaxInt64
		}
		p = lo
	}
	return int64(p)
}

// addFLOPs returns a+b for non-negative a and b, or math.MaxInt64 when it
// would overflow.
func addFLOPs(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// convFLOPs counts a k×k convolution from in to out channels at an s×s
// output.
func convFLOPs(in, out, k int, s int64) int64 {
	return mulFLOPs(2, int64(in), int64(out), int64(k*k), s, s)
}

func (l *conv) flops(size int64) (int64, int64) {
	out := size / int64(l.stride)
	return convFLOPs(l.in, l.out, l.k, out), out
}

func (l *resBlock) flops(size int64) (int64, int64) {
	out := size
	if l.up {
		out *= 2
	} else if l.down {
		out /= 2
	}
	n := addFLOPs(convFLOPs(l.in, l.out, 3, out), convFLOPs(l.out, l.out, 3, out))
	if l.in != l.out {
		n = addFLOPs(n, convFLOPs(l.in, l.out, 1, out))
	}
	return n, out
}

func (l *attention) flops(size int64) (int64, int64) {
	length := mulFLOPs(size, size)
	c := int64(l.ch)
	n := mulFLOPs(2*3+2, c, c, length)                // qkv and proj_out
	n = addFLOPs(n, mulFLOPs(2*2, c, length, length)) // q·kᵀ and weights·v over all heads
	return n, size
}

func (l *downsample) flops(size int64) (int64, int64) {
	if l.useConv {
		return convFLOPs(l.ch, l.ch, 3, size/2), size / 2
	}
	return 0, size / 2
}

func (l *upsample) flops(size int64) (int64, int64) {
	if l.useConv {
		return convFLOPs(l.ch, l.ch, 3, size*2), size * 2
	}
	return 0, size * 2
}

func (l *groupNorm) flops(size int64) (int64, int64) { return 0, size }

func (l *linear) flops(size int64) (int64, int64) {
	return mulFLOPs(2, int64(l.in), int64(l.out)), size
}
