package unet

// ForwardFLOPs returns the floating-point operations of one forward pass
// for one size×size image (the network is convolutional: any size divisible
// by its total downsampling works), counting 2 per multiply-add in the
// convolutions, the attention products and the linear layers (the
// elementwise work is not counted). For the FFHQ-256 preset this is ≈ 388 G.
func (m *Model) ForwardFLOPs(imageSize int) int64 {
	var total int64
	size := int64(imageSize)
	m.visit(func(l layer) {
		var n int64
		n, size = l.flops(size)
		total += n
	})
	return total
}

// convFLOPs counts a k×k convolution from in to out channels at an s×s
// output.
func convFLOPs(in, out, k int, s int64) int64 {
	return 2 * int64(in) * int64(out) * int64(k*k) * s * s
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
	n := convFLOPs(l.in, l.out, 3, out) + convFLOPs(l.out, l.out, 3, out)
	if l.in != l.out {
		n += convFLOPs(l.in, l.out, 1, out)
	}
	return n, out
}

func (l *attention) flops(size int64) (int64, int64) {
	length := size * size
	c := int64(l.ch)
	n := 2*3*c*c*length + 2*c*c*length // qkv and proj_out
	n += 2 * 2 * c * length * length   // q·kᵀ and weights·v over all heads
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

func (l *linear) flops(size int64) (int64, int64) { return 2 * int64(l.in) * int64(l.out), size }
