package ops

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cadps/toolkit/internal/specs"
)

// Task describes a measurement task: its operator's name, its aliases and
// its parameters. (A method's step size for a task is the method's
// knowledge: guidance.DefaultScale.)
type Task struct {
	// Name is the operator's name (Operator.Name).
	Name string
	// Aliases are other names Parse accepts; an alias may preset
	// parameters (inpaint_box is inpainting with mask_type=box).
	Aliases []string
	// Params documents the spec parameters, with their defaults.
	Params string
	// Kind is the family of degradation the task's operators model (the
	// Kind they report).
	Kind Kind
}

// taskBuilder builds a task's operator from its parameters for an image
// shape, drawing random parts from seed. A nil shape is [CheckTask]'s: the
// builder then checks the parameters alone, reads no file, and may return
// a nil operator.
type taskBuilder func(p *params, imageShape []int, seed uint64) (Operator, error)

// taskEntry is a task with its builder and its aliases, each with the
// parameters it presets (nil for none).
type taskEntry struct {
	Task
	build   taskBuilder
	aliases map[string]map[string]any
	// recorded builds the operator of a reference run from its recorded
	// parts (FromRecorded); nil for tasks without random parts.
	recorded recordedBuilder
}

func taskTable() []taskEntry {
	mask := func(t string) map[string]any { return map[string]any{"mask_type": t} }
	return []taskEntry{
		{Task{Name: "super_resolution",
			Params: "factor|scale_factor (required), kernel=cubic (cubic, lanczos2, lanczos3, box, linear; bicubic is cubic, bilinear linear)", Kind: KindSuperResolution}, buildSuperResolution,
			map[string]map[string]any{"sr": nil}, nil},
		{Task{Name: "gaussian_blur",
			Params: "kernel_size=61, intensity|sigma=3.0", Kind: KindBlur}, buildGaussianBlur, nil, recordedGaussianBlur},
		{Task{Name: "motion_blur",
			Params: "kernel_size=61, intensity=0.5, seed (drawn from seed, else from the seed the operator is built with); or file=PATH.safetensors, kernel=TENSOR (no intensity, no seed)", Kind: KindBlur}, buildMotionBlur, nil, recordedMotionBlur},
		{Task{Name: "inpainting",
			Params: "mask_type=box|random|extreme|half|file, each taking only its own parameters; " +
				"box/extreme: size=min(H,W)/2 (or min_size, max_size), margin=min(H,W)/16, seed; " +
				"random: fraction, or min_fraction=0.3, max_fraction=0.7, seed; half: side=right; file: path=MASK.png; " +
				"seed draws the mask in place of the seed the operator is built with", Kind: KindInpainting}, buildInpainting,
			map[string]map[string]any{"inpaint_box": mask(MaskBox), "inpaint_random": mask(MaskRandom), "inpaint_extreme": mask(MaskExtreme),
				"inpaint_half": mask(MaskHalf), "inpaint_file": mask(MaskFile)}, recordedInpainting},
		{Task{Name: "phase_retrieval",
			Params: "oversample=2.0, at most 8 (pad = int(oversample/8·H) on each side)", Kind: KindPhaseRetrieval}, buildPhaseRetrieval, nil, nil},
	}
}

// Tasks lists the measurement tasks the package builds, each with its
// aliases sorted.
func Tasks() []Task {
	var out []Task
	for _, e := range taskTable() {
		e.Aliases = sortedKeys(e.aliases)
		out = append(out, e.Task)
	}
	return out
}

// lookupTask resolves a name or alias, returning the parameters an alias
// presets.
func lookupTask(name string) (taskEntry, map[string]any, error) {
	if name == "" {
		return taskEntry{}, nil, errors.New("names no task")
	}
	var names []string
	for _, e := range taskTable() {
		if preset, ok := e.aliases[name]; ok || e.Name == name {
			return e, preset, nil
		}
		names = append(names, e.Name)
	}
	for _, e := range taskTable() {
		names = append(names, sortedKeys(e.aliases)...)
	}
	return taskEntry{}, nil, fmt.Errorf("unknown operator %q (known: %s)", name, strings.Join(names, ", "))
}

