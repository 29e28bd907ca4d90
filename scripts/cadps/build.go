package main

import "runtime/debug"

// toolkitBuild names the build of this binary for records: the commit it
// was built from (with "+dirty" when the working tree had changes), else
// the module version it was installed at; "" when the binary records
// neither (go test, or a build with -buildvcs=false).
func toolkitBuild() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	return buildName(bi)
}

// buildName is toolkitBuild for the build information bi.
func buildName(bi *debug.BuildInfo) string {
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
