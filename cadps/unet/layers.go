package unet

import (
	"fmt"
	"math"

	"github.com/cadps/toolkit/cadps/nn"
	"github.com/gomlx/gomlx/pkg/core/graph"
	timage "github.com/gomlx/gomlx/pkg/core/tensors/images"
)

// normGroups and normEps are GroupNorm32's settings in guided-diffusion.
const (
	normGroups = 32
	normEps    = 1e-5
)

// silu is x·σ(x).
func silu(x *node) *node { return graph.Mul(x, graph.Logistic(x)) }

// channelVector reshapes a per-channel vector [C] to broadcast over x [N,C,...].
func channelVector(v, like *node) *node {
	dims := make([]int, like.Rank())
	for i := range dims {
		dims[i] = 1
	}
	dims[1] = v.Shape().Dim(0)
	return graph.Reshape(v, dims...)
}

// groupNorm is GroupNorm(32, ch) with affine weight and bias ("<key>.weight", "<key>.bias").
type groupNorm struct {
	key  string
	ch   int
	silu bool // apply SiLU after the norm (the norm+SiLU pairs of the blocks)
}

func (l *groupNorm) params(add func(string, ...int)) {
	add(l.key+".weight", l.ch)
	add(l.key+".bias", l.ch)
}

func (l *groupNorm) apply(w *weights, h, _ *node) *node {
	h = groupNormalize(h, w.get(l.key+".weight"), w.get(l.key+".bias"))
	if l.silu {
		h = silu(h)
	}
	return h
}

// groupNormalize normalises x [N,C,...] over groups of C/32 channels and all
// spatial positions (biased variance, ε = 1e-5), then scales and shifts per channel.
//
// It computes in float32 whatever x's dtype (float32 gamma and beta), and
// returns x's dtype, as guided-diffusion's GroupNorm32.
func groupNormalize(x, gamma, beta *node) *node {
	x, back := inFloat32(x)
	dims := x.Shape().Dimensions
	g := graph.Reshape(x, dims[0], normGroups, -1)
	mean := graph.ReduceAndKeep(g, graph.ReduceMean, 2)
	centred := graph.Sub(g, mean)
	variance := graph.ReduceAndKeep(graph.Square(centred), graph.ReduceMean, 2)
	g = graph.Div(centred, graph.Sqrt(graph.AddScalar(variance, normEps)))
	x = graph.Reshape(g, dims...)
	return back(graph.Add(graph.Mul(x, channelVector(gamma, x)), channelVector(beta, x)))
}

// conv is a 2-D convolution with bias ("<key>.weight" [out,in,k,k], "<key>.bias").
type conv struct {
	key                     string
	in, out, k, stride, pad int
	silu                    bool // the output conv of the network follows out.0 with SiLU
}

func (l *conv) params(add func(string, ...int)) {
	add(l.key+".weight", l.out, l.in, l.k, l.k)
	add(l.key+".bias", l.out)
}

func (l *conv) apply(w *weights, h, _ *node) *node {
	if l.silu {
		h = silu(h)
	}
	return conv2d(h, w.get(l.key+".weight"), w.get(l.key+".bias"), l.stride, l.pad)
}

// conv2d convolves NCHW x with OIHW kernel k, as PyTorch's Conv2d.
func conv2d(x, k, bias *node, stride, pad int) *node {
	// The stride is always given: GoMLX's own pure-Go backend (GOMLX_BACKEND=go)
	// refuses a convolution whose strides are left unset.
	c := graph.Convolve(x, k).ChannelsAxis(timage.ChannelsFirst).
		PaddingPerDim([][2]int{{pad, pad}, {pad, pad}}).StridePerAxis(stride, stride)
	return graph.Add(c.Done(), channelVector(bias, x))
}

// linear is PyTorch's Linear ("<key>.weight" [out,in], "<key>.bias").
type linear struct {
	key     string
	in, out int
}

func (l *linear) params(add func(string, ...int)) {
	add(l.key+".weight", l.out, l.in)
	add(l.key+".bias", l.out)
}

func (l *linear) apply(w *weights, x, _ *node) *node {
	y := nn.DotGeneral(x, []int{1}, nil, w.get(l.key+".weight"), []int{1}, nil) // x·Wᵀ
	return graph.Add(y, graph.ExpandAxes(w.get(l.key+".bias"), 0))
}

