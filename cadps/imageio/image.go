// Package imageio reads, writes and arranges images for the toolkit.
//
// An [Image] is planar float32 (CHW) with 1 (gray) or 3 (RGB) channels and
// values in [0,1]. The diffusion models work on NCHW tensors in [-1,1]
// (x = 2p − 1); [ToNCHW] and [FromNCHW] convert between the two as plain
// float32 slices, so this package does not depend on GoMLX.
//
// [Load] reads PNG and JPEG files of any colour model (gray, 16-bit,
// paletted, with alpha, CMYK JPEG) as RGB, or as gray (ITU-R 601 luma, as
// PIL's convert("L")) when asked, optionally resized and centre-cropped.
// [Save] writes 8-bit PNG atomically; [Grid], [Strip], [Upsample] and
// [SaveGIF] build comparison figures and animations.
package imageio

import (
	"errors"
	"fmt"
	"math"
)

// Mode selects the channel layout of a loaded or converted image.
type Mode int

const (
	// RGB is three channels, red, green and blue.
	RGB Mode = iota
	// Gray is one channel of ITU-R 601 luma: rounded to 8 bits as PIL's
	// convert("L") when [Load] reads an 8-bit colour file, in float for
	// [Image.ToGray] and [Image.ToMode].
	Gray
)

