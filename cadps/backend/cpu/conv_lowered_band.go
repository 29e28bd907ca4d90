// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import "github.com/gomlx/gomlx/backends"

// convBanded handles a long last spatial axis (many taps and many output
// positions, e.g. a 61×61 blur): along it, blocks of bw output positions are
// computed from windows of the input times a banded matrix
// band[j', j] = kernel[(j' − j·stride)/dil] built from the kernel, while the
// other spatial axes are gathered as in convIm2col.
func (b *Builder) convBanded(x, w backends.Op, g convGeom, bands map[bandKey]backends.Op) (backends.Op, error) {
	n := len(g.out)
	m := n - 1
	bw, nb := g.bandWidth, g.bandBlocks
	s, d := g.strides[m], g.dil[m]
	extent := (g.kern[m]-1)*d + 1
	window := (bw-1)*s + extent
	// The last block may read past the input: pad it.
	need := (nb*bw-1)*s + extent
	var err error
	if need > g.in[m] {
		cfg := make([]backends.PadAxis, n+2)
		cfg[n+1].End = need - g.in[m]
		if x, err = b.padZero(x, cfg); err != nil {
			return nil, err
		}
	}
	gp := newGatherPlan(g, m)
	xg, err := b.gather(x, g, gp, nb, func(j int) (int, int, int) {
		return j * bw * s, j*bw*s + window, 1
	})
	if err != nil {
		return nil, err
	}
	cg := g.c / g.groups
	xDims := append(append(append(append([]int{g.n, g.groups, cg}, gp.iterDims...), nb), gp.sliceDims...), window)
	if xg, err = b.Reshape(xg, xDims...); err != nil {
		return nil, err
	}
	xLabels := append(append(append(append([]string{"n", "g", "cg"}, gp.iterLabels...), "jb"), gp.sliceLabels...), "j")

	key := bandKey{w: w, width: bw, stride: s, dil: d}
	band, ok := bands[key]
	if !ok {
		if band, err = b.bandMatrix(w, g, key); err != nil {
			return nil, err
		}
		bands[key] = band
	}
	bandLabels := []string{"g", "og", "cg"}
	contract := []string{"cg"}
	want := []string{"n", "g", "og"}
	for i := range m {
		bandLabels = append(bandLabels, axisLabel("k", i))
		contract = append(contract, axisLabel("k", i))
		want = append(want, axisLabel("p", i))
	}
	bandLabels = append(bandLabels, "j", "bw")
	contract = append(contract, "j")
	want = append(want, "jb", "bw")
	y, err := b.dotLabeled(band, bandLabels, xg, xLabels, contract, want)
	if err != nil {
		return nil, err
	}
	if y, err = b.Reshape(y, append(append([]int{g.n, g.o}, g.out[:m]...), nb*bw)...); err != nil {
		return nil, err
	}
	return b.sliceAxis(y, n+1, 0, g.out[m], 1)
}

// bandKey identifies a banded matrix built from kernel op w.
type bandKey struct {
	w                  backends.Op
	width, stride, dil int
}

// bandMatrix returns band[g, o, c, k..., j', j] = w[g·O/G + o, c, k..., (j' − j·s)/d]
// (zero where not a tap), with j' < window and j < width: it dilates the
// kernel's last axis, pads it by (width−1)·s on both sides and takes width
// shifted windows.
func (b *Builder) bandMatrix(w backends.Op, g convGeom, key bandKey) (backends.Op, error) {
	n := len(g.out)
	m := n - 1
	bw, s, d := key.width, key.stride, key.dil
	window := (bw-1)*s + (g.kern[m]-1)*d + 1
	cg := g.c / g.groups
	cfg := make([]backends.PadAxis, n+2)
	cfg[n+1] = backends.PadAxis{Start: (bw - 1) * s, End: (bw - 1) * s, Interior: d - 1}
	wp, err := b.padZero(w, cfg)
	if err != nil {
		return nil, err
	}
	bandDims := append(append([]int{g.o, cg}, g.kern[:m]...), window, 1)
	cols := make([]backends.Op, bw)
	for j := range bw {
		col, err := b.sliceAxis(wp, n+1, (bw-1-j)*s, (bw-1-j)*s+window, 1)
		if err != nil {
			return nil, err
		}
		if cols[j], err = b.Reshape(col, bandDims...); err != nil {
			return nil, err
		}
	}
	band, err := b.Concatenate(n+2, cols...)
	if err != nil {
		return nil, err
	}
	return b.Reshape(band, append(append([]int{g.groups, g.o / g.groups, cg}, g.kern[:m]...), window, bw)...)
}
