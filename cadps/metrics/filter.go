package metrics

// filter2D is a separable 2-D correlation with scipy.ndimage's 'reflect'
// boundary, applied first along the rows' direction (axis 0, down each
// column) and then along each row (axis 1), as scipy's multi-axis filters
// do.
type filter2D struct {
	h, w    int
	taps    []float64
	uniform bool
	radius  int
	tmp     []float64 // the result of the first pass
	ext     []float64 // one line with its reflected borders
	line    []float64 // one filtered line
}

func newFilter2D(h, w int, taps []float64, uniform bool) *filter2D {
	r := (len(taps) - 1) / 2
	return &filter2D{
		h: h, w: w, taps: taps, uniform: uniform, radius: r,
		tmp:  make([]float64, h*w),
		ext:  make([]float64, max(h, w)+2*r),
		line: make([]float64, max(h, w)),
	}
}

// apply filters the h×w row-major src into dst.
func (f *filter2D) apply(src, dst []float64) {
	h, w, r := f.h, f.w, f.radius
	// Axis 0: down each column.
	for x := range w {
		ext := f.ext[:h+2*r]
		for i := range ext {
			ext[i] = src[reflect(i-r, h)*w+x]
		}
		f.filter1D(ext, f.line[:h])
		for y, v := range f.line[:h] {
			f.tmp[y*w+x] = v
		}
	}
	// Axis 1: along each row.
	for y := range h {
		ext := f.ext[:w+2*r]
		row := f.tmp[y*w : (y+1)*w]
		for i := range ext {
			ext[i] = row[reflect(i-r, w)]
		}
		f.filter1D(ext, dst[y*w:(y+1)*w])
	}
}

// filter1D filters one line extended by radius samples on each side into
// out, with scipy's arithmetic: a running sum for the uniform filter
// (uniform_filter1d) and the symmetric-weights loop of correlate1d
// otherwise.
func (f *filter2D) filter1D(ext, out []float64) {
	size := len(f.taps)
	if f.uniform {
		n := float64(size)
		var tmp float64
		for _, v := range ext[:size] {
			tmp += v
		}
		tmp /= n
		out[0] = tmp
		for i := 1; i < len(out); i++ {
			tmp += (ext[i+size-1] - ext[i-1]) / n
			out[i] = tmp
		}
		return
	}
	r := f.radius
	for i := range out {
		c := i + r // the centre sample in ext
		s := ext[c] * f.taps[r]
		for j := r; j >= 1; j-- {
			s += (ext[c-j] + ext[c+j]) * f.taps[r-j]
		}
		out[i] = s
	}
}

// reflect maps index i onto [0, n) by scipy's 'reflect' rule, which
// mirrors about the edges and repeats the edge sample (d c b a | a b c d |
// d c b a), extended periodically for indices beyond one reflection.
func reflect(i, n int) int {
	p := 2 * n
	i %= p
	if i < 0 {
		i += p
	}
	if i >= n {
		i = p - 1 - i
	}
	return i
}
