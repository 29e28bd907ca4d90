package lpips

import (
	"fmt"
	"strings"

	"github.com/cadps/toolkit/cadps/metrics/internal/cnn"
	"github.com/cadps/toolkit/checkpoints"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// Net names an LPIPS backbone.
type Net string

// The backbones of LPIPS v0.1, as torchvision defines them.
const (
	Alex    Net = "alex"    // torchvision alexnet().features
	VGG     Net = "vgg"     // torchvision vgg16().features
	Squeeze Net = "squeeze" // torchvision squeezenet1_1().features
)

// Nets lists the supported backbones.
func Nets() []Net { return []Net{Alex, VGG, Squeeze} }

// ParseNet reads a backbone name.
func ParseNet(s string) (Net, error) {
	for _, n := range Nets() {
		if string(n) == s {
			return n, nil
		}
	}
	return "", fmt.Errorf("lpips: unknown network %q (want alex, vgg or squeeze)", s)
}

// BackboneFile is the file name torchvision downloads the ImageNet weights
// of the backbone to, under https://download.pytorch.org/models/.
func (n Net) BackboneFile() string {
	switch n {
	case Alex:
		return "alexnet-owt-7be5be79.pth"
	case VGG:
		return "vgg16-397923af.pth"
	case Squeeze:
		return "squeezenet1_1-b8a52dc0.pth"
	}
	return ""
}

// opKind is the kind of one step of a backbone.
type opKind int

const (
	convReLU opKind = iota // Conv2d with bias, then ReLU
	maxPool                // MaxPool2d
	fire                   // SqueezeNet's Fire module (its ReLUs included)
)

// op is one step of a backbone's features; tap marks the steps after which
// LPIPS takes a feature map.
type op struct {
	kind opKind
	// key is the torchvision module prefix ("features.3").
	key string
	// in and out are the channels; for fire, out is e1+e3 and sq the
	// squeeze width.
	in, out, sq, k, stride, pad int
	ceil                        bool
	tap                         bool
}

func conv(i, in, out, k, stride, pad int, tap bool) op {
	return op{kind: convReLU, key: fmt.Sprintf("features.%d", i), in: in, out: out, k: k, stride: stride, pad: pad, tap: tap}
}
func pool(k, stride int, ceil bool) op { return op{kind: maxPool, k: k, stride: stride, ceil: ceil} }
func fireOp(i, in, sq, e int, tap bool) op {
	return op{kind: fire, key: fmt.Sprintf("features.%d", i), in: in, sq: sq, out: 2 * e, tap: tap}
}

// ops returns the backbone's steps up to its last tapped ReLU.
func (n Net) ops() []op {
	switch n {
	case Alex:
		return []op{
			conv(0, 3, 64, 11, 4, 2, true), pool(3, 2, false),
			conv(3, 64, 192, 5, 1, 2, true), pool(3, 2, false),
			conv(6, 192, 384, 3, 1, 1, true),
			conv(8, 384, 256, 3, 1, 1, true),
			conv(10, 256, 256, 3, 1, 1, true),
		}
	case VGG:
		return []op{
			conv(0, 3, 64, 3, 1, 1, false), conv(2, 64, 64, 3, 1, 1, true), pool(2, 2, false),
			conv(5, 64, 128, 3, 1, 1, false), conv(7, 128, 128, 3, 1, 1, true), pool(2, 2, false),
			conv(10, 128, 256, 3, 1, 1, false), conv(12, 256, 256, 3, 1, 1, false), conv(14, 256, 256, 3, 1, 1, true), pool(2, 2, false),
			conv(17, 256, 512, 3, 1, 1, false), conv(19, 512, 512, 3, 1, 1, false), conv(21, 512, 512, 3, 1, 1, true), pool(2, 2, false),
			conv(24, 512, 512, 3, 1, 1, false), conv(26, 512, 512, 3, 1, 1, false), conv(28, 512, 512, 3, 1, 1, true),
		}
	case Squeeze:
		return []op{
			conv(0, 3, 64, 3, 2, 0, true), pool(3, 2, true),
			fireOp(3, 64, 16, 64, false), fireOp(4, 128, 16, 64, true), pool(3, 2, true),
			fireOp(6, 128, 32, 128, false), fireOp(7, 256, 32, 128, true), pool(3, 2, true),
			fireOp(9, 256, 48, 192, true),
			fireOp(10, 384, 48, 192, true),
			fireOp(11, 384, 64, 256, true),
			fireOp(12, 512, 64, 256, true),
		}
	}
	return nil
}

// Channels returns the channels of the tapped feature maps.
func (n Net) Channels() []int {
	var c []int
	for _, o := range n.ops() {
		if o.tap {
			c = append(c, o.out)
		}
	}
	return c
}

// params lists the backbone tensors the features need, with torchvision's names.
func (n Net) params() []checkpoints.Spec {
	var ps []checkpoints.Spec
	add := func(key string, out, in, k int) {
		ps = append(ps, checkpoints.Spec{Name: key + ".weight", Shape: []int{out, in, k, k}}, checkpoints.Spec{Name: key + ".bias", Shape: []int{out}})
	}
	for _, o := range n.ops() {
		switch o.kind {
		case convReLU:
			add(o.key, o.out, o.in, o.k)
		case fire:
			add(o.key+".squeeze", o.sq, o.in, 1)
			add(o.key+".expand1x1", o.out/2, o.sq, 1)
			add(o.key+".expand3x3", o.out/2, o.sq, 3)
		}
	}
	return ps
}

// ignoredBackboneKey reports the keys of torchvision's files that LPIPS
// does not use: the classifier, and the features after the last tap.
func (n Net) ignoredBackboneKey(name string) bool {
	if strings.HasPrefix(name, "classifier.") {
		return true
	}
	last := n.ops()[len(n.ops())-1].key
	var i, j int
	if _, err := fmt.Sscanf(name, "features.%d.", &i); err != nil {
		return false
	}
	fmt.Sscanf(last, "features.%d", &j)
	return i > j
}

// FeatureSizes returns the spatial sizes of the tapped maps for an h×w
// input, or an error when the image is too small for the backbone.
func (n Net) FeatureSizes(h, w int) ([][2]int, error) {
	var out [][2]int
	ch, cw := h, w
	for _, o := range n.ops() {
		switch o.kind {
		case convReLU:
			ch, cw = cnn.ConvSize(ch, o.k, o.stride, o.pad), cnn.ConvSize(cw, o.k, o.stride, o.pad)
		case maxPool:
			ch, cw = cnn.PoolSize(ch, o.k, o.stride, 0, o.ceil), cnn.PoolSize(cw, o.k, o.stride, 0, o.ceil)
		}
		if ch < 1 || cw < 1 {
			return nil, fmt.Errorf("lpips: a %dx%d image is too small for the %s backbone (%s leaves no pixels)", h, w, n, o.describe())
		}
		if o.tap {
			out = append(out, [2]int{ch, cw})
		}
	}
	return out, nil
}

func (o op) describe() string {
	switch o.kind {
	case maxPool:
		return fmt.Sprintf("a %dx%d max pool", o.k, o.k)
	case fire:
		return o.key
	}
	return fmt.Sprintf("%s, a %dx%d convolution of stride %d", o.key, o.k, o.k, o.stride)
}

// features runs x [N,3,H,W] (already scaled) through the backbone and
// returns the tapped ReLU outputs.
func (n Net) features(w map[string]*cnn.Node, x *cnn.Node) []*cnn.Node {
	var taps []*cnn.Node
	cr := func(key string, x *cnn.Node, stride, pad int) *cnn.Node {
		return graph.Max(cnn.Conv2D(x, w[key+".weight"], w[key+".bias"], stride, pad, pad), graph.ScalarZero(x.Graph(), x.DType()))
	}
	for _, o := range n.ops() {
		switch o.kind {
		case convReLU:
			x = cr(o.key, x, o.stride, o.pad)
		case maxPool:
			x = cnn.MaxPool(x, o.k, o.stride, 0, o.ceil)
		case fire:
			s := cr(o.key+".squeeze", x, 1, 0)
			x = graph.Concatenate([]*cnn.Node{cr(o.key+".expand1x1", s, 1, 0), cr(o.key+".expand3x3", s, 1, 1)}, 1)
		}
		if o.tap {
			taps = append(taps, x)
		}
	}
	return taps
}

// BackboneParams lists the backbone tensors LPIPS reads, with torchvision's
// names and shapes.
func (n Net) BackboneParams() []checkpoints.Spec { return n.params() }
