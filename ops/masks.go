package ops

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/cadps/toolkit/cadps/imageio"
)

// Mask types of [MaskOptions].
const (
	MaskBox     = "box"     // one missing box at a random position
	MaskRandom  = "random"  // a random fraction of missing pixels
	MaskExtreme = "extreme" // only a random box observed
	MaskHalf    = "half"    // one half of the image missing
	MaskFile    = "file"    // read from a PNG or JPEG file
)

// MaskOptions describe an inpainting mask as the reference's mask_opt does
// (mask_type, mask_len_range, mask_prob_range, margin), plus the half and
// file masks.
type MaskOptions struct {
	// Type is one of box, random, extreme, half, file.
	Type string
	// LenRange is the box side range [lo, hi): each side is drawn
	// uniformly from lo..hi-1 (numpy's randint), for box and extreme.
	LenRange [2]int
	// Margin is the minimum distance (rows, columns) between the box and
	// the image border, for box and extreme.
	Margin [2]int
	// ProbRange is the range [lo, hi] from which the missing fraction is
	// drawn uniformly, for random.
	ProbRange [2]float64
	// Side is the missing half (left, right, top, bottom), for half.
	Side string
	// Path is the PNG or JPEG file, for file: pixels at least
	// half-bright are observed, darker pixels missing (LoadMask).
	Path string
}

// DefaultMaskOptions returns the reference's defaults for a mask type,
// scaled to an h×w image: on 256×256 a 128×128 box with margin 16 (box and
// extreme), a missing fraction in [0.3, 0.7] (random), the right half (half).
func DefaultMaskOptions(maskType string, h, w int) MaskOptions {
	s := min(h, w)
	return MaskOptions{
		Type:      maskType,
		LenRange:  [2]int{s / 2, s/2 + 1},
		Margin:    [2]int{s / 16, s / 16},
		ProbRange: [2]float64{0.3, 0.7},
		Side:      "right",
	}
}

// maskType is one of the mask types of [MaskOptions]: its name, its spec
// parameters besides mask_type and image_size, whether it is drawn at
// random (so that a reference run must record it, see [FromRecorded]),
// how its parameters are read and checked, how it is made, and the spec
// parameters that make it again.
type maskType struct {
	name   string
	params []string
	random bool
	// setting names what the type draws, which a spec gives in one of
	// the ways (keys joined by "/" forming one way; see onlyOne); "" for
	// a type that draws nothing.
	setting string
	ways    []string
	// read sets the type's options in o from its parameters p, for
	// images of h×w (0×0 when unknown), the reference's keys being ref.
	read func(p *params, o *MaskOptions, ref maskReference, h, w int) error
	// check checks the options o read from p for any image
	// (CheckTask's), or for the size the spec gives (image_size); nil
	// when read checked all there is.
	check func(p *params, o MaskOptions) error
	// make returns the h×w mask of o, drawing from r.
	make func(o MaskOptions, h, w int, r *rand.Rand) ([]float32, error)
	// spec returns the spec parameters besides mask_type that make o's
	// mask, drawn from seed, or "" when a spec cannot give them.
	spec func(o MaskOptions, seed uint64) string
}

