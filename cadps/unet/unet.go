// Package unet is guided-diffusion's UNet ("ADM", Dhariwal & Nichol 2021),
// the network behind DPS and CA-DPS, as a GoMLX graph function.
//
// Every option of guided-diffusion's create_model for unconditional and
// class-conditional models is supported (see [Config]); the FFHQ-256 and
// ImageNet-256 configurations ship as presets. Blocks and parameters are
// named exactly as the PyTorch checkpoint keys ("input_blocks.1.0.in_layers.2.weight"),
// so a reader can go from a key to the code: each key's parameter lives in
// the GoMLX context at the scope of its dotted prefix ("/input_blocks/1/0/in_layers/2",
// variable "weight"), and checkpoints load as they are.
//
// To start: [New] builds a [Model] from a [Config] ([Preset] or [FFHQ256]
// for the published ones), [Model.LoadFile] loads a .pt or .safetensors
// checkpoint into a GoMLX context, and [Model.Apply] builds the network's
// output in a graph. Package cadps adapts a Model to a sampler's network
// (cadps.UNetNetwork); package restore's LoadPrior does all three from a
// model name or configuration file.
package unet

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

type node = graph.Node

// Model is a UNet architecture: the block structure derived from a Config.
// It holds no weights: those live in a *context.Context (see Load and InitRandom),
// so one Model serves any number of weight sets.
type Model struct {
	cfg           Config
	modelChannels int
	timeEmbedDim  int
	numClasses    int
	levels        int // len(channel_mult): the input is downsampled levels−1 times
	inputBlocks   [][]layer
	middleBlock   []layer
	outputBlocks  [][]layer
	out           []layer // out.0 (norm) and out.2 (conv)
	timeEmbed     [2]*linear
	specs         []Param
	shapes        map[string][]int
	dtype         dtypes.DType // the torso's dtype (see BFloat16); invalid means float32
}

// layer is one module inside a TimestepEmbedSequential block: it declares
// its parameters and builds its part of the graph.
type layer interface {
	params(add func(name string, dims ...int))
	apply(w *weights, h, emb *node) *node
	// flops returns the layer's floating-point operations for one image of
	// size×size at its input, counting 2 per multiply-add of its
	// convolutions, attention products and projections, and the size of
	// its output.
	flops(size int64) (n, out int64)
	// normChannels lists the channel counts of the layer's GroupNorms.
	normChannels() []int
	// prefix is the checkpoint key prefix of the layer's parameters.
	prefix() string
}

// maxChannels is the most channels New gives a level of the network, 64
// times the widest of the published models', and the most it takes for
// num_channels, in_channels and out_channels; maxClasses is the most
// class labels it takes for num_classes, over 700 times ImageNet-21k's;
// maxResBlocks is the most residual blocks it takes per level for
// num_res_blocks, over 20 times the published models' (1 to 3). With all
// three, no parameter count overflows an int, and New, which lays out
// 2·num_res_blocks+2 blocks for each of at most 63 levels, builds its
// largest network (about 8200 blocks) in a fraction of a second, where a
// mistyped num_res_blocks (1000000000) allocated until memory ran out.
const (
	maxChannels  = 1 << 16
	maxClasses   = 1 << 24
	maxResBlocks = 64
)

