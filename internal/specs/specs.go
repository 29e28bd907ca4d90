// Package specs reads and writes the parameters of the command line's
// specs, NAME[:key=value,...]: the measurement tasks and noise models of
// package ops and the guidance methods of package guidance share their
// syntax and their canonical form, which records hold. Which names, keys
// and values a spec may give, and the errors that say so, are each
// package's own.
package specs

import (
	"fmt"
	"slices"
	"strings"
)

// Param is one part of a spec's parameters, between commas.
type Param struct {
	// Text is the part as written, for errors.
	Text string
	// Key and Value are the text before and after the part's first '=',
	// without the spaces around them; Value is "" without one.
	Key, Value string
	// HasEq reports whether the part holds a '='.
	HasEq bool
}

// Params splits the parameters of a spec, the text after its name's ':'
// ("k=v,k=v"), into their parts, in order; text of spaces alone holds
// none. Empty parts and repeated keys are kept, for the caller to judge.
func Params(text string) []Param {
	if strings.TrimSpace(text) == "" {
		return nil
	}
	parts := strings.Split(text, ",")
	out := make([]Param, len(parts))
	for i, part := range parts {
		k, v, eq := strings.Cut(part, "=")
		out[i] = Param{Text: part, Key: strings.TrimSpace(k), Value: strings.TrimSpace(v), HasEq: eq}
	}
	return out
}

// Canonical writes a spec in its one form: the name, then, when there are
// parameters, ':' and their key=value parts sorted by key and joined by
// ',', each value as fmt.Sprint writes it ("sr" and {kernel: box, factor:
// 2} give "sr:factor=2,kernel=box").
func Canonical[V any](name string, params map[string]V) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString(name)
	sep := ":"
	for _, k := range keys {
		fmt.Fprintf(&b, "%s%s=%v", sep, k, params[k])
		sep = ","
	}
	return b.String()
}