// maskTypes returns the mask types, in the order errors list them.
func maskTypes() []maskType {
	box := []string{"size", "min_size", "max_size", "mask_len_range", "margin", "seed"}
	drawBox := func(o MaskOptions, h, w int, r *rand.Rand, mask func(h, w int, b Box) ([]float32, error)) ([]float32, error) {
		b, err := DrawBox(h, w, o.LenRange, o.Margin, r)
		if err != nil {
			return nil, err
		}
		return mask(h, w, b)
	}
	boxSpec := func(o MaskOptions, seed uint64) string {
		if o.Margin[0] != o.Margin[1] {
			return ""
		}
		size := fmt.Sprintf("size=%d", o.LenRange[0])
		if o.LenRange[1] != o.LenRange[0]+1 {
			size = fmt.Sprintf("min_size=%d,max_size=%d", o.LenRange[0], o.LenRange[1]-1)
		}
		return fmt.Sprintf("%s,margin=%d,seed=%d", size, o.Margin[0], seed)
	}
	boxWays := []string{"size", "min_size/max_size", "mask_len_range"}
	return []maskType{
		{name: MaskBox, params: box, random: true, setting: "box side", ways: boxWays,
			read: readBoxOptions, check: checkBoxOptions,
			make: func(o MaskOptions, h, w int, r *rand.Rand) ([]float32, error) { return drawBox(o, h, w, r, BoxMask) },
			spec: boxSpec},
		{name: MaskRandom, params: []string{"fraction", "min_fraction", "max_fraction", "mask_prob_range", "seed"}, random: true,
			setting: "missing fraction", ways: []string{"fraction", "min_fraction/max_fraction", "mask_prob_range"},
			read: readRandomOptions,
			make: func(o MaskOptions, h, w int, r *rand.Rand) ([]float32, error) {
				return RandomMask(h, w, o.ProbRange, r)
			},
			spec: func(o MaskOptions, seed uint64) string {
				if o.ProbRange[1] == o.ProbRange[0] {
					return fmt.Sprintf("fraction=%g,seed=%d", o.ProbRange[0], seed)
				}
				return fmt.Sprintf("min_fraction=%g,max_fraction=%g,seed=%d", o.ProbRange[0], o.ProbRange[1], seed)
			}},
		{name: MaskExtreme, params: box, random: true, setting: "box side", ways: boxWays,
			read: readBoxOptions, check: checkBoxOptions,
			make: func(o MaskOptions, h, w int, r *rand.Rand) ([]float32, error) {
				return drawBox(o, h, w, r, ExtremeMask)
			},
			spec: boxSpec},
		{name: MaskHalf, params: []string{"side"},
			read: func(p *params, o *MaskOptions, _ maskReference, _, _ int) (err error) {
				o.Side, err = p.string(o.Side, "side")
				return err
			},
			check: func(_ *params, o MaskOptions) error {
				if _, err := HalfMask(1, 1, o.Side); err != nil {
					return fmt.Errorf("inpainting: %w", err)
				}
				return nil
			},
			make: func(o MaskOptions, h, w int, _ *rand.Rand) ([]float32, error) { return HalfMask(h, w, o.Side) },
			spec: func(o MaskOptions, _ uint64) string { return "side=" + o.Side }},
		{name: MaskFile, params: []string{"path"},
			read: func(p *params, o *MaskOptions, _ maskReference, _, _ int) (err error) {
				o.Path, err = p.string("", "path")
				return err
			},
			check: func(_ *params, o MaskOptions) error {
				if o.Path == "" {
					return fmt.Errorf("inpainting: mask file: %s", noMaskPath)
				}
				return nil
			},
			make: func(o MaskOptions, h, w int, _ *rand.Rand) ([]float32, error) { return LoadMask(o.Path, h, w) },
			spec: func(o MaskOptions, _ uint64) string {
				if strings.Contains(o.Path, ",") || strings.TrimSpace(o.Path) != o.Path {
					return ""
				}
				return "path=" + o.Path
			}},
	}
}

// lookupMaskType returns the mask type named name, or an error listing
// the known ones.
func lookupMaskType(name string) (maskType, error) {
	var names []string
	for _, t := range maskTypes() {
		if t.name == name {
			return t, nil
		}
		names = append(names, t.name)
	}
	return maskType{}, fmt.Errorf("unknown mask type %q (known: %s)", name, strings.Join(names, ", "))
}

// spec returns the spec parameters that make the mask the options
// describe, drawn from seed ("mask_type=box,size=128,margin=16,seed=3"),
// or "" when a spec cannot give them: a margin with two sides, a path
// holding a comma.
func (o MaskOptions) spec(seed uint64) string {
	t, err := lookupMaskType(o.Type)
	if err != nil {
		return ""
	}
	params := t.spec(o, seed)
	if params == "" {
		return ""
	}
	return "mask_type=" + o.Type + "," + params
}

