package runs

import (
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/internal/jsondiff"
)

// Growth is a setting that a rerun into the same folder may change without
// invalidating what is done: a list that grows at its end (more images,
// tasks added after the others), a count that grows. Check returns
// whether now extends old (and should be recorded), or an error that names
// the setting when now neither equals nor extends old.
type Growth struct {
	// Key is the setting's top-level key in the settings file.
	Key string
	// Check compares the old and new values (decoded JSON; nil when
	// absent).
	Check func(old, now any) (grown bool, err error)
}

// GrowingList is a Growth for a list that may only grow at its end;
// mismatch reports a list that does not keep the old one as its start
// (k: the first index that differs; now is nil where the new list ends).
func GrowingList(key string, mismatch func(k int, old, now any) error) Growth {
	return prefixList(key, false, mismatch)
}

// PrefixList is a Growth for a list of which either the old or the new
// one is a start of the other: a rerun may do fewer of the items (a
// prefix) or more; the record keeps the longer.
func PrefixList(key string, mismatch func(k int, old, now any) error) Growth {
	return prefixList(key, true, mismatch)
}

func prefixList(key string, shrink bool, mismatch func(k int, old, now any) error) Growth {
	return Growth{Key: key, Check: func(old, now any) (bool, error) {
		a, _ := old.([]any)
		b, _ := now.([]any)
		for k := range min(len(a), len(b)) {
			if !reflect.DeepEqual(a[k], b[k]) {
				return false, mismatch(k, a[k], b[k])
			}
		}
		if len(b) < len(a) && !shrink {
			return false, mismatch(len(b), a[len(b)], nil)
		}
		return len(b) > len(a), nil
	}}
}

// DiffError is CompareSettings' error for settings that differ outside
// the growths: Diff names the first difference, Path its setting
// (runs[0].respacing; "" for the whole document).
type DiffError struct{ Diff, Path string }

// Error returns the first difference.
func (e *DiffError) Error() string { return e.Diff }

// Decode returns the settings v (a struct or a map) as decoded JSON, the
// form CompareSettings compares.
func Decode(v any) (map[string]any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("runs: settings: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("runs: settings: %w", err)
	}
	return m, nil
}

// CompareSettings is the one compatibility check of a run's recorded
// settings (old) and a rerun's (now), both as decoded JSON: every growth's
// key must pass its check, and every other setting must be equal. It
// returns whether now extends old (and so should be recorded), or an
// error: a growth's own, or a *DiffError naming the first other setting
// that differs with both values (`runs[0].method_revision: was absent,
// now 2`).
func CompareSettings(old, now map[string]any, growths ...Growth) (grown bool, err error) {
	a, b := clone(old), clone(now)
	for _, g := range growths {
		more, err := g.Check(a[g.Key], b[g.Key])
		if err != nil {
			return false, err
		}
		grown = grown || more
		delete(a, g.Key)
		delete(b, g.Key)
	}
	if !reflect.DeepEqual(a, b) {
		path, diff := jsondiff.Find(a, b)
		return false, &DiffError{Diff: diff, Path: path}
	}
	return grown, nil
}

// clone returns a shallow copy of m.
func clone(m map[string]any) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// checkDistinct returns an error naming the first task of tasks that
// repeats an earlier one, or the first method of methods that builds the
// same method as an earlier one (guidance.CheckDistinct).
func checkDistinct(tasks, methods []string) error {
	seen := map[string]bool{}
	for _, v := range tasks {
		if seen[v] {
			return fmt.Errorf("runs: task %s is given twice", v)
		}
		seen[v] = true
	}
	if err := guidance.CheckDistinct(methods); err != nil {
		return fmt.Errorf("runs: %w", err)
	}
	return nil
}
