package unet

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/cadps/toolkit/checkpoints"
)

// knownLayout is a released guided-diffusion checkpoint: the create_model
// arguments it was trained with, and the preset that loads it, if any.
type knownLayout struct {
	name, file, preset string
	cfg                Config
}

// knownLayouts lists the released guided-diffusion checkpoints, with the
// create_model arguments their authors publish (DPS's model config for
// ffhq_10m.pt, guided-diffusion's README for the others). The LSUN models
// share 256x256_diffusion_uncond.pt's layout.
func knownLayouts() []knownLayout {
	imagenet := func(size int, classCond bool) Config {
		c := ImageNet256()
		c.ImageSize, c.ClassCond = size, classCond
		return c
	}
	in64 := imagenet(64, true)
	in64.NumChannels, in64.NumResBlocks, in64.UseNewAttentionOrder = 192, 3, true
	in128 := imagenet(128, true)
	in128.NumHeadChannels = -1 // 4 heads of any width
	in512 := imagenet(512, true)
	in512.UseFP16 = false
	return []knownLayout{
		{name: "FFHQ-256 (ffhq_10m)", file: "ffhq_10m.pt", preset: "ffhq256", cfg: FFHQ256()},
		{name: "ImageNet-256 unconditional", file: "256x256_diffusion_uncond.pt, or an LSUN model such as lsun_bedroom.pt", preset: "imagenet256", cfg: ImageNet256()},
		{name: "ImageNet-256 class-conditional", file: "256x256_diffusion.pt", cfg: imagenet(256, true)},
		{name: "ImageNet-64 class-conditional", file: "64x64_diffusion.pt", cfg: in64},
		{name: "ImageNet-128 class-conditional", file: "128x128_diffusion.pt", cfg: in128},
		{name: "ImageNet-512 class-conditional", file: "512x512_diffusion.pt", cfg: in512},
	}
}

// recognise returns the hint naming the known layout sd has, if any: the
// same tensors, with the same shapes.
func (l knownLayout) recognise(sd *checkpoints.StateDict) (string, bool) {
	m, err := New(l.cfg)
	if err != nil || len(sd.Names) != len(m.specs) {
		return "", false
	}
	for _, p := range m.specs {
		if t, ok := sd.Tensors[p.Name]; !ok || !slices.Equal(t.Shape, p.Shape) {
			return "", false
		}
	}
	h := fmt.Sprintf("these keys look like the %s layout (%s: %d tensors, %d parameters): ", l.name, l.file, len(m.specs), m.NumParams())
	if l.preset != "" {
		return h + "use its preset, " + l.preset, true
	}
	return h + "give a model config, a JSON file of its create_model arguments, " + l.cfg.String(), true
}

// MatchHints is the checkpoints.Hint of guided-diffusion UNets: it
// recognises a known public checkpoint, and learn_sigma, class_cond,
// use_scale_shift_norm, resblock_updown and attention_resolutions set
// otherwise than in the file. [Model.Match] adds the resolutions of the
// attention blocks that differ, which need the model's configuration. A
// nil sd has no hints.
func MatchHints(sd *checkpoints.StateDict, m checkpoints.Mismatch) []string {
	if sd == nil {
		return nil
	}
	return matchHints(sd, m, nil)
}

