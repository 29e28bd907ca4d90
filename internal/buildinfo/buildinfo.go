// Package buildinfo names the build of the running binary for the records
// that the toolkit's runs write (cadps restore's record.json, a
// reproduction's per-item records), so that every record names it the
// same way.
package buildinfo

import "runtime/debug"

// Toolkit names the build of this binary: the commit it was built from
// (with "+dirty" when the working tree had changes), else the module
// version it was installed at; "" when the binary records neither (go
// test, or a build with -buildvcs=false).
func Toolkit() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	return Name(bi)
}

// Name is Toolkit for the build information bi.
func Name(bi *debug.BuildInfo) string {
	var rev string
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	switch {
	case rev != "" && dirty:
		return rev + "+dirty"
	case rev != "":
		return rev
	case bi.Main.Version != "" && bi.Main.Version != "(devel)":
		return bi.Main.Version
	}
	return ""
}
