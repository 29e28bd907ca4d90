package fid

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/cadps/toolkit/internal/atomicfile"
	"github.com/cadps/toolkit/internal/zipfile"
)

// maxNpyBytes bounds one array of an .npz file (a 2048×2048 float64
// covariance is 32 MiB).
const maxNpyBytes = 1 << 30

// maxNpyHeader bounds the header of an .npy array of floats: its magic,
// version, length and text, which numpy pads to a multiple of 64 bytes and
// writes in format version 1, whose length field has 16 bits.
const maxNpyHeader = 10 + 1<<16

// weightsArray is the name of the optional .npz array holding Stats.Weights
// (a byte string), which WriteStats adds and pytorch-fid ignores.
const weightsArray = "weights_sha256"

// ReadStats reads pytorch-fid statistics from an .npz file (np.savez or
// np.savez_compressed) holding the arrays mu [D] and sigma [D,D], float64
// or float32, either byte order, C or Fortran order, and the optional
// weights_sha256 that WriteStats adds (Stats.Weights; "" without it).
func ReadStats(path string) (*Stats, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("fid: reading %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("fid: reading %s: %w", path, err)
	}
	zr, err := zipfile.NewReader(f, info.Size())
	if errors.Is(err, zip.ErrFormat) {
		return nil, fmt.Errorf("fid: %s is not an .npz file: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("fid: reading %s: %w", path, err)
	}
	arrays := map[string]*zip.File{}
	for _, f := range zr.File {
		if _, dup := arrays[f.Name]; dup {
			return nil, fmt.Errorf("fid: %s has two entries named %q (a damaged file?)", path, f.Name)
		}
		arrays[f.Name] = f
	}
	for _, name := range []string{"mu", "sigma"} {
		if _, ok := arrays[name+".npy"]; !ok {
			return nil, fmt.Errorf("fid: %s has no array %q (pytorch-fid statistics hold mu and sigma)", path, name)
		}
	}
	raw := func(name string, limit uint64, why string) ([]byte, error) {
		f := arrays[name+".npy"]
		if f.UncompressedSize64 > limit {
			return nil, fmt.Errorf("fid: %s: array %s claims %d bytes, more than %s (%d bytes)", path, name, f.UncompressedSize64, why, limit)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("fid: %s: %w", path, err)
		}
		defer rc.Close()
		data, err := io.ReadAll(io.LimitReader(rc, int64(limit)+1))
		if err != nil {
			return nil, fmt.Errorf("fid: %s: reading %s (a truncated or damaged file?): %w", path, name, err)
		}
		return data, nil
	}
	read := func(name string, limit uint64, why string) ([]float64, []int, error) {
		data, err := raw(name, limit, why)
		if err != nil {
			return nil, nil, err
		}
		v, shape, err := parseNpy(data)
		if err != nil {
			return nil, nil, fmt.Errorf("fid: %s: array %s: %w", path, name, err)
		}
		return v, shape, nil
	}
	mu, muShape, err := read("mu", maxNpyBytes, "the limit of one array")
	if err != nil {
		return nil, err
	}
	// sigma is read only as far as mu's length allows, so that a file
	// whose sigma does not fit its mu is refused before sigma is read.
	d := uint64(len(mu))
	sigma, sigmaShape, err := read("sigma", min(maxNpyBytes, maxNpyHeader+d*d*8), fmt.Sprintf("a %d×%d float array takes with its header", d, d))
	if err != nil {
		return nil, err
	}
	if len(muShape) != 1 || len(sigmaShape) != 2 || sigmaShape[0] != muShape[0] || sigmaShape[1] != muShape[0] {
		return nil, fmt.Errorf("fid: %s: mu has shape %v and sigma %v; want [D] and [D D]", path, muShape, sigmaShape)
	}
	st := &Stats{Mu: mu, Sigma: sigma}
	if err := st.check(); err != nil {
		return nil, fmt.Errorf("fid: %s: %w", path, err)
	}
	if _, ok := arrays[weightsArray+".npy"]; ok {
		data, err := raw(weightsArray, maxNpyHeader+uint64(len("sha256:")+64), "a weights digest takes")
		if err != nil {
			return nil, err
		}
		if st.Weights, err = parseNpyDigest(data); err != nil {
			return nil, fmt.Errorf("fid: %s: array %s: %w", path, weightsArray, err)
		}
	}
	return st, nil
}

// npyBytesScalar matches the header of a 0-d byte-string array.
var npyBytesScalar = regexp.MustCompile(`^\{'descr':\s*'\|S([0-9]+)',\s*'fortran_order':\s*False,\s*'shape':\s*\(\),\s*\}\s*$`)

// parseNpyDigest reads a digest written by WriteStats: a 0-d byte-string
// .npy array holding "sha256:" and 64 hex digits.
func parseNpyDigest(b []byte) (string, error) {
	if len(b) < 10 || string(b[:6]) != "\x93NUMPY" || b[6] != 1 {
		return "", fmt.Errorf("not an .npy array of format version 1")
	}
	hlen := int(binary.LittleEndian.Uint16(b[8:]))
	if hlen > len(b)-10 {
		return "", fmt.Errorf("truncated header")
	}
	m := npyBytesScalar.FindStringSubmatch(string(b[10 : 10+hlen]))
	if m == nil {
		return "", fmt.Errorf("header %q: want a byte string", strings.TrimSpace(string(b[10:10+hlen])))
	}
	if n, _ := strconv.Atoi(m[1]); n != len(b)-10-hlen {
		return "", fmt.Errorf("%d data bytes for a string of %s", len(b)-10-hlen, m[1])
	}
	d := strings.TrimRight(string(b[10+hlen:]), "\x00")
	if hexPart, ok := strings.CutPrefix(d, "sha256:"); !ok || len(hexPart) != 64 || strings.Trim(hexPart, "0123456789abcdef") != "" {
		return "", fmt.Errorf("%q is not \"sha256:\" and 64 hex digits", d)
	}
	return d, nil
}

var (
	npyDescr   = regexp.MustCompile(`'descr':\s*'([<>|=])f([48])'`)
	npyFortran = regexp.MustCompile(`'fortran_order':\s*(True|False)`)
	npyShape   = regexp.MustCompile(`'shape':\s*\(([0-9,\s]*)\)`)
)

// parseNpy reads a float .npy array (format versions 1 to 3).
func parseNpy(b []byte) ([]float64, []int, error) {
	if len(b) < 10 || string(b[:6]) != "\x93NUMPY" {
		return nil, nil, fmt.Errorf("not an .npy array")
	}
	var hlen, start int
	switch b[6] {
	case 1:
		hlen, start = int(binary.LittleEndian.Uint16(b[8:])), 10
	case 2, 3:
		if len(b) < 12 {
			return nil, nil, fmt.Errorf("truncated header")
		}
		hlen, start = int(binary.LittleEndian.Uint32(b[8:])), 12
	default:
		return nil, nil, fmt.Errorf(".npy format version %d is not supported", b[6])
	}
	if hlen > len(b)-start {
		return nil, nil, fmt.Errorf("truncated header")
	}
	header := string(b[start : start+hlen])
	data := b[start+hlen:]
	d := npyDescr.FindStringSubmatch(header)
	fo := npyFortran.FindStringSubmatch(header)
	sh := npyShape.FindStringSubmatch(header)
	if d == nil || fo == nil || sh == nil {
		return nil, nil, fmt.Errorf("header %q: want a float32 or float64 array", strings.TrimSpace(header))
	}
	var shape []int
	n := 1
	for _, f := range strings.Split(sh[1], ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		k, err := strconv.Atoi(f)
		if err != nil || k < 0 || k > maxNpyBytes {
			return nil, nil, fmt.Errorf("bad shape %q", sh[1])
		}
		shape = append(shape, k)
		n *= k
		if n > maxNpyBytes {
			return nil, nil, fmt.Errorf("shape %v is too large", shape)
		}
	}
	es, _ := strconv.Atoi(d[2])
	if len(data) != n*es {
		return nil, nil, fmt.Errorf("%d data bytes for shape %v of %d-byte floats", len(data), shape, es)
	}
	var order binary.ByteOrder = binary.LittleEndian
	if d[1] == ">" {
		order = binary.BigEndian
	}
	v := make([]float64, n)
	for i := range v {
		if es == 8 {
			v[i] = math.Float64frombits(order.Uint64(data[8*i:]))
		} else {
			v[i] = float64(math.Float32frombits(order.Uint32(data[4*i:])))
		}
	}
	if fo[1] == "True" && len(shape) == 2 { // column-major: transpose
		r, c := shape[0], shape[1]
		t := make([]float64, n)
		for i := range r {
			for j := range c {
				t[i*c+j] = v[j*r+i]
			}
		}
		v = t
	}
	return v, shape, nil
}

// npy encodes a float64 array in .npy format version 1.
func npy(v []float64, shape ...int) []byte {
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = strconv.Itoa(d)
	}
	tuple := strings.Join(dims, ", ")
	if len(shape) == 1 {
		tuple += ","
	}
	var data bytes.Buffer
	binary.Write(&data, binary.LittleEndian, v)
	return npyArray("<f8", tuple, data.Bytes())
}