// matchHints is MatchHints, with the resolution of each block when cfg is
// given.
func matchHints(sd *checkpoints.StateDict, m checkpoints.Mismatch, cfg *Config) []string {
	var hints []string
	for _, l := range knownLayouts() {
		if h, ok := l.recognise(sd); ok {
			hints = append(hints, h)
		}
	}
	// learn_sigma: the output convolution has twice the image channels.
	if t, ok := sd.Tensors["out.2.weight"]; ok && len(t.Shape) > 0 {
		for _, s := range m.Want {
			if s.Name == "out.2.weight" && len(s.Shape) > 0 && t.Shape[0] != s.Shape[0] {
				switch {
				case t.Shape[0] == 2*s.Shape[0]:
					hints = append(hints, fmt.Sprintf("the file's output has %d channels, twice the %d expected: it was trained with learn_sigma=True", t.Shape[0], s.Shape[0]))
				case 2*t.Shape[0] == s.Shape[0]:
					hints = append(hints, fmt.Sprintf("the file's output has %d channels, half the %d expected: it was trained with learn_sigma=False", t.Shape[0], s.Shape[0]))
				}
			}
		}
	}
	// class_cond: the label embedding.
	if slices.Contains(m.Unexpected, "label_emb.weight") {
		hints = append(hints, "the file has label_emb.weight: it is class-conditional (class_cond=True)")
	}
	if slices.Contains(m.Missing, "label_emb.weight") {
		hints = append(hints, "the file has no label_emb.weight: it is unconditional (class_cond=False)")
	}
	hints = append(hints, scaleShiftHint(sd, m)...)
	hints = append(hints, updownHints(m)...)
	// Attention blocks are told apart by their block's index, which means
	// the same place in the network only where the blocks are laid out
	// alike.
	if h := layoutHints(sd, m); len(h) > 0 {
		return append(hints, h...)
	}
	hints = append(hints, attentionHints(sd, m, cfg)...)
	return hints
}

// blockLayout describes how a state dict's blocks are laid out: the
// number of input blocks (as many as output blocks), and the blocks whose
// first layer is a residual block that changes the channel count (it has
// a skip_connection), which mark where channel_mult changes.
func blockLayout(names []string) (inputs int, skips []string) {
	for _, n := range names {
		if rest, ok := strings.CutPrefix(n, "input_blocks."); ok {
			if i, err := strconv.Atoi(rest[:max(0, strings.IndexByte(rest, '.'))]); err == nil {
				inputs = max(inputs, i+1)
			}
		}
		if p, ok := strings.CutSuffix(n, ".0.skip_connection.weight"); ok && strings.HasSuffix(p[:max(0, strings.LastIndexByte(p, '.'))], "_blocks") {
			skips = append(skips, p+".0")
		}
	}
	return inputs, skips
}

// layoutHints recognises a file whose blocks are laid out otherwise than
// the model's: another number of blocks (num_res_blocks, or the number of
// levels of channel_mult), or channel counts that change at other blocks.
func layoutHints(sd *checkpoints.StateDict, m checkpoints.Mismatch) []string {
	wantNames := make([]string, len(m.Want))
	for i, s := range m.Want {
		wantNames[i] = s.Name
	}
	fileIn, fileSkips := blockLayout(sd.Names)
	modelIn, modelSkips := blockLayout(wantNames)
	if fileIn == 0 || modelIn == 0 {
		return nil // not a UNet's keys, or under a prefix
	}
	if fileIn != modelIn {
		return []string{fmt.Sprintf("the file has %d input blocks (input_blocks.0 to input_blocks.%d), the model %d: it was trained with other num_res_blocks, "+
			"or another number of levels in channel_mult (whose default depends on image_size)", fileIn, fileIn-1, modelIn)}
	}
	onlyFile, onlyModel := without(fileSkips, modelSkips), without(modelSkips, fileSkips)
	if len(onlyFile)+len(onlyModel) == 0 {
		return nil
	}
	return []string{fmt.Sprintf("the file's residual blocks change the channel count at other blocks than the model's (file: %s; model: %s): it was trained with other num_res_blocks or channel_mult",
		orNone(onlyFile), orNone(onlyModel))}
}

