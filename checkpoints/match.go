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

// Mismatch is what Match found wrong, for the hints of a model's loader.
type Mismatch struct {
	// Want is the expected layout.
	Want []Spec
	// Missing and Unexpected name the tensors want has and the file lacks,
	// and those the file has and want lacks.
	Missing, Unexpected []string
}

// Hint returns explanations of a mismatch that a model recognises (a
// known public checkpoint, an architecture option set differently), or
// none.
type Hint func(sd *StateDict, m Mismatch) []string

// Match checks that sd holds exactly the tensors of want, with the same
// shapes and a floating-point dtype (F32, or F16/BF16/F64, which convert).
// config names what want describes (a preset name, a config summary) in the
// error, which names the file (sd.Source) and lists every problem at once:
// counts of missing, unexpected, mis-shaped and non-float tensors, then
// hints when the cause is recognisable (a DataParallel "module." prefix,
// and whatever the model's hints recognise), then up to 20 names per
// category. Want's duplicate names are ignored.
func Match(sd *StateDict, want []Spec, config string, hints ...Hint) error {
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
	m := Mismatch{Want: want, Missing: missing, Unexpected: unexpected}
	found := prefixHints(sd, m)
	for _, h := range hints {
		found = append(found, h(sd, m)...)
	}
	for _, h := range found {
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

// prefixHints recognises a prefix on every key of the file, e.g. "module."
// from DataParallel.
func prefixHints(sd *StateDict, m Mismatch) []string {
	p := commonDottedPrefix(sd.Names)
	if p == "" || len(m.Missing) == 0 {
		return nil
	}
	wantSet := make(map[string]bool, len(m.Want))
	for _, s := range m.Want {
		wantSet[s.Name] = true
	}
	hit := 0
	for _, n := range sd.Names {
		if wantSet[strings.TrimPrefix(n, p)] {
			hit++
		}
	}
	if hit == 0 {
		return nil
	}
	h := fmt.Sprintf("every key of the file starts with %q; without it, %d of %d keys match", p, hit, len(sd.Names))
	if p == "module." {
		h = "keys start with 'module.': the checkpoint was saved from a DataParallel/DistributedDataParallel model " +
			"(save model.module.state_dict(), or strip the prefix); " + h
	}
	return []string{h}
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
