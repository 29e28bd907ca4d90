// Package fid computes the Fréchet Inception Distance exactly as
// pytorch-fid 0.3.0 computes it, and the kernel Inception distance beside
// it.
//
// Features come from pytorch-fid's FID variant of Inception-v3 (the
// TensorFlow FID network ported to PyTorch), loaded from the user's
// pt_inception-2015-12-05-6726825d.pth: images [N,3,H,W] in [0,1] are
// resized to 299×299 (bilinear, align_corners=False, no antialiasing; in
// Go, each image on its own, see Resize), mapped to [-1,1] by 2x−1 and run
// through the network; the output of block 3 (2048 channels, the pool3
// features FID uses) or of an earlier block (64, 192, 768 channels,
// averaged over the pixels) is the feature vector of each image. The
// network is a GoMLX graph on [N,3,299,299], batched, on any backend, so
// that images of any sizes can share a batch.
//
// Statistics (mean and covariance, float64) and the Fréchet distance are
// computed as calculate_activation_statistics and calculate_frechet_distance
// do, and read from and written to pytorch-fid's .npz files.
package fid

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/cadps/toolkit/cadps/metrics/internal/cnn"
	"github.com/cadps/toolkit/checkpoints"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// WeightsFile is the file name under which pytorch-fid downloads the FID
// Inception weights (from its GitHub release page).
const WeightsFile = "pt_inception-2015-12-05-6726825d.pth"

// Size is the side the images are resized to.
const Size = 299

// Model is a loaded FID Inception network returning the pooled features of
// the blocks it was built for. Its methods may be called from one
// goroutine at a time.
type Model struct {
	blocks  []int
	weights *cnn.Weights
	// digest is the SHA-256 of the weight file Load read ("" for New).
	digest string
	// exec runs the network on [N,3,299,299], compiled once per N.
	exec *cnn.Execs
}

// Load reads the weights from path (pytorch-fid's .pth, either torch.save
// format, or .safetensors) and builds the model for the given blocks (3,
// the 2048-d pool3 features, when none are given). A file named as
// torch.hub names downloads (pytorch-fid's is) must have the SHA-256 its
// name starts (see checkpoints.Digest); WeightsDigest returns it.
func Load(b backends.Backend, path string, blocks ...int) (*Model, error) {
	digest, err := checkpoints.Digest(path)
	if err != nil {
		return nil, fmt.Errorf("fid: Inception weights: %w", err)
	}
	sd, err := checkpoints.Load(path)
	if err != nil {
		return nil, fmt.Errorf("fid: Inception weights: %w", err)
	}
	m, err := New(b, sd, blocks...)
	if err != nil {
		return nil, err
	}
	m.digest = digest
	return m, nil
}

// WeightsDigest returns the SHA-256 of the weight file the model was
// loaded from, as "sha256:" and 64 hex digits, or "" for a model built by
// New.
func (m *Model) WeightsDigest() string { return m.digest }

// New builds the model from a loaded state dict, strictly: every tensor
// the requested blocks need must be present with its shape. fc.*,
// num_batches_tracked and the tensors of later blocks are ignored (listed
// by Ignored); anything else is an error, and so is torchvision's ImageNet
// Inception-v3 (which has AuxLogits.* and 1000 classes), whose weights are
// not the FID network's.
func New(b backends.Backend, sd *checkpoints.StateDict, blocks ...int) (*Model, error) {
	if len(blocks) == 0 {
		blocks = []int{3}
	}
	blocks = slices.Clone(blocks)
	slices.Sort(blocks)
	blocks = slices.Compact(blocks)
	if blocks[0] < 0 || blocks[len(blocks)-1] > 3 {
		return nil, fmt.Errorf("fid: blocks %v: each must be 0, 1, 2 or 3", blocks)
	}
	if err := notTorchvision(sd); err != nil {
		return nil, err
	}
	last := blocks[len(blocks)-1]
	known := map[string]bool{}
	for _, p := range params(3) {
		known[p.Name] = true
	}
	ignore := func(name string) bool {
		return known[name] || strings.HasPrefix(name, "fc.") || strings.HasSuffix(name, ".num_batches_tracked")
	}
	w, err := cnn.Select(sd, params(last), ignore, "fid: the Inception network")
	if err != nil {
		return nil, err
	}
	if w, err = foldBatchNorm(w, last); err != nil {
		return nil, err
	}
	m := &Model{blocks: blocks, weights: w}
	m.exec = cnn.NewExecs(b, m.graph, cnn.MaxGraphs)
	return m, nil
}

