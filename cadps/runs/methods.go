package runs

import (
	"fmt"
	"slices"

	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/restore"
)

// customMethod returns the method of one's own that name names among
// custom, or nil.
func customMethod(custom []guidance.Method, name string) guidance.Method {
	for _, m := range custom {
		if m.Name() == name {
			return m
		}
	}
	return nil
}

// withMethod returns o running the method that an entry of a run's method
// list names: the method of one's own of that Name among custom, or else
// the toolkit method the entry specifies.
func withMethod(o restore.Options, entry string, custom []guidance.Method) restore.Options {
	if m := customMethod(custom, entry); m != nil {
		o.Custom, o.Method = m, ""
	} else {
		o.Custom, o.Method = nil, entry
	}
	return o
}

// methodRevision returns the guidance.Revision of the method an entry of
// a method list names (0 for a spec that does not parse).
func methodRevision(entry string, custom []guidance.Method) int {
	if m := customMethod(custom, entry); m != nil {
		return guidance.Revision(m)
	}
	m, err := guidance.ParseSpec(entry, guidance.Options{})
	if err != nil {
		return 0
	}
	return guidance.Revision(m)
}

// revisions returns the guidance.Revision of every method of a method
// list that has one above 0, by entry (nil when none has).
func revisions(methods []string, custom []guidance.Method) map[string]int {
	var out map[string]int
	for _, m := range methods {
		if r := methodRevision(m, custom); r != 0 {
			if out == nil {
				out = map[string]int{}
			}
			out[m] = r
		}
	}
	return out
}

// checkCustom checks a run's methods of one's own against its method
// list: each has a name of its own, not a toolkit method's (a toolkit
// method goes in the list as a spec), and the list names it; a method of
// one's own the list does not name is a typo the run would silently skip.
func checkCustom(custom []guidance.Method, methods []string) error {
	seen := map[string]bool{}
	for _, m := range custom {
		switch name := m.Name(); {
		case name == "":
			return fmt.Errorf("runs: the method of one's own %T has an empty Name", m)
		case guidance.Has(name):
			return fmt.Errorf("runs: the method of one's own %T is named %q like the toolkit's method: give it a name of its own (the toolkit's methods go in the method list as specs)", m, name)
		case seen[name]:
			return fmt.Errorf("runs: two methods of one's own are named %q", name)
		case !slices.Contains(methods, name):
			return fmt.Errorf("runs: the method of one's own %q is not in the method list %q", name, methods)
		default:
			seen[name] = true
		}
	}
	return nil
}