// Mask generates the h×w mask (row-major, 1 = observed) the options
// describe, drawing its random parts from seed.
func (o MaskOptions) Mask(h, w int, seed uint64) ([]float32, error) {
	if err := checkMaskSize(h, w); err != nil {
		return nil, err
	}
	t, err := lookupMaskType(o.Type)
	if err != nil {
		return nil, err
	}
	return t.make(o, h, w, rand.New(rand.NewPCG(seed, 0x6d61736b))) // "mask"
}

// Box is a rectangle of an image, in pixels.
type Box struct {
	Top, Left, Height, Width int
}

// checkMaskSize returns an error unless an h×w mask has pixels.
func checkMaskSize(h, w int) error {
	if h <= 0 || w <= 0 {
		return fmt.Errorf("mask size must be positive, got %dx%d", h, w)
	}
	return nil
}

// noRand says what a mask generator given no random generator lacks.
const noRand = "no random generator (a nil *rand.Rand)"

// DrawBox draws a box as the reference's mask generator does: each side
// uniformly from lenRange[0]..lenRange[1]-1, then the top row uniformly from
// margin[0]..h-margin[0]-height-1 and the left column from
// margin[1]..w-margin[1]-width-1 (numpy randint bounds, upper excluded), so
// that the largest side plus twice the margin must be below h and w. A nil
// r is an error.
func DrawBox(h, w int, lenRange, margin [2]int, r *rand.Rand) (Box, error) {
	if err := checkBox(h, w, lenRange, margin); err != nil {
		return Box{}, err
	}
	if r == nil {
		return Box{}, fmt.Errorf("box: %s", noRand)
	}
	lo, hi := lenRange[0], lenRange[1]
	b := Box{Height: lo + r.IntN(hi-lo), Width: lo + r.IntN(hi-lo)}
	b.Top = margin[0] + r.IntN(h-margin[0]-b.Height-margin[0])
	b.Left = margin[1] + r.IntN(w-margin[1]-b.Width-margin[1])
	return b, nil
}

// checkBox checks what DrawBox checks before it draws a box in an h×w
// image: the side range, the margin, and that the largest side plus twice
// the margin is below h and w.
func checkBox(h, w int, lenRange, margin [2]int) error {
	if err := checkBoxRange(lenRange); err != nil {
		return err
	}
	if err := checkBoxMargin(margin); err != nil {
		return err
	}
	switch hi := lenRange[1]; {
	case hi-1+2*margin[0] >= h:
		return boxFitError(hi-1, margin[0], h, "height", "rows")
	case hi-1+2*margin[1] >= w:
		return boxFitError(hi-1, margin[1], w, "width", "columns")
	}
	return nil
}

// checkBoxRange checks a box's side range [lo, hi), as far as no image is
// needed (DrawBox's check before it fits the box to one).
func checkBoxRange(lenRange [2]int) error {
	if lo, hi := lenRange[0], lenRange[1]; lo <= 0 || hi <= lo {
		return fmt.Errorf("box side range [%d,%d) must be non-empty and positive", lo, hi)
	}
	return nil
}

// checkBoxMargin checks a box's margin from the image's border.
func checkBoxMargin(margin [2]int) error {
	if margin[0] < 0 || margin[1] < 0 {
		return fmt.Errorf("box margin %v must not be negative", margin)
	}
	return nil
}

// boxFitError explains why a box of the given largest side and margin
// along an axis of length n has no position to be drawn at.
func boxFitError(side, margin, n int, axis, cells string) error {
	return fmt.Errorf("a box of side up to %d with a margin of %d %s has no position to be drawn at: "+
		"side + 2·margin must be below the %s, here %d + 2·%d = %d for a %s of %d; give a smaller size or margin",
		side, margin, cells, axis, side, margin, side+2*margin, axis, n)
}

// BoxMask returns the h×w mask with the box missing.
func BoxMask(h, w int, b Box) ([]float32, error) {
	if b.Height <= 0 || b.Width <= 0 || b.Top < 0 || b.Left < 0 || b.Top+b.Height > h || b.Left+b.Width > w {
		return nil, fmt.Errorf("box %+v does not lie inside the image %dx%d", b, h, w)
	}
	m := make([]float32, h*w)
	for i := range m {
		m[i] = 1
	}
	for y := b.Top; y < b.Top+b.Height; y++ {
		for x := b.Left; x < b.Left+b.Width; x++ {
			m[y*w+x] = 0
		}
	}
	return m, nil
}