// CanonicalTask returns a task spec NAME[:key=value,...] in one form: its
// parameters sorted by key, the spaces around the name, keys and values
// dropped ("sr: factor=2" and "sr:factor=2" give "sr:factor=2"), so that
// two spellings of one task are found to be the same however they are
// spelt (an alias, a parameter's other name or a default spelt out still
// reads as another task). Its error is for a spec that names no task the
// package knows or whose parameters are not key=value (each key once);
// whether the parameters suit the task is for Parse to say.
func CanonicalTask(spec string) (string, error) {
	name, rest, _ := strings.Cut(spec, ":")
	name = strings.TrimSpace(name)
	if _, _, err := lookupTask(name); err != nil {
		return "", fmt.Errorf("operator spec %q: %w", spec, err)
	}
	values, err := parseSpecParams(rest)
	if err != nil {
		return "", fmt.Errorf("operator spec %q: %w", spec, err)
	}
	return specs.Canonical(name, values), nil
}

// CheckTask reports what is wrong with a command-line task spec (see
// [Parse]) on its face: a task it does not know, parameters that are not
// key=value, a parameter the task does not take or lacks, a value that is
// malformed or out of its range (sr:factor=0, gaussian_blur:intensity=-1).
// It knows no image and reads no file: whether the task fits the images
// (a factor that divides their size, a kernel or box smaller than them)
// and whether its files can be read are for Parse to say. The one size it
// knows is the one an inpainting spec gives (image_size): a box is judged
// against it as Parse judges it for an image of that size
// ("inpaint_box:image_size=32,min_size=40" is refused, the default
// max_size being 16).
func CheckTask(spec string) error {
	name, rest, _ := strings.Cut(spec, ":")
	name = strings.TrimSpace(name)
	values, err := parseSpecParams(rest)
	if err != nil {
		return fmt.Errorf("operator spec %q: %w", spec, err)
	}
	if _, err := buildWith(name, values, false, nil, true, func(e taskEntry, p *params) (Operator, error) {
		return e.build(p, nil, 0)
	}); err != nil {
		return fmt.Errorf("operator spec %q: %w", spec, err)
	}
	return nil
}

// Parse builds an operator from a command-line spec "name[:key=value,...]",
// e.g. "super_resolution:factor=4", "sr:factor=8,kernel=lanczos3",
// "gaussian_blur:kernel_size=61,intensity=3.0", "inpaint_box:size=128",
// "inpaint_random:min_fraction=0.3,max_fraction=0.7",
// "motion_blur:file=kernels.safetensors,kernel=levin09/0",
// "phase_retrieval:oversample=2". imageShape is the NCHW shape the operator
// will see; the operator is checked against it. Random parts (box position,
// random mask, motion kernel) are drawn from seed. See [Tasks] for every
// name and parameter.
func Parse(spec string, imageShape []int, seed uint64) (Operator, error) {
	name, rest, _ := strings.Cut(spec, ":")
	name = strings.TrimSpace(name)
	values, err := parseSpecParams(rest)
	if err != nil {
		return nil, fmt.Errorf("operator spec %q: %w", spec, err)
	}
	op, err := build(name, values, false, imageShape, seed)
	if err != nil {
		return nil, fmt.Errorf("operator spec %q: %w", spec, err)
	}
	return op, nil
}

// FromConfig builds an operator from a reference YAML task configuration:
// either its measurement.operator mapping (e.g. {name: super_resolution,
// in_shape: [1,3,256,256], scale_factor: 4}), possibly holding a mask_opt
// mapping for inpainting, or the whole measurement mapping ({operator: {...},
// mask_opt: {...}, noise: {...}}, the noise being ignored here). Values may
// be numbers or strings; unknown keys are errors.
func FromConfig(cfg map[string]any, imageShape []int, seed uint64) (Operator, error) {
	name, values, err := configValues(cfg)
	if err != nil {
		return nil, err
	}
	op, err := build(name, values, true, imageShape, seed)
	if err != nil {
		return nil, fmt.Errorf("operator config: %w", err)
	}
	return op, nil
}

