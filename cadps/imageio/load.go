package imageio

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"os"
)

// LoadOption adjusts what [Load] and [Decode] return.
type LoadOption func(*loadConfig)

type loadConfig struct {
	mode       Mode
	resize     int
	resample   Resample
	cropSquare int
}

// WithMode loads the image as RGB (the default) or as one gray channel.
func WithMode(m Mode) LoadOption { return func(c *loadConfig) { c.mode = m } }

// WithResize resizes the image after decoding so that its shorter side is
// size pixels, keeping the aspect ratio (the longer side is truncated, as
// torchvision's Resize(size) computes it). Without this option nothing is
// resized.
func WithResize(size int, method Resample) LoadOption {
	return func(c *loadConfig) { c.resize, c.resample = size, method }
}

// WithCenterCrop crops the central size×size square (after any
// [WithResize]), with torchvision's CenterCrop offsets. An image smaller
// than size on either side is an error.
func WithCenterCrop(size int) LoadOption { return func(c *loadConfig) { c.cropSquare = size } }

// Load reads a PNG or JPEG file (detected from its content, not its name)
// and converts it as [FromImage] describes, then applies the options.
// A file that [ReadHeader] refuses is refused before the rest of it is
// read. Errors name the path.
func Load(path string, opts ...LoadOption) (*Image, error) {
	data, err := readImageFile(path)
	if err != nil {
		return nil, err
	}
	im, err := decodeBytes(data, opts)
	if err != nil {
		return nil, fmt.Errorf("imageio: %s: %w", path, err)
	}
	return im, nil
}

// Decode reads a PNG or JPEG image from r, as [Load] does for a file.
func Decode(r io.Reader, opts ...LoadOption) (*Image, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("imageio: reading image: %w", err)
	}
	im, err := decodeBytes(data, opts)
	if err != nil {
		return nil, fmt.Errorf("imageio: %w", err)
	}
	return im, nil
}

// decodeBytes decodes data and applies the options; its errors carry no
// "imageio:" prefix, which the callers add with the source's name.
func decodeBytes(data []byte, opts []LoadOption) (*Image, error) {
	cfg := loadConfig{mode: RGB}
	for _, o := range opts {
		o(&cfg)
	}
	if _, err := cfg.mode.channels(); err != nil {
		return nil, err
	}
	if cfg.resize < 0 || (cfg.resize > 0 && !cfg.resample.valid()) {
		return nil, fmt.Errorf("invalid resize option: size %d, method %v", cfg.resize, cfg.resample)
	}
	if cfg.cropSquare < 0 {
		return nil, fmt.Errorf("invalid centre-crop size %d", cfg.cropSquare)
	}

	h, err := decodeHeader(data, bytes.NewReader(data), int64(len(data)), data)
	if err != nil {
		return nil, err
	}
	decode := png.Decode
	if h.Format == "JPEG" {
		decode = jpeg.Decode
	}
	format := h.Format
	m, err := decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w%s", format, err, cutShortNote(format, data))
	}
	im, err := FromImage(m, cfg.mode)
	if err != nil {
		return nil, err
	}
	// Sizes in these errors are width×height, as in the header's.
	if cfg.resize > 0 {
		h, w := shorterSideTo(im.H, im.W, cfg.resize)
		if err := checkFileDims(w, h); err != nil {
			return nil, fmt.Errorf("resizing the shorter side to %d: %w", cfg.resize, err)
		}
		if im, err = resize(im, h, w, cfg.resample); err != nil {
			return nil, err
		}
	}
	if s := cfg.cropSquare; s > 0 {
		if s > im.W || s > im.H {
			return nil, fmt.Errorf("cannot crop %d×%d from a %d×%d (width×height) image", s, s, im.W, im.H)
		}
		if im, err = centerCrop(im, s, s); err != nil {
			return nil, err
		}
	}
	return im, nil
}

// Header is what an image file's header says.
type Header struct {
	// Format is "PNG" or "JPEG".
	Format string
	// Width and Height are the image's size in pixels.
	Width, Height int
}

// ReadHeader reads the header of the image file at path, not its pixels.
// A file that [Load] refuses for what its header says (empty, not an
// image, a format other than PNG and JPEG, a size out of range, a PNG
// or JPEG too short to hold the pixels its header claims) is refused with
// the same error, naming the path.
func ReadHeader(path string) (Header, error) {
	f, err := os.Open(path)
	if err != nil {
		return Header{}, fmt.Errorf("imageio: %w", err)
	}
	defer f.Close()
	size, err := fileSize(f)
	if err != nil {
		return Header{}, fmt.Errorf("imageio: %w", err)
	}
	h, _, err := readHeader(f, size, fileTail(f, size), io.Discard)
	if err != nil {
		return Header{}, fmt.Errorf("imageio: %s: %w", path, err)
	}
	return h, nil
}

