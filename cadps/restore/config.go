package restore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/cadps/toolkit/internal/num"
	"github.com/cadps/toolkit/ops"
	"gopkg.in/yaml.v3"
)

// ReadYAML reads a YAML file into a generic mapping, as the reference's
// configs are read with yaml.load: "!!python/tuple [a, b]" is taken as the
// list [a, b].
func ReadYAML(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	m, err := parseYAML(data)
	if err != nil {
		return nil, fmt.Errorf("restore: %s: %w", path, err)
	}
	return m, nil
}

// parseYAML decodes a YAML document whose top level is a mapping. Its
// errors are one line each, prefixed "yaml:" once: the yaml package's
// own errors carry that prefix already, and its list of values that do
// not decode is joined into one line.
func parseYAML(data []byte) (map[string]any, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, err
	}
	if len(root.Content) == 0 {
		return nil, errors.New("yaml: empty document")
	}
	untagPython(&root)
	m := map[string]any{}
	if err := root.Content[0].Decode(&m); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("yaml: %s", strings.Join(te.Errors, "; "))
		}
		return nil, err
	}
	return m, nil
}

// untagPython drops PyYAML's python/tuple tags, keeping the sequences.
func untagPython(n *yaml.Node) {
	if strings.Contains(n.Tag, "python/tuple") && n.Kind == yaml.SequenceNode {
		n.Tag = "!!seq"
	}
	for _, c := range n.Content {
		untagPython(c)
	}
}

// Task is a measurement task: a command-line spec for [ops.Parse], a
// reference configuration's measurement mapping for [ops.FromConfig], or
// an operator of one's own. Exactly one of Spec, Config and Build is set.
type Task struct {
	// Label names the task in output folders and tables.
	Label string
	// Spec is an ops.Parse spec such as "super_resolution:factor=4".
	Spec string
	// Config is the measurement mapping of a reference task config
	// ({operator: {...}, mask_opt: {...}, noise: {...}}).
	Config map[string]any
	// Build builds an operator of one's own (any ops.Operator) for an
	// image shape [N,C,H,W], drawing its random parts, if any, from seed
	// (and from nothing else, so that a seed repeats its measurement). It
	// is called for every restoration, each compiling its sampler, unless
	// Fixed is set. The step size and step count default by the
	// operator's ops.Kind (ops.Kinder); one that reports none needs
	// Options.Scale for the DPS-type methods. Recorded settings name such
	// a task by its Label alone.
	Build func(imageShape []int, seed uint64) (ops.Operator, error)
	// Fixed says that Build's operator does not depend on the seed: it is
	// built once, and one compiled sampler serves every image (a batch
	// shape). Set it only when that is so; a restoration would otherwise
	// measure with another seed's operator.
	Fixed bool
}

// SpecTask returns the task for an ops.Parse spec, labelled by the spec
// with every character other than letters, digits, '.', '-' and '='
// replaced by '_' ("sr:factor=4" is "sr_factor=4").
func SpecTask(spec string) Task {
	return Task{Label: labelOf(spec), Spec: strings.TrimSpace(spec)}
}

var unsafeLabel = regexp.MustCompile(`[^A-Za-z0-9.=-]+`)

func labelOf(s string) string {
	return strings.Trim(unsafeLabel.ReplaceAllString(strings.TrimSpace(s), "_"), "_")
}

