package fid

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/cadps/toolkit/internal/atomicfile"
)

// maxNpyBytes bounds one array of an .npz file (a 2048×2048 float64
// covariance is 32 MiB).
const maxNpyBytes = 1 << 30

// ReadStats reads pytorch-fid statistics from an .npz file (np.savez or
// np.savez_compressed) holding the arrays mu [D] and sigma [D,D], float64
// or float32, either byte order, C or Fortran order.
func ReadStats(path string) (*Stats, error) {
	zr, err := zip.OpenReader(path)
	if errors.Is(err, zip.ErrFormat) {
		return nil, fmt.Errorf("fid: %s is not an .npz file: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("fid: reading %s: %w", path, err)
	}
	defer zr.Close()
	arrays := map[string]*zip.File{}
	for _, f := range zr.File {
		arrays[f.Name] = f
	}
	for _, name := range []string{"mu", "sigma"} {
		if _, ok := arrays[name+".npy"]; !ok {
			return nil, fmt.Errorf("fid: %s has no array %q (pytorch-fid statistics hold mu and sigma)", path, name)
		}
	}
	read := func(name string) ([]float64, []int, error) {
		f := arrays[name+".npy"]
		if f.UncompressedSize64 > maxNpyBytes {
			return nil, nil, fmt.Errorf("fid: %s: array %s is %d bytes", path, name, f.UncompressedSize64)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, nil, fmt.Errorf("fid: %s: %w", path, err)
		}
		defer rc.Close()
		data, err := io.ReadAll(io.LimitReader(rc, maxNpyBytes+1))
		if err != nil {
			return nil, nil, fmt.Errorf("fid: %s: reading %s: %w", path, name, err)
		}
		v, shape, err := parseNpy(data)
		if err != nil {
			return nil, nil, fmt.Errorf("fid: %s: array %s: %w", path, name, err)
		}
		return v, shape, nil
	}
	mu, muShape, err := read("mu")
	if err != nil {
		return nil, err
	}
	sigma, sigmaShape, err := read("sigma")
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
	return st, nil
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
	header := fmt.Sprintf("{'descr': '<f8', 'fortran_order': False, 'shape': (%s), }", tuple)
	// Pad with spaces so that the data starts at a multiple of 64 bytes,
	// the header ending with a newline.
	header += strings.Repeat(" ", (64-(10+len(header)+1)%64)%64) + "\n"
	var buf bytes.Buffer
	buf.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&buf, binary.LittleEndian, uint16(len(header)))
	buf.WriteString(header)
	binary.Write(&buf, binary.LittleEndian, v)
	return buf.Bytes()
}

// WriteStats writes s as pytorch-fid does (np.savez_compressed with mu and
// sigma, float64), atomically: a failed write leaves no partial file.
func WriteStats(path string, s *Stats) error {
	d := s.Dims()
	if d == 0 || len(s.Sigma) != d*d {
		return fmt.Errorf("fid: statistics with mu of %d values and sigma of %d", d, len(s.Sigma))
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		zw := zip.NewWriter(w)
		for _, a := range []struct {
			name string
			data []byte
		}{{"mu.npy", npy(s.Mu, d)}, {"sigma.npy", npy(s.Sigma, d, d)}} {
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
