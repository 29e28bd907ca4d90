package train

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/cadps/toolkit/cadps/imageio"
)

// Dataset is a set of images in the network's range: N images of C×H×W
// float32 values in [−1, 1], stored NCHW in Pix.
type Dataset struct {
	N, C, H, W int
	Pix        []float32
	// Source names where the images came from: the IDX file read (also
	// when a folder holding it was given), or the image folder.
	Source string
}

// Digest returns "sha256:" and the hex SHA-256 of the data set's shape
// (N, C, H, W as little-endian uint64) and pixels (little-endian float32):
// two data sets with the same digest hold the same images in the same
// order.
func (d *Dataset) Digest() string {
	h := sha256.New()
	var buf [4096]byte
	n := 0
	for _, v := range []int{d.N, d.C, d.H, d.W} {
		binary.LittleEndian.PutUint64(buf[n:], uint64(v))
		n += 8
	}
	for _, v := range d.Pix {
		if n == len(buf) {
			h.Write(buf[:])
			n = 0
		}
		binary.LittleEndian.PutUint32(buf[n:], math.Float32bits(v))
		n += 4
	}
	h.Write(buf[:n])
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// Background is the value padding takes: −1, black, the background of
// MNIST-like images after scaling to [−1, 1].
const Background = -1

// The IDX files of a dataset folder as MNIST and Fashion-MNIST ship them,
// each gzip-compressed or not: the training and the test images, and the
// training images' labels.
const (
	TrainImagesFile = "train-images-idx3-ubyte"
	TestImagesFile  = "t10k-images-idx3-ubyte"
	TrainLabelsFile = "train-labels-idx1-ubyte"
)

// LoadDataset reads training images of channels channels from path and pads them to
// size×size (centred, with [Background]); images larger than size are an
// error. path is one of:
//
//   - an IDX image file (idx3-ubyte, gzip-compressed or not), as
//     MNIST and Fashion-MNIST ship;
//   - a folder holding train-images-idx3-ubyte[.gz] (that file is read);
//   - a folder of PNG/JPEG images (read as gray or RGB, as channels says:
//     1 or 3; sorted by name).
//
// IDX images are gray: with channels other than 1 an IDX file is refused.
// Pixel values p ∈ [0, 255] map to 2p/255 − 1. A 16-bit image is reduced
// to those 256 levels first, each value v/65535 to the nearest p/255, as
// the decoder term of the loss assumes 8-bit data (guided-diffusion's
// loader, through Pillow, reads such files as 8-bit images too).
//
// Padding rather than resizing is deliberate: 28×28 Fashion-MNIST images
// become 32×32 without interpolation, so every training pixel is one of the
// 256 levels the decoder term of the loss assumes; 32 = 2⁵ halves cleanly
// at every UNet level (28 would give 7×7 and then odd sizes); and the
// border takes −1, the black background the images already have, so the
// model learns an empty margin that samplers reproduce and a consumer can
// crop ((32−28)/2 = 2 pixels on each side).
func LoadDataset(path string, size, channels int) (*Dataset, error) {
	if channels != 1 && channels != 3 {
		return nil, fmt.Errorf("train: %d channels: images are read as gray (1) or RGB (3)", channels)
	}
	return loadDataset(path, size, channels, TrainImagesFile)
}

// LoadTestSet reads held-out images from path, as [LoadDataset] reads
// training images, with channels channels (1 gray, 3 RGB): path is an IDX
// image file, a folder holding the test images t10k-images-idx3-ubyte[.gz]
// (that file is read; a folder with only the training images
// train-images-idx3-ubyte[.gz] is refused, so that an evaluation never
// runs on the images a prior was trained on), or a folder of PNG/JPEG
// images, read as gray or RGB. IDX images are gray: with channels other
// than 1 an IDX file is refused.
func LoadTestSet(path string, size, channels int) (*Dataset, error) {
	if channels != 1 && channels != 3 {
		return nil, fmt.Errorf("train: %d channels: images are read as gray (1) or RGB (3)", channels)
	}
	return loadDataset(path, size, channels, TestImagesFile)
}

// loadDataset reads images as LoadDataset and LoadTestSet describe; in a
// folder it reads the IDX file idx (gzip-compressed or not).
func loadDataset(path string, size, channels int, idx string) (*Dataset, error) {
	if size <= 0 {
		return nil, fmt.Errorf("train: image size must be positive, got %d", size)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("train: data: %w", err)
	}
	if !st.IsDir() {
		return loadIDXFile(path, size, channels)
	}
	if p, ok := findIDX(path, idx); ok {
		return loadIDXFile(p, size, channels)
	}
	if idx == TestImagesFile {
		if p, ok := findIDX(path, TrainImagesFile); ok {
			return nil, fmt.Errorf("train: data folder %s holds the training images %s but no test images %s[.gz]: give the test images' IDX file, or a folder of PNG/JPEG images",
				path, filepath.Base(p), TestImagesFile)
		}
	}
	return loadImageFolder(path, size, channels, idx)
}

// findIDX returns the path of the IDX file name (name.gz first, then
// name) in dir, and whether there is one.
func findIDX(dir, name string) (string, bool) {
	for _, n := range []string{name + ".gz", name} {
		p := filepath.Join(dir, n)
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
	}
	return "", false
}

// loadIDXFile reads and pads an IDX file, whose images are gray: other
// channel counts are refused.
func loadIDXFile(path string, size, channels int) (*Dataset, error) {
	if channels != 1 {
		return nil, fmt.Errorf("train: %s: IDX images are gray, and the model takes %d channels: give a folder of PNG/JPEG images", path, channels)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("train: data: %w", err)
	}
	defer f.Close()
	n, h, w, pix, err := ReadIDX(f)
	if err != nil {
		return nil, fmt.Errorf("train: %s: %w", path, err)
	}
	if h > size || w > size {
		return nil, fmt.Errorf("train: %w", &LargeImageError{Path: path, IDX: true, W: w, H: h, Size: size})
	}
	d, err := padImages(n, 1, h, w, size, func(k, _, y, x int) float32 { return float32(pix[(k*h+y)*w+x]) / 255 })
	if err != nil {
		return nil, fmt.Errorf("train: %s: %w", path, err)
	}
	d.Source = path
	return d, nil
}

// idxReader returns the IDX bytes of r, decompressed when r starts with
// gzip's magic number, and a function that releases the decompressor.
func idxReader(r io.Reader) (io.Reader, func(), error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(2)
	if err != nil {
		return nil, nil, fmt.Errorf("reading IDX header: %w", err)
	}
	if magic[0] != 0x1f || magic[1] != 0x8b {
		return br, func() {}, nil
	}
	gz, err := gzip.NewReader(br)
	if err != nil {
		return nil, nil, fmt.Errorf("gzip: %w", err)
	}
	return gz, func() { gz.Close() }, nil
}

// ReadIDX decodes an IDX file of unsigned bytes with three dimensions
// (images × rows × columns), gzip-compressed or not, and returns the
// dimensions and the pixels.
func ReadIDX(r io.Reader) (n, h, w int, pix []byte, err error) {
	src, done, err := idxReader(r)
	if err != nil {
		return 0, 0, 0, nil, err
	}
	defer done()
	var hdr [16]byte
	if _, err := io.ReadFull(src, hdr[:4]); err != nil {
		return 0, 0, 0, nil, fmt.Errorf("reading IDX header: %w", err)
	}
	if hdr[0] != 0 || hdr[1] != 0 {
		return 0, 0, 0, nil, errors.New("not an IDX file (bad magic number)")
	}
	if hdr[2] != 0x08 {
		return 0, 0, 0, nil, fmt.Errorf("IDX element type 0x%02x, want unsigned bytes (0x08)", hdr[2])
	}
	if hdr[3] != 3 {
		return 0, 0, 0, nil, fmt.Errorf("IDX file has %d dimensions, want 3 (images, rows, columns): is it a label file?", hdr[3])
	}
	if _, err := io.ReadFull(src, hdr[4:]); err != nil {
		return 0, 0, 0, nil, fmt.Errorf("reading IDX header: %w", err)
	}
	n = int(binary.BigEndian.Uint32(hdr[4:8]))
	h = int(binary.BigEndian.Uint32(hdr[8:12]))
	w = int(binary.BigEndian.Uint32(hdr[12:16]))
	const maxBytes = 1 << 32
	if n == 0 || h == 0 || w == 0 || int64(n)*int64(h)*int64(w) > maxBytes {
		return 0, 0, 0, nil, fmt.Errorf("IDX dimensions %d×%d×%d out of range", n, h, w)
	}
	pix, err = readIDXData(src, int64(n)*int64(h)*int64(w))
	if err != nil {
		return 0, 0, 0, nil, err
	}
	return n, h, w, pix, nil
}

// readIDXData reads the want bytes of data that follow an IDX header from
// src, growing its buffer as data arrives (a header claiming more than the
// file holds allocates no more than the file), and checks that src ends
// there: bytes left over mean that the header's dimensions do not describe
// the file.
func readIDXData(src io.Reader, want int64) ([]byte, error) {
	var buf bytes.Buffer
	got, err := io.Copy(&buf, io.LimitReader(src, want))
	if err != nil {
		return nil, fmt.Errorf("reading IDX data: %w", err)
	}
	if got != want {
		return nil, fmt.Errorf("IDX data truncated: %d of %d bytes", got, want)
	}
	extra, err := io.Copy(io.Discard, src)
	if err != nil {
		return nil, fmt.Errorf("reading IDX data: %w", err)
	}
	if extra > 0 {
		return nil, fmt.Errorf("IDX file has %d bytes after the %d bytes of data its header gives", extra, want)
	}
	return buf.Bytes(), nil
}

// LargeImageError is the error of images larger than the model's size:
// smaller ones are padded to it, larger ones are refused rather than
// shrunk or cut, so that the images are those given.
type LargeImageError struct {
	// Path is the image file, or the IDX file holding the images.
	Path string
	// IDX is true when Path is an IDX file.
	IDX bool
	// W and H are the images' width and height.
	W, H int
	// Size is the model's image size.
	Size int
}

// Error implements error:
//
//	image faces/a.png is 64×64, but the model takes 32×32 images, or smaller ones, which are padded (resize or crop the images to at most 32×32 first)
func (e *LargeImageError) Error() string {
	what := "image " + e.Path + " is"
	if e.IDX {
		what = "the images of " + e.Path + " are"
	}
	return fmt.Sprintf("%s %d×%d, but the model takes %d×%d images, or smaller ones, which are padded (resize or crop the images to at most %d×%d first)",
		what, e.W, e.H, e.Size, e.Size, e.Size, e.Size)
}

// loadImageFolder reads every PNG/JPEG file in dir (imageio.List) as gray
// (channels 1) or RGB (3); idx is the IDX file a folder would hold
// instead, for the error of a folder with neither.
func loadImageFolder(dir string, size, channels int, idx string) (*Dataset, error) {
	paths, err := imageio.List(dir)
	if err != nil {
		return nil, fmt.Errorf("train: data: %w (nor %s[.gz])", err, idx)
	}
	mode := imageio.Gray
	if channels == 3 {
		mode = imageio.RGB
	}
	imgs := make([]*imageio.Image, len(paths))
	h, w := 0, 0
	for k, p := range paths {
		// The header's size is checked first, so that a folder of large
		// images is refused before they are decoded and held.
		hd, err := imageio.ReadHeader(p)
		if err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
		if hd.Width > size || hd.Height > size {
			return nil, fmt.Errorf("train: %w", &LargeImageError{Path: p, W: hd.Width, H: hd.Height, Size: size})
		}
		im, err := imageio.Load(p, imageio.WithMode(mode))
		if err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
		if k == 0 {
			h, w = im.H, im.W
		} else if im.H != h || im.W != w {
			return nil, fmt.Errorf("train: %s is %d×%d, but %s is %d×%d: the images must share one size",
				p, im.W, im.H, paths[0], w, h)
		}
		imgs[k] = im
	}
	d, err := padImages(len(imgs), channels, h, w, size, func(k, c, y, x int) float32 { return to8Bit(imgs[k].At(c, y, x)) })
	if err != nil {
		return nil, fmt.Errorf("train: %s: %w", dir, err)
	}
	d.Source = dir
	return d, nil
}

// to8Bit returns the 8-bit level p/255 nearest to v ∈ [0, 1]; an 8-bit
// image's value is its own level.
func to8Bit(v float32) float32 { return float32(math.Round(float64(v)*255)) / 255 }

// padImages builds a Dataset of n images of c×size×size from c×h×w images
// whose pixel (k, ch, y, x) in [0, 1] is at(k, ch, y, x), centred, with
// the border set to [Background].
func padImages(n, c, h, w, size int, at func(k, ch, y, x int) float32) (*Dataset, error) {
	if h > size || w > size {
		return nil, fmt.Errorf("images are %d×%d, larger than the %d×%d the model takes", w, h, size, size)
	}
	top, left := (size-h)/2, (size-w)/2
	per := size * size
	pix := make([]float32, n*c*per)
	for i := range pix {
		pix[i] = Background
	}
	for k := range n {
		for ch := range c {
			img := pix[(k*c+ch)*per : (k*c+ch+1)*per]
			for y := range h {
				for x := range w {
					img[(top+y)*size+left+x] = 2*at(k, ch, y, x) - 1
				}
			}
		}
	}
	return &Dataset{N: n, C: c, H: size, W: size, Pix: pix}, nil
}
