// Package lpips computes the LPIPS perceptual distance (Zhang et al. 2018)
// exactly as the lpips Python package, version 0.1, computes it with
// lpips.LPIPS(net=..., version='0.1') in eval mode, for the alex, vgg and
// squeeze backbones.
//
// For images x0, x1 [N,3,H,W] in [-1,1], each is shifted and divided per
// channel (the scaling layer: shift [-0.030, -0.088, -0.188], scale [0.458,
// 0.448, 0.450]), run through the torchvision backbone, and at each tapped
// ReLU output f (L of them) the channel vector of every pixel is divided by
// its norm plus 1e-10; the squared difference of the two normalised maps
// is weighted by the learned non-negative 1×1 linear layer (no bias),
// averaged over the pixels, and the L terms are summed.
//
// The backbone weights are torchvision's ImageNet state dicts, which the
// user downloads (see [Net.BackboneFile]); the linear layers of v0.1 ship
// with this package (BSD-2-Clause, see weights/LICENSE) and can also be
// read from the lpips package's files. The network is a GoMLX graph and
// runs batched on any backend.
package lpips

import (
	"embed"
	"fmt"
	"math"
	"strings"

	"github.com/cadps/toolkit/cadps/metrics/internal/cnn"
	"github.com/cadps/toolkit/checkpoints"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

//go:embed weights/v0.1/*.pth weights/LICENSE
var shipped embed.FS

// normEps is normalize_tensor's eps, added to the norm outside the sqrt.
const normEps = 1e-10

// The scaling layer's constants (float32 in the lpips package).
var (
	scaleShift = [3]float32{-.030, -.088, -.188}
	scaleScale = [3]float32{.458, .448, .450}
)

// Model is a loaded LPIPS network. Its methods may be called from one
// goroutine at a time.
type Model struct {
	net      Net
	backbone *cnn.Weights
	lin      *cnn.Weights
	backend  backends.Backend
	// digests are the SHA-256 of the backbone and linear-layer files
	// Load read ("" for the shipped layers, and for New).
	digests [2]string
	// dist and feats compile their graph once per input shape, keeping
	// the cnn.MaxGraphs most recently used.
	dist  *cnn.Execs
	feats *cnn.Execs
}

// Load reads the backbone from backbonePath (a torchvision state dict,
// .pth in either torch.save format, or .safetensors) and the linear layers
// from linPath, or the shipped v0.1 layers when linPath is empty. Every
// linear-layer file is taken as v0.1 (applied after the scaling layer); the
// lpips package's v0.0 layers hold the same tensors but give other
// distances here than under its version "0.0". A file named as torch.hub
// names downloads (torchvision's are) must have the SHA-256 its name
// starts (see checkpoints.Digest); Digests returns them.
func Load(b backends.Backend, net Net, backbonePath, linPath string) (*Model, error) {
	if backbonePath == "" {
		return nil, fmt.Errorf("lpips: no backbone file for %s (torchvision's %s)", net, net.BackboneFile())
	}
	var digests [2]string
	var err error
	if digests[0], err = checkpoints.Digest(backbonePath); err != nil {
		return nil, fmt.Errorf("lpips: %s backbone: %w", net, err)
	}
	bb, err := checkpoints.Load(backbonePath)
	if err != nil {
		return nil, fmt.Errorf("lpips: %s backbone: %w", net, err)
	}
	var lin *checkpoints.StateDict
	if linPath == "" {
		lin, err = ShippedLinear(net)
	} else if digests[1], err = checkpoints.Digest(linPath); err == nil {
		lin, err = checkpoints.Load(linPath)
	}
	if err != nil {
		return nil, fmt.Errorf("lpips: %s linear layers: %w", net, err)
	}
	m, err := New(b, net, bb, lin)
	if err != nil {
		return nil, err
	}
	m.digests = digests
	return m, nil
}

// Digests returns the SHA-256 of the backbone and linear-layer files the
// model was loaded from, each as "sha256:" and 64 hex digits; lin is ""
// for the shipped layers, and both are "" for a model built by New.
func (m *Model) Digests() (backbone, lin string) { return m.digests[0], m.digests[1] }

// ShippedLinear returns the lpips package's v0.1 linear layers of net.
func ShippedLinear(net Net) (*checkpoints.StateDict, error) {
	if _, err := ParseNet(string(net)); err != nil {
		return nil, err
	}
	name := "weights/v0.1/" + string(net) + ".pth"
	data, err := shipped.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("lpips: %w", err)
	}
	return checkpoints.ReadTorchLegacy(strings.NewReader(string(data)), int64(len(data)), "lpips "+name)
}

