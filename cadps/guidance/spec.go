package guidance

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/cadps/toolkit/internal/specs"
)

// ParseSpec returns the method a command-line spec names: a method name,
// optionally followed by ':' and comma-separated key=value options that
// override base,
//
//	dps
//	tmpd:diagonal=hutchinson,probes=8,probe_seed=3
//	cadps-gauss:diagonal=exact,fd_step=0.02,cg=40
//	tmpd:negative=clamp
//	mmps:cg=10
//	pigdm:x0=tweedie
//	cadps:batched=true
//	ddrm:eta=0.85,eta_b=1
//	diffpir:lambda=7,zeta=0.3
//	daps:langevin_steps=50,lr=1e-4,tau=0.01
//
// Each method reads its own keys (SpecReader): cg (iterations of the
// linear solve) and probes (Hutchinson's), integers in [1, MaxUnrolled];
// fd_step (cadps-gauss's finite-difference step), diagonal (rowsum,
// hutchinson, exact), probe_seed, negative (abs,
// clamp: see NegativeRule), space (measurements, pixels: tmpd's
// PixelSpace), batched, solver (cg, gcr), x0 (clamped, tweedie: the
// X0Estimate of pigdm, tmpd, mmps and cadps-gauss); DDRM's eta and eta_b (in [0,1]);
// DiffPIR's lambda (> 0), zeta and eta (in [0,1]) and guidance (≥ 0);
// DAPS's sigma_max, sigma_min, ode_sigma_min, tau, lr (> 0), lr_min_ratio
// (≥ 0), ode_steps and langevin_steps (positive integers). An unknown key,
// a malformed value, a key the method does not read or a key given twice
// is an error naming it.
func ParseSpec(spec string, base Options) (Method, error) {
	name, rest, _ := strings.Cut(strings.TrimSpace(spec), ":")
	name = strings.TrimSpace(name)
	if !Has(name) {
		return nil, fmt.Errorf("guidance: method spec %q: unknown method %q (known: %s)", spec, name, strings.Join(Names(), ", "))
	}
	m, err := New(name, base)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, p := range specs.Params(rest) {
		k, v := p.Key, p.Value
		if !p.HasEq || k == "" || v == "" {
			return nil, fmt.Errorf("guidance: method spec %q: option %q is not key=value", spec, p.Text)
		}
		if seen[k] {
			return nil, fmt.Errorf("guidance: method spec %q: option %q of %s is given twice", spec, k, name)
		}
		seen[k] = true
		r, reads := m.(SpecReader)
		if !reads || !slices.Contains(r.SpecKeys(), k) {
			readers := optionReaders(k)
			if len(readers) == 0 {
				takes := name + " takes no options"
				if keys := specKeys(m); len(keys) > 0 {
					takes = name + " takes " + strings.Join(keys, ", ")
				}
				return nil, fmt.Errorf("guidance: method spec %q: unknown option %q (%s)", spec, k, takes)
			}
			return nil, fmt.Errorf("guidance: method spec %q: %s does not take option %q (it is read by %s)", spec, name, k, strings.Join(readers, ","))
		}
		if m, err = r.WithOption(k, v); err != nil {
			return nil, fmt.Errorf("guidance: method spec %q: option %s: %w", spec, k, err)
		}
	}
	if v, ok := m.(Validator); ok {
		if err := v.Validate(); err != nil {
			return nil, fmt.Errorf("guidance: method spec %q: %w", spec, err)
		}
	}
	return m, nil
}

// Validator is implemented by methods whose fields have ranges (DDRM's
// η in [0, 1]) or constrain each other (DAPS's σ_max > σ_min): ParseSpec
// rejects a spec they reject, and cadps.NewSampler and restore.New a value
// set in Go.
type Validator interface {
	// Validate returns an error naming what is inconsistent, or nil.
	Validate() error
}

// Validate runs m's own validation when it implements [Validator], and
// returns nil otherwise.
func Validate(m Method) error {
	if v, ok := m.(Validator); ok {
		return v.Validate()
	}
	return nil
}

// CanonicalSpec returns spec in one standard spelling, for records and
// comparisons: spaces removed and the options sorted by key. Two specs
// with the same canonical form build the same method; an invalid spec (one
// giving a key twice among them) is ParseSpec's error.
func CanonicalSpec(spec string) (string, error) {
	m, err := ParseSpec(spec, Options{})
	if err != nil {
		return "", err
	}
	return canonical(spec, m, false), nil
}