// configValues returns the operator name and the parameter values of a
// reference configuration (see FromConfig), mask_opt merged in.
func configValues(cfg map[string]any) (string, map[string]any, error) {
	opCfg := cfg
	var maskOpt any
	if inner, ok := cfg["operator"]; ok {
		m, ok := inner.(map[string]any)
		if !ok {
			return "", nil, fmt.Errorf("operator config: \"operator\" is %T, want a mapping", inner)
		}
		opCfg, maskOpt = m, cfg["mask_opt"]
	}
	values := map[string]any{}
	for k, v := range opCfg {
		values[k] = v
	}
	if v, ok := values["mask_opt"]; ok {
		maskOpt = v
		delete(values, "mask_opt")
	}
	rawName, ok := values["name"]
	if !ok {
		return "", nil, fmt.Errorf("operator config has no name")
	}
	delete(values, "name")
	name, ok := rawName.(string)
	if !ok {
		return "", nil, fmt.Errorf("operator config: name %v is not a string", rawName)
	}
	if maskOpt != nil {
		m, ok := maskOpt.(map[string]any)
		if !ok {
			return "", nil, fmt.Errorf("operator config: mask_opt is %T, want a mapping", maskOpt)
		}
		if e, _, err := lookupTask(name); err == nil && e.Kind != KindInpainting {
			return "", nil, fmt.Errorf("operator config: mask_opt given for %s, only inpainting takes it", name)
		}
		for k, v := range m {
			if _, dup := values[k]; dup {
				return "", nil, fmt.Errorf("operator config: %s given both in operator and in mask_opt", k)
			}
			values[k] = v
		}
	}
	return name, values, nil
}

// build makes the named operator from its parameter values, those of a
// spec or (config) of a reference configuration, and checks it against the
// image shape.
func build(name string, values map[string]any, config bool, imageShape []int, seed uint64) (Operator, error) {
	return buildWith(name, values, config, imageShape, false, func(e taskEntry, p *params) (Operator, error) {
		return e.build(p, imageShape, seed)
	})
}

// buildWith is build with construct in place of the task's builder: it resolves
// the name, merges an alias's presets into values, makes the operator from
// the parameters, and refuses parameters construct did not read and an image
// shape the operator does not take. With anyImage ([CheckTask]'s), it
// checks the parameters alone, for any image: imageShape must be nil, the
// builders then read no file, and the operator returned may be nil.
func buildWith(name string, values map[string]any, config bool, imageShape []int, anyImage bool, construct func(e taskEntry, p *params) (Operator, error)) (Operator, error) {
	switch err := checkImageShape(imageShape); {
	case anyImage && imageShape != nil:
		return nil, fmt.Errorf("ops: a check for any image given the shape %v", imageShape)
	case err != nil && !anyImage:
		return nil, err
	}
	e, preset, err := lookupTask(name)
	if err != nil {
		return nil, err
	}
	for k, v := range preset {
		if given, ok := values[k]; ok && fmt.Sprint(given) != fmt.Sprint(v) {
			return nil, fmt.Errorf("%s sets %s=%v, got %s=%v", name, k, v, k, given)
		}
		values[k] = v
	}
	p := newParams(e.Name, values)
	p.config = config
	op, err := construct(e, p)
	if err != nil {
		return nil, err
	}
	if err := p.unknown(); err != nil {
		return nil, err
	}
	if anyImage {
		return op, nil
	}
	if _, err := op.OutputShape(imageShape); err != nil {
		return nil, fmt.Errorf("%s: %w", e.Name, err)
	}
	return op, nil
}

func buildSuperResolution(p *params, imageShape []int, _ uint64) (Operator, error) {
	factor, err := p.int(0, "factor", "scale_factor")
	if err != nil {
		return nil, err
	}
	if !p.has("factor", "scale_factor") {
		return nil, fmt.Errorf("super_resolution: missing parameter factor (scale_factor)")
	}
	kernel, err := p.string("cubic", "kernel")
	if err != nil {
		return nil, err
	}
	if err := checkInShape(p, imageShape); err != nil {
		return nil, err
	}
	return NewSuperResolution(factor, kernel)
}

// checkInShape checks the reference's in_shape parameter against the image.
func checkInShape(p *params, imageShape []int) error {
	if err := refuseConfigList(p, "in_shape"); err != nil {
		return err
	}
	in, ok, err := p.ints("in_shape")
	if err != nil || !ok || imageShape == nil {
		return err
	}
	if !slices.Equal(in, imageShape) {
		return fmt.Errorf("%s: in_shape %v does not match the image shape %v", p.task, in, imageShape)
	}
	return nil
}

func buildGaussianBlur(p *params, imageShape []int, _ uint64) (Operator, error) {
	return gaussianBlurOf(p, imageShape)
}