// conv1x1 applies a 1-D convolution of kernel size 1 ("<key>.weight"
// [out,in,1], "<key>.bias") to x [N,C,L].
func conv1x1(w *weights, key string, x *node) *node {
	k := w.get(key + ".weight")
	k = graph.Reshape(k, k.Shape().Dim(0), k.Shape().Dim(1))
	y := graph.TransposeAllAxes(nn.DotGeneral(k, []int{1}, nil, x, []int{1}, nil), 1, 0, 2) // [O,N,L] → [N,O,L]
	return graph.Add(y, channelVector(w.get(key+".bias"), y))
}

// resBlock is guided-diffusion's ResBlock: in_layers (norm, SiLU, conv),
// optional nearest-up/avg-pool-down of both paths, the timestep embedding
// added (or, with scale-shift norm, applied as norm(h)·(1+scale)+shift),
// out_layers (norm, SiLU, dropout, conv) and a skip connection (identity, or a
// 1×1 conv when the channel count changes).
type resBlock struct {
	key          string
	in, out, emb int
	scaleShift   bool
	up, down     bool
}

func (l *resBlock) params(add func(string, ...int)) {
	add(l.key+".in_layers.0.weight", l.in)
	add(l.key+".in_layers.0.bias", l.in)
	add(l.key+".in_layers.2.weight", l.out, l.in, 3, 3)
	add(l.key+".in_layers.2.bias", l.out)
	embOut := l.out
	if l.scaleShift {
		embOut *= 2
	}
	add(l.key+".emb_layers.1.weight", embOut, l.emb)
	add(l.key+".emb_layers.1.bias", embOut)
	add(l.key+".out_layers.0.weight", l.out)
	add(l.key+".out_layers.0.bias", l.out)
	add(l.key+".out_layers.3.weight", l.out, l.out, 3, 3)
	add(l.key+".out_layers.3.bias", l.out)
	if l.out != l.in {
		add(l.key+".skip_connection.weight", l.out, l.in, 1, 1)
		add(l.key+".skip_connection.bias", l.out)
	}
}

func (l *resBlock) apply(w *weights, x, emb *node) *node {
	k := l.key
	h := silu(groupNormalize(x, w.get(k+".in_layers.0.weight"), w.get(k+".in_layers.0.bias")))
	switch {
	case l.up:
		h, x = upsampleNearest(h), upsampleNearest(x)
	case l.down:
		h, x = avgPool2(h), avgPool2(x)
	}
	h = conv2d(h, w.get(k+".in_layers.2.weight"), w.get(k+".in_layers.2.bias"), 1, 1)
	e := nn.DotGeneral(silu(emb), []int{1}, nil, w.get(k+".emb_layers.1.weight"), []int{1}, nil)
	e = graph.Add(e, graph.ExpandAxes(w.get(k+".emb_layers.1.bias"), 0))
	e = graph.Reshape(e, e.Shape().Dim(0), e.Shape().Dim(1), 1, 1)
	gamma, beta := w.get(k+".out_layers.0.weight"), w.get(k+".out_layers.0.bias")
	if l.scaleShift {
		halves := graph.Split(e, 1, 2)
		h = groupNormalize(h, gamma, beta)
		h = graph.Add(graph.Mul(h, graph.OnePlus(halves[0])), halves[1])
	} else {
		h = groupNormalize(graph.Add(h, e), gamma, beta)
	}
	h = conv2d(silu(h), w.get(k+".out_layers.3.weight"), w.get(k+".out_layers.3.bias"), 1, 1)
	if l.out != l.in {
		x = conv2d(x, w.get(k+".skip_connection.weight"), w.get(k+".skip_connection.bias"), 1, 0)
	}
	return graph.Add(x, h)
}

// downsample is Downsample with a stride-2 3×3 conv ("<key>.op") or, without
// a conv, 2×2 average pooling.
type downsample struct {
	key     string
	ch      int
	useConv bool
}

func (l *downsample) params(add func(string, ...int)) {
	if l.useConv {
		add(l.key+".op.weight", l.ch, l.ch, 3, 3)
		add(l.key+".op.bias", l.ch)
	}
}

func (l *downsample) apply(w *weights, h, _ *node) *node {
	if !l.useConv {
		return avgPool2(h)
	}
	return conv2d(h, w.get(l.key+".op.weight"), w.get(l.key+".op.bias"), 2, 1)
}

// upsample is Upsample: nearest-neighbour ×2, then a 3×3 conv ("<key>.conv").
type upsample struct {
	key     string
	ch      int
	useConv bool
}

func (l *upsample) params(add func(string, ...int)) {
	if l.useConv {
		add(l.key+".conv.weight", l.ch, l.ch, 3, 3)
		add(l.key+".conv.bias", l.ch)
	}
}