// readImageFile returns the bytes of the image file at path, reading past
// its header only once [readHeader] accepts it, so that a large file that
// is not an image is refused without being read whole.
func readImageFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("imageio: %w", err)
	}
	defer f.Close()
	size, err := fileSize(f)
	if err != nil {
		return nil, fmt.Errorf("imageio: %w", err)
	}
	var data bytes.Buffer
	_, rest, err := readHeader(f, size, fileTail(f, size), &data)
	if err != nil {
		return nil, fmt.Errorf("imageio: %s: %w", path, err)
	}
	if size > 0 {
		data.Grow(int(size) - data.Len() + bytes.MinRead)
	}
	if _, err := data.ReadFrom(rest); err != nil {
		return nil, fmt.Errorf("imageio: %s: %w", path, err)
	}
	return data.Bytes(), nil
}

// fileSize returns the length of the open file f, or -1 for a pipe or
// device, whose length is not known before it is read.
func fileSize(f *os.File) (int64, error) {
	info, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if !info.Mode().IsRegular() {
		return -1, nil
	}
	return info.Size(), nil
}

// fileTail returns the last bytes of the open file f of size bytes, as
// many as [lacksEndMarker] looks at, without moving f's offset; nil when
// size is negative (unknown) or they cannot be read.
func fileTail(f *os.File, size int64) []byte {
	if size < 0 {
		return nil
	}
	tail := make([]byte, min(size, int64(len(pngIEND))))
	if _, err := f.ReadAt(tail, size-int64(len(tail))); err != nil {
		return nil
	}
	return tail
}

// readHeader reads the header of an image file of size bytes (negative
// when unknown) from f, as [ReadHeader] describes; tail is the file's end
// (nil when unknown), by which an error says that the file may be cut
// short. The bytes it reads from f are also written to seen; the returned
// reader holds the rest of the file. Its errors carry no "imageio:"
// prefix.
func readHeader(f io.Reader, size int64, tail []byte, seen io.Writer) (Header, io.Reader, error) {
	r := bufio.NewReader(f)
	head, err := r.Peek(pngIHDREnd) // sniff's signatures and a PNG's IHDR; fewer at the end of a short file
	if err != nil && err != io.EOF {
		return Header{}, nil, err
	}
	h, err := decodeHeader(head, io.TeeReader(r, seen), size, tail)
	return h, r, err
}

// decodeHeader reads the header of an image of size bytes (negative when
// unknown) whose first bytes are head (at least sniff's signatures and a
// PNG's IHDR chunk, or the whole data) from r, which starts at the same
// place; tail is the image's end, or nil when unknown: an error on a
// file that lacks its format's final marker says that it may be cut short
// (cutShortNote). Its errors carry no "imageio:" prefix.
func decodeHeader(head []byte, r io.Reader, size int64, tail []byte) (Header, error) {
	format := sniff(head)
	var decodeConfig func(io.Reader) (image.Config, error)
	switch format {
	case "PNG":
		decodeConfig = png.DecodeConfig
	case "JPEG":
		decodeConfig = jpeg.DecodeConfig
	case "":
		if len(head) == 0 {
			return Header{}, errors.New("empty file, not an image")
		}
		return Header{}, errors.New("not a PNG or JPEG file (unrecognised content)")
	default:
		return Header{}, fmt.Errorf("unsupported format %s (want PNG or JPEG)", format)
	}
	conf, err := decodeConfig(r)
	if err != nil {
		return Header{}, fmt.Errorf("decoding %s header: %w%s", format, err, cutShortNote(format, tail))
	}
	if err := checkFileDims(conf.Width, conf.Height); err != nil {
		return Header{}, fmt.Errorf("decoding %s: %w", format, err)
	}
	if size >= 0 {
		check := func() error { return checkJPEGData(conf.Width, conf.Height, size) }
		if format == "PNG" {
			check = func() error { return checkPNGData(head, size) }
		}
		if err := check(); err != nil {
			return Header{}, fmt.Errorf("decoding %s: %w%s", format, err, cutShortNote(format, tail))
		}
	}
	return Header{Format: format, Width: conf.Width, Height: conf.Height}, nil
}

