package checkpoints

import (
	"fmt"
	"slices"
	"strings"
)

// Spec is one tensor a model expects: its state dict key and shape.
type Spec struct {
	Name  string
	Shape []int
}

// maxListed bounds the names listed per category in a Match error.
const maxListed = 20

// Match checks that sd holds exactly the tensors of want, with the same
// shapes and a floating-point dtype (F32, or F16/BF16/F64, which convert).
// config names what want describes (a preset name, a config summary) in the
// error, which names the file (sd.Source) and lists every problem at once:
// counts of missing, unexpected, mis-shaped and non-float tensors, then
// hints when the cause is recognisable (a DataParallel "module." prefix, a
// known public checkpoint layout, learn_sigma or class_cond mismatches),
// then up to 20 names per category. Want's duplicate names are ignored.
func Match(sd *StateDict, want []Spec, config string) error {
	var missing, unexpected, misShaped, notFloat []string
	wantShape := make(map[string][]int, len(want))
	for _, s := range want {
		if _, dup := wantShape[s.Name]; dup {
			continue
		}
		wantShape[s.Name] = s.Shape
		t, ok := sd.Tensors[s.Name]
		if !ok {
			missing = append(missing, s.Name)
			continue
		}
		if !slices.Equal(t.Shape, s.Shape) {
			misShaped = append(misShaped, fmt.Sprintf("%s: file %v, %s wants %v", s.Name, t.Shape, configName(config), s.Shape))
		}
		if !isFloat(t.DType) {
			notFloat = append(notFloat, fmt.Sprintf("%s (%s)", s.Name, t.DType))
		}
	}
	for _, name := range sd.Names {
		if _, ok := wantShape[name]; !ok {
			unexpected = append(unexpected, name)
		}
	}
	if len(missing)+len(unexpected)+len(misShaped)+len(notFloat) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "checkpoints: %s does not match %s (%d tensors in the file, %d expected):",
		sd.Source, configName(config), len(sd.Names), len(want))
	var counts []string
	for _, c := range []struct {
		n    int
		what string
	}{{len(missing), "missing"}, {len(unexpected), "unexpected"}, {len(misShaped), "with the wrong shape"}, {len(notFloat), "not floating-point"}} {
		if c.n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	b.WriteString(" " + strings.Join(counts, ", "))
	for _, h := range matchHints(sd, want, missing, unexpected) {
		b.WriteString("\n  hint: " + h)
	}
	list := func(title string, items []string) {
		if len(items) == 0 {
			return
		}
		fmt.Fprintf(&b, "\n  %s (%d):", title, len(items))
		for _, s := range items[:min(len(items), maxListed)] {
			b.WriteString("\n    " + s)
		}
		if len(items) > maxListed {
			fmt.Fprintf(&b, "\n    ... and %d more", len(items)-maxListed)
		}
	}
	list("missing", missing)
	list("unexpected", unexpected)
	list("wrong shape", misShaped)
	list("not floating-point", notFloat)
	return fmt.Errorf("%s", b.String())
}

func configName(config string) string {
	if config == "" {
		return "the model"
	}
	return "config " + config
}

func isFloat(d DType) bool {
	switch d {
	case F32, F16, BF16, F64:
		return true
	}
	return false
}

// knownLayout describes a public checkpoint by its counts and a few
// telling shapes, to recognise it in errors.
type knownLayout struct {
	name, file string
	tensors    int
	params     int
	shapes     map[string][]int
}

// knownLayouts lists the guided-diffusion checkpoints that DPS and CA-DPS
// use (from their create_model arguments).
func knownLayouts() []knownLayout {
	return []knownLayout{
		{
			name: "FFHQ-256 (ffhq_10m)", file: "ffhq_10m.pt", tensors: 362, params: 93563910,
			shapes: map[string][]int{"input_blocks.0.0.weight": {128, 3, 3, 3}, "out.2.weight": {6, 128, 3, 3}},
		},
		{
			name: "ImageNet-256 unconditional", file: "256x256_diffusion_uncond.pt", tensors: 566, params: 552814086,
			shapes: map[string][]int{"input_blocks.0.0.weight": {256, 3, 3, 3}, "out.2.weight": {6, 256, 3, 3}},
		},
	}
}

// matchHints explains the likely cause of a mismatch, when it is obvious.
func matchHints(sd *StateDict, want []Spec, missing, unexpected []string) []string {
	var hints []string
	wantSet := make(map[string]bool, len(want))
	for _, s := range want {
		wantSet[s.Name] = true
	}
	// A prefix on every key of the file, e.g. "module." from DataParallel.
	if p := commonDottedPrefix(sd.Names); p != "" && len(missing) > 0 {
		hit := 0
		for _, n := range sd.Names {
			if wantSet[strings.TrimPrefix(n, p)] {
				hit++
			}
		}
		if hit > 0 {
			h := fmt.Sprintf("every key of the file starts with %q; without it, %d of %d keys match", p, hit, len(sd.Names))
			if p == "module." {
				h = "keys start with 'module.': the checkpoint was saved from a DataParallel/DistributedDataParallel model " +
					"(save model.module.state_dict(), or strip the prefix); " + h
			}
			hints = append(hints, h)
		}
	}
	// A known public layout.
	for _, l := range knownLayouts() {
		if len(sd.Names) != l.tensors || sd.NumParameters() != l.params {
			continue
		}
		same := true
		for k, s := range l.shapes {
			if t, ok := sd.Tensors[k]; !ok || !slices.Equal(t.Shape, s) {
				same = false
			}
		}
		if same {
			hints = append(hints, fmt.Sprintf("these keys look like the %s layout (%s: %d tensors, %d parameters): use the matching preset",
				l.name, l.file, l.tensors, l.params))
		}
	}
	// learn_sigma: the output convolution has twice the image channels.
	if t, ok := sd.Tensors["out.2.weight"]; ok && len(t.Shape) > 0 {
		for _, s := range want {
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
	if slices.Contains(unexpected, "label_emb.weight") {
		hints = append(hints, "the file has label_emb.weight: it is class-conditional (class_cond=True)")
	}
	if slices.Contains(missing, "label_emb.weight") {
		hints = append(hints, "the file has no label_emb.weight: it is unconditional (class_cond=False)")
	}
	return hints
}

// commonDottedPrefix returns the first dotted component shared by every
// name ("module."), or "" if they do not all share one.
func commonDottedPrefix(names []string) string {
	if len(names) == 0 {
		return ""
	}
	i := strings.IndexByte(names[0], '.')
	if i <= 0 {
		return ""
	}
	p := names[0][:i+1]
	for _, n := range names[1:] {
		if !strings.HasPrefix(n, p) || len(n) == len(p) {
			return ""
		}
	}
	return p
}