// npyArray encodes an array of the given numpy type and shape tuple,
// with its data, in .npy format version 1.
func npyArray(descr, shape string, data []byte) []byte {
	header := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, shape)
	// Pad with spaces so that the data starts at a multiple of 64 bytes,
	// the header ending with a newline.
	header += strings.Repeat(" ", (64-(10+len(header)+1)%64)%64) + "\n"
	var buf bytes.Buffer
	buf.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&buf, binary.LittleEndian, uint16(len(header)))
	buf.WriteString(header)
	buf.Write(data)
	return buf.Bytes()
}

// WriteStats writes s as pytorch-fid does (np.savez_compressed with mu and
// sigma, float64), atomically: a failed write leaves no partial file. When
// s.Weights is set it is added as the byte string weights_sha256, which
// pytorch-fid and numpy read past.
func WriteStats(path string, s *Stats) error {
	d := s.Dims()
	if d == 0 || len(s.Sigma) != d*d {
		return fmt.Errorf("fid: statistics with mu of %d values and sigma of %d", d, len(s.Sigma))
	}
	type array struct {
		name string
		data []byte
	}
	arrays := []array{{"mu.npy", npy(s.Mu, d)}, {"sigma.npy", npy(s.Sigma, d, d)}}
	if s.Weights != "" {
		a := npyArray(fmt.Sprintf("|S%d", len(s.Weights)), "", []byte(s.Weights))
		if _, err := parseNpyDigest(a); err != nil {
			return fmt.Errorf("fid: the statistics' weights digest: %w", err)
		}
		arrays = append(arrays, array{weightsArray + ".npy", a})
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		zw := zip.NewWriter(w)
		for _, a := range arrays {
			f, err := zw.CreateHeader(&zip.FileHeader{Name: a.name, Method: zip.Deflate})
			if err != nil {
				return err
			}
			if _, err := f.Write(a.data); err != nil {
				return err
			}
		}
		return zw.Close()
	})
}
