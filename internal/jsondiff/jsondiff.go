// Package jsondiff names the first difference between two decoded JSON
// documents, for error messages that refuse a rerun with other settings.
package jsondiff

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"unicode/utf8"
)

// maxShown is the most characters a value is shown with; context is how
// many characters before their first difference two long strings keep.
const maxShown, context = 80, 16

// First names the first place, in key order, where the decoded JSON values
// a and b differ: its path (runs[2].method_revision) and both values, e.g.
// `runs[2].method_revision: was absent, now 2`. It returns "they differ"
// when it finds no difference.
func First(a, b any) string {
	_, text := Find(a, b)
	return text
}

// Find is First that also returns the path alone (runs[2].method_revision;
// "" for the whole document, or when there is no difference).
func Find(a, b any) (path, text string) {
	if path, x, y, ok := difference("", a, b); ok {
		shown := path
		if shown == "" {
			shown = "the document"
		}
		was, now := showPair(x, y)
		return path, fmt.Sprintf("%s: was %s, now %s", shown, was, now)
	}
	return "", "they differ"
}

// absent stands for a missing key in difference's report.
type absent struct{}

// difference returns the path and values of the first difference of a
// and b below path, and whether there is one.
func difference(path string, a, b any) (string, any, any, bool) {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			break
		}
		keys := make([]string, 0, len(x)+len(y))
		for k := range x {
			keys = append(keys, k)
		}
		for k := range y {
			if _, ok := x[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			xv, inX := x[k]
			yv, inY := y[k]
			switch {
			case !inX:
				return p, absent{}, yv, true
			case !inY:
				return p, xv, absent{}, true
			}
			if p, xd, yd, ok := difference(p, xv, yv); ok {
				return p, xd, yd, true
			}
		}
		return "", nil, nil, false
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			break
		}
		for i := range x {
			if p, xd, yd, ok := difference(fmt.Sprintf("%s[%d]", path, i), x[i], y[i]); ok {
				return p, xd, yd, true
			}
		}
		return "", nil, nil, false
	}
	if reflect.DeepEqual(a, b) {
		return "", nil, nil, false
	}
	return path, a, b, true
}

// show renders a value of difference's report, shortened.
func show(v any) string {
	if _, ok := v.(absent); ok {
		return "absent"
	}
	if l, ok := v.([]any); ok {
		return fmt.Sprintf("%d entries", len(l))
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return shorten(string(data))
}

// shorten cuts a rendered value to maxShown characters, marking the cut.
func shorten(s string) string {
	if r := []rune(s); len(r) > maxShown {
		return string(r[:maxShown-3]) + "..."
	}
	return s
}

// showPair renders the two values of a difference. Two strings of which
// one is too long to show whole lose their common start, but for context
// characters before the first difference, marked "…": otherwise strings
// that differ only after maxShown characters (a digest after a long file
// name) would read the same.
func showPair(x, y any) (string, string) {
	xs, okX := x.(string)
	ys, okY := y.(string)
	if !okX || !okY {
		return show(x), show(y)
	}
	jx, errX := json.Marshal(xs)
	jy, errY := json.Marshal(ys)
	if errX != nil || errY != nil || utf8.RuneCount(jx) <= maxShown && utf8.RuneCount(jy) <= maxShown {
		return show(xs), show(ys)
	}
	rx, ry := []rune(xs), []rune(ys)
	p := 0
	for p < len(rx) && p < len(ry) && rx[p] == ry[p] {
		p++
	}
	cut := p - context
	if cut <= 0 {
		return show(xs), show(ys)
	}
	elide := func(r []rune) string {
		data, err := json.Marshal(string(r))
		if err != nil {
			return show(string(r))
		}
		return shorten(`"…` + string(data[1:]))
	}
	return elide(rx[cut:]), elide(ry[cut:])
}
