// Package fid computes the Fréchet Inception Distance exactly as
// pytorch-fid 0.3.0 computes it, and the kernel Inception distance beside
// it.
//
// Features come from pytorch-fid's FID variant of Inception-v3 (the
// TensorFlow FID network ported to PyTorch), loaded from the user's
// pt_inception-2015-12-05-6726825d.pth: images [N,3,H,W] in [0,1] are
// resized to 299×299 (bilinear, align_corners=False, no antialiasing),
// mapped to [-1,1] by 2x−1 and run through the network; the output of
// block 3 (2048 channels, the pool3 features FID uses) or of an earlier
// block (64, 192, 768 channels, averaged over the pixels) is the feature
// vector of each image. The network is a GoMLX graph, batched, on any
// backend.
//
// Statistics (mean and covariance, float64) and the Fréchet distance are
// computed as calculate_activation_statistics and calculate_frechet_distance
// do, and read from and written to pytorch-fid's .npz files.
package fid

import (
	"fmt"
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
	exec    *graph.Exec
}

// Load reads the weights from path (pytorch-fid's .pth, either torch.save
// format, or .safetensors) and builds the model for the given blocks (3,
// the 2048-d pool3 features, when none are given).
func Load(b backends.Backend, path string, blocks ...int) (*Model, error) {
	sd, err := checkpoints.Load(path)
	if err != nil {
		return nil, fmt.Errorf("fid: Inception weights: %w", err)
	}
	return New(b, sd, blocks...)
}

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
	if m.exec, err = graph.NewExec(b, m.graph); err != nil {
		return nil, fmt.Errorf("fid: %w", err)
	}
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

// graph: inputs x [N,3,H,W] in [0,1], then the weights; outputs the pooled
// features [N, BlockDims()[b]] of each requested block.
func (m *Model) graph(in []*cnn.Node) []*cnn.Node {
	x := in[0]
	x = graph.AddScalar(graph.MulScalar(resize(x, Size, Size), 2), -1)
	specs := map[string]convSpec{}
	for _, c := range inceptionConvs() {
		specs[c.key] = c
	}
	n := &net{w: m.weights.Inputs(in[1:]), specs: specs}
	maps := n.blocks(x, m.blocks[len(m.blocks)-1])
	var outs []*cnn.Node
	for _, b := range m.blocks {
		outs = append(outs, graph.ReduceMean(maps[b], 2, 3))
	}
	return outs
}

// Features returns, for each of the model's blocks, the pooled features of
// x [N,3,H,W] (float32 row-major, values in [0,1]) as [N][dims] float32.
func (m *Model) Features(x []float32, n, h, w int) ([][][]float32, error) {
	if n < 1 || h < 1 || w < 1 || len(x) != n*3*h*w {
		return nil, fmt.Errorf("fid: %d values for a batch of shape [%d,3,%d,%d]", len(x), n, h, w)
	}
	out, err := m.exec.Exec(m.weights.Args(tensors.FromFlatDataAndDimensions(x, n, 3, h, w))...)
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

// resize is F.interpolate(x, (oh, ow), mode='bilinear', align_corners=False)
// without antialiasing, on x [N,C,H,W], as two interpolation matrices. The
// height matrix is broadcast over the images and channels so that both
// products read their operands in place (no transposes).
func resize(x *cnn.Node, oh, ow int) *cnn.Node {
	n, c, h, w := x.Shape().Dim(0), x.Shape().Dim(1), x.Shape().Dim(2), x.Shape().Dim(3)
	g := x.Graph()
	ry := graph.Const(g, bilinearMatrix(h, oh)) // [oh, h]
	rx := graph.Const(g, bilinearMatrix(w, ow)) // [ow, w]
	x = graph.Einsum("nchw,pw->nchp", x, rx)
	ry = graph.BroadcastPrefix(ry, n, c) // [n, c, oh, h]
	return graph.DotGeneral(ry, []int{3}, []int{0, 1}, x, []int{2}, []int{0, 1})
}

// bilinearMatrix returns the [out][in] weights of PyTorch's bilinear
// interpolation along one axis (align_corners=False): output i samples
// src = (i+0.5)·in/out − 0.5, clamped at 0, from pixels floor(src) and the
// next one (clamped at the last), computed in float32 as PyTorch does.
func bilinearMatrix(in, out int) [][]float32 {
	m := make([][]float32, out)
	scale := float32(in) / float32(out)
	for i := range m {
		m[i] = make([]float32, in)
		src := scale*(float32(i)+0.5) - 0.5
		if src < 0 {
			src = 0
		}
		i0 := int(src)
		i1 := min(i0+1, in-1)
		l1 := src - float32(i0)
		m[i][i0] += 1 - l1
		m[i][i1] += l1
	}
	return m
}

// Resize returns x [N,3,H,W] resized to 299×299 as the model resizes it,
// before the 2x−1 scaling.
func Resize(b backends.Backend, x []float32, n, h, w int) ([]float32, error) {
	if len(x) != n*3*h*w {
		return nil, fmt.Errorf("fid: %d values for a batch of shape [%d,3,%d,%d]", len(x), n, h, w)
	}
	t, err := graph.ExecOnce(b, func(x *cnn.Node) *cnn.Node { return resize(x, Size, Size) }, tensors.FromFlatDataAndDimensions(x, n, 3, h, w))
	if err != nil {
		return nil, fmt.Errorf("fid: %w", err)
	}
	defer t.FinalizeAll()
	return tensors.MustCopyFlatData[float32](t), nil
}