// without returns the elements of a that b lacks, in a's order.
func without(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

// orNone lists blocks, or says there are none.
func orNone(b []string) string {
	if len(b) == 0 {
		return "none"
	}
	return listBlocks(b)
}

// scaleShiftHint recognises use_scale_shift_norm set otherwise than in the
// file: a residual block's emb_layers.1 projects the timestep embedding to
// a scale and a shift (twice the block's channels, those of its
// out_layers.0 norm) with it, to a shift alone (the block's channels)
// without it. The file's blocks and the model's are each judged by their
// own channels, so that other widths are not taken for it.
func scaleShiftHint(sd *checkpoints.StateDict, m checkpoints.Mismatch) []string {
	want := make(map[string][]int, len(m.Want))
	for _, s := range m.Want {
		want[s.Name] = s.Shape
	}
	// scaleShift reports whether a projection of rows rows serves a block
	// of out channels with scale and shift, and whether it is either.
	scaleShift := func(rows, out []int) (on, known bool) {
		if len(rows) == 0 || len(out) == 0 {
			return false, false
		}
		return rows[0] == 2*out[0], rows[0] == 2*out[0] || rows[0] == out[0]
	}
	var on, off []string
	for _, s := range m.Want {
		p, ok := strings.CutSuffix(s.Name, ".emb_layers.1.weight")
		ft, ok1 := sd.Tensors[s.Name]
		fo, ok2 := sd.Tensors[p+".out_layers.0.weight"]
		if !ok || !ok1 || !ok2 {
			continue
		}
		fileOn, fileKnown := scaleShift(ft.Shape, fo.Shape)
		modelOn, modelKnown := scaleShift(s.Shape, want[p+".out_layers.0.weight"])
		if !fileKnown || !modelKnown || fileOn == modelOn {
			continue
		}
		e := fmt.Sprintf("%s: file %v, wanted %v", s.Name, ft.Shape, s.Shape)
		if fileOn {
			on = append(on, e)
		} else {
			off = append(off, e)
		}
	}
	switch {
	case len(on) > 0 && len(off) == 0:
		return []string{fmt.Sprintf("the file's residual blocks project the timestep embedding to a scale and a shift, twice their channels (%s): it was trained with use_scale_shift_norm=True", on[0])}
	case len(off) > 0 && len(on) == 0:
		return []string{fmt.Sprintf("the file's residual blocks project the timestep embedding to a shift alone, as many rows as their channels (%s): it was trained with use_scale_shift_norm=False", off[0])}
	}
	return nil
}

// updownHints recognises resblock_updown set otherwise than in the file:
// without it, a block that halves the resolution is a strided convolution
// (<block>.op) and one that doubles it an upsampling convolution
// (<block>.conv); with it, both are residual blocks (<block>.in_layers...).
func updownHints(m checkpoints.Mismatch) []string {
	missing := make(map[string]bool, len(m.Missing))
	for _, n := range m.Missing {
		missing[n] = true
	}
	unexpected := make(map[string]bool, len(m.Unexpected))
	for _, n := range m.Unexpected {
		unexpected[n] = true
	}
	// convBlocks returns the blocks whose convolution keys are among names
	// and whose residual block keys are in other.
	convBlocks := func(names []string, other map[string]bool) []string {
		var out []string
		for _, n := range names {
			p, ok := strings.CutSuffix(n, ".op.weight")
			if !ok {
				p, ok = strings.CutSuffix(n, ".conv.weight")
			}
			if ok && other[p+".in_layers.0.weight"] {
				out = append(out, p)
			}
		}
		return out
	}
	var hints []string
	if b := convBlocks(m.Unexpected, missing); len(b) > 0 {
		hints = append(hints, fmt.Sprintf("the file's resampling blocks are plain convolutions (%s) where the model has residual blocks: it was trained with resblock_updown=False", listBlocks(b)))
	}
	if b := convBlocks(m.Missing, unexpected); len(b) > 0 {
		hints = append(hints, fmt.Sprintf("the file's resampling blocks are residual blocks (%s) where the model has plain convolutions: it was trained with resblock_updown=True", listBlocks(b)))
	}
	return hints
}

// attentionHints recognises attention_resolutions set otherwise than in
// the file: attention blocks (<block>.<i>.qkv) that one has and the other
// lacks, in blocks both have. With cfg, it names their resolutions.
func attentionHints(sd *checkpoints.StateDict, m checkpoints.Mismatch, cfg *Config) []string {
	var sizes map[string]int
	if cfg != nil {
		sizes = blockResolutions(*cfg)
	}
	blocksOf := func(names []string) map[string]bool {
		out := map[string]bool{}
		for _, n := range names {
			if i := strings.IndexByte(n, '.'); i > 0 && strings.HasSuffix(n[:i], "_blocks") {
				if j := strings.IndexByte(n[i+1:], '.'); j > 0 {
					out[n[:i+1+j]] = true // "input_blocks.4"
				}
			} else if strings.HasPrefix(n, "middle_block.") {
				out["middle_block"] = true
			}
		}
		return out
	}
	wantNames := make([]string, len(m.Want))
	for i, s := range m.Want {
		wantNames[i] = s.Name
	}
	fileBlocks, modelBlocks := blocksOf(sd.Names), blocksOf(wantNames)
	// extra returns the attention blocks among names whose block the other
	// side has, and their resolutions.
	extra := func(names []string, other map[string]bool) ([]string, string) {
		var out []string
		res := map[int]bool{}
		for _, n := range names {
			p, ok := strings.CutSuffix(n, ".qkv.weight")
			if !ok || strings.LastIndexByte(p, '.') < 0 || !other[p[:strings.LastIndexByte(p, '.')]] {
				continue
			}
			out = append(out, p)
			if r, ok := sizes[p[:strings.LastIndexByte(p, '.')]]; ok {
				res[r] = true
			}
		}
		var rs []string
		for _, r := range slices.Sorted(maps.Keys(res)) {
			rs = append(rs, strconv.Itoa(r))
		}
		return out, strings.Join(rs, ",")
	}
	var hints []string
	for _, c := range []struct {
		names []string
		other map[string]bool
		which string
	}{
		{m.Unexpected, modelBlocks, "the file has attention blocks where the model has none"},
		{m.Missing, fileBlocks, "the model has attention blocks where the file has none"},
	} {
		b, res := extra(c.names, c.other)
		if len(b) == 0 {
			continue
		}
		h := fmt.Sprintf("%s (%s)", c.which, listBlocks(b))
		if res != "" {
			h += ", at resolution " + res
		}
		hints = append(hints, h+": it was trained with other attention_resolutions")
	}
	return hints
}

// listBlocks names the first blocks of a list, and how many more there are.
func listBlocks(b []string) string {
	const n = 3
	s := strings.Join(b[:min(len(b), n)], ", ")
	if len(b) > n {
		s += fmt.Sprintf(" and %d more", len(b)-n)
	}
	return s
}

// blockResolutions returns the spatial size that each block of a model of
// cfg works at, by key ("input_blocks.4", "middle_block",
// "output_blocks.3"), laid out as New lays them out.
func blockResolutions(cfg Config) map[string]int {
	mult, err := cfg.channelMult()
	if err != nil {
		return nil
	}
	out := map[string]int{"input_blocks.0": cfg.ImageSize}
	ds, k := 1, 1
	for level := range mult {
		for range cfg.NumResBlocks {
			out["input_blocks."+strconv.Itoa(k)] = cfg.ImageSize / ds
			k++
		}
		if level != len(mult)-1 {
			ds *= 2
			out["input_blocks."+strconv.Itoa(k)] = cfg.ImageSize / ds
			k++
		}
	}
	out["middle_block"] = cfg.ImageSize / ds
	k = 0
	for level := len(mult) - 1; level >= 0; level-- {
		for i := 0; i <= cfg.NumResBlocks; i++ {
			out["output_blocks."+strconv.Itoa(k)] = cfg.ImageSize / ds
			k++
			if level > 0 && i == cfg.NumResBlocks {
				ds /= 2
			}
		}
	}
	return out
}