// gaussianBlurOf builds gaussian_blur's operator from its parameters.
func gaussianBlurOf(p *params, imageShape []int) (*Blur, error) {
	size, err := p.int(61, "kernel_size")
	if err != nil {
		return nil, err
	}
	if err := kernelFitsImage(size, imageShape); err != nil {
		return nil, fmt.Errorf("gaussian_blur: %w", err)
	}
	sigma, err := p.float(3.0, "intensity", "sigma")
	if err != nil {
		return nil, err
	}
	return NewGaussianBlur(size, sigma)
}

// motionParams are motion_blur's parameters: a kernel of size drawn with
// intensity, or (file not empty) the kernel stored in file under tensor,
// of side size when sized.
type motionParams struct {
	size         int
	sized        bool
	intensity    float64
	file, tensor string
	// seed, when seeded, draws the kernel in place of the seed the
	// operator is built with.
	seed   uint64
	seeded bool
}

// readMotionParams reads and checks motion_blur's parameters for images
// of imageShape.
func readMotionParams(p *params, imageShape []int) (motionParams, error) {
	var m motionParams
	var err error
	if m.size, err = p.int(61, "kernel_size"); err != nil {
		return m, err
	}
	m.sized = p.has("kernel_size")
	if m.file, err = p.string("", "file"); err != nil {
		return m, err
	}
	if m.tensor, err = p.string("", "kernel"); err != nil {
		return m, err
	}
	if m.file != "" {
		for _, k := range []string{"intensity", "seed"} {
			if p.has(k) {
				return m, fmt.Errorf("motion_blur: %s sets the drawn kernel, and file=%s gives a stored one; drop %s, or drop file and kernel to draw a kernel", k, m.file, k)
			}
		}
		return m, nil
	}
	m.seeded = p.has("seed")
	if m.seed, err = p.seed(0, "seed"); err != nil {
		return m, err
	}
	if m.tensor != "" {
		return m, fmt.Errorf("motion_blur: kernel=%s needs file=PATH", m.tensor)
	}
	if m.intensity, err = p.float(0.5, "intensity"); err != nil {
		return m, err
	}
	if err := kernelFitsImage(m.size, imageShape); err != nil {
		return m, fmt.Errorf("motion_blur: %w", err)
	}
	return m, nil
}

// blur returns the motion blur the parameters give: the stored kernel, or
// one drawn from the seed parameter, or else from seed.
func (m motionParams) blur(seed uint64) (*Blur, error) {
	if m.file == "" {
		if m.seeded {
			seed = m.seed
		}
		return NewMotionBlur(m.size, m.intensity, seed)
	}
	op, err := NewMotionBlurFile(m.file, m.tensor)
	if err != nil {
		return nil, err
	}
	if m.sized && m.size != op.Size() {
		return nil, fmt.Errorf("motion_blur: kernel_size=%d but the kernel in %s is %dx%d", m.size, m.file, op.Size(), op.Size())
	}
	return op, nil
}

func buildMotionBlur(p *params, imageShape []int, seed uint64) (Operator, error) {
	m, err := readMotionParams(p, imageShape)
	if err != nil {
		return nil, err
	}
	if imageShape == nil && m.file != "" {
		return nil, nil // CheckTask reads no file
	}
	return m.blur(seed)
}

// kernelFitsImage is kernelFits, true of every kernel for a nil image
// shape (CheckTask's).
func kernelFitsImage(size int, imageShape []int) error {
	if imageShape == nil {
		return nil
	}
	return kernelFits(size, imageShape)
}

// referenceMaskParams returns the keys of the reference's mask_opt, which
// its configurations carry whatever the mask type (a box config holds
// mask_prob_range too): a configuration may give them for any type; they
// are checked, and used where the type draws from them.
func referenceMaskParams() []string {
	return []string{"mask_len_range", "mask_prob_range", "margin"}
}

func buildInpainting(p *params, imageShape []int, seed uint64) (Operator, error) {
	o, err := inpaintingOptions(p, imageShape)
	if err != nil {
		return nil, err
	}
	if seed, err = p.seed(seed, "seed"); err != nil {
		return nil, err
	}
	if imageShape == nil {
		return nil, checkMaskOptions(p, o)
	}
	h, w := imageShape[2], imageShape[3]
	mask, err := o.Mask(h, w, seed)
	if err != nil {
		return nil, fmt.Errorf("inpainting: %w", err)
	}
	op, err := NewInpainting(mask, h, w)
	if err != nil {
		return nil, err
	}
	op.spec = o.spec(seed)
	return op, nil
}