// New builds the architecture of cfg, or returns an error naming what is
// inconsistent (sizes not divisible, channels not divisible into 32 groups
// or into heads, a negative channel or class count, more than 65536
// channels, 2^24 classes or 64 residual blocks per level, ...). The counts
// are checked before anything is laid out.
func New(cfg Config) (*Model, error) {
	if cfg.ImageSize <= 0 || cfg.NumChannels <= 0 || cfg.NumResBlocks <= 0 {
		return nil, fmt.Errorf("unet: image_size, num_channels and num_res_blocks must be positive in %s", cfg)
	}
	if cfg.InChannels < 0 || cfg.OutChannels < 0 || cfg.NumClasses < 0 {
		return nil, fmt.Errorf("unet: in_channels, out_channels and num_classes must not be negative (0 takes the default) in %s", cfg)
	}
	for _, c := range []struct {
		name    string
		n, most int
	}{{"num_channels", cfg.NumChannels, maxChannels}, {"in_channels", cfg.InChannels, maxChannels},
		{"out_channels", cfg.OutChannels, maxChannels}, {"num_classes", cfg.NumClasses, maxClasses},
		{"num_res_blocks", cfg.NumResBlocks, maxResBlocks}} {
		// The time embedding has 4·num_channels channels, and the label
		// embedding num_classes rows of them: too many overflow the counts.
		// Every level has num_res_blocks blocks down and one more up: too
		// many exhaust memory before they overflow.
		if c.n > c.most {
			return nil, fmt.Errorf("unet: %s %d is more than %d, in %s", c.name, c.n, c.most, cfg)
		}
	}
	mult, err := cfg.channelMult()
	if err != nil {
		return nil, err
	}
	for level, f := range mult {
		// A level's channels are int(mult·num_channels), as create_model
		// takes them: none would build layers of no channels, and too many
		// would overflow the counts.
		if ch := f * float64(cfg.NumChannels); !(ch >= 1 && ch <= maxChannels) {
			return nil, fmt.Errorf("unet: channel_mult %g of level %d gives %g × %d = %g channels, want 1 to %d, in %s",
				f, level, f, cfg.NumChannels, ch, maxChannels, cfg)
		}
	}
	attnDS, err := cfg.attentionDownsampleRates()
	if err != nil {
		return nil, err
	}
	// Divisible by 2^levels: at least levels trailing zero bits (1<<levels
	// would overflow for 64 levels or more).
	if bits.TrailingZeros(uint(cfg.ImageSize)) < len(mult)-1 {
		return nil, fmt.Errorf("unet: image_size %d is not divisible by 2^%d (channel_mult has %d levels)",
			cfg.ImageSize, len(mult)-1, len(mult))
	}
	numHeads := cfg.NumHeads
	if cfg.NumHeadChannels < -1 {
		return nil, fmt.Errorf("unet: num_head_channels %d: want a positive width per head, or -1 for num_heads heads, in %s", cfg.NumHeadChannels, cfg)
	}
	if numHeads <= 0 && cfg.NumHeadChannels <= 0 {
		return nil, fmt.Errorf("unet: num_heads or num_head_channels must be positive in %s", cfg)
	}
	numHeadsUp := cfg.NumHeadsUpsample
	if numHeadsUp == -1 || numHeadsUp == 0 {
		numHeadsUp = numHeads
	}
	if numHeadsUp < 0 && cfg.NumHeadChannels <= 0 {
		return nil, fmt.Errorf("unet: num_heads_upsample %d: want a positive count, or -1 for num_heads, in %s", cfg.NumHeadsUpsample, cfg)
	}
	mc := cfg.NumChannels
	m := &Model{cfg: cfg, modelChannels: mc, timeEmbedDim: 4 * mc, numClasses: cfg.numClasses(), levels: len(mult)}
	ted := m.timeEmbedDim
	m.timeEmbed = [2]*linear{{key: "time_embed.0", in: mc, out: ted}, {key: "time_embed.2", in: ted, out: ted}}

	bl := &builder{cfg: cfg, m: m, mult: mult, attnDS: attnDS}
	inputCh := int(mult[0] * float64(mc))
	ch, chans, ds := bl.inputBlocks(inputCh, numHeads)
	m.middleBlock = []layer{bl.res("middle_block.0", ch, ch, false, false), bl.attn("middle_block.1", ch, numHeads), bl.res("middle_block.2", ch, ch, false, false)}
	ch = bl.outputBlocks(ch, chans, ds, numHeadsUp)
	m.out = []layer{&groupNorm{key: "out.0", ch: ch}, &conv{key: "out.2", in: inputCh, out: cfg.outChannels(), k: 3, stride: 1, pad: 1, silu: true}}
	if len(bl.errs) > 0 {
		return nil, fmt.Errorf("%w (config %s)", bl.errs[0], cfg)
	}
	if err := m.checkGroups(); err != nil {
		return nil, err
	}
	m.collectSpecs()
	return m, nil
}

// builder lays out the blocks of a Model as guided-diffusion's UNetModel
// does, collecting every inconsistency of the configuration in errs.
type builder struct {
	cfg    Config
	m      *Model
	mult   []float64
	attnDS map[int]bool
	errs   []error
}

// heads returns the attention heads of a block of ch channels: ch divided
// by num_head_channels when that is set, else n.
func (b *builder) heads(ch, n int) int {
	if b.cfg.NumHeadChannels > 0 {
		if ch%b.cfg.NumHeadChannels != 0 {
			b.errs = append(b.errs, fmt.Errorf("unet: %d channels are not divisible by num_head_channels %d", ch, b.cfg.NumHeadChannels))
			return 1
		}
		return ch / b.cfg.NumHeadChannels
	}
	if ch%n != 0 {
		b.errs = append(b.errs, fmt.Errorf("unet: %d channels are not divisible into %d heads", ch, n))
	}
	return n
}

