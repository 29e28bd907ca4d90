package unet

// ForwardFLOPs returns the floating-point operations of one forward pass
// for one size×size image (the network is convolutional: any size divisible
// by its total downsampling works), counting 2 per multiply-add in the
// convolutions, the attention products and the linear layers (the
// elementwise work is not counted). For the FFHQ-256 preset this is ≈ 388 G.
func (m *Model) ForwardFLOPs(imageSize int) int64 {
	var total int64
	size := int64(imageSize)
	convFLOPs := func(in, out, k int, s int64) int64 { return 2 * int64(in) * int64(out) * int64(k*k) * s * s }
	// Walk the blocks, tracking the spatial size as the graph does.
	walk := func(block []layer) {
		for _, l := range block {
			switch l := l.(type) {
			case *conv:
				total += convFLOPs(l.in, l.out, l.k, size/int64(l.stride))
			case *resBlock:
				out := size
				if l.up {
					out *= 2
				} else if l.down {
					out /= 2
				}
				total += convFLOPs(l.in, l.out, 3, out) + convFLOPs(l.out, l.out, 3, out)
				if l.in != l.out {
					total += convFLOPs(l.in, l.out, 1, out)
				}
				size = out
			case *attention:
				length := size * size
				c := int64(l.ch)
				total += 2*3*c*c*length + 2*c*c*length // qkv and proj_out
				total += 2 * 2 * c * length * length   // q·kᵀ and weights·v over all heads
			case *downsample:
				size /= 2
				if l.useConv {
					total += convFLOPs(l.ch, l.ch, 3, size)
				}
			case *upsample:
				size *= 2
				if l.useConv {
					total += convFLOPs(l.ch, l.ch, 3, size)
				}
			}
		}
	}
	for _, b := range m.inputBlocks {
		walk(b)
	}
	walk(m.middleBlock)
	for _, b := range m.outputBlocks {
		walk(b)
	}
	walk(m.out)
	return total
}