// notTorchvision refuses torchvision's inception_v3 ImageNet weights.
func notTorchvision(sd *checkpoints.StateDict) error {
	aux := false
	for _, n := range sd.Names {
		if strings.HasPrefix(n, "AuxLogits.") {
			aux = true
			break
		}
	}
	fc, ok := sd.Tensors["fc.weight"]
	if aux || ok && len(fc.Shape) == 2 && fc.Shape[0] == 1000 {
		return fmt.Errorf("fid: %s holds torchvision's ImageNet Inception-v3, whose weights differ from the FID network's: use pytorch-fid's %s", sd.Source, WeightsFile)
	}
	return nil
}

// Blocks returns the blocks whose features the model returns.
func (m *Model) Blocks() []int { return slices.Clone(m.blocks) }

// Ignored lists the tensors of the weight file the model does not use.
func (m *Model) Ignored() []string { return m.weights.Ignored }

// graph: inputs x [N,3,299,299] in [0,1], then the weights; outputs the
// pooled features [N, BlockDims()[b]] of each requested block.
func (m *Model) graph(in []*cnn.Node) []*cnn.Node {
	var outs []*cnn.Node
	for _, x := range m.blockMaps(in) {
		outs = append(outs, graph.ReduceMean(x, 2, 3))
	}
	return outs
}

// blockMaps: the inputs of graph; outputs the unpooled map [N,C,H',W'] of
// each requested block.
func (m *Model) blockMaps(in []*cnn.Node) []*cnn.Node {
	x := graph.AddScalar(graph.MulScalar(in[0], 2), -1)
	specs := map[string]convSpec{}
	for _, c := range inceptionConvs() {
		specs[c.key] = c
	}
	n := &net{w: m.weights.Inputs(in[1:]), specs: specs}
	maps := n.blocks(x, m.blocks[len(m.blocks)-1])
	var outs []*cnn.Node
	for _, b := range m.blocks {
		outs = append(outs, maps[b])
	}
	return outs
}

// Features returns, for each of the model's blocks, the pooled features of
// x [N,3,H,W] (float32 row-major, values in [0,1]) as [N][dims] float32.
// The images are resized to 299×299 (see Resize) before the network, which
// is compiled once per batch size N whatever H and W are.
func (m *Model) Features(x []float32, n, h, w int) ([][][]float32, error) {
	if n < 1 || h < 1 || w < 1 || len(x) != n*3*h*w {
		return nil, fmt.Errorf("fid: %d values for a batch of shape [%d,3,%d,%d]", len(x), n, h, w)
	}
	r, err := Resize(x, n, h, w)
	if err != nil {
		return nil, err
	}
	return m.features(r, n)
}

// features runs the network on x [n,3,299,299].
func (m *Model) features(x []float32, n int) ([][][]float32, error) {
	out, err := m.exec.Exec(m.weights.Args(tensors.FromFlatDataAndDimensions(x, n, 3, Size, Size))...)
	if err != nil {
		return nil, fmt.Errorf("fid: %w", err)
	}
	res := make([][][]float32, len(out))
	for i, t := range out {
		v := tensors.MustCopyFlatData[float32](t)
		t.FinalizeAll()
		d := len(v) / n
		res[i] = make([][]float32, n)
		for j := range n {
			res[i][j] = v[j*d : (j+1)*d]
		}
	}
	return res, nil
}

