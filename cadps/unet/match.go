package unet

import (
	"fmt"
	"slices"

	"github.com/cadps/toolkit/checkpoints"
)

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

// MatchHints is the checkpoints.Hint of guided-diffusion UNets: it
// recognises a known public checkpoint, and learn_sigma and class_cond set
// otherwise than in the file.
func MatchHints(sd *checkpoints.StateDict, m checkpoints.Mismatch) []string {
	var hints []string
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
	return hints
}