// res returns a residual block from in to out channels, resampling up or
// down when asked.
func (b *builder) res(key string, in, out int, up, down bool) *resBlock {
	return &resBlock{key: key, in: in, out: out, emb: b.m.timeEmbedDim, scaleShift: b.cfg.UseScaleShiftNorm, up: up, down: down}
}

// attn returns an attention block over ch channels with n heads (or
// num_head_channels per head).
func (b *builder) attn(key string, ch, n int) *attention {
	return &attention{key: key, ch: ch, heads: b.heads(ch, n), newOrder: b.cfg.UseNewAttentionOrder}
}

// inputBlocks lays out the input convolution (to ch channels) and the
// downsampling levels; it returns the channels at the bottom, the channels
// of every skip connection in order and the final downsampling rate.
func (b *builder) inputBlocks(ch, numHeads int) (int, []int, int) {
	m, cfg, mc := b.m, b.cfg, b.cfg.NumChannels
	m.inputBlocks = append(m.inputBlocks, []layer{&conv{key: "input_blocks.0.0", in: cfg.ImageChannels(), out: ch, k: 3, stride: 1, pad: 1}})
	chans := []int{ch}
	ds := 1
	for level, mu := range b.mult {
		for range cfg.NumResBlocks {
			key := "input_blocks." + strconv.Itoa(len(m.inputBlocks))
			out := int(mu * float64(mc))
			layers := []layer{b.res(key+".0", ch, out, false, false)}
			ch = out
			if b.attnDS[ds] {
				layers = append(layers, b.attn(key+".1", ch, numHeads))
			}
			m.inputBlocks = append(m.inputBlocks, layers)
			chans = append(chans, ch)
		}
		if level != len(b.mult)-1 {
			key := "input_blocks." + strconv.Itoa(len(m.inputBlocks)) + ".0"
			if cfg.ResblockUpdown {
				m.inputBlocks = append(m.inputBlocks, []layer{b.res(key, ch, ch, false, true)})
			} else {
				m.inputBlocks = append(m.inputBlocks, []layer{&downsample{key: key, ch: ch, useConv: true}})
			}
			chans = append(chans, ch)
			ds *= 2
		}
	}
	return ch, chans, ds
}

// outputBlocks lays out the upsampling levels from ch channels at rate ds,
// taking the skip connections' channels from the end of chans; it returns
// the channels of the last block.
func (b *builder) outputBlocks(ch int, chans []int, ds, numHeadsUp int) int {
	m, cfg, mc := b.m, b.cfg, b.cfg.NumChannels
	for level := len(b.mult) - 1; level >= 0; level-- {
		for i := 0; i <= cfg.NumResBlocks; i++ {
			key := "output_blocks." + strconv.Itoa(len(m.outputBlocks))
			ich := chans[len(chans)-1]
			chans = chans[:len(chans)-1]
			out := int(float64(mc) * b.mult[level])
			layers := []layer{b.res(key+".0", ch+ich, out, false, false)}
			ch = out
			if b.attnDS[ds] {
				layers = append(layers, b.attn(key+"."+strconv.Itoa(len(layers)), ch, numHeadsUp))
			}
			if level > 0 && i == cfg.NumResBlocks {
				k := key + "." + strconv.Itoa(len(layers))
				if cfg.ResblockUpdown {
					layers = append(layers, b.res(k, ch, ch, true, false))
				} else {
					layers = append(layers, &upsample{key: k, ch: ch, useConv: true})
				}
				ds /= 2
			}
			m.outputBlocks = append(m.outputBlocks, layers)
		}
	}
	return ch
}

// checkGroups verifies every GroupNorm's channels divide into 32 groups.
func (m *Model) checkGroups() error {
	var bad []string
	m.visit(func(l layer) {
		for _, ch := range l.normChannels() {
			if ch%normGroups != 0 {
				bad = append(bad, l.prefix())
				break
			}
		}
	})
	if len(bad) > 0 {
		return fmt.Errorf("unet: GroupNorm needs channels divisible by %d, not so at %v (config %s)", normGroups, bad, m.cfg)
	}
	return nil
}