// String returns "RGB" or "gray".
func (m Mode) String() string {
	switch m {
	case RGB:
		return "RGB"
	case Gray:
		return "gray"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// channels returns the channel count of m, or an error for an unknown mode
// (without the "imageio:" prefix, which the callers add).
func (m Mode) channels() (int, error) {
	switch m {
	case RGB:
		return 3, nil
	case Gray:
		return 1, nil
	}
	return 0, fmt.Errorf("unknown mode %d (want imageio.RGB or imageio.Gray)", int(m))
}

// ITU-R BT.601 luma weights, as PIL's convert("L") and the float
// conversions of this package use them.
const (
	lumaR = 0.299
	lumaG = 0.587
	lumaB = 0.114
)

// Image is a planar float32 image: channel c, row y, column x is
// Pix[(c*H+y)*W+x]. C is 1 (gray) or 3 (RGB); values are nominally in
// [0,1] (0 black, 1 white), although arithmetic may leave them outside it.
type Image struct {
	// C is the number of channels, 1 or 3.
	C int
	// H is the height in pixels.
	H int
	// W is the width in pixels.
	W int
	// Pix holds C*H*W values, channel-major (CHW).
	Pix []float32
}

// New returns a black image with c channels (1 or 3) of h×w pixels.
func New(c, h, w int) (*Image, error) {
	if err := checkDims(c, h, w); err != nil {
		return nil, fmt.Errorf("imageio: %w", err)
	}
	return &Image{C: c, H: h, W: w, Pix: make([]float32, c*h*w)}, nil
}

// newUnchecked allocates an image whose dims are known to be valid.
func newUnchecked(c, h, w int) *Image {
	return &Image{C: c, H: h, W: w, Pix: make([]float32, c*h*w)}
}

// maxPixels bounds the size of any image this package allocates (about
// 1.5 GB of float32 for RGB), so that a corrupt header or a typo gives an
// error instead of an out-of-memory crash.
const maxPixels = 1 << 27

// checkDims refuses a channel count other than 1 and 3 and a size that is
// not positive or over maxPixels. Its errors carry no "imageio:" prefix,
// which the callers add with their context.
func checkDims(c, h, w int) error {
	if c != 1 && c != 3 {
		return fmt.Errorf("%d channels, want 1 (gray) or 3 (RGB)", c)
	}
	if h <= 0 || w <= 0 {
		return fmt.Errorf("invalid size %d×%d (height×width must be positive)", h, w)
	}
	if h > maxPixels/w {
		return fmt.Errorf("size %d×%d is larger than the %d-pixel limit", h, w, maxPixels)
	}
	return nil
}

// Validate reports whether im is a well-formed image: non-nil, 1 or 3
// channels, positive size and len(Pix) == C*H*W.
func (im *Image) Validate() error {
	if err := im.check(); err != nil {
		return fmt.Errorf("imageio: %w", err)
	}
	return nil
}

// check is [Image.Validate] without the "imageio:" prefix, for callers that
// add it with their context.
func (im *Image) check() error {
	if im == nil {
		return errors.New("nil image")
	}
	if err := checkDims(im.C, im.H, im.W); err != nil {
		return err
	}
	if n := im.C * im.H * im.W; len(im.Pix) != n {
		return fmt.Errorf("%s image has %d values, want C*H*W = %d", im.Size(), len(im.Pix), n)
	}
	return nil
}

// Size describes the image's geometry for messages, e.g. "256×256 RGB"
// (height×width).
func (im *Image) Size() string {
	if im == nil {
		return "nil"
	}
	kind := fmt.Sprintf("%d-channel", im.C)
	switch im.C {
	case 1:
		kind = "gray"
	case 3:
		kind = "RGB"
	}
	return fmt.Sprintf("%d×%d %s", im.H, im.W, kind)
}

// At returns the value of channel c at row y, column x. The indices must
// lie in the image (0 ≤ c < C, 0 ≤ y < H, 0 ≤ x < W): they are not
// checked, so an index past Pix panics and another out-of-range index
// addresses another pixel.
func (im *Image) At(c, y, x int) float32 { return im.Pix[(c*im.H+y)*im.W+x] }

// Set sets the value of channel c at row y, column x (indices as for At).
func (im *Image) Set(c, y, x int, v float32) { im.Pix[(c*im.H+y)*im.W+x] = v }

// Plane returns channel c's H*W values (a sub-slice of Pix, not a copy);
// it panics unless 0 ≤ c < C.
func (im *Image) Plane(c int) []float32 {
	n := im.H * im.W
	return im.Pix[c*n : (c+1)*n]
}

// Clone returns a deep copy of im.
func (im *Image) Clone() *Image {
	out := *im
	out.Pix = append([]float32(nil), im.Pix...)
	return &out
}

// Clamp returns a copy of im with every value clamped to [0,1]; NaN
// becomes 0.
func (im *Image) Clamp() *Image {
	out := im.Clone()
	for i, v := range out.Pix {
		out.Pix[i] = clamp01(v)
	}
	return out
}

// Quantize8 returns a copy of im clamped to [0,1] and rounded to 8 bits,
// as a saved PNG holds it, so that metrics on an image equal metrics on its
// file.
func (im *Image) Quantize8() *Image {
	out := im.Clamp()
	for i, v := range out.Pix {
		out.Pix[i] = float32(math.Floor(float64(v)*255+0.5) / 255)
	}
	return out
}

func clamp01(v float32) float32 {
	switch {
	case v > 1:
		return 1
	case v >= 0:
		return v
	}
	return 0 // negative or NaN
}

// ToGray returns im as one channel: a copy when it is gray already, else
// the ITU-R 601 luma 0.299·R + 0.587·G + 0.114·B in float, unrounded. It
// is not what [Load] with WithMode(Gray) gives for an 8-bit colour file:
// that is PIL's convert("L"), the same luma in integers rounded to an
// 8-bit level, so the two differ by up to half a level (0.5/255). The
// toolkit's loaders (restore's images, train's data sets) read gray
// through Load; the metrics convert nothing, comparing the channels they
// are given.
func (im *Image) ToGray() (*Image, error) {
	if err := im.Validate(); err != nil {
		return nil, err
	}
	if im.C == 1 {
		return im.Clone(), nil
	}
	out := newUnchecked(1, im.H, im.W)
	r, g, b := im.Plane(0), im.Plane(1), im.Plane(2)
	for i := range out.Pix {
		out.Pix[i] = float32(lumaR*float64(r[i]) + lumaG*float64(g[i]) + lumaB*float64(b[i]))
	}
	return out, nil
}

// ToRGB returns im as three channels: a copy when it is RGB already, else
// the gray channel repeated.
func (im *Image) ToRGB() (*Image, error) {
	if err := im.Validate(); err != nil {
		return nil, err
	}
	if im.C == 3 {
		return im.Clone(), nil
	}
	out := newUnchecked(3, im.H, im.W)
	for c := range 3 {
		copy(out.Plane(c), im.Pix)
	}
	return out, nil
}

// ToMode converts im to the given mode (see [Image.ToGray], [Image.ToRGB]).
func (im *Image) ToMode(m Mode) (*Image, error) {
	if _, err := m.channels(); err != nil {
		return nil, fmt.Errorf("imageio: %w", err)
	}
	if m == Gray {
		return im.ToGray()
	}
	return im.ToRGB()
}

// ToNCHW returns the images as one batch tensor in the diffusion
// convention, x = 2p − 1, laid out NCHW, with its dims [N, C, H, W]. All
// images must have the same channels and size.
func ToNCHW(imgs ...*Image) ([]float32, [4]int, error) {
	if len(imgs) == 0 {
		return nil, [4]int{}, errors.New("imageio: ToNCHW needs at least one image")
	}
	first := imgs[0]
	for i, im := range imgs {
		if err := im.check(); err != nil {
			return nil, [4]int{}, fmt.Errorf("imageio: ToNCHW image %d: %w", i, err)
		}
		if im.C != first.C || im.H != first.H || im.W != first.W {
			return nil, [4]int{}, fmt.Errorf("imageio: ToNCHW image %d is %s, image 0 is %s", i, im.Size(), first.Size())
		}
	}
	n := len(first.Pix)
	data := make([]float32, len(imgs)*n)
	for i, im := range imgs {
		dst := data[i*n : (i+1)*n]
		for j, p := range im.Pix {
			dst[j] = 2*p - 1
		}
	}
	return data, [4]int{len(imgs), first.C, first.H, first.W}, nil
}

// FromNCHW splits an NCHW batch tensor in the diffusion convention into
// images, p = (x + 1) / 2. Values are not clamped ([Image.Clamp] and
// [Save] do that), so that metrics see what the model produced. dims is
// [N, C, H, W], or [C, H, W] for a single image.
func FromNCHW(data []float32, dims ...int) ([]*Image, error) {
	switch len(dims) {
	case 3:
		dims = append([]int{1}, dims...)
	case 4:
	default:
		return nil, fmt.Errorf("imageio: FromNCHW dims %v: want [N C H W] or [C H W]", dims)
	}
	n, c, h, w := dims[0], dims[1], dims[2], dims[3]
	if n <= 0 {
		return nil, fmt.Errorf("imageio: FromNCHW dims %v: batch size must be positive", dims)
	}
	if err := checkDims(c, h, w); err != nil {
		return nil, fmt.Errorf("imageio: FromNCHW dims %v: %w", dims, err)
	}
	size := c * h * w
	if len(data) != n*size {
		return nil, fmt.Errorf("imageio: FromNCHW has %d values, dims %v need %d", len(data), dims, n*size)
	}
	out := make([]*Image, n)
	for i := range out {
		im := newUnchecked(c, h, w)
		for j, x := range data[i*size : (i+1)*size] {
			im.Pix[j] = (x + 1) / 2
		}
		out[i] = im
	}
	return out, nil
}

// to8 converts a value to 8 bits as [Save] describes: clamp to [0,1],
// multiply by 255, round half up, exactly (x·255 + 0.5 in float64 rounds
// no float32 x to another level, as torchvision's save_image, in float32,
// does 128 of them).
func to8(v float32) uint8 {
	return uint8(math.Floor(float64(clamp01(v))*255 + 0.5))
}

// NonFinite returns the first value of im that is NaN or infinite, with
// its channel, row and column; ok is false when every value is finite.
func (im *Image) NonFinite() (v float32, c, y, x int, ok bool) {
	for i, v := range im.Pix {
		if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
			c, rest := i/(im.H*im.W), i%(im.H*im.W)
			return v, c, rest / im.W, rest % im.W, true
		}
	}
	return 0, 0, 0, 0, false
}

// firstNaN returns the position of the first NaN value.
func (im *Image) firstNaN() (c, y, x int, ok bool) {
	for i, v := range im.Pix {
		if v != v {
			c, rest := i/(im.H*im.W), i%(im.H*im.W)
			return c, rest / im.W, rest % im.W, true
		}
	}
	return 0, 0, 0, false
}