// checkMaskOptions checks the mask options o that the spec p gives for
// any image (CheckTask's), by their type's check: the box sides and margin
// given, the half's side, the file's path. What depends on the image (a
// box that fits it) is checked for the spec's image_size when it gives
// one, and left to the build for an image otherwise; the file itself is
// left to the build.
func checkMaskOptions(p *params, o MaskOptions) error {
	t, err := lookupMaskType(o.Type)
	if err != nil || t.check == nil {
		return err
	}
	return t.check(p, o)
}

// checkBoxOptions is the check of the box and extreme masks
// (checkMaskOptions).
func checkBoxOptions(p *params, o MaskOptions) error {
	if h, w, _ := maskImageSize(p, nil); h > 0 {
		// The image's size known: DrawBox's checks, drawing nothing.
		if err := checkBox(h, w, o.LenRange, o.Margin); err != nil {
			return fmt.Errorf("inpainting: %w", err)
		}
		return nil
	}
	// With one end of the range given, the other is the image's default,
	// and readBoxOptions checked the end given.
	if p.present("mask_len_range") || p.present("size") || p.present("min_size") && p.present("max_size") {
		// The side range is the spec's alone: DrawBox's check.
		if err := checkBoxRange(o.LenRange); err != nil {
			return fmt.Errorf("inpainting: %w", err)
		}
	}
	if err := checkBoxMargin(o.Margin); err != nil {
		return fmt.Errorf("inpainting: %w", err)
	}
	return nil
}

// inpaintingOptions reads and checks inpainting's parameters for images
// of imageShape: the options of the mask, drawn or not. For a nil
// imageShape (CheckTask's) the image's size is the spec's image_size
// ([maskImageSize]), and without one the checks that need it are left
// out.
func inpaintingOptions(p *params, imageShape []int) (MaskOptions, error) {
	maskType, err := p.string(MaskBox, "mask_type")
	if err != nil {
		return MaskOptions{}, err
	}
	mt, err := lookupMaskType(maskType)
	if err != nil {
		return MaskOptions{}, fmt.Errorf("inpainting: %w", err)
	}
	own := mt.params
	h, w, err := maskImageSize(p, imageShape)
	if err != nil {
		return MaskOptions{}, err
	}
	if err := checkMaskParams(p, maskType, own); err != nil {
		return MaskOptions{}, err
	}
	p.declare(own...)
	if err := onlyOne(p, mt.setting, mt.ways...); err != nil {
		return MaskOptions{}, err
	}
	for _, k := range []string{"mask_len_range", "mask_prob_range"} {
		if err := refuseConfigList(p, k); err != nil {
			return MaskOptions{}, err
		}
	}
	o := DefaultMaskOptions(maskType, h, w)
	ref, err := readMaskReference(p, own)
	if err != nil {
		return MaskOptions{}, err
	}
	if err := mt.read(p, &o, ref, h, w); err != nil {
		return MaskOptions{}, err
	}
	return o, nil
}

// maskReference holds the reference's mask_opt keys
// ([referenceMaskParams]) that a spec or configuration gives, each with
// whether it is given.
type maskReference struct {
	lenRange, margin                     [2]int
	probRange                            [2]float64
	hasLenRange, hasMargin, hasProbRange bool
}

// readMaskReference reads the reference's keys of p: a configuration's
// whatever the mask type, so that their form is checked (they count only
// where the type draws from them), a spec's those among the type's own
// parameters.
func readMaskReference(p *params, own []string) (maskReference, error) {
	var r maskReference
	var err error
	reads := func(k string) bool { return p.config || slices.Contains(own, k) }
	if reads("mask_len_range") {
		if r.lenRange, r.hasLenRange, err = p.intPair("mask_len_range"); err != nil {
			return r, err
		}
	}
	if reads("margin") {
		if r.margin, r.hasMargin, err = p.intPair("margin"); err != nil {
			return r, err
		}
	}
	if reads("mask_prob_range") {
		if r.probRange, r.hasProbRange, err = p.floatPair("mask_prob_range"); err != nil {
			return r, err
		}
	}
	return r, nil
}