// linParams lists the linear-layer tensors: linK.model.1.weight [1,C,1,1].
func (n Net) linParams() []checkpoints.Spec {
	var ps []checkpoints.Spec
	for k, c := range n.Channels() {
		ps = append(ps, checkpoints.Spec{Name: fmt.Sprintf("lin%d.model.1.weight", k), Shape: []int{1, c, 1, 1}})
	}
	return ps
}

// New builds the model from loaded state dicts, strictly: every tensor the
// network needs must be present with its shape; the classifier.* tensors of
// torchvision's files and features past the last tap are ignored (listed by
// Ignored); anything else is an error, which is how a file of another
// network is caught.
func New(b backends.Backend, net Net, backbone, lin *checkpoints.StateDict) (*Model, error) {
	if _, err := ParseNet(string(net)); err != nil {
		return nil, err
	}
	bw, err := cnn.Select(backbone, net.params(), net.ignoredBackboneKey, "lpips: the "+string(net)+" backbone")
	if err != nil {
		return nil, err
	}
	lw, err := cnn.Select(lin, net.linParams(), nil, "lpips: the "+string(net)+" linear layers")
	if err != nil {
		return nil, err
	}
	m := &Model{net: net, backbone: bw, lin: lw, backend: b}
	m.dist = cnn.NewExecs(b, m.distanceGraph, cnn.MaxGraphs)
	m.feats = cnn.NewExecs(b, m.featureGraph, cnn.MaxGraphs)
	return m, nil
}

// Net returns the model's backbone.
func (m *Model) Net() Net { return m.net }

// Ignored lists the backbone file's tensors the model does not use.
func (m *Model) Ignored() []string { return m.backbone.Ignored }

// scale applies the scaling layer to x [N,3,H,W].
func scale(x *cnn.Node) *cnn.Node {
	g := x.Graph()
	shift := graph.Reshape(graph.Const(g, scaleShift[:]), 1, 3, 1, 1)
	sc := graph.Reshape(graph.Const(g, scaleScale[:]), 1, 3, 1, 1)
	return graph.Div(graph.Sub(x, shift), sc)
}

// featureGraph: inputs x, then the backbone weights; outputs the tapped maps.
func (m *Model) featureGraph(in []*cnn.Node) []*cnn.Node {
	return m.net.features(m.backbone.Inputs(in[1:]), scale(in[0]))
}

// distanceGraph: inputs x0, x1, the backbone weights, the linear weights;
// outputs dist [N] and the per-layer terms [N,L].
func (m *Model) distanceGraph(in []*cnn.Node) []*cnn.Node {
	nb := len(m.backbone.Names)
	x0, x1 := in[0], in[1]
	n := x0.Shape().Dim(0)
	feats := m.net.features(m.backbone.Inputs(in[2:2+nb]), scale(graph.Concatenate([]*cnn.Node{x0, x1}, 0)))
	lin := m.lin.Inputs(in[2+nb:])
	terms := make([]*cnn.Node, len(feats))
	for l, f := range feats {
		f = normalize(f)
		d := graph.Square(graph.Sub(graph.Slice(f, graph.AxisRange(0, n)), graph.Slice(f, graph.AxisRange(n, 2*n))))
		w := graph.Reshape(lin[fmt.Sprintf("lin%d.model.1.weight", l)], 1, -1, 1, 1)
		weighted := graph.ReduceSum(graph.Mul(d, w), 1)                  // [N,h,w]
		terms[l] = graph.Reshape(graph.ReduceMean(weighted, 1, 2), n, 1) // [N,1]
	}
	res := graph.Concatenate(terms, 1)
	dist := terms[0]
	for _, t := range terms[1:] {
		dist = graph.Add(dist, t)
	}
	return []*cnn.Node{graph.Reshape(dist, n), res}
}

// normalize divides the channel vector of every pixel of f [N,C,h,w] by
// its norm plus 1e-10.
func normalize(f *cnn.Node) *cnn.Node {
	norm := graph.Sqrt(graph.ReduceAndKeep(graph.Square(f), graph.ReduceSum, 1))
	return graph.Div(f, graph.AddScalar(norm, normEps))
}

