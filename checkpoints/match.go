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
// error, a *MatchError, which names the file (sd.Source) and lists every
// problem at once: counts of missing, unexpected, mis-shaped and non-float
// tensors, then hints when the cause is recognisable (a DataParallel
// "module." prefix, and whatever the model's hints recognise), then up to
// 20 names per category. Want's duplicate names are ignored. A nil sd is
// an error.
func Match(sd *StateDict, want []Spec, config string, hints ...Hint) error {
	if sd == nil {
		return fmt.Errorf("checkpoints: no state dict to match against %s (nil)", configName(config))
	}
	e := &MatchError{Source: sd.Source, Config: config, InFile: len(sd.Names), Expected: len(want)}
	wantShape := make(map[string][]int, len(want))
	for _, s := range want {
		if _, dup := wantShape[s.Name]; dup {
			continue
		}
		wantShape[s.Name] = s.Shape
		t, ok := sd.Tensors[s.Name]
		if !ok {
			e.Missing = append(e.Missing, s.Name)
			continue
		}
		if !slices.Equal(t.Shape, s.Shape) {
			e.WrongShape = append(e.WrongShape, ShapeMismatch{Name: s.Name, File: t.Shape, Want: s.Shape})
		}
		if !isFloat(t.DType) {
			e.NotFloat = append(e.NotFloat, fmt.Sprintf("%s (%s)", s.Name, t.DType))
		}
	}
	for _, name := range sd.Names {
		if _, ok := wantShape[name]; !ok {
			e.Unexpected = append(e.Unexpected, name)
		}
	}
	if len(e.Missing)+len(e.Unexpected)+len(e.WrongShape)+len(e.NotFloat) == 0 {
		return nil
	}
	m := Mismatch{Want: want, Missing: e.Missing, Unexpected: e.Unexpected}
	e.Hints = prefixHints(sd, m)
	for _, h := range hints {
		e.Hints = append(e.Hints, h(sd, m)...)
	}
	return e
}

// MatchError is what Match found wrong in a file.
type MatchError struct {
	// Source is the file, Config what the model is (see Match).
	Source, Config string
	// InFile and Expected count the tensors of the file and of the model.
	InFile, Expected int
	// Missing and Unexpected name the tensors the model has and the file
	// lacks, and those the file has and the model lacks.
	Missing, Unexpected []string
	// WrongShape lists the tensors whose shapes differ.
	WrongShape []ShapeMismatch
	// NotFloat lists the tensors of an integer or bool dtype, with it:
	// "name (I64)".
	NotFloat []string
	// Hints explain the mismatch where its cause is recognised.
	Hints []string
}

// ShapeMismatch is a tensor whose shape in the file is not the model's.
type ShapeMismatch struct {
	Name       string
	File, Want []int
}

// String renders it as "name: file [a b], wanted [c d]".
func (s ShapeMismatch) String() string {
	return fmt.Sprintf("%s: file %v, wanted %v", s.Name, s.File, s.Want)
}

// head returns the first line of the error: the file, the model, and how
// many tensors of each category there are.
func (e *MatchError) head() string {
	var counts []string
	for _, c := range []struct {
		n    int
		what string
	}{{len(e.Missing), "missing"}, {len(e.Unexpected), "unexpected"}, {len(e.WrongShape), "with the wrong shape"}, {len(e.NotFloat), "not floating-point"}} {
		if c.n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	return fmt.Sprintf("checkpoints: %s does not match %s (%d tensors in the file, %d expected): %s",
		e.Source, configName(e.Config), e.InFile, e.Expected, strings.Join(counts, ", "))
}

// categories returns the lists of the error, titled, with wrong shapes
// rendered by shape.
func (e *MatchError) categories(shape func(ShapeMismatch) string) []struct {
	title string
	items []string
} {
	wrong := make([]string, len(e.WrongShape))
	for i, s := range e.WrongShape {
		wrong[i] = shape(s)
	}
	return []struct {
		title string
		items []string
	}{{"missing", e.Missing}, {"unexpected", e.Unexpected}, {"wrong shape", wrong}, {"not floating-point", e.NotFloat}}
}

// Error lists, after the first line, the hints and up to 20 tensors of
// each category, one a line.
func (e *MatchError) Error() string {
	var b strings.Builder
	b.WriteString(e.head())
	for _, h := range e.Hints {
		b.WriteString("\n  hint: " + h)
	}
	for _, c := range e.categories(ShapeMismatch.String) {
		if len(c.items) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n  %s (%d):", c.title, len(c.items))
		for _, s := range c.items[:min(len(c.items), maxListed)] {
			b.WriteString("\n    " + s)
		}
		if len(c.items) > maxListed {
			fmt.Fprintf(&b, "\n    ... and %d more", len(c.items)-maxListed)
		}
	}
	return b.String()
}

// Summary renders the error on one line: the first line, the hints, and
// the first n tensors of each category (wrong shapes with both shapes).
func (e *MatchError) Summary(n int) string {
	var b strings.Builder
	b.WriteString(e.head())
	for _, h := range e.Hints {
		b.WriteString("; hint: " + h)
	}
	shape := func(s ShapeMismatch) string { return fmt.Sprintf("%s (file %v, wanted %v)", s.Name, s.File, s.Want) }
	for _, c := range e.categories(shape) {
		if len(c.items) == 0 {
			continue
		}
		fmt.Fprintf(&b, "; %s: %s", c.title, strings.Join(c.items[:min(len(c.items), n)], ", "))
		if len(c.items) > n {
			fmt.Fprintf(&b, " and %d more", len(c.items)-n)
		}
	}
	return b.String()
}

// oneLineListed is how many tensors of each category OneLine names.
const oneLineListed = 3

// OneLine returns the error as one line, its Summary with the first three
// tensors of each category, for messages that must stay on one line; the
// result wraps e, so errors.As still finds the whole MatchError.
func (e *MatchError) OneLine() error {
	return &oneLineError{msg: e.Summary(oneLineListed), err: e}
}

// oneLineError is a MatchError shown as its summary.
type oneLineError struct {
	msg string
	err *MatchError
}

// Error implements error.
func (e *oneLineError) Error() string { return e.msg }

// Unwrap returns the whole MatchError.
func (e *oneLineError) Unwrap() error { return e.err }

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
	h := fmt.Sprintf("every key of the file starts with %s; without it, %d of %d keys match", quoteName(p), hit, len(sd.Names))
	if p == "module." {
		h = "keys start with 'module.': the checkpoint was saved from a DataParallel/DistributedDataParallel model " +
			"(save model.module.state_dict(), or strip the prefix: StateDict.TrimPrefix, or cadps convert -strip-prefix module.); " + h
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