// checkFileDims is [checkDims] for the size a file's header gives, which
// it states as width×height, the order of image viewers, of PIL's size
// and of the toolkit's other messages about files (a PNG's claimed data,
// restore's SizeError), and says so.
func checkFileDims(w, h int) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("invalid size %d×%d (width×height must be positive)", w, h)
	}
	if h > maxPixels/w {
		return fmt.Errorf("size %d×%d (width×height) is larger than the %d-pixel limit", w, h, maxPixels)
	}
	return nil
}

// cutShortNote returns what an error on data, a PNG or JPEG file (or its
// last bytes), adds when the file lacks its format's final marker: that it
// may be cut short; "" when it ends with it or when data is nil (unknown).
func cutShortNote(format string, data []byte) string {
	if data == nil {
		return ""
	}
	if marker, ok := lacksEndMarker(format, data); ok {
		return fmt.Sprintf(" (the file does not end with the %s, so it may be cut short)", marker)
	}
	return ""
}

// pngIEND is the IEND chunk that ends every complete PNG file.
const pngIEND = "\x00\x00\x00\x00IEND\xae\x42\x60\x82"

// lacksEndMarker reports whether data, a PNG or JPEG file, does not end
// with the marker that closes every complete file of its format, and
// names that marker. A file cut short, by an interrupted download or copy,
// lacks it; the decoder's own message ("unexpected EOF", "short Huffman
// data", "not enough pixel data") does not say so.
func lacksEndMarker(format string, data []byte) (string, bool) {
	switch format {
	case "PNG":
		return "IEND chunk", !bytes.HasSuffix(data, []byte(pngIEND))
	case "JPEG":
		return "end-of-image marker", !bytes.HasSuffix(data, []byte("\xff\xd9"))
	}
	return "", false
}

// sniff names the image format of data from its magic bytes: "PNG",
// "JPEG", another format's name, or "" when unknown.
func sniff(data []byte) string {
	has := func(prefix string) bool { return bytes.HasPrefix(data, []byte(prefix)) }
	switch {
	case has("\x89PNG\r\n\x1a\n"):
		return "PNG"
	case has("\xff\xd8\xff"):
		return "JPEG"
	case has("GIF87a"), has("GIF89a"):
		return "GIF"
	case has("BM"):
		return "BMP"
	case has("II*\x00"), has("MM\x00*"):
		return "TIFF"
	case has("RIFF") && len(data) >= 12 && string(data[8:12]) == "WEBP":
		return "WebP"
	}
	return ""
}

// shorterSideTo returns the size that makes the shorter side of an h×w
// image size pixels, the longer one int(size·long/short) as torchvision
// computes it.
func shorterSideTo(h, w, size int) (int, int) {
	if h <= w {
		return size, max(1, int(float64(size)*float64(w)/float64(h)))
	}
	return max(1, int(float64(size)*float64(h)/float64(w))), size
}

// CenterCrop returns the central h×w region of im, with torchvision's
// offsets: top = round((H−h)/2), left = round((W−w)/2), rounding half to
// even as Python does. A crop larger than the image is an error.
func CenterCrop(im *Image, h, w int) (*Image, error) {
	if err := im.Validate(); err != nil {
		return nil, err
	}
	out, err := centerCrop(im, h, w)
	if err != nil {
		return nil, fmt.Errorf("imageio: %w", err)
	}
	return out, nil
}

// centerCrop is [CenterCrop] of a valid image; its errors carry no
// "imageio:" prefix, which the callers add.
func centerCrop(im *Image, h, w int) (*Image, error) {
	if h <= 0 || w <= 0 {
		return nil, fmt.Errorf("invalid crop size %d×%d", h, w)
	}
	if h > im.H || w > im.W {
		return nil, fmt.Errorf("cannot crop %d×%d from a %s image", h, w, im.Size())
	}
	top := roundHalfEven(im.H-h, 2)
	left := roundHalfEven(im.W-w, 2)
	out := newUnchecked(im.C, h, w)
	for c := range im.C {
		for y := range h {
			src := im.Pix[(c*im.H+top+y)*im.W+left:]
			copy(out.Pix[(c*h+y)*w:(c*h+y+1)*w], src[:w])
		}
	}
	return out, nil
}

// roundHalfEven returns a/b rounded to the nearest integer, ties to even,
// for a ≥ 0 and b > 0.
func roundHalfEven(a, b int) int {
	q, r := a/b, a%b
	switch {
	case 2*r > b, 2*r == b && q%2 == 1:
		return q + 1
	}
	return q
}