// ExtremeMask returns the h×w mask with only the box observed (the
// reference's "extreme" mask, 1 - box mask).
func ExtremeMask(h, w int, b Box) ([]float32, error) {
	m, err := BoxMask(h, w, b)
	if err != nil {
		return nil, err
	}
	for i, v := range m {
		m[i] = 1 - v
	}
	return m, nil
}

// RandomMask returns an h×w mask missing a random set of pixels, as the
// reference's random mask: a fraction p drawn uniformly from probRange,
// then int(h·w·p) distinct pixels chosen uniformly. h and w must be
// positive, and r not nil.
func RandomMask(h, w int, probRange [2]float64, r *rand.Rand) ([]float32, error) {
	if err := checkMaskSize(h, w); err != nil {
		return nil, err
	}
	lo, hi := probRange[0], probRange[1]
	if !(lo >= 0 && hi <= 1 && lo <= hi) {
		return nil, fmt.Errorf("missing fraction range [%g,%g] must satisfy 0 <= lo <= hi <= 1", lo, hi)
	}
	if r == nil {
		return nil, fmt.Errorf("random mask: %s", noRand)
	}
	p := lo + (hi-lo)*r.Float64()
	n := h * w
	missing := int(float64(n) * p)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	m := make([]float32, n)
	for i := range m {
		m[i] = 1
	}
	// A partial Fisher–Yates shuffle picks the missing pixels.
	for i := range missing {
		j := i + r.IntN(n-i)
		idx[i], idx[j] = idx[j], idx[i]
		m[idx[i]] = 0
	}
	return m, nil
}

// HalfMask returns the h×w mask with one half missing: side is "left",
// "right", "top" or "bottom" (the missing half; the middle column or row of
// an odd size stays observed). h and w must be positive.
func HalfMask(h, w int, side string) ([]float32, error) {
	if err := checkMaskSize(h, w); err != nil {
		return nil, err
	}
	switch side {
	case "left", "right", "top", "bottom":
	default:
		return nil, fmt.Errorf("half mask side %q is not left, right, top or bottom", side)
	}
	m := make([]float32, h*w)
	for y := range h {
		for x := range w {
			var missing bool
			switch side {
			case "left":
				missing = x < w/2
			case "right":
				missing = x >= w-w/2
			case "top":
				missing = y < h/2
			case "bottom":
				missing = y >= h-h/2
			}
			if !missing {
				m[y*w+x] = 1
			}
		}
	}
	return m, nil
}

// noMaskPath says what a file mask without its path lacks.
const noMaskPath = "no path given (path=MASK.png)"

// LoadMask reads an h×w mask from a PNG or JPEG file, as the toolkit
// reads an image (imageio.Load, as gray): pixels whose grey level is at
// least half the maximum are observed (1), darker ones missing (0). A
// file imageio refuses (another format, a PNG cut short) is refused with
// its error, and one of another size before its pixels are decoded.
func LoadMask(path string, h, w int) ([]float32, error) {
	if path == "" {
		return nil, fmt.Errorf("mask file: %s", noMaskPath)
	}
	hdr, err := imageio.ReadHeader(path)
	if err != nil {
		return nil, fmt.Errorf("mask file: %w", err)
	}
	if hdr.Height != h || hdr.Width != w {
		return nil, fmt.Errorf("mask file %s is %dx%d, the image is %dx%d", path, hdr.Height, hdr.Width, h, w)
	}
	im, err := imageio.Load(path, imageio.WithMode(imageio.Gray))
	if err != nil {
		return nil, fmt.Errorf("mask file: %w", err)
	}
	m := make([]float32, h*w)
	for i, v := range im.Pix {
		if v >= 0.5 {
			m[i] = 1
		}
	}
	return m, nil
}