func (m *Model) visit(fn func(layer)) {
	for _, b := range m.inputBlocks {
		for _, l := range b {
			fn(l)
		}
	}
	for _, l := range m.middleBlock {
		fn(l)
	}
	for _, b := range m.outputBlocks {
		for _, l := range b {
			fn(l)
		}
	}
	for _, l := range m.out {
		fn(l)
	}
}

func (m *Model) collectSpecs() {
	m.shapes = map[string][]int{}
	add := func(name string, dims ...int) {
		m.specs = append(m.specs, Param{Name: name, Shape: dims})
		m.shapes[name] = dims
	}
	m.timeEmbed[0].params(add)
	m.timeEmbed[1].params(add)
	if m.numClasses > 0 {
		add("label_emb.weight", m.numClasses, m.timeEmbedDim)
	}
	m.visit(func(l layer) { l.params(add) })
}

// Config returns the configuration the model was built from.
func (m *Model) Config() Config { return m.cfg }

// Params returns the expected state_dict: every parameter's checkpoint key
// and shape, in the order PyTorch's state_dict lists them. The slice and
// the shapes are the caller's: changing them does not change the model.
func (m *Model) Params() []Param {
	out := make([]Param, len(m.specs))
	for k, p := range m.specs {
		out[k] = Param{Name: p.Name, Shape: slices.Clone(p.Shape)}
	}
	return out
}

// NumParams returns the total number of parameters.
func (m *Model) NumParams() int {
	n := 0
	for _, s := range m.specs {
		p := 1
		for _, d := range s.Shape {
			p *= d
		}
		n += p
	}
	return n
}

// NumClasses returns the number of class labels a class-conditional model
// takes (labels 0 to NumClasses−1), and 0 for an unconditional one.
func (m *Model) NumClasses() int { return m.numClasses }

// ImageSize returns the side of the square images the model was built for.
func (m *Model) ImageSize() int { return m.cfg.ImageSize }

// InChannels returns the number of image channels.
func (m *Model) InChannels() int { return m.cfg.ImageChannels() }

// OutChannels returns the number of output channels (2× InChannels with
// learned variance: ε first, then the variance values).
func (m *Model) OutChannels() int { return m.cfg.outChannels() }

// CheckImageSize returns an error naming size unless the network takes
// size×size images: size must be positive and divisible by its
// downsampling, 2^(levels−1), levels the entries of channel_mult (any such
// size works, not only image_size), and small enough that
// [Model.ForwardFLOPs] counts its operations in an int64.
func (m *Model) CheckImageSize(size int) error {
	if _, why := m.forwardFLOPs(size); why != "" {
		return fmt.Errorf("unet: image size %d %s", size, why)
	}
	return nil
}

// Apply builds the network output for images x [N,C,H,W] (H and W
// divisible by 2^(levels−1), levels the entries of channel_mult; any such
// size works, not only image_size) at timesteps t [N]
// (float32 values as the network receives them), with class labels
// [N] (int, each in [0, NumClasses()): the embedding lookup clamps others)
// for class-conditional models, nil for the others. The weights come
// from ctx, where [Model.Load], [Model.LoadFile] or [Model.InitRandom]
// put them (training sets its initial ones the same way, with
// [SetVariable]); Apply creates none, so a weight missing from ctx, or
// held there with another shape, is an error naming it rather than a
// network with random weights. Like GoMLX's graph functions it panics on
// misuse (a missing weight, x of another rank or channel count, a size
// the downsampling does not divide, labels missing or given to an
// unconditional model); the Exec building the graph returns that panic as
// an error naming the problem.
func (m *Model) Apply(ctx *context.Context, x, t, labels *graph.Node) *graph.Node {
	g := x.Graph()
	w := &weights{ctx: ctx, g: g, m: m, dtype: dtypes.Float32}
	if x.Rank() != 4 || x.Shape().Dim(1) != m.InChannels() {
		panic(fmt.Errorf("unet: input shape %s, want [N,%d,H,W]", x.Shape(), m.InChannels()))
	}
	if f := 1 << (m.levels - 1); x.Shape().Dim(2)%f != 0 || x.Shape().Dim(3)%f != 0 {
		// A size not divisible would be rounded at a downsampling, and the
		// upsampled blocks would not match their skip connections.
		panic(fmt.Errorf("unet: input shape %s: height and width must be divisible by %d (channel_mult has %d levels)",
			x.Shape(), f, m.levels))
	}
	if t.Rank() == 0 {
		t = graph.BroadcastToDims(t, x.Shape().Dim(0))
	}
	emb := timestepEmbedding(graph.ConvertDType(t, dtypes.Float32), m.modelChannels)
	emb = m.timeEmbed[0].apply(w, emb, nil)
	emb = silu(emb)
	emb = m.timeEmbed[1].apply(w, emb, nil)
	if m.numClasses == 0 && labels != nil {
		panic(fmt.Errorf("unet: labels given to a model without classes (class_cond=False)"))
	}
	if m.numClasses > 0 {
		if labels == nil {
			panic(fmt.Errorf("unet: class-conditional model (class_cond) needs labels"))
		}
		table := w.get("label_emb.weight")
		emb = graph.Add(emb, graph.Gather(table, graph.ExpandAxes(graph.ConvertDType(labels, dtypes.Int32), -1)))
	}
	// The torso (input, middle and output blocks) runs in m.DType(); the
	// embedding before it and the output layers after it in float32.
	torso := w.withDType(m.DType())
	h, temb := convertTo(x, torso.dtype), convertTo(emb, torso.dtype)
	hs := make([]*node, 0, len(m.inputBlocks))
	for _, block := range m.inputBlocks {
		for _, l := range block {
			h = l.apply(torso, h, temb)
		}
		hs = append(hs, h)
	}
	for _, l := range m.middleBlock {
		h = l.apply(torso, h, temb)
	}
	for _, block := range m.outputBlocks {
		h = graph.Concatenate([]*node{h, hs[len(hs)-1]}, 1)
		hs = hs[:len(hs)-1]
		for _, l := range block {
			h = l.apply(torso, h, temb)
		}
	}
	h = convertTo(h, dtypes.Float32)
	for _, l := range m.out {
		h = l.apply(w, h, emb)
	}
	return h
}

