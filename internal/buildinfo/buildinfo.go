// Package buildinfo names the build of the running binary for the records
// that the toolkit's runs write (cadps restore's record.json, a
// reproduction's per-item records), so that every record names it the
// same way.
package buildinfo

import "runtime/debug"

// Module is the toolkit's module path.
const Module = "github.com/cadps/toolkit"

// Toolkit names the toolkit's build in this binary: the commit it was
// built from (with "+dirty" when the working tree had changes), else the
// module version it was installed at; "" when the binary records neither
// (go test, or a build with -buildvcs=false). In a program of another
// module that uses the toolkit as a library, it is the version of the
// toolkit that program requires ("" when a replace directive points it at
// a folder): the program's own commit is not the toolkit's.
func Toolkit() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	return Name(bi)
}

// Name is Toolkit for the build information bi.
func Name(bi *debug.BuildInfo) string {
	if bi.Main.Path != "" && bi.Main.Path != Module {
		for _, m := range bi.Deps {
			if m.Path != Module {
				continue
			}
			if m.Replace != nil {
				m = m.Replace
			}
			return version(m.Version)
		}
		return ""
	}
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
	}
	return version(bi.Main.Version)
}

// version is a module's version, or "" when it names none (a module
// built in its own folder, or replaced by a folder, is "(devel)").
func version(v string) string {
	if v == "(devel)" {
		return ""
	}
	return v
}
