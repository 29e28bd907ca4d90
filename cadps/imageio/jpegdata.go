package imageio

import "fmt"

// checkJPEGData refuses a JPEG of size bytes whose header claims more
// pixels than size bytes of Huffman-coded data can hold, before the
// decoder allocates the image (and, for a progressive JPEG, the
// coefficients of every block) that the header claims. Every 8×8 block of
// a full-resolution component takes at least one bit: its DC difference
// has a Huffman code of one bit or more, in a sequential scan and in the
// DC scan that a progressive JPEG must send first. So no JPEG that codes
// every block is refused; a progressive file without a DC scan, which
// Go's decoder reads as blocks of zeros, is (a few hundred bytes of
// end-of-band runs would otherwise claim gigabytes). The decoder reads no
// other coding (arithmetic, lossless): its header is refused first.
func checkJPEGData(width, height int, size int64) error {
	blocks := int64((width+7)/8) * int64((height+7)/8)
	if blocks > 8*size {
		return fmt.Errorf("header claims %d×%d pixels (width×height), %d blocks of 8×8, which a %d-byte file cannot hold (every block takes at least one bit)",
			width, height, blocks, size)
	}
	return nil
}