// readBoxOptions is the read of the box and extreme masks: the box sides,
// size, or min_size..max_size inclusive, or the reference's
// mask_len_range [lo, hi); and the margin. A side given that is not
// positive is refused by its key, with or without an image.
func readBoxOptions(p *params, o *MaskOptions, ref maskReference, h, w int) error {
	switch {
	case ref.hasLenRange:
		o.LenRange = ref.lenRange
	case p.has("size"):
		s, err := boxSide(p, 0, "size")
		if err != nil {
			return err
		}
		o.LenRange = [2]int{s, s + 1}
	case p.has("min_size", "max_size"):
		lo, err := boxSide(p, o.LenRange[0], "min_size")
		if err != nil {
			return err
		}
		hi, err := boxSide(p, o.LenRange[1]-1, "max_size")
		if err != nil {
			return err
		}
		both := p.present("min_size") && p.present("max_size")
		// Without an image or image_size, a side not given has no
		// default to compare with.
		if lo > hi && (h > 0 || both) {
			def := fmt.Sprintf("min(H,W)/2 = %d", min(h, w)/2)
			return fmt.Errorf("inpainting: min_size %d is above max_size %d%s", lo, hi, defaultNote(p, "min_size", "max_size", def, def))
		}
		o.LenRange = [2]int{lo, hi + 1}
	}
	if ref.hasMargin {
		o.Margin = ref.margin
	}
	return nil
}

// boxSide returns the box side given under key (def when not given),
// refusing one that is not positive by its key.
func boxSide(p *params, def int, key string) (int, error) {
	v, err := p.int(def, key)
	if err != nil {
		return 0, err
	}
	if p.present(key) && v <= 0 {
		return 0, fmt.Errorf("inpainting: parameter %s must be positive, got %d", key, v)
	}
	return v, nil
}

// readRandomOptions is the read of the random mask: the missing fraction,
// fraction, or min_fraction..max_fraction, or the reference's
// mask_prob_range.
func readRandomOptions(p *params, o *MaskOptions, ref maskReference, _, _ int) error {
	switch {
	case ref.hasProbRange:
		o.ProbRange = ref.probRange
	case p.has("fraction"):
		f, err := fraction(p, 0, "fraction")
		if err != nil {
			return err
		}
		o.ProbRange = [2]float64{f, f}
	case p.has("min_fraction", "max_fraction"):
		lo, err := fraction(p, o.ProbRange[0], "min_fraction")
		if err != nil {
			return err
		}
		hi, err := fraction(p, o.ProbRange[1], "max_fraction")
		if err != nil {
			return err
		}
		if lo > hi {
			return fmt.Errorf("inpainting: min_fraction %g is above max_fraction %g%s", lo, hi,
				defaultNote(p, "min_fraction", "max_fraction", fmt.Sprint(lo), fmt.Sprint(hi)))
		}
		o.ProbRange = [2]float64{lo, hi}
	}
	return nil
}

// maskImageSize returns the height and width of the images a mask is
// made for: imageShape's, else (CheckTask's) image_size×image_size when
// the spec gives it, else 0×0, unknown. It refuses an image_size that is
// not positive or not the image's: the reference's masks are square
// image_size×image_size.
func maskImageSize(p *params, imageShape []int) (h, w int, err error) {
	if imageShape != nil {
		h, w = imageShape[2], imageShape[3]
	}
	if !p.has("image_size") {
		return h, w, nil
	}
	n, err := p.int(0, "image_size")
	switch {
	case err != nil:
		return 0, 0, err
	case n <= 0:
		return 0, 0, fmt.Errorf("inpainting: parameter image_size must be positive, got %d", n)
	case imageShape != nil && (n != h || n != w):
		return 0, 0, fmt.Errorf("inpainting: image_size %d does not match the image %dx%d", n, h, w)
	}
	return n, n, nil
}

// fraction returns the missing fraction given under key (def when not
// given), refusing a value outside [0, 1] (NaN included) by its key.
func fraction(p *params, def float64, key string) (float64, error) {
	f, err := p.float(def, key)
	if err != nil {
		return 0, err
	}
	if !(f >= 0 && f <= 1) {
		return 0, fmt.Errorf("inpainting: parameter %s must lie in [0, 1], got %g", key, f)
	}
	return f, nil
}

