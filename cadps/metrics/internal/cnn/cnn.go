// Package cnn holds what the metric networks (LPIPS's backbones, FID's
// Inception) share: their weights as checked graph inputs, the few layers
// they are made of, with PyTorch's semantics, on NCHW float32 tensors, and
// Execs, which runs their graphs on inputs of any number of shapes.
package cnn

import (
	"errors"
	"fmt"

	"github.com/cadps/toolkit/checkpoints"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	timage "github.com/gomlx/gomlx/pkg/core/tensors/images"
)

// Node is a graph node.
type Node = graph.Node

// Weights are a network's tensors in the order of its parameters, ready to be
// passed to a graph (see Inputs).
type Weights struct {
	Names   []string
	Tensors []*tensors.Tensor
	// Ignored lists the tensors of the file the network does not use.
	Ignored []string
}

// Select takes params from sd, strictly: sd must hold exactly params, with
// their shapes and floating-point dtypes (checkpoints.Match), besides the
// keys that ignore accepts, which are listed in Ignored; and every value
// must be finite (checkpoints.StateDict.CheckFinite). The error of a
// mismatch wraps Match's and reads as one line: its counts, its hints and
// the first tensors of each problem (checkpoints.MatchError.OneLine); what
// names the network in errors ("the alex backbone").
func Select(sd *checkpoints.StateDict, params []checkpoints.Spec, ignore func(string) bool, what string) (*Weights, error) {
	used, ignored := withoutIgnored(sd, params, ignore)
	if err := checkpoints.Match(used, params, "", anotherNetwork); err != nil {
		if me := (*checkpoints.MatchError)(nil); errors.As(err, &me) {
			return nil, fmt.Errorf("%s: %w", what, me.OneLine())
		}
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := used.CheckFinite(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	w := &Weights{Ignored: ignored}
	for _, p := range params {
		v, err := used.Tensors[p.Name].Float32()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", what, sd.Source, err)
		}
		w.Names = append(w.Names, p.Name)
		w.Tensors = append(w.Tensors, tensors.FromFlatDataAndDimensions(v, p.Shape...))
	}
	return w, nil
}

// withoutIgnored returns sd without the tensors that are not in params and
// that ignore accepts, and their names; sd itself when ignore is nil.
func withoutIgnored(sd *checkpoints.StateDict, params []checkpoints.Spec, ignore func(string) bool) (*checkpoints.StateDict, []string) {
	if sd == nil || ignore == nil {
		return sd, nil
	}
	want := make(map[string]bool, len(params))
	for _, p := range params {
		want[p.Name] = true
	}
	used := checkpoints.NewStateDict(sd.Source)
	var ignored []string
	for _, name := range sd.Names {
		if !want[name] && ignore(name) {
			ignored = append(ignored, name)
			continue
		}
		used.Names = append(used.Names, name)
		used.Tensors[name] = sd.Tensors[name]
	}
	return used, ignored
}

// anotherNetwork is the hint of a file that lacks tensors of the network
// or holds others.
func anotherNetwork(_ *checkpoints.StateDict, m checkpoints.Mismatch) []string {
	if len(m.Missing)+len(m.Unexpected) == 0 {
		return nil
	}
	return []string{"is it the weight file of another network?"}
}

// Inputs maps the weight nodes of a graph, in the order of w.Names, by name.
func (w *Weights) Inputs(nodes []*Node) map[string]*Node {
	m := make(map[string]*Node, len(w.Names))
	for i, n := range w.Names {
		m[n] = nodes[i]
	}
	return m
}

// Args returns the weight tensors as graph arguments, after the leading ones.
func (w *Weights) Args(leading ...any) []any {
	args := append([]any(nil), leading...)
	for _, t := range w.Tensors {
		args = append(args, t)
	}
	return args
}

// Conv2D is PyTorch's Conv2d on NCHW x with OIHW kernel k (bias may be nil).
func Conv2D(x, k, bias *Node, stride, padH, padW int) *Node {
	// The stride is always given: GoMLX's own pure-Go backend refuses a
	// convolution whose strides are left unset.
	c := graph.Convolve(x, k).ChannelsAxis(timage.ChannelsFirst).PaddingPerDim([][2]int{{padH, padH}, {padW, padW}}).
		StridePerAxis(stride, stride)
	y := c.Done()
	if bias != nil {
		y = graph.Add(y, graph.Reshape(bias, 1, bias.Shape().Dim(0), 1, 1))
	}
	return y
}

// MaxPool is PyTorch's MaxPool2d(k, stride, padding=pad, ceil_mode=ceil)
// on NCHW x; padded positions never win.
func MaxPool(x *Node, k, stride, pad int, ceil bool) *Node {
	h, w := x.Shape().Dim(2), x.Shape().Dim(3)
	oh, ow := PoolSize(h, k, stride, pad, ceil), PoolSize(w, k, stride, pad, ceil)
	return windows(x, backends.ReduceOpMax, k, stride, pad, oh, ow)
}

// AvgPoolExcludePad is F.avg_pool2d(x, k, stride, pad, count_include_pad
// =False): border windows average only the real pixels.
func AvgPoolExcludePad(x *Node, k, stride, pad int) *Node {
	h, w := x.Shape().Dim(2), x.Shape().Dim(3)
	oh, ow := PoolSize(h, k, stride, pad, false), PoolSize(w, k, stride, pad, false)
	sum := windows(x, backends.ReduceOpSum, k, stride, pad, oh, ow)
	count := func(i, n int) float32 { // real pixels of window i along an axis of n
		lo, hi := i*stride-pad, i*stride-pad+k
		return float32(min(hi, n) - max(lo, 0))
	}
	counts := make([]float32, oh*ow)
	for i := range oh {
		for j := range ow {
			counts[i*ow+j] = count(i, h) * count(j, w)
		}
	}
	return graph.Div(sum, graph.Reshape(graph.Const(x.Graph(), counts), 1, 1, oh, ow))
}

// windows reduces the k×k windows of x [N,C,H,W] at the given stride into
// an [N,C,oh,ow] map with one window reduction, whose padded positions
// (pad before each axis, and after it as far as the last window reaches)
// take no part. The pure-Go backend runs it as a separable pass per map.
func windows(x *Node, op backends.ReduceOpType, k, stride, pad, oh, ow int) *Node {
	h, w := x.Shape().Dim(2), x.Shape().Dim(3)
	end := func(o, n int) int { return max(0, (o-1)*stride+k-n-pad) }
	return graph.BackendReduceWindow(x, op, []int{1, 1, k, k}, []int{1, 1, stride, stride}, nil, nil,
		[][2]int{{}, {}, {pad, end(oh, h)}, {pad, end(ow, w)}})
}

// ConvSize is the output length of a convolution over n pixels.
func ConvSize(n, k, stride, pad int) int {
	if n+2*pad < k {
		return 0
	}
	return (n+2*pad-k)/stride + 1
}

// PoolSize is the output length of PyTorch's pooling over n pixels, in
// floor or ceil mode; in ceil mode a window may reach past the input, but
// must start inside it or its left padding. A result below 1 means the
// input is too small.
func PoolSize(n, k, stride, pad int, ceil bool) int {
	span := n + 2*pad - k
	if ceil {
		span += stride - 1
	}
	out := floorDiv(span, stride) + 1
	if ceil && out > 0 && (out-1)*stride >= n+pad {
		out--
	}
	return out
}

func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
