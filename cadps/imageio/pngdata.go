package imageio

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// maxInflateRatio bounds how many bytes deflate (RFC 1951), as zlib
// streams in a PNG hold it, can expand one compressed byte into. Every
// Huffman code is at least one bit long, so a literal costs at least one
// bit per output byte, and a match at least two bits (a length code and a
// distance code) for at most 258 bytes; stored blocks expand nothing.
// One bit thus gives at most 129 bytes, one byte 1032, the figure that
// zlib's documentation gives as deflate's largest compression factor.
const maxInflateRatio = 258 / 2 * 8

// pngIHDREnd is where a PNG's IHDR data ends: after the 8-byte signature,
// the chunk's length and type (8 bytes) and its 13 bytes of data. The
// decoder refuses a file whose first chunk is not IHDR, so a PNG that
// png.DecodeConfig accepts holds its header fields in these bytes.
const pngIHDREnd = 8 + 8 + 13

// pngHeader is what a PNG's IHDR chunk says about its pixel data.
type pngHeader struct {
	width, height  int
	bitDepth       int
	colourType     byte
	interlaced     bool
	samplesOfPixel int
}

// parsePNGHeader reads the IHDR fields from the first bytes of a PNG that
// png.DecodeConfig accepted.
func parsePNGHeader(head []byte) (pngHeader, error) {
	if len(head) < pngIHDREnd {
		return pngHeader{}, errors.New("PNG header cut short")
	}
	ihdr := head[16:pngIHDREnd]
	h := pngHeader{
		width:      int(binary.BigEndian.Uint32(ihdr[0:4])),
		height:     int(binary.BigEndian.Uint32(ihdr[4:8])),
		bitDepth:   int(ihdr[8]),
		colourType: ihdr[9],
		interlaced: ihdr[12] == 1,
	}
	switch h.colourType {
	case 0, 3: // gray, palette
		h.samplesOfPixel = 1
	case 4: // gray with alpha
		h.samplesOfPixel = 2
	case 2: // RGB
		h.samplesOfPixel = 3
	case 6: // RGBA
		h.samplesOfPixel = 4
	default:
		return pngHeader{}, fmt.Errorf("PNG colour type %d is not defined", h.colourType)
	}
	return h, nil
}

// String describes the pixels, e.g. "16384×8192 pixels of 16-bit RGBA".
func (h pngHeader) String() string {
	model := map[byte]string{0: "gray", 2: "RGB", 3: "palette", 4: "gray with alpha", 6: "RGBA"}[h.colourType]
	s := fmt.Sprintf("%d×%d pixels of %d-bit %s", h.width, h.height, h.bitDepth, model)
	if h.interlaced {
		s += ", interlaced"
	}
	return s
}

// scanlineBytes returns how many bytes of filtered scanlines (each row of
// each interlace pass with its filter-type byte) the image's zlib stream
// must inflate to.
func (h pngHeader) scanlineBytes() int64 {
	bits := int64(h.samplesOfPixel * h.bitDepth)
	rows := func(cols, lines int) int64 {
		if cols <= 0 || lines <= 0 {
			return 0
		}
		return int64(lines) * (1 + (int64(cols)*bits+7)/8)
	}
	if !h.interlaced {
		return rows(h.width, h.height)
	}
	// The Adam7 passes: the column and row of each pass's first pixel,
	// and its steps.
	adam7 := [7]struct{ x0, y0, dx, dy int }{
		{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
		{0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2},
	}
	var n int64
	for _, p := range adam7 {
		n += rows((h.width-p.x0+p.dx-1)/p.dx, (h.height-p.y0+p.dy-1)/p.dy)
	}
	return n
}

// checkPNGData refuses a PNG of size bytes whose header (in head, its
// first bytes) claims more pixel data than size bytes of deflate data can
// hold, before the decoder allocates the image that the header claims.
// No PNG that the decoder reads is refused: it fails on such a file when
// the data runs out.
func checkPNGData(head []byte, size int64) error {
	h, err := parsePNGHeader(head)
	if err != nil {
		return err
	}
	need := h.scanlineBytes()
	if need > maxInflateRatio*size {
		return fmt.Errorf("header claims %s, %d bytes of scanlines, which a %d-byte file cannot hold (deflate expands at most %d:1)",
			h, need, size, maxInflateRatio)
	}
	return nil
}
