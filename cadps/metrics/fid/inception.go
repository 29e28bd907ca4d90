package fid

import (
	"github.com/cadps/toolkit/cadps/metrics/internal/cnn"
	"github.com/cadps/toolkit/checkpoints"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// bnEps is the BatchNorm eps of every BasicConv2d of the Inception network.
const bnEps = 1e-3

// BlockDims returns the channels of the four feature blocks pytorch-fid can
// return: 64 (first max pool), 192 (second max pool), 768 (pre-aux
// classifier), 2048 (final average pool, the "pool3" features FID uses).
func BlockDims() []int { return []int{64, 192, 768, 2048} }

// convSpec is one BasicConv2d: Conv2d(bias=False) → BatchNorm2d(eps 1e-3)
// → ReLU, with torchvision's module name.
type convSpec struct {
	key                string
	in, out, kh, kw    int
	stride, padH, padW int
	block              int // the first block that uses it
}

// inceptionConvs lists every BasicConv2d of pytorch-fid's FID Inception in
// forward order.
func inceptionConvs() []convSpec {
	var cs []convSpec
	add := func(block int, key string, in, out, kh, kw, stride, padH, padW int) {
		cs = append(cs, convSpec{key, in, out, kh, kw, stride, padH, padW, block})
	}
	add(0, "Conv2d_1a_3x3", 3, 32, 3, 3, 2, 0, 0)
	add(0, "Conv2d_2a_3x3", 32, 32, 3, 3, 1, 0, 0)
	add(0, "Conv2d_2b_3x3", 32, 64, 3, 3, 1, 1, 1)
	add(1, "Conv2d_3b_1x1", 64, 80, 1, 1, 1, 0, 0)
	add(1, "Conv2d_4a_3x3", 80, 192, 3, 3, 1, 0, 0)
	blockA := func(key string, in, pool int) {
		add(2, key+".branch1x1", in, 64, 1, 1, 1, 0, 0)
		add(2, key+".branch5x5_1", in, 48, 1, 1, 1, 0, 0)
		add(2, key+".branch5x5_2", 48, 64, 5, 5, 1, 2, 2)
		add(2, key+".branch3x3dbl_1", in, 64, 1, 1, 1, 0, 0)
		add(2, key+".branch3x3dbl_2", 64, 96, 3, 3, 1, 1, 1)
		add(2, key+".branch3x3dbl_3", 96, 96, 3, 3, 1, 1, 1)
		add(2, key+".branch_pool", in, pool, 1, 1, 1, 0, 0)
	}
	blockA("Mixed_5b", 192, 32)
	blockA("Mixed_5c", 256, 64)
	blockA("Mixed_5d", 288, 64)
	add(2, "Mixed_6a.branch3x3", 288, 384, 3, 3, 2, 0, 0)
	add(2, "Mixed_6a.branch3x3dbl_1", 288, 64, 1, 1, 1, 0, 0)
	add(2, "Mixed_6a.branch3x3dbl_2", 64, 96, 3, 3, 1, 1, 1)
	add(2, "Mixed_6a.branch3x3dbl_3", 96, 96, 3, 3, 2, 0, 0)
	blockC := func(key string, c7 int) {
		add(2, key+".branch1x1", 768, 192, 1, 1, 1, 0, 0)
		add(2, key+".branch7x7_1", 768, c7, 1, 1, 1, 0, 0)
		add(2, key+".branch7x7_2", c7, c7, 1, 7, 1, 0, 3)
		add(2, key+".branch7x7_3", c7, 192, 7, 1, 1, 3, 0)
		add(2, key+".branch7x7dbl_1", 768, c7, 1, 1, 1, 0, 0)
		add(2, key+".branch7x7dbl_2", c7, c7, 7, 1, 1, 3, 0)
		add(2, key+".branch7x7dbl_3", c7, c7, 1, 7, 1, 0, 3)
		add(2, key+".branch7x7dbl_4", c7, c7, 7, 1, 1, 3, 0)
		add(2, key+".branch7x7dbl_5", c7, 192, 1, 7, 1, 0, 3)
		add(2, key+".branch_pool", 768, 192, 1, 1, 1, 0, 0)
	}
	blockC("Mixed_6b", 128)
	blockC("Mixed_6c", 160)
	blockC("Mixed_6d", 160)
	blockC("Mixed_6e", 192)
	add(3, "Mixed_7a.branch3x3_1", 768, 192, 1, 1, 1, 0, 0)
	add(3, "Mixed_7a.branch3x3_2", 192, 320, 3, 3, 2, 0, 0)
	add(3, "Mixed_7a.branch7x7x3_1", 768, 192, 1, 1, 1, 0, 0)
	add(3, "Mixed_7a.branch7x7x3_2", 192, 192, 1, 7, 1, 0, 3)
	add(3, "Mixed_7a.branch7x7x3_3", 192, 192, 7, 1, 1, 3, 0)
	add(3, "Mixed_7a.branch7x7x3_4", 192, 192, 3, 3, 2, 0, 0)
	blockE := func(key string, in int) {
		add(3, key+".branch1x1", in, 320, 1, 1, 1, 0, 0)
		add(3, key+".branch3x3_1", in, 384, 1, 1, 1, 0, 0)
		add(3, key+".branch3x3_2a", 384, 384, 1, 3, 1, 0, 1)
		add(3, key+".branch3x3_2b", 384, 384, 3, 1, 1, 1, 0)
		add(3, key+".branch3x3dbl_1", in, 448, 1, 1, 1, 0, 0)
		add(3, key+".branch3x3dbl_2", 448, 384, 3, 3, 1, 1, 1)
		add(3, key+".branch3x3dbl_3a", 384, 384, 1, 3, 1, 0, 1)
		add(3, key+".branch3x3dbl_3b", 384, 384, 3, 1, 1, 1, 0)
		add(3, key+".branch_pool", in, 192, 1, 1, 1, 0, 0)
	}
	blockE("Mixed_7b", 1280)
	blockE("Mixed_7c", 2048)
	return cs
}

// Params lists the tensors blocks 0..last read (pytorch-fid's names and
// shapes; num_batches_tracked and fc.* are not read).
func Params(last int) []checkpoints.Spec { return params(last) }

// params lists the tensors the blocks up to last need.
func params(last int) []checkpoints.Spec {
	var ps []checkpoints.Spec
	for _, c := range inceptionConvs() {
		if c.block > last {
			break
		}
		ps = append(ps,
			checkpoints.Spec{Name: c.key + ".conv.weight", Shape: []int{c.out, c.in, c.kh, c.kw}},
			checkpoints.Spec{Name: c.key + ".bn.weight", Shape: []int{c.out}},
			checkpoints.Spec{Name: c.key + ".bn.bias", Shape: []int{c.out}},
			checkpoints.Spec{Name: c.key + ".bn.running_mean", Shape: []int{c.out}},
			checkpoints.Spec{Name: c.key + ".bn.running_var", Shape: []int{c.out}},
		)
	}
	return ps
}

// net evaluates the blocks on graph nodes.
type net struct {
	w     map[string]*cnn.Node
	specs map[string]convSpec
}

// bc applies the BasicConv2d named key: conv, eval-mode BatchNorm (folded
// into the convolution's weights and bias, see foldBatchNorm), ReLU.
func (n *net) bc(key string, x *cnn.Node) *cnn.Node {
	c := n.specs[key]
	y := cnn.Conv2D(x, n.w[key+".conv.weight"], n.w[key+".conv.bias"], c.stride, c.padH, c.padW)
	return graph.Max(y, graph.ScalarZero(y.Graph(), y.DType()))
}

// chain applies the BasicConv2ds key+suffix in order.
func (n *net) chain(x *cnn.Node, key string, suffixes ...string) *cnn.Node {
	for _, s := range suffixes {
		x = n.bc(key+s, x)
	}
	return x
}

func cat(xs ...*cnn.Node) *cnn.Node { return graph.Concatenate(xs, 1) }

// avgPool is FID's F.avg_pool2d(x, 3, stride 1, pad 1, count_include_pad=False).
func avgPool(x *cnn.Node) *cnn.Node { return cnn.AvgPoolExcludePad(x, 3, 1, 1) }

// blockA is FIDInceptionA.
func (n *net) blockA(key string, x *cnn.Node) *cnn.Node {
	return cat(n.bc(key+".branch1x1", x),
		n.chain(x, key, ".branch5x5_1", ".branch5x5_2"),
		n.chain(x, key, ".branch3x3dbl_1", ".branch3x3dbl_2", ".branch3x3dbl_3"),
		n.bc(key+".branch_pool", avgPool(x)))
}

// blockB is torchvision's InceptionB (Mixed_6a).
func (n *net) blockB(key string, x *cnn.Node) *cnn.Node {
	return cat(n.bc(key+".branch3x3", x),
		n.chain(x, key, ".branch3x3dbl_1", ".branch3x3dbl_2", ".branch3x3dbl_3"),
		cnn.MaxPool(x, 3, 2, 0, false))
}

// blockC is FIDInceptionC.
func (n *net) blockC(key string, x *cnn.Node) *cnn.Node {
	return cat(n.bc(key+".branch1x1", x),
		n.chain(x, key, ".branch7x7_1", ".branch7x7_2", ".branch7x7_3"),
		n.chain(x, key, ".branch7x7dbl_1", ".branch7x7dbl_2", ".branch7x7dbl_3", ".branch7x7dbl_4", ".branch7x7dbl_5"),
		n.bc(key+".branch_pool", avgPool(x)))
}

// blockD is torchvision's InceptionD (Mixed_7a).
func (n *net) blockD(key string, x *cnn.Node) *cnn.Node {
	return cat(n.chain(x, key, ".branch3x3_1", ".branch3x3_2"),
		n.chain(x, key, ".branch7x7x3_1", ".branch7x7x3_2", ".branch7x7x3_3", ".branch7x7x3_4"),
		cnn.MaxPool(x, 3, 2, 0, false))
}

// blockE is FIDInceptionE_1 (average pool) or, with maxPool,
// FIDInceptionE_2 (max pool, Mixed_7c).
func (n *net) blockE(key string, x *cnn.Node, maxPool bool) *cnn.Node {
	b3 := n.bc(key+".branch3x3_1", x)
	bd := n.chain(x, key, ".branch3x3dbl_1", ".branch3x3dbl_2")
	var p *cnn.Node
	if maxPool {
		p = cnn.MaxPool(x, 3, 1, 1, false)
	} else {
		p = avgPool(x)
	}
	return cat(n.bc(key+".branch1x1", x),
		cat(n.bc(key+".branch3x3_2a", b3), n.bc(key+".branch3x3_2b", b3)),
		cat(n.bc(key+".branch3x3dbl_3a", bd), n.bc(key+".branch3x3dbl_3b", bd)),
		n.bc(key+".branch_pool", p))
}

// blocks runs x [N,3,299,299] in [-1,1] through blocks 0..last and returns
// each block's output map.
func (n *net) blocks(x *cnn.Node, last int) []*cnn.Node {
	var outs []*cnn.Node
	steps := []func(*cnn.Node) *cnn.Node{
		func(x *cnn.Node) *cnn.Node {
			return cnn.MaxPool(n.chain(x, "Conv2d_", "1a_3x3", "2a_3x3", "2b_3x3"), 3, 2, 0, false)
		},
		func(x *cnn.Node) *cnn.Node {
			return cnn.MaxPool(n.chain(x, "Conv2d_", "3b_1x1", "4a_3x3"), 3, 2, 0, false)
		},
		func(x *cnn.Node) *cnn.Node {
			for _, k := range []string{"Mixed_5b", "Mixed_5c", "Mixed_5d"} {
				x = n.blockA(k, x)
			}
			x = n.blockB("Mixed_6a", x)
			for _, k := range []string{"Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"} {
				x = n.blockC(k, x)
			}
			return x
		},
		func(x *cnn.Node) *cnn.Node {
			x = n.blockD("Mixed_7a", x)
			x = n.blockE("Mixed_7b", x, false)
			return n.blockE("Mixed_7c", x, true)
		},
	}
	for _, step := range steps[:last+1] {
		x = step(x)
		outs = append(outs, x)
	}
	return outs
}
