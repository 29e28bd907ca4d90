package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestName(t *testing.T) {
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	toolkit := func(version string, replace *debug.Module) []*debug.Module {
		return []*debug.Module{{Path: "github.com/other/lib", Version: "v9.9.9"}, {Path: Module, Version: version, Replace: replace}}
	}
	const program = "example.com/program"
	for _, c := range []struct {
		name     string
		main     string
		version  string
		settings []debug.BuildSetting
		deps     []*debug.Module
		want     string
	}{
		{"commit", Module, "(devel)", vcs("vcs", "git", "vcs.revision", "19aab8f0", "vcs.modified", "false"), nil, "19aab8f0"},
		{"dirty tree", Module, "(devel)", vcs("vcs.revision", "19aab8f0", "vcs.modified", "true"), nil, "19aab8f0+dirty"},
		{"installed module", Module, "v0.3.0", nil, nil, "v0.3.0"},
		{"commit before version", Module, "v0.3.0", vcs("vcs.revision", "abc"), nil, "abc"},
		{"nothing recorded", Module, "(devel)", vcs("-buildmode", "exe"), nil, ""},
		{"test binary", Module, "", nil, nil, ""},
		{"no main path", "", "", vcs("vcs.revision", "abc"), nil, "abc"},
		{"library of a program", program, "(devel)", vcs("vcs.revision", "fedcba"), toolkit("v0.3.0", nil), "v0.3.0"},
		{"replaced by a module", program, "v1.0.0", vcs("vcs.revision", "fedcba"), toolkit("v0.3.0", &debug.Module{Path: "example.com/fork", Version: "v0.3.1"}), "v0.3.1"},
		{"replaced by a folder", program, "v1.0.0", vcs("vcs.revision", "fedcba"), toolkit("v0.3.0", &debug.Module{Path: "../toolkit", Version: "(devel)"}), ""},
		{"program without the toolkit", program, "v1.0.0", vcs("vcs.revision", "fedcba"), nil, ""},
	} {
		bi := &debug.BuildInfo{Main: debug.Module{Path: c.main, Version: c.version}, Settings: c.settings, Deps: c.deps}
		if got := Name(bi); got != c.want {
			t.Errorf("%s: Name %q, want %q", c.name, got, c.want)
		}
	}
}