// timestepEmbedding is guided-diffusion's sinusoidal embedding: for
// half = dim/2 frequencies f_j = exp(−ln(10000)·j/half), [cos(t·f), sin(t·f)]
// (zero-padded to an odd dim). The frequencies are computed in float32, as
// PyTorch does.
func timestepEmbedding(t *node, dim int) *node {
	half := dim / 2
	freqs := make([]float32, half)
	a := float32(-math.Log(10000))
	for j := range freqs {
		freqs[j] = float32(math.Exp(float64(a * float32(j) / float32(half))))
	}
	args := graph.Mul(graph.ExpandAxes(t, -1), graph.ExpandAxes(graph.Const(t.Graph(), freqs), 0))
	emb := graph.Concatenate([]*node{graph.Cos(args), graph.Sin(args)}, -1)
	if dim%2 == 1 {
		emb = graph.Concatenate([]*node{emb, graph.ZerosLike(graph.Slice(emb, graph.AxisRange(), graph.AxisRange(0, 1)))}, -1)
	}
	return emb
}

// weights fetches parameters from the context by checkpoint key.
type weights struct {
	ctx   *context.Context
	g     *graph.Graph
	m     *Model
	dtype dtypes.DType // the dtype parameters are handed out in (see cast)
}

// get returns the parameter named by a checkpoint key as a node, in the
// weights' dtype (see cast).
func (w *weights) get(key string) *node {
	dims, ok := w.m.shapes[key]
	if !ok {
		panic(fmt.Errorf("unet: internal error: parameter %q is not declared", key))
	}
	scope, name := KeyScope(key)
	v := w.ctx.GetVariableByScopeAndName(scope, name)
	switch want := shapes.Make(dtypes.Float32, dims...); {
	case v == nil:
		panic(fmt.Errorf("unet: weight %q (variable %s/%s) is not in the context: load the model's weights first (Model.LoadFile, Model.Load or Model.InitRandom)", key, scope, name))
	case !v.Shape().Equal(want):
		panic(fmt.Errorf("unet: weight %q (variable %s/%s) has shape %s in the context, the model wants %s", key, scope, name, v.Shape(), want))
	}
	return w.cast(key, v.ValueGraph(w.g))
}

// KeyScope splits a checkpoint key into the context scope of its prefix and
// the variable name, where a Model keeps that weight: "a.b.weight" →
// ("/a/b", "weight"). A key without a prefix is a variable of the root
// scope: "weight" → ("/", "weight").
func KeyScope(key string) (scope, name string) {
	i := strings.LastIndex(key, ".")
	if i < 0 {
		return "/", key
	}
	return "/" + strings.ReplaceAll(key[:i], ".", "/"), key[i+1:]
}

// Param is one parameter of the state_dict: its checkpoint key and shape.
type Param struct {
	Name  string
	Shape []int
}