// defaultNote says which end of a range given by minKey and maxKey took
// its default (minDef or maxDef), for an error about the range:
// " (minKey not given: minDef)", or "" when both were given.
func defaultNote(p *params, minKey, maxKey, minDef, maxDef string) string {
	switch {
	case !p.present(minKey):
		return fmt.Sprintf(" (%s not given: %s)", minKey, minDef)
	case !p.present(maxKey):
		return fmt.Sprintf(" (%s not given: %s)", maxKey, maxDef)
	}
	return ""
}

// configListParam reports whether key is a reference configuration's key
// whose value is a list (an NCHW shape, a [lo, hi) range), which a spec,
// whose values are single strings, cannot give; instead says what a spec
// gives in its place.
func configListParam(key string) (instead string, ok bool) {
	switch key {
	case "in_shape":
		return "the operator is checked against the image's shape", true
	case "mask_len_range":
		return "give size, or min_size and max_size", true
	case "mask_prob_range":
		return "give fraction, or min_fraction and max_fraction", true
	}
	return "", false
}

// refuseConfigList refuses key when a spec (not a configuration) gives
// it and it is a configuration's list ([configListParam]).
func refuseConfigList(p *params, key string) error {
	instead, list := configListParam(key)
	if p.config || !list || !p.present(key) {
		return nil
	}
	return fmt.Errorf("%s: %s is a task config's list, which a spec cannot give; %s", p.task, key, instead)
}

// specParams returns keys without the configuration's lists when p holds
// a spec, for the parameter lists of error messages.
func specParams(p *params, keys []string) []string {
	if p.config {
		return keys
	}
	return slices.DeleteFunc(slices.Clone(keys), func(k string) bool {
		_, list := configListParam(k)
		return list
	})
}

// checkMaskParams refuses the parameters of a mask type other than
// maskType (own are its parameters), naming the type they belong to; a
// configuration may give the reference's mask_opt keys for any type.
func checkMaskParams(p *params, maskType string, own []string) error {
	var foreign []string
	for _, k := range sortedKeys(p.values) {
		if slices.Contains(own, k) || (p.config && slices.Contains(referenceMaskParams(), k)) {
			continue
		}
		var types []string
		for _, t := range maskTypes() {
			if slices.Contains(t.params, k) {
				types = append(types, t.name)
			}
		}
		if len(types) > 0 {
			foreign = append(foreign, fmt.Sprintf("%s (mask_type %s)", k, strings.Join(types, " or ")))
		}
	}
	if len(foreign) > 0 {
		return fmt.Errorf("inpainting: mask_type %s takes none of %s; its parameters are %s", maskType, strings.Join(foreign, ", "), strings.Join(specParams(p, own), ", "))
	}
	return nil
}

// onlyOne refuses more than one of several ways to give the setting what,
// each way a key or keys joined by "/" that together form one way.
func onlyOne(p *params, what string, ways ...string) error {
	var given []string
	for _, way := range ways {
		var present []string
		for _, k := range strings.Split(way, "/") {
			if p.present(k) {
				present = append(present, k)
			}
		}
		if len(present) > 0 {
			given = append(given, strings.Join(present, "/"))
		}
	}
	if len(given) < 2 {
		return nil
	}
	all := "both"
	if len(given) > 2 {
		all = "all"
	}
	last := len(given) - 1
	return fmt.Errorf("%s: %s and %s %s set the %s; give only one of %s", p.task, strings.Join(given[:last], ", "), given[last], all, what, strings.Join(ways, ", "))
}

func buildPhaseRetrieval(p *params, imageShape []int, _ uint64) (Operator, error) {
	oversample, err := p.float(2.0, "oversample")
	if err != nil {
		return nil, err
	}
	op, err := NewPhaseRetrieval(oversample)
	if err != nil {
		return nil, err
	}
	if p.has("pad") {
		pad, err := p.int(0, "pad")
		if err != nil {
			return nil, err
		}
		if imageShape == nil {
			return op, nil
		}
		if got := op.Pad(imageShape[2]); pad != got {
			return nil, fmt.Errorf("phase_retrieval: pad=%d but oversample %g gives %d for height %d", pad, oversample, got, imageShape[2])
		}
	}
	return op, nil
}
