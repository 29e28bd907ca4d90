package ops

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/cadps/toolkit/internal/num"
	"github.com/cadps/toolkit/internal/specs"
)

// params holds an operator's parameters, from a command-line spec (string
// values) or a YAML/JSON configuration (typed values), and remembers which
// were read so that unknown ones are reported.
type params struct {
	task   string
	values map[string]any
	used   map[string]bool
	// config marks the values of a reference configuration, which may
	// carry keys a spec may not (see buildInpainting).
	config bool
}

func newParams(task string, values map[string]any) *params {
	return &params{task: task, values: values, used: map[string]bool{}}
}

// parseSpecParams splits "k=v,k=v" into a map of strings (a value may be
// empty, a key may not, nor be given twice).
func parseSpecParams(s string) (map[string]any, error) {
	out := map[string]any{}
	for _, p := range specs.Params(s) {
		if !p.HasEq || p.Key == "" {
			return nil, fmt.Errorf("parameter %q is not key=value", p.Text)
		}
		if _, dup := out[p.Key]; dup {
			return nil, fmt.Errorf("parameter %q given twice", p.Key)
		}
		out[p.Key] = p.Value
	}
	return out, nil
}

// lookup returns the value of the one of keys present (aliases of one
// parameter), marking every alias as read. More than one alias given is an
// error naming them.
func (p *params) lookup(keys ...string) (any, string, bool, error) {
	p.declare(keys...)
	var given []string
	for _, k := range keys {
		if _, ok := p.values[k]; ok {
			given = append(given, k)
		}
	}
	switch len(given) {
	case 0:
		return nil, "", false, nil
	case 1:
		return p.values[given[0]], given[0], true, nil
	}
	return nil, "", true, fmt.Errorf("%s: parameters %s name the same setting; give only one", p.task, strings.Join(given, " and "))
}

// has reports whether any of keys is given, marking them as read.
func (p *params) has(keys ...string) bool {
	p.declare(keys...)
	return p.present(keys...)
}

// declare marks keys as parameters the task reads, whether or not given,
// for the unknown-parameter report.
func (p *params) declare(keys ...string) {
	for _, k := range keys {
		p.used[k] = true
	}
}

// present reports whether any of keys is given, without marking them as
// read.
func (p *params) present(keys ...string) bool {
	for _, k := range keys {
		if _, ok := p.values[k]; ok {
			return true
		}
	}
	return false
}

func (p *params) int(def int, keys ...string) (int, error) {
	v, k, ok, err := p.lookup(keys...)
	if err != nil || !ok {
		return def, err
	}
	n, err := num.Int(v)
	if err != nil {
		return 0, fmt.Errorf("%s: parameter %s: %w", p.task, k, err)
	}
	return n, nil
}

// seed returns the seed given under key, or def when it is not given: a
// non-negative integer (up to 2⁶⁴−1 in a spec's string).
func (p *params) seed(def uint64, key string) (uint64, error) {
	v, _, ok, err := p.lookup(key)
	if err != nil || !ok {
		return def, err
	}
	if s, isString := v.(string); isString {
		n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: parameter %s: %q is not a non-negative integer", p.task, key, s)
		}
		return n, nil
	}
	n, err := num.Int(v)
	if err == nil && n < 0 {
		err = fmt.Errorf("%d is negative", n)
	}
	if err != nil {
		return 0, fmt.Errorf("%s: parameter %s: %w", p.task, key, err)
	}
	return uint64(n), nil
}

func (p *params) float(def float64, keys ...string) (float64, error) {
	v, k, ok, err := p.lookup(keys...)
	if err != nil || !ok {
		return def, err
	}
	f, err := num.Float(v)
	if err != nil {
		return 0, fmt.Errorf("%s: parameter %s: %w", p.task, k, err)
	}
	return f, nil
}

func (p *params) string(def string, keys ...string) (string, error) {
	v, k, ok, err := p.lookup(keys...)
	if err != nil || !ok {
		return def, err
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s: parameter %s: %v is not a string", p.task, k, v)
	}
	return s, nil
}

// ints returns a list of integers (a YAML sequence or tuple).
func (p *params) ints(keys ...string) ([]int, bool, error) {
	v, k, ok, err := p.lookup(keys...)
	if err != nil || !ok {
		return nil, ok, err
	}
	list, err := toList(v)
	if err != nil {
		return nil, true, fmt.Errorf("%s: parameter %s: %w", p.task, k, err)
	}
	out := make([]int, len(list))
	for i, e := range list {
		if out[i], err = num.Int(e); err != nil {
			return nil, true, fmt.Errorf("%s: parameter %s[%d]: %w", p.task, k, i, err)
		}
	}
	return out, true, nil
}

// floatPair returns a two-number list.
func (p *params) floatPair(keys ...string) ([2]float64, bool, error) {
	v, k, ok, err := p.lookup(keys...)
	if err != nil || !ok {
		return [2]float64{}, ok, err
	}
	list, err := toList(v)
	if err == nil && len(list) != 2 {
		err = fmt.Errorf("%v has %d values, want 2", v, len(list))
	}
	if err != nil {
		return [2]float64{}, true, fmt.Errorf("%s: parameter %s: %w", p.task, k, err)
	}
	var out [2]float64
	for i, e := range list {
		if out[i], err = num.Float(e); err != nil {
			return [2]float64{}, true, fmt.Errorf("%s: parameter %s[%d]: %w", p.task, k, i, err)
		}
	}
	return out, true, nil
}

// intPair returns a two-integer list, or one integer repeated.
func (p *params) intPair(keys ...string) ([2]int, bool, error) {
	v, k, ok, err := p.lookup(keys...)
	if err != nil || !ok {
		return [2]int{}, ok, err
	}
	n, err := num.Int(v)
	switch _, isString := v.(string); {
	case err == nil:
		return [2]int{n, n}, true, nil
	case isString:
		// A spec's value is one string, never a list.
		return [2]int{}, true, fmt.Errorf("%s: parameter %s: %w", p.task, k, err)
	}
	list, err := toList(v)
	if err == nil && len(list) != 2 {
		err = fmt.Errorf("%v has %d values, want 2", v, len(list))
	}
	if err != nil {
		return [2]int{}, true, fmt.Errorf("%s: parameter %s: %w", p.task, k, err)
	}
	var out [2]int
	for i, e := range list {
		if out[i], err = num.Int(e); err != nil {
			return [2]int{}, true, fmt.Errorf("%s: parameter %s[%d]: %w", p.task, k, i, err)
		}
	}
	return out, true, nil
}

// unknown returns an error naming the parameters that were never read.
func (p *params) unknown() error {
	var extra []string
	for k := range p.values {
		if !p.used[k] {
			extra = append(extra, k)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	sort.Strings(extra)
	known := make([]string, 0, len(p.used))
	for k := range p.used {
		known = append(known, k)
	}
	sort.Strings(known)
	known = specParams(p, known)
	if len(known) == 0 {
		return fmt.Errorf("%s: unknown parameter(s) %s; %s takes no parameters", p.task, strings.Join(extra, ", "), p.task)
	}
	return fmt.Errorf("%s: unknown parameter(s) %s (known: %s)", p.task, strings.Join(extra, ", "), strings.Join(known, ", "))
}

func toList(v any) ([]any, error) {
	switch x := v.(type) {
	case []any:
		return x, nil
	case []int:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out, nil
	case []float64:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out, nil
	}
	return nil, fmt.Errorf("%v (%T) is not a list", v, v)
}

// sortedKeys returns m's keys, sorted.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