// Resize returns x [N,3,H,W] resized to [N,3,299,299] as pytorch-fid
// resizes it, before the 2x−1 scaling: F.interpolate(x, (299, 299),
// mode='bilinear', align_corners=False) without antialiasing, with the
// arithmetic of PyTorch's CPU kernel built for x86 with FMA: the weights of
// linearWeights, and each output, in float32,
//
//	t0 = fma(x[y0,x0], w0, x[y0,x1]·w1),  t1 = fma(x[y1,x0], w0, x[y1,x1]·w1)
//	out = fma(t0, h0, t1·h1)
//
// (fma(a, b, c) = a·b + c rounded once). Against Debian's PyTorch 1.13 on
// an AVX2 CPU the results are bit-identical; a PyTorch kernel built
// without FMA differs by at most a rounding (about 6e−8 for values in
// [0,1]). x is returned as it is when H and W are 299. The values of one
// image depend on that image only.
func Resize(x []float32, n, h, w int) ([]float32, error) {
	if n < 1 || h < 1 || w < 1 || len(x) != n*3*h*w {
		return nil, fmt.Errorf("fid: %d values for a batch of shape [%d,3,%d,%d]", len(x), n, h, w)
	}
	if h == Size && w == Size {
		return x, nil
	}
	planes := n * 3
	ry, rx := linearWeights(h, Size), linearWeights(w, Size)
	out := make([]float32, planes*Size*Size)
	rows := make([]float32, h*Size) // one plane resized along the width
	for p := range planes {
		src := x[p*h*w : (p+1)*h*w]
		for y := range h {
			row, dst := src[y*w:(y+1)*w], rows[y*Size:(y+1)*Size]
			for j := range Size {
				dst[j] = fma32(row[rx.i0[j]], rx.l0[j], row[rx.i1[j]]*rx.l1[j])
			}
		}
		dst := out[p*Size*Size : (p+1)*Size*Size]
		for i := range Size {
			r0, r1 := rows[ry.i0[i]*Size:(ry.i0[i]+1)*Size], rows[ry.i1[i]*Size:(ry.i1[i]+1)*Size]
			h0, h1 := ry.l0[i], ry.l1[i]
			for j := range Size {
				dst[i*Size+j] = fma32(r0[j], h0, r1[j]*h1)
			}
		}
	}
	return out, nil
}

// fma32 returns a·b + c rounded once to float32 (a·b is exact in float64;
// the float64 sum is rounded to float32 after).
func fma32(a, b, c float32) float32 {
	return float32(math.FMA(float64(a), float64(b), float64(c)))
}

// axisWeights are the bilinear weights along one axis: output i is
// l0[i]·in[i0[i]] + l1[i]·in[i1[i]].
type axisWeights struct {
	i0, i1 []int
	l0, l1 []float32
}

// linearWeights returns the weights of PyTorch's CPU bilinear interpolation
// (upsample_bilinear2d, align_corners=False, no scale factor given) from in
// to out samples, computed as PyTorch computes them: the scale in/out in
// float32; the source coordinate src = scale·(i+0.5) − 0.5, clamped at 0,
// and its fraction l1 = src − ⌊src⌋ in float64, l1 then rounded to float32
// and l0 = 1 − l1 in float32; i0 = ⌊src⌋ and i1 = i0+1, both clamped at the
// last sample. Equal sizes copy. For out = 299 these are bit-identical to
// the weights of PyTorch 1.13 (F.interpolate of identity matrices) for
// every input size from 1 to 2100; TestResizeTorch checks resized values.
func linearWeights(in, out int) axisWeights {
	a := axisWeights{i0: make([]int, out), i1: make([]int, out), l0: make([]float32, out), l1: make([]float32, out)}
	scale := float64(float32(in) / float32(out))
	for i := range out {
		if in == out {
			a.i0[i], a.i1[i], a.l0[i] = i, i, 1
			continue
		}
		// The conversion rounds the product, so that it is not fused
		// with the subtraction.
		src := max(float64(scale*(float64(i)+0.5))-0.5, 0)
		i0 := min(int(math.Floor(src)), in-1)
		a.i0[i], a.i1[i] = i0, min(i0+1, in-1)
		a.l1[i] = float32(min(max(src-float64(i0), 0), 1))
		a.l0[i] = 1 - a.l1[i]
	}
	return a
}