func (l *upsample) apply(w *weights, h, _ *node) *node {
	h = upsampleNearest(h)
	if !l.useConv {
		return h
	}
	return conv2d(h, w.get(l.key+".conv.weight"), w.get(l.key+".conv.bias"), 1, 1)
}

// upsampleNearest repeats every pixel of x [N,C,H,W] into a 2×2 block
// (broadcasting, so its gradient is an exact sum).
func upsampleNearest(x *node) *node {
	d := x.Shape().Dimensions
	e := graph.Reshape(x, d[0], d[1], d[2], 1, d[3], 1)
	e = graph.BroadcastToDims(e, d[0], d[1], d[2], 2, d[3], 2)
	return graph.Reshape(e, d[0], d[1], 2*d[2], 2*d[3])
}

// avgPool2 averages 2×2 blocks of x [N,C,H,W] (H and W even).
func avgPool2(x *node) *node {
	d := x.Shape().Dimensions
	if d[2]%2 != 0 || d[3]%2 != 0 {
		panic(fmt.Errorf("unet: average pooling needs even sizes, got %v", d))
	}
	e := graph.Reshape(x, d[0], d[1], d[2]/2, 2, d[3]/2, 2)
	return graph.ReduceMean(e, 3, 5)
}

// attention is guided-diffusion's AttentionBlock over all spatial positions:
// GroupNorm, a 1×1 qkv projection, multi-head dot-product attention (the
// legacy order splits heads before q/k/v; the new order splits q/k/v first),
// and a 1×1 output projection added to the input.
type attention struct {
	key      string
	ch       int
	heads    int
	newOrder bool
}

func (l *attention) params(add func(string, ...int)) {
	add(l.key+".norm.weight", l.ch)
	add(l.key+".norm.bias", l.ch)
	add(l.key+".qkv.weight", 3*l.ch, l.ch, 1)
	add(l.key+".qkv.bias", 3*l.ch)
	add(l.key+".proj_out.weight", l.ch, l.ch, 1)
	add(l.key+".proj_out.bias", l.ch)
}

func (l *attention) apply(w *weights, x, _ *node) *node {
	d := x.Shape().Dimensions
	n, c := d[0], d[1]
	length := 1
	for _, s := range d[2:] {
		length *= s
	}
	xf := graph.Reshape(x, n, c, length)
	qkv := conv1x1(w, l.key+".qkv", groupNormalize(xf, w.get(l.key+".norm.weight"), w.get(l.key+".norm.bias")))
	ch := c / l.heads
	var q, k, v *node
	if l.newOrder {
		parts := graph.Split(qkv, 1, 3) // each [N, C, L]
		q = graph.Reshape(parts[0], n*l.heads, ch, length)
		k = graph.Reshape(parts[1], n*l.heads, ch, length)
		v = graph.Reshape(parts[2], n*l.heads, ch, length)
	} else {
		parts := graph.Split(graph.Reshape(qkv, n*l.heads, 3*ch, length), 1, 3)
		q, k, v = parts[0], parts[1], parts[2]
	}
	scale := float32(1 / math.Sqrt(math.Sqrt(float64(ch))))
	weight := nn.DotGeneral(graph.MulScalar(q, scale), []int{1}, []int{0}, graph.MulScalar(k, scale), []int{1}, []int{0}) // [B,T,S]
	// The softmax runs in float32, as guided-diffusion's.
	weight, back := inFloat32(weight)
	weight = back(graph.Softmax(weight, -1))
	a := nn.DotGeneral(v, []int{2}, []int{0}, weight, []int{2}, []int{0}) // [B,C,T]
	h := conv1x1(w, l.key+".proj_out", graph.Reshape(a, n, c, length))
	return graph.Reshape(graph.Add(xf, h), d...)
}

func (l *groupNorm) normChannels() []int  { return []int{l.ch} }
func (l *resBlock) normChannels() []int   { return []int{l.in, l.out} }
func (l *attention) normChannels() []int  { return []int{l.ch} }
func (l *conv) normChannels() []int       { return nil }
func (l *linear) normChannels() []int     { return nil }
func (l *downsample) normChannels() []int { return nil }
func (l *upsample) normChannels() []int   { return nil }

func (l *groupNorm) prefix() string  { return l.key }
func (l *resBlock) prefix() string   { return l.key }
func (l *attention) prefix() string  { return l.key }
func (l *conv) prefix() string       { return l.key }
func (l *linear) prefix() string     { return l.key }
func (l *downsample) prefix() string { return l.key }
func (l *upsample) prefix() string   { return l.key }