// executionOptions is implemented by methods with spec options that
// change how a step is computed but not which method it is (CA-DPS's
// batched: one forward of 2N images or two of N).
type executionOptions interface {
	executionKeys() []string
}

// canonical writes spec, which builds m, as CanonicalSpec does, leaving
// out m's execution options when method is set.
func canonical(spec string, m Method, method bool) string {
	var drop []string
	if e, ok := m.(executionOptions); ok && method {
		drop = e.executionKeys()
	}
	name, rest, _ := strings.Cut(strings.TrimSpace(spec), ":")
	opts := map[string]string{}
	for _, p := range specs.Params(rest) {
		if !slices.Contains(drop, p.Key) {
			opts[p.Key] = p.Value
		}
	}
	return specs.Canonical(strings.TrimSpace(name), opts)
}

// CheckDistinct returns an error naming the first of specs that builds the
// same method as an earlier one: equal canonical specs, so that
// "tmpd:probes=2,diagonal=hutchinson" repeats
// "tmpd:diagonal=hutchinson,probes=2", once the options that only change
// how a step is computed are left out, so that "cadps:batched=true" and
// "cadps:batched=false" repeat "cadps" (records keep the option:
// CanonicalSpec). Invalid specs are left to ParseSpec.
func CheckDistinct(specs []string) error {
	seen := map[string]string{}
	for _, v := range specs {
		key := v
		if m, err := ParseSpec(v, Options{}); err == nil {
			key = canonical(v, m, true)
		}
		if was, ok := seen[key]; ok {
			if was == v {
				return fmt.Errorf("method %s is given twice", v)
			}
			return fmt.Errorf("method %s is %s again", v, was)
		}
		seen[key] = v
	}
	return nil
}

// SpecReader is implemented by methods that take options in a spec: each
// method parses and checks its own.
type SpecReader interface {
	// SpecKeys lists the ParseSpec option keys the method reads.
	SpecKeys() []string
	// WithOption returns the method with option key (one of SpecKeys) set
	// from its text value, or an error naming what is wrong with the value.
	WithOption(key, value string) (Method, error)
}

// specKeys returns the option keys method m reads (none unless it
// implements SpecReader).
func specKeys(m Method) []string {
	if r, ok := m.(SpecReader); ok {
		return r.SpecKeys()
	}
	return nil
}

// optionReaders returns the names of the methods that read option key k.
func optionReaders(k string) []string {
	var names []string
	for _, name := range Names() {
		if m, err := New(name, Options{}); err == nil && slices.Contains(specKeys(m), k) {
			names = append(names, name)
		}
	}
	return names
}

// paramRule says which values a numeric hyper-parameter takes.
type paramRule struct {
	min, max     float64 // closed bounds
	openMin, int bool    // min excluded; integers only
}

// The rules of the methods' numeric options.
func unitRule() paramRule        { return paramRule{min: 0, max: 1} }
func positiveRule() paramRule    { return paramRule{min: 0, openMin: true, max: math.Inf(1)} }
func nonNegativeRule() paramRule { return paramRule{min: 0, max: math.Inf(1)} }
func countRule(most float64) paramRule {
	return paramRule{min: 1, max: most, int: true}
}

// parse reads v under the rule; infinite values are refused whatever the
// bounds (no option of the methods takes one: an infinite λ, σ_max or lr
// makes every sample NaN or zero).
func (r paramRule) parse(v string) (float64, error) {
	x, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(x) {
		return 0, fmt.Errorf("%s: want a number", v)
	}
	if math.IsInf(x, 0) {
		return 0, fmt.Errorf("%s: want a finite number", v)
	}
	if r.int && x != math.Trunc(x) {
		return 0, fmt.Errorf("%s: want an integer", v)
	}
	if x < r.min || (r.openMin && x == r.min) || x > r.max {
		lo, hi := "[", "]"
		if r.openMin {
			lo = "("
		}
		if math.IsInf(r.max, 1) {
			hi = ")"
		}
		return 0, fmt.Errorf("%s: want a value in %s%g, %g%s", v, lo, r.min, r.max, hi)
	}
	return x, nil
}

// MaxUnrolled is the most iterations (cg) or probes (probes) a method spec
// takes: each is unrolled in the step graph, one Jacobian product or
// network forward for most of them, so a larger count builds a graph that
// does not fit in memory instead of a slower step.
const MaxUnrolled = 1000

// unrolledCount parses a count of unrolled iterations or probes, an
// integer in [1, MaxUnrolled].
func unrolledCount(v string) (int, error) {
	x, err := countRule(MaxUnrolled).parse(v)
	return int(x), err
}