// Distances are LPIPS distances of a batch of pairs.
type Distances struct {
	// Dist holds one distance per pair [N].
	Dist []float32
	// Layers holds the per-layer terms [N][L], summing to Dist.
	Layers [][]float32
}

// Distance returns the LPIPS distances between x0 and x1, each [N,3,H,W]
// float32 row-major with values in [-1,1]; a NaN or infinite value is an
// error naming it, and so is a NaN or infinite distance (weights that
// overflow float32), naming the pair.
func (m *Model) Distance(x0, x1 []float32, n, h, w int) (*Distances, error) {
	d, err := m.distance(x0, x1, n, h, w)
	if err != nil {
		return nil, err
	}
	if err := m.checkDistances(d.Dist, 0); err != nil {
		return nil, err
	}
	return d, nil
}

// checkDistances returns an error naming the first NaN or infinite
// distance of d, pairs numbered from first, or nil.
func (m *Model) checkDistances(d []float32, first int) error {
	for i, v := range d {
		if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("lpips: pair %d: the distance is %v: the %s weights overflow float32 on these images", first+i, f, m.net)
		}
	}
	return nil
}

// distance is Distance without the check of the distances.
func (m *Model) distance(x0, x1 []float32, n, h, w int) (*Distances, error) {
	if err := m.check(n, h, w, len(x0), len(x1)); err != nil {
		return nil, err
	}
	if err := checkFinite("x0", x0, h, w); err != nil {
		return nil, err
	}
	if err := checkFinite("x1", x1, h, w); err != nil {
		return nil, err
	}
	a := tensors.FromFlatDataAndDimensions(x0, n, 3, h, w)
	b := tensors.FromFlatDataAndDimensions(x1, n, 3, h, w)
	args := m.backbone.Args(a, b)
	for _, t := range m.lin.Tensors {
		args = append(args, t)
	}
	out, err := m.dist.Exec(args...)
	if err != nil {
		return nil, fmt.Errorf("lpips: %w", err)
	}
	defer finalize(out)
	d := tensors.MustCopyFlatData[float32](out[0])
	r := tensors.MustCopyFlatData[float32](out[1])
	L := len(r) / n
	res := &Distances{Dist: d, Layers: make([][]float32, n)}
	for i := range n {
		res.Layers[i] = r[i*L : (i+1)*L]
	}
	return res, nil
}

// Features returns the raw tapped ReLU outputs of the backbone for x
// [N,3,H,W] in [-1,1] (after the scaling layer, before normalisation), as
// flat row-major maps with their shapes.
func (m *Model) Features(x []float32, n, h, w int) ([][]float32, [][]int, error) {
	if err := m.check(n, h, w, len(x), len(x)); err != nil {
		return nil, nil, err
	}
	out, err := m.feats.Exec(m.backbone.Args(tensors.FromFlatDataAndDimensions(x, n, 3, h, w))...)
	if err != nil {
		return nil, nil, fmt.Errorf("lpips: %w", err)
	}
	defer finalize(out)
	vals := make([][]float32, len(out))
	shapes := make([][]int, len(out))
	for i, t := range out {
		vals[i] = tensors.MustCopyFlatData[float32](t)
		shapes[i] = t.Shape().Dimensions
	}
	return vals, shapes, nil
}

func (m *Model) check(n, h, w, len0, len1 int) error {
	if n < 1 {
		return fmt.Errorf("lpips: empty batch")
	}
	if len0 != n*3*h*w || len1 != n*3*h*w {
		return fmt.Errorf("lpips: batches of %d and %d values for shape [%d,3,%d,%d] (%d values)", len0, len1, n, h, w, n*3*h*w)
	}
	_, err := m.net.FeatureSizes(h, w)
	return err
}

// checkFinite returns an error naming the first NaN or infinite value of
// the batch x [N,3,H,W] (which of the two compared batches it is), or nil.
func checkFinite(which string, x []float32, h, w int) error {
	for k, v := range x {
		if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("lpips: %s: image %d has %v at channel %d, row %d, column %d",
				which, k/(3*h*w), f, k/(h*w)%3, k%(h*w)/w, k%w)
		}
	}
	return nil
}

func finalize(ts []*tensors.Tensor) {
	for _, t := range ts {
		t.FinalizeAll()
	}
}