// Operator builds the task's operator for an image shape; random parts
// (masks, motion kernels) are drawn from seed.
func (t Task) Operator(imageShape []int, seed uint64) (ops.Operator, error) {
	set := 0
	for _, ok := range []bool{t.Spec != "", t.Config != nil, t.Build != nil} {
		if ok {
			set++
		}
	}
	switch {
	case t.Label == "":
		return nil, errors.New("restore: a task without a label (Task.Label names it in settings, records and folders)")
	case set == 0:
		return nil, fmt.Errorf("restore: task %q has no spec, config or operator builder", t.Label)
	case set > 1:
		return nil, fmt.Errorf("restore: task %q sets more than one of a spec, a config and an operator builder", t.Label)
	case t.Fixed && t.Build == nil:
		return nil, fmt.Errorf("restore: task %q is marked Fixed, which says so of an operator builder, and has none", t.Label)
	case t.Build != nil:
		op, err := t.Build(imageShape, seed)
		switch {
		case err != nil:
			return nil, fmt.Errorf("restore: task %s: %w", t.Label, err)
		case op == nil:
			return nil, fmt.Errorf("restore: task %s: the operator builder returned no operator", t.Label)
		}
		return op, nil
	}
	if t.Spec != "" {
		op, err := ops.Parse(t.Spec, imageShape, seed)
		if err != nil {
			return nil, fmt.Errorf("restore: task: %w", err)
		}
		return op, nil
	}
	cfg := map[string]any{}
	for k, v := range t.Config {
		if k != "noise" {
			cfg[k] = v
		}
	}
	op, err := ops.FromConfig(cfg, imageShape, seed)
	if err != nil {
		return nil, fmt.Errorf("restore: task %s: %w", t.Label, err)
	}
	return op, nil
}

// Name returns the operator's task name as ops knows it (the spec's name
// part, or the config's operator name; empty for a Build task).
func (t Task) Name() string {
	if t.Spec != "" {
		name, _, _ := strings.Cut(t.Spec, ":")
		return strings.TrimSpace(name)
	}
	if op, ok := t.Config["operator"].(map[string]any); ok {
		if n, ok := op["name"].(string); ok {
			return n
		}
	}
	if n, ok := t.Config["name"].(string); ok {
		return n
	}
	return ""
}

// TaskConfig is a reference task configuration file
// (configs/*_config.yaml of the DPS repository).
type TaskConfig struct {
	// Task is its measurement task, labelled by the file name without
	// "_config.yaml".
	Task Task
	// Method is the conditioning method translated to this toolkit's name
	// ("ps" is "dps"); empty when the file has none.
	Method string
	// Scale is conditioning.params.scale (0 when absent).
	Scale float64
	// HasScale reports whether the file sets the scale.
	HasScale bool
	// Noise is the measurement noise model (nil when absent).
	Noise ops.Noise
	// DataRoot is data.root ("" when absent).
	DataRoot string
}

// conditioningMethods maps the reference's conditioning method names to
// this toolkit's guidance methods.
func conditioningMethods() map[string]string {
	return map[string]string{"ps": "dps", "vanilla": "unconditional"}
}

// ReadTaskConfig reads a reference task configuration as it is.
func ReadTaskConfig(path string) (*TaskConfig, error) {
	m, err := ReadYAML(path)
	if err != nil {
		return nil, err
	}
	tc := &TaskConfig{}
	base := filepath.Base(path)
	for _, suffix := range []string{"_config.yaml", "_config.yml", ".yaml", ".yml"} {
		if strings.HasSuffix(base, suffix) {
			base = strings.TrimSuffix(base, suffix)
			break
		}
	}
	meas, ok := m["measurement"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("restore: %s: no measurement mapping (want a task config with measurement: {operator: ...})", path)
	}
	tc.Task = Task{Label: labelOf(base), Config: meas}
	if n, ok := meas["noise"].(map[string]any); ok {
		if tc.Noise, err = ops.NoiseFromConfig(n); err != nil {
			return nil, fmt.Errorf("restore: %s: %w", path, err)
		}
	}
	if c, ok := m["conditioning"].(map[string]any); ok {
		if name, ok := c["method"].(string); ok {
			tc.Method = name
			if mapped, ok := conditioningMethods()[name]; ok {
				tc.Method = mapped
			}
		}
		if p, ok := c["params"].(map[string]any); ok {
			if v, ok := p["scale"]; ok {
				s, err := num.Float(v)
				if err != nil {
					return nil, fmt.Errorf("restore: %s: conditioning params scale: %w", path, err)
				}
				tc.Scale, tc.HasScale = s, true
			}
		}
	}
	if d, ok := m["data"].(map[string]any); ok {
		if r, ok := d["root"].(string); ok {
			tc.DataRoot = r
		}
	}
	return tc, nil
}
